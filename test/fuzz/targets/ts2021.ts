// control/ts2021.ts: everything a control server sends on the upgraded
// connection: the HTTP/1.1 101 head, the Noise response, an optional early
// payload, then HTTP/2 inside the records; fed in pieces, then closed.
import { openTs2021 } from "../../../agent/src/control/ts2021.js";
import { EARLY_PAYLOAD_MAGIC } from "../../../agent/src/control/noise.js";
import { ascii, concat } from "../../../agent/src/util/bytes.js";
import type { ByteStream } from "../../../agent/src/util/stream.js";
import { chunks } from "../chunks.js";
import type { Target } from "../runner.js";
import { serverFrames } from "./h2.js";
import { answer, CAPVER, clientEphemeral, machine, serverKeys } from "./noise.js";

const head = ascii("HTTP/1.1 101 Switching Protocols\r\nUpgrade: tailscale-control-protocol\r\nConnection: upgrade\r\n\r\n");
const { response, server } = answer();

function early(json: string): Uint8Array {
  const b = ascii(json);
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, b.length, false);
  return concat(EARLY_PAYLOAD_MAGIC, len, b);
}

const sealed = (...plain: Uint8Array[]) => {
  const s = server();
  return concat(...plain.map((p) => s.seal(p)));
};

const seeds = [
  concat(head, response, sealed(early('{"nodeKeyChallenge":"chalpub:00"}'), serverFrames[0]!)),
  concat(head, response, sealed(serverFrames[0]!, serverFrames[1]!)),
  concat(head, response, sealed(concat(early("{}"), serverFrames[3]!))),
  concat(ascii("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")),
  concat(head, Uint8Array.of(3, 0, 5), ascii("nope!")),
];

export const ts2021: Target = {
  name: "ts2021 channel",
  seeds,
  clean: /^(control|noise|http|http2|hpack)/,
  weight: 0.1, // each input runs the handshake: four X25519 operations
  parse: async (input, report) => {
    const stream: ByteStream = { write: () => {}, close: () => {}, onData: () => {}, onClose: () => {} };
    const opened = openTs2021(stream, { host: "control", machinePrivate: machine.privateKey, serverPublic: serverKeys.publicKey, ephemeralSeed: clientEphemeral, capver: CAPVER });
    opened.then((ch) => void (ch.onClose = report), report);
    for (const c of chunks(input)) {
      stream.onData(c);
      await null; // lets the channel's onClose be set as soon as it opens
    }
    stream.onClose();
    await opened.catch(() => {});
  },
};

/**
 * The plaintext inside the records, sealed properly: the early payload and
 * HTTP/2 as the channel reads them after the handshake, which mutating the
 * sealed bytes cannot reach.
 */
export const ts2021Plaintext: Target = {
  name: "ts2021 plaintext",
  seeds: [concat(early('{"nodeKeyChallenge":"chalpub:00"}'), serverFrames[0]!), concat(serverFrames[0]!, serverFrames[1]!), concat(early("{}"), serverFrames[3]!), early("[1,2")],
  clean: ts2021.clean,
  weight: 0.1,
  parse: (plain, report) => ts2021.parse(concat(head, response, server().seal(plain)), report),
};
