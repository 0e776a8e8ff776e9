// The HTTP/2 frames of h2/frame.ts as H2Connection reads them, with the map
// long poll of control/session.ts on stream 1 (its length-prefixed JSON
// messages) and a register request on stream 3: what a control server sends
// inside the Noise records.
import { H2Connection } from "../../../agent/src/h2/connection.js";
import { CONTINUATION, DATA, encodeFrame, FLAG_ACK, FLAG_END_HEADERS, FLAG_END_STREAM, FLAG_PADDED, FLAG_PRIORITY, GOAWAY, HEADERS, PING, RST_STREAM, SETTINGS, settingsPayload, u32, WINDOW_UPDATE } from "../../../agent/src/h2/frame.js";
import { hpackEncode } from "../../../agent/src/h2/hpack.js";
import { mapPoll } from "../../../agent/src/control/session.js";
import { concat } from "../../../agent/src/util/bytes.js";
import { utf8Encode } from "../../../agent/src/util/utf8.js";
import { chunks } from "../chunks.js";
import type { Target } from "../runner.js";

const ok = hpackEncode([[":status", "200"], ["content-type", "application/json"]]);

/** A map stream message: u32 little-endian length, then the JSON. */
export function mapMessage(v: unknown): Uint8Array {
  const json = utf8Encode(JSON.stringify(v));
  const b = new Uint8Array(4 + json.length);
  new DataView(b.buffer).setUint32(0, json.length, true);
  b.set(json, 4);
  return b;
}

const node = { ID: 1, StableID: "n1", Name: "r.ts.net.", User: 1, Key: `nodekey:${"ab".repeat(32)}`, Addresses: ["100.64.0.1/32"], AllowedIPs: ["100.64.0.1/32"] };
const settings = encodeFrame(SETTINGS, 0, 0, settingsPayload([[3, 100], [4, 1 << 20], [5, 16384]]));

/** Server frames that answer our two requests: the corpus of h2 and, sealed, of ts2021. */
export const serverFrames: readonly Uint8Array[] = [
  concat(settings, encodeFrame(SETTINGS, FLAG_ACK, 0), encodeFrame(WINDOW_UPDATE, 0, 0, u32(1 << 20))),
  concat(settings, encodeFrame(HEADERS, FLAG_END_HEADERS, 1, ok), encodeFrame(DATA, 0, 1, concat(mapMessage({ Node: node, Peers: [] }), mapMessage({ KeepAlive: true })))),
  concat(encodeFrame(HEADERS, FLAG_PADDED | FLAG_PRIORITY, 3, concat(Uint8Array.of(4), new Uint8Array(5), ok.subarray(0, 2), new Uint8Array(4))), encodeFrame(CONTINUATION, FLAG_END_HEADERS, 3, ok.subarray(2)), encodeFrame(DATA, FLAG_PADDED | FLAG_END_STREAM, 3, concat(Uint8Array.of(3), utf8Encode('{"MachineAuthorized":true}'), new Uint8Array(3)))),
  concat(encodeFrame(PING, 0, 0, new Uint8Array(8).fill(1)), encodeFrame(PING, FLAG_ACK, 0, new Uint8Array(8)), encodeFrame(RST_STREAM, 0, 3, u32(8)), encodeFrame(0x42, 0, 0, new Uint8Array(3))),
  concat(encodeFrame(HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 1, hpackEncode([[":status", "500"]])), encodeFrame(GOAWAY, 0, 0, concat(u32(1), u32(0), utf8Encode("bye")))),
];

const CLEAN = /^(http2|hpack|control|MapResponse)/;

/** A client connection with the map poll and a register request open; errors go to `report`. */
export function clientWithRequests(send: (b: Uint8Array) => void, report: (e: unknown) => void): H2Connection {
  const h2 = new H2Connection(send);
  h2.start();
  mapPoll(h2, "control", { Version: 113, NodeKey: node.Key, DiscoKey: "", Hostinfo: { OS: "linux", Hostname: "r" }, Stream: true }, () => {}, (e) => {
    if (e.message !== "control: map stream ended") report(e);
  });
  const register = h2.request("POST", "control", "/machine/register", [], utf8Encode("{}"));
  register.onError = report;
  return h2;
}

export const h2: Target = {
  name: "http2 frames",
  seeds: serverFrames,
  clean: CLEAN,
  parse: (input, report) => {
    const conn = clientWithRequests(() => {}, report);
    for (const c of chunks(input)) conn.receive(c);
  },
};
