// HPACK with the examples of RFC 7541 Appendix C: the same decoder instance
// across each series, so the dynamic table and its evictions are checked.
import { huffmanDecode, huffmanEncode } from "../../agent/src/h2/huffman.js";
import { HpackDecoder, HpackError, hpackEncode, type Header } from "../../agent/src/h2/hpack.js";
import { ascii, latin1 } from "../../agent/src/util/bytes.js";
import { eq, eqBytes, hex, suite } from "./check.js";

const show = (hs: Header[]) => hs.map(([n, v]) => `${n}: ${v}`).join("\n");
const date1 = "Mon, 21 Oct 2013 20:13:21 GMT";
const date2 = "Mon, 21 Oct 2013 20:13:22 GMT";

suite("hpack (RFC 7541 C.4, C.6)", (check) => {
  check("C.4 requests with Huffman, one connection", () => {
    const d = new HpackDecoder(4096);
    const base: Header[] = [[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"]];
    eq(show(d.decode(hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"))), show(base), "C.4.1");
    eq(show(d.decode(hex("8286 84be 5886 a8eb 1064 9cbf"))), show([...base, ["cache-control", "no-cache"]]), "C.4.2");
    eq(
      show(d.decode(hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"))),
      show([[":method", "GET"], [":scheme", "https"], [":path", "/index.html"], [":authority", "www.example.com"], ["custom-key", "custom-value"]]),
      "C.4.3",
    );
  });
  check("C.6 responses with Huffman and evictions (table of 256)", () => {
    const d = new HpackDecoder(256);
    eq(
      show(d.decode(hex("4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3"))),
      show([[":status", "302"], ["cache-control", "private"], ["date", date1], ["location", "https://www.example.com"]]),
      "C.6.1",
    );
    eq(
      show(d.decode(hex("4883 640e ffc1 c0bf"))),
      show([[":status", "307"], ["cache-control", "private"], ["date", date1], ["location", "https://www.example.com"]]),
      "C.6.2",
    );
    eq(
      show(
        d.decode(
          hex(`88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b
               3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07`),
        ),
      ),
      show([
        [":status", "200"], ["cache-control", "private"], ["date", date2], ["location", "https://www.example.com"],
        ["content-encoding", "gzip"], ["set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"],
      ]),
      "C.6.3",
    );
  });
  check("Huffman round trip and bad padding", () => {
    const text = "https://www.example.com/machine/map?v=113 \u00ff\u0000";
    eq(latin1(huffmanDecode(huffmanEncode(ascii(text)))), text, "round trip");
    eqBytes(huffmanEncode(ascii("www.example.com")), "f1e3c2e5f23a6ba0ab90f4ff", "RFC C.4.1 literal");
    let bad = "";
    try {
      huffmanDecode(hex("f1e3c2e5f23a6ba0ab90f400"));
    } catch (e) {
      bad = (e as Error).message;
    }
    eq(bad, "hpack: bad Huffman padding", "zero padding refused");
  });
  check("our encoding decodes back", () => {
    const hs: Header[] = [[":method", "POST"], [":scheme", "http"], [":authority", "headscale:8080"], [":path", "/machine/map"], ["content-type", "application/json"], ["x-custom", "1"]];
    eq(show(new HpackDecoder().decode(hpackEncode(hs))), show(hs), "round trip");
  });
  check("malformed blocks are errors", () => {
    for (const b of ["ff", "bf", "4005 61", "0085 f1e3", "c0"]) {
      let ok = false;
      try {
        new HpackDecoder().decode(hex(b));
      } catch (e) {
        ok = e instanceof HpackError;
      }
      eq(ok, true, `block ${b}`);
    }
  });
});
