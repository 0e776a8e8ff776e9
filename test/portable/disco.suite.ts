// Disco and STUN wire formats. The disco vectors are the encodings
// Tailscale's own disco package produces (its marshal tests); the STUN
// vector is RFC 5769's sample IPv4 response.
import { boxSharedKey } from "../../agent/src/crypto/box.js";
import { publicKeyOf } from "../../agent/src/crypto/keys.js";
import { decodeMessage, encodeMessage, openPacket, sealPacket, senderKey } from "../../agent/src/disco/message.js";
import { formatEndpoint, parseEndpoint } from "../../agent/src/netaddr/ip.js";
import { bindingRequest, isBindingResponse, parseBindingResponse } from "../../agent/src/stun/message.js";
import { crc32 } from "../../agent/src/util/crc32.js";
import { eq, eqBytes, hex, suite } from "./check.js";

const txid = Uint8Array.from({ length: 12 }, (_, i) => i + 1);
const nodeKey = (() => {
  const k = new Uint8Array(32);
  k[1] = 1; k[2] = 2; k[30] = 30; k[31] = 31;
  return k;
})();

suite("disco", (check) => {
  check("ping with node key (Tailscale's encoding)", () => {
    eqBytes(encodeMessage({ type: "ping", txid, nodeKey }), "01 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 00 01 02 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 1e 1f", "ping");
    const padded = decodeMessage(hex("01 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 00 01 02 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 1e 1f 00 00 00"));
    eq(padded?.type, "ping", "a padded ping still parses");
    eq(decodeMessage(hex("01 00 01 02 03 04 05 06 07 08 09 0a 0b 0c")), null, "a ping without node key is dropped");
  });
  check("pong, IPv4 and IPv6", () => {
    eqBytes(encodeMessage({ type: "pong", txid, src: parseEndpoint("2.3.4.5:1234") }), "02 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 00 00 00 00 00 00 00 00 00 00 ff ff 02 03 04 05 04 d2", "pong v4");
    eqBytes(encodeMessage({ type: "pong", txid, src: parseEndpoint("[fed0::12]:6666") }), "02 00 01 02 03 04 05 06 07 08 09 0a 0b 0c fe d0 00 00 00 00 00 00 00 00 00 00 00 00 00 12 1a 0a", "pong v6");
    const m = decodeMessage(hex("02 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 00 00 00 00 00 00 00 00 00 00 ff ff 02 03 04 05 04 d2"));
    eq(m?.type === "pong" ? formatEndpoint(m.src) : "", "2.3.4.5:1234", "decoded source");
  });
  check("call-me-maybe", () => {
    const want = "03 00 00 00 00 00 00 00 00 00 00 00 ff ff 01 02 03 04 02 37 20 01 00 00 00 00 00 00 00 00 00 00 00 00 34 56 03 15";
    eqBytes(encodeMessage({ type: "call-me-maybe", endpoints: [parseEndpoint("1.2.3.4:567"), parseEndpoint("[2001::3456]:789")] }), want, "encoded");
    const m = decodeMessage(hex(want));
    eq(m?.type === "call-me-maybe" ? m.endpoints.map(formatEndpoint).join(" ") : "", "1.2.3.4:567 [2001::3456]:789", "decoded");
    eqBytes(encodeMessage({ type: "call-me-maybe", endpoints: [] }), "03 00", "empty");
  });
  check("sealed packets open only with the right key", () => {
    const a = new Uint8Array(32).fill(7), b = new Uint8Array(32).fill(9), c = new Uint8Array(32).fill(11);
    const nonce = new Uint8Array(24).fill(3);
    const pkt = sealPacket(publicKeyOf(a), boxSharedKey(a, publicKeyOf(b)), nonce, { type: "ping", txid, nodeKey });
    eqBytes(pkt.subarray(0, 6), "54 53 f0 9f 92 ac", "magic");
    eqBytes(senderKey(pkt), publicKeyOf(a), "sender key");
    eq(openPacket(pkt, boxSharedKey(b, publicKeyOf(a)))?.type, "ping", "opens for the receiver");
    eq(openPacket(pkt, boxSharedKey(c, publicKeyOf(a))), null, "not for a stranger");
    const bad = pkt.slice();
    bad[bad.length - 1]! ^= 1;
    eq(openPacket(bad, boxSharedKey(b, publicKeyOf(a))), null, "not when tampered");
    eq(decodeMessage(hex("7f 00 00")), null, "unknown type");
  });
});

suite("stun", (check) => {
  const rfc5769 = hex(`0101 003c 2112a442 b7e7a701bc34d686fa87dfae 8022 000b 74657374 20766563 746f7220
    0020 0008 0001a147 e112a643 0008 0014 2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7 8028 0004 c07d4c96`);
  check("RFC 5769 sample IPv4 response", () => {
    eq(isBindingResponse(rfc5769), true, "recognised");
    const r = parseBindingResponse(rfc5769)!;
    eq(formatEndpoint(r.mapped), "192.0.2.1:32853", "XOR-MAPPED-ADDRESS");
    eqBytes(r.txid, "b7e7a701bc34d686fa87dfae", "transaction ID");
    eq((crc32(rfc5769.subarray(0, 72)) ^ 0x5354554e) >>> 0, 0xc07d4c96, "FINGERPRINT by our CRC-32");
  });
  check("our request: header, SOFTWARE and a valid FINGERPRINT", () => {
    const req = bindingRequest(txid);
    eqBytes(req.subarray(0, 8), "0001 0014 2112a442", "type, length, cookie");
    eqBytes(req.subarray(8, 20), txid, "transaction ID");
    eqBytes(req.subarray(20, 32), "8022 0008 7461696c6e6f6465", "SOFTWARE tailnode, which derper requires");
    const fp = new DataView(req.buffer).getUint32(req.length - 4, false);
    eq(fp, (crc32(req.subarray(0, req.length - 8)) ^ 0x5354554e) >>> 0, "fingerprint");
  });
  check("malformed responses are ignored", () => {
    eq(parseBindingResponse(rfc5769.subarray(0, 40)), null, "cut short");
    const bad = rfc5769.slice();
    bad[38] = 0xff; // XOR-MAPPED-ADDRESS claims more bytes than the message has
    eq(parseBindingResponse(bad), null, "attribute overruns");
    eq(parseBindingResponse(bindingRequest(txid)), null, "a request is not a response");
  });
});
