// stun/message.ts: binding responses from any STUN server, or from anyone
// who guesses our port. The parser answers null for anything it rejects.
import { parseBindingResponse } from "../../../agent/src/stun/message.js";
import type { Target } from "../runner.js";

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));

const seeds = [
  // XOR-MAPPED-ADDRESS 192.0.2.1:32853 (RFC 5769 2.2), SOFTWARE, FINGERPRINT.
  hex("0101 003c 2112a442 b7e7a701bc34d686fa87dfae 8022 000b 7465737420766563746f7220 0020 0008 0001a147e112a643 0008 0014 2b91f599fd9e90c38c7489f92af9ba53f06be7d7 8028 0004 c07d4c96"),
  // XOR-MAPPED-ADDRESS 2001:db8:1234:5678:11:2233:4455:6677 port 32853 (RFC 5769 2.3).
  hex("0101 0048 2112a442 b7e7a701bc34d686fa87dfae 8022 000b 7465737420766563746f7220 0020 0014 0002a1470113a9faa5d3f179bc25f4b5bed2b9d9 0008 0014 a382954e4be67bf11784c97c8292c275bfe3ed41 8028 0004 c8fb0b4c"),
  // MAPPED-ADDRESS only, 10.0.0.1:3478.
  hex("0101 000c 2112a442 000102030405060708090a0b 0001 0008 0001 0d96 0a000001"),
];

export const stun: Target = {
  name: "stun",
  seeds,
  clean: null,
  parse: (b) => parseBindingResponse(b),
};
