// Big-endian wire formats as fixed byte vectors: the same bytes on every
// host, whatever its own byte order (ubus blobmsg, DERP frames, the Noise
// handshake header and records of Tailscale's control protocol).
import { publicKeyOf } from "../../agent/src/crypto/keys.js";
import { NoiseSession, startHandshake } from "../../agent/src/control/noise.js";
import { encodeFrame, FRAME_RESTARTING, FRAME_SEND_PACKET, FrameReader } from "../../agent/src/derp/frame.js";
import { decodeBlobmsgTable, encodeBlobmsgTable } from "../../agent/src/ubus/blobmsg.js";
import { eq, eqBytes, hex, suite } from "./check.js";

suite("wire formats (big-endian on every host)", (check) => {
  // libubox's blob_attr header: extended bit, type in bits 24-30, length in 0-23; then the name's u16 length.
  const table = `
    85000010 0004 706f7274 0000 0000a2a9
    8700000d 0002 7570 00 000000 01 000000
    84000014 0002 7278 00 000000 0000010000000000
    88000010 0001 77 00 3ff8000000000000
    83000010 0004 6e616d65 0000 77673000`;
  check("blobmsg table (byte vector)", () => {
    eqBytes(encodeBlobmsgTable({ port: 41641, up: true, rx: 2n ** 40n, w: 1.5, name: "wg0" }), table, "encoded");
  });
  check("blobmsg table decodes (byte vector)", () => {
    const t = decodeBlobmsgTable(hex(table));
    eq(`${t.port} ${t.up} ${t.rx} ${t.w} ${t.name}`, "41641 true 1099511627776 1.5 wg0", "decoded");
  });
  check("DERP frame: type, big-endian length, payload (byte vector)", () => {
    const key = new Uint8Array(32).fill(0xab);
    eqBytes(encodeFrame(FRAME_SEND_PACKET, key, Uint8Array.of(1, 2, 3)), `04 00000023 ${"ab".repeat(32)} 010203`, "send packet");
    const [f, ...rest] = new FrameReader().push(hex("15 00000008 00000bb8 00007530"));
    eq(rest.length, 0, "one frame");
    eq(`${f!.type} ${f!.payload.length}`, `${FRAME_RESTARTING} 8`, "restarting frame");
  });
  check("Noise initiation header: version and length big-endian (byte vector)", () => {
    const hs = startHandshake(new Uint8Array(32).fill(1), publicKeyOf(new Uint8Array(32).fill(2)), new Uint8Array(32).fill(3), 0x1234);
    eqBytes(hs.initiation.subarray(0, 5), "1234 01 0060", "version 0x1234, type 1, 96 bytes follow");
  });
  // ChaCha20-Poly1305 of "hi" under key 00..1f with the nonce 4 zero bytes + the u64 counter big-endian (OpenSSL's output).
  const records = ["04 0012 70d1758d3754deb59b15a82aa41453d7c6b9", "04 0012 01357de0ad2923123a9b3ad4127f89fda17c"];
  check("Noise records: length and nonce counter big-endian (byte vectors)", () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i);
    const tx = new NoiseSession(key, new Uint8Array(32));
    const hi = Uint8Array.of(0x68, 0x69);
    eqBytes(tx.seal(hi), records[0]!, "record 0");
    eqBytes(tx.seal(hi), records[1]!, "record 1");
    const rx = new NoiseSession(new Uint8Array(32), key);
    eqBytes(rx.open(hex(records.join(""))), "68696869", "both opened in order");
  });
});
