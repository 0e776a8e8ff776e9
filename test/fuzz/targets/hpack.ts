// h2/hpack.ts and h2/huffman.ts: header blocks as a server compresses them,
// with the dynamic table, size updates and Huffman strings.
import { HpackDecoder, hpackEncode } from "../../../agent/src/h2/hpack.js";
import { huffmanDecode, huffmanEncode } from "../../../agent/src/h2/huffman.js";
import { ascii } from "../../../agent/src/util/bytes.js";
import type { Target } from "../runner.js";

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));

const seeds = [
  // RFC 7541 C.3.1 and C.4.1: a request, plain and Huffman-coded, indexing :authority.
  hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d"),
  hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"),
  // RFC 7541 C.5.1: a response with literals indexed into the table.
  hex("4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d"),
  // A table size update, then a header referring to the dynamic table.
  hex("3fe1 1f 40 0161 0162 be"),
  hpackEncode([[":status", "200"], ["content-type", "application/json"], ["x-custom", "some value that Huffman shortens"]]),
];

export const hpack: Target = {
  name: "hpack",
  seeds,
  clean: /^hpack: /,
  // Twice into one decoder: the second pass meets the table the first left.
  parse: (b) => {
    const d = new HpackDecoder(4096);
    return [d.decode(b), d.decode(b)];
  },
};

export const huffman: Target = {
  name: "huffman",
  seeds: ["www.example.com", "no-cache", "custom-value", "Mon, 21 Oct 2013 20:13:21 GMT", "\u0000\u00ff~|"].map((s) => huffmanEncode(ascii(s))),
  clean: /^hpack: /,
  parse: (b) => huffmanDecode(b),
};
