// derp/frame.ts and the session that reads the frames: what a relay (or
// something pretending to be one) sends after the upgrade.
import { boxSeal, boxSharedKey } from "../../../agent/src/crypto/box.js";
import { keyPairFromSeed } from "../../../agent/src/crypto/keys.js";
import { encodeFrame, FRAME_HEALTH, FRAME_KEEP_ALIVE, FRAME_PEER_GONE, FRAME_PING, FRAME_PONG, FRAME_RECV_PACKET, FRAME_RESTARTING, FRAME_SERVER_INFO, FRAME_SERVER_KEY, FrameReader, MAGIC } from "../../../agent/src/derp/frame.js";
import { DerpSession } from "../../../agent/src/derp/session.js";
import { ascii, concat } from "../../../agent/src/util/bytes.js";
import { chunks } from "../chunks.js";
import type { Target } from "../runner.js";

const server = keyPairFromSeed(new Uint8Array(32).fill(5));
const client = keyPairFromSeed(new Uint8Array(32).fill(6));
const shared = boxSharedKey(server.privateKey, client.publicKey);
const n = new Uint8Array(24).fill(2);
const greeting = concat(
  encodeFrame(FRAME_SERVER_KEY, MAGIC, server.publicKey),
  encodeFrame(FRAME_SERVER_INFO, n, boxSeal(shared, n, ascii('{"version":2}'))),
);
const peer = new Uint8Array(32).fill(0xab);

const seeds = [
  greeting,
  concat(greeting, encodeFrame(FRAME_RECV_PACKET, peer, ascii("a wireguard datagram")), encodeFrame(FRAME_KEEP_ALIVE)),
  concat(greeting, encodeFrame(FRAME_PING, new Uint8Array(8).fill(1)), encodeFrame(FRAME_PONG, new Uint8Array(8).fill(2))),
  concat(greeting, encodeFrame(FRAME_PEER_GONE, peer, Uint8Array.of(1)), encodeFrame(FRAME_HEALTH, ascii("no route")), encodeFrame(FRAME_RESTARTING, new Uint8Array(8).fill(3))),
  concat(greeting, encodeFrame(0x42, ascii("a frame type from the future"))),
];

export const derpSession: Target = {
  name: "derp session",
  seeds,
  clean: /^derp: /,
  weight: 0.3, // each input derives a box key: one X25519
  parse: (input) => {
    const s = new DerpSession(client.privateKey, () => n, () => {});
    return chunks(input).flatMap((c) => s.receive(c));
  },
};

export const derpFrames: Target = {
  name: "derp frames",
  seeds,
  clean: /^derp: /,
  parse: (input) => {
    const r = new FrameReader();
    return chunks(input).flatMap((c) => r.push(c));
  },
};
