// disco/message.ts: sealed packets from anyone on the WireGuard port, opened
// with the right key and with a wrong one, and the plaintext decoder alone.
// Disco drops what it does not understand: null, never a throw.
import { boxSharedKey } from "../../../agent/src/crypto/box.js";
import { keyPairFromSeed } from "../../../agent/src/crypto/keys.js";
import { decodeMessage, type DiscoMessage, encodeMessage, openPacket, sealPacket, senderKey } from "../../../agent/src/disco/message.js";
import type { Target } from "../runner.js";

const us = keyPairFromSeed(new Uint8Array(32).fill(1));
const peer = keyPairFromSeed(new Uint8Array(32).fill(2));
const stranger = keyPairFromSeed(new Uint8Array(32).fill(3));
const right = boxSharedKey(us.privateKey, peer.publicKey);
const wrong = boxSharedKey(us.privateKey, stranger.publicKey);

const messages: DiscoMessage[] = [
  { type: "ping", txid: new Uint8Array(12).fill(7), nodeKey: new Uint8Array(32).fill(8) },
  { type: "pong", txid: new Uint8Array(12).fill(9), src: { ip: Uint8Array.of(203, 0, 113, 5), port: 41641 } },
  { type: "pong", txid: new Uint8Array(12).fill(9), src: { ip: new Uint8Array(16).fill(0x20), port: 1 } },
  { type: "call-me-maybe", endpoints: [{ ip: Uint8Array.of(192, 0, 2, 1), port: 41641 }, { ip: new Uint8Array(16).fill(0xfd), port: 65535 }] },
  { type: "call-me-maybe", endpoints: [] },
];
const nonce = (i: number) => new Uint8Array(24).fill(i);
const shared = boxSharedKey(peer.privateKey, us.publicKey);

export const discoPacket: Target = {
  name: "disco packet",
  seeds: messages.map((m, i) => sealPacket(peer.publicKey, shared, nonce(i), m)),
  clean: null,
  parse: (pkt) => [senderKey(pkt), openPacket(pkt, right), openPacket(pkt, wrong)],
};

export const discoMessage: Target = {
  name: "disco message",
  seeds: messages.map(encodeMessage),
  clean: null,
  parse: (b) => decodeMessage(b),
};
