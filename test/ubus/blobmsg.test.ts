// blob_attr and blobmsg against byte vectors laid out by hand from libubox's
// blob.h/blobmsg.h (header u32 BE: bit 31 extended, bits 24-30 id, bits 0-23
// length with the header; blobmsg name header u16 BE length, name, NUL, pad
// to 4), round trips, every malformed shape we could think of, and a seeded
// fuzz loop.
import { describe, expect, it } from "vitest";
import { encodeBlobAttr, parseBlobAttrs } from "../../agent/src/ubus/blob.js";
import { decodeBlobmsgTable, encodeBlobmsg, encodeBlobmsgTable, type BlobmsgValue } from "../../agent/src/ubus/blobmsg.js";
import { mutate } from "../fuzz/mutate.js";
import { prng } from "../fuzz/prng.js";

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+|;.*$/gm, ""), "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("blob_attr", () => {
  it("writes header, payload and zero padding; the length excludes the padding", () => {
    expect(toHex(encodeBlobAttr(3, Uint8Array.of(0x61, 0)))).toBe("03000006" + "6100" + "0000");
    expect(toHex(encodeBlobAttr(0x7f, new Uint8Array(0)))).toBe("7f000004");
    expect(toHex(encodeBlobAttr(2, Uint8Array.of(1, 2, 3, 4), true))).toBe("82000008" + "01020304");
  });
  it("parses a sequence that fills its container exactly", () => {
    const attrs = parseBlobAttrs(hex("03000006 6100 0000  01000008 00000007"), "t");
    expect(attrs.map((a) => [a.id, a.extended, toHex(a.payload)])).toEqual([
      [3, false, "6100"],
      [1, false, "00000007"],
    ]);
  });
  it.each([
    ["a header cut short", "030000", /truncated attribute header at offset 0 \(3 of 4 bytes\)/],
    ["a length below the header's own 4 bytes", "03000003", /has length 3, less than its own header/],
    ["a length past the end", "0300000c 61620000", /claims 12 bytes, only 8 remain/],
    ["padding past the end (misaligned)", "03000006 6100", /misaligned: its padding to 8 bytes runs past the end \(6 remain\)/],
    ["trailing bytes after the last attribute", "03000004 0000", /truncated attribute header at offset 4/],
  ])("rejects %s", (_, bytes, msg) => {
    expect(() => parseBlobAttrs(hex(bytes), "t")).toThrow(msg);
  });
  it("refuses to encode what the header cannot say", () => {
    expect(() => encodeBlobAttr(128, new Uint8Array(0))).toThrow(/id 128 is outside 0..127/);
    expect(() => encodeBlobAttr(1, new Uint8Array(0xffffff))).toThrow(/exceeds the 24-bit length field/);
  });
});

describe("blobmsg encoding, as blobmsg_add_json_element maps JSON", () => {
  it.each<[string, BlobmsgValue, string, BlobmsgValue?]>([
    // type|len      namelen name NUL pad      data                 pad
    ["true → INT8 1", true, "87000009 0001 61 00     01 000000"],
    ["false → INT8 0", false, "87000009 0001 61 00     00 000000"],
    ["-1 → INT32", -1, "8500000c 0001 61 00     ffffffff"],
    ["2^31-1 → INT32", 0x7fffffff, "8500000c 0001 61 00     7fffffff"],
    ["2^31 → INT64", 2 ** 31, "84000010 0001 61 00     00000000 80000000"],
    ["-2^31-1 → INT64", -(2 ** 31) - 1, "84000010 0001 61 00     ffffffff 7fffffff"],
    ["2^53+2 (a number) → INT64, back as a bigint", 2 ** 53 + 2, "84000010 0001 61 00     00200000 00000002", 2n ** 53n + 2n],
    ["2^63-1 (a bigint) → INT64", 2n ** 63n - 1n, "84000010 0001 61 00     7fffffff ffffffff"],
    ["0.5 → DOUBLE", 0.5, "88000010 0001 61 00     3fe00000 00000000"],
    ["133.7 → DOUBLE", 133.7, "88000010 0001 61 00     4060b666 66666666"],
    ["null → UNSPEC, no data", null, "80000008 0001 61 00"],
    ["'' → STRING of one NUL", "", "83000009 0001 61 00     00 000000"],
    ["'é' → UTF-8 STRING", "é", "8300000b 0001 61 00     c3a900 00"],
    ["{} → TABLE", {}, "82000008 0001 61 00"],
    ["[] → ARRAY", [], "81000008 0001 61 00"],
    ["[7] → ARRAY of an unnamed INT32", [7], "81000014 0001 61 00     8500000c 0000 00 00 00000007"],
    ["{b: 'x'} → TABLE", { b: "x" }, "82000014 0001 61 00     8300000a 0001 62 00 7800 0000"],
  ])("%s", (_, value, bytes, decoded = value) => {
    expect(toHex(encodeBlobmsg("a", value))).toBe(toHex(hex(bytes)));
    expect(decodeBlobmsgTable(hex(bytes))).toEqual({ a: decoded });
  });
  it("pads names to 4 bytes after the NUL", () => {
    // "ab": 2 + 2 + NUL = 5 → 8; "abc": 2 + 3 + NUL = 6 → 8; "abcdef": 9 → 12
    expect(toHex(encodeBlobmsg("ab", null))).toBe("8000000c" + "0002616200000000");
    expect(toHex(encodeBlobmsg("abc", null))).toBe("8000000c" + "0003616263000000");
    expect(toHex(encodeBlobmsg("abcdef", null))).toBe("80000010" + "0006616263646566" + "00000000");
  });
  it("leaves out undefined entries, writes undefined array elements as null, as JSON.stringify does", () => {
    expect(decodeBlobmsgTable(encodeBlobmsgTable({ a: undefined, b: [undefined] }))).toEqual({ b: [null] });
  });
  it.each<[string, unknown, RegExp]>([
    ["a function", { f: () => 0 }, /\$\.f is function, which has no blobmsg form/],
    ["a symbol", { s: Symbol("x") }, /\$\.s is symbol/],
    ["a Map", { m: new Map() }, /\$\.m is a Map, not a plain object/],
    ["bytes", { b: new Uint8Array(2) }, /\$\.b is a Uint8Array/],
    ["a NUL in a string", { s: "a\0b" }, /\$\.s is a string with a NUL/],
    ["a NUL in a key", { "a\0b": 1 }, /has a NUL in its name/],
    ["an empty key", { x: { "": 1 } }, /\$\.x has an empty key/],
    ["a bigint past int64", { n: 2n ** 63n }, /does not fit in a signed 64-bit integer/],
    ["a key over 65535 bytes", { ["k".repeat(65536)]: 1 }, /a name of 65536 bytes, over 65535/],
  ])("refuses %s, naming where", (_, value, msg) => {
    expect(() => encodeBlobmsgTable(value as object)).toThrow(msg);
  });
  it("refuses a cycle instead of recursing forever", () => {
    const a: Record<string, unknown> = {};
    a.self = a;
    expect(() => encodeBlobmsgTable(a)).toThrow(/nested deeper than 64 levels/);
  });
});

describe("blobmsg decoding, as blobmsg_format_json reads it", () => {
  // A message laid out by hand, attribute by attribute, from blobmsg.h: a
  // string, an array of unnamed INT32s, and a table holding a string and a bool.
  const message = hex(`
    83000014 0004 6e616d65 00 00  7072696e74657200                            ; "name": "printer"
    81000024 0005 706f727473 00                                               ; "ports": [
      8500000c 0000 00 00  00000277                                           ;   631,
      8500000c 0000 00 00  0000238c                                           ;   9100 ]
    82000038 0003 6c616e 00 0000                                              ; "lan": {
      83000019 0002 6970 00 000000 3139322e3136382e312e3530 00 000000           ;   "ip": "192.168.1.50",
      8700000d 0002 7570 00 000000 01 000000                                   ;   "up": true }
  `);
  it("reads a nested message laid out from blobmsg.h", () => {
    expect(message.length).toBe(112);
    expect(decodeBlobmsgTable(message)).toEqual({ name: "printer", ports: [631, 9100], lan: { ip: "192.168.1.50", up: true } });
  });
  it("reads INT16 and INT8 as C does (INT8 non-zero is true), and INT64 beyond 2^53 as a bigint", () => {
    const t = decodeBlobmsgTable(
      hex(`
      8600000a 0001 61 00 8000 0000               ; a: INT16 -32768
      87000009 0001 62 00 64 000000               ; b: INT8 100 → true
      84000010 0001 63 00 80000000 00000000       ; c: INT64 min
      84000010 0001 64 00 001fffff ffffffff       ; d: 2^53-1 stays a number
    `),
    );
    expect(t).toEqual({ a: -32768, b: true, c: -(2n ** 63n), d: 2 ** 53 - 1 });
  });
  it("reads an array element without the extended bit (blobmsg_check_attr allows it unnamed)", () => {
    expect(decodeBlobmsgTable(hex("81000010 0001 61 00 05000008 00000009"))).toEqual({ a: [9] });
  });
  it("reads strings and names up to their first NUL, as C does", () => {
    expect(decodeBlobmsgTable(hex("8300000c 0001 61 00 6100 6200"))).toEqual({ a: "a" });
  });
  it("keeps a key named __proto__ as data", () => {
    const t = decodeBlobmsgTable(encodeBlobmsg("__proto__", { x: 1 }));
    expect(Object.getPrototypeOf(t)).toBe(Object.prototype);
    expect(Object.keys(t)).toEqual(["__proto__"]);
  });
  it.each([
    ["a table entry without the extended bit", "05000008 00000001", /a table entry \(type 5\) has no name header/],
    ["a table entry with an empty name", "85000008 0000 0000", /a table entry has an empty name/],
    ["a name header cut short", "85000005 00 000000", /truncated name header \(1 of 2 bytes\)/],
    ["a name longer than its attribute", "85000008 0009 6100", /a name of 9 bytes runs past its attribute/],
    ["a name without its NUL", "85000008 0001 6162", /a name of 1 bytes is not NUL-terminated/],
    ["an unknown type 9", "89000008 0001 6100", /\$\.a: unknown type 9/],
    ["INT32 of 3 bytes", "8500000b 0001 6100 000001 00", /\$\.a: INT32 needs 4 bytes, has 3/],
    ["INT64 of 4 bytes", "8400000c 0001 6100 00000001", /INT64 needs 8 bytes, has 4/],
    ["INT16 of 4 bytes", "8600000c 0001 6100 00000001", /INT16 needs 2 bytes, has 4/],
    ["INT8 of 2 bytes", "8700000a 0001 6100 0101 0000", /INT8 needs 1 bytes, has 2/],
    ["DOUBLE of 4 bytes", "8800000c 0001 6100 00000001", /DOUBLE needs at least 8 bytes, has 4/],
    ["an empty STRING", "83000008 0001 6100", /STRING needs at least 1 bytes, has 0/],
    ["a STRING without its NUL", "8300000a 0001 6100 6162 0000", /STRING is not NUL-terminated/],
    ["a nested attribute past its table", "8200000c 0001 6100 8500000c", /\$\.a: attribute 5 at offset 0 claims 12 bytes, only 4 remain/],
    ["a truncated nested header", "8200000a 0001 6100 8500 0000", /\$\.a: truncated attribute header/],
    ["an attribute cut short", "8500000c 0001 6100 0000", /claims 12 bytes, only 10 remain/],
    ["padding cut off at the end (misaligned)", "87000009 0001 6100 01", /misaligned: its padding to 12 bytes runs past the end \(9 remain\)/],
    ["a bad element deep inside", "8200001c 0001 6100 81000014 0001 6200 8500000b 0000 0000 000000 00", /\$\.a\.b\[0\]: INT32 needs 4 bytes, has 3/],
  ])("rejects %s", (_, bytes, msg) => {
    expect(() => decodeBlobmsgTable(hex(bytes))).toThrow(msg);
  });
  it("rejects nesting deeper than 64 levels rather than overflowing the stack", () => {
    // "a": an array holding 100,000 levels of unnamed arrays, 4 bytes a level.
    const levels = 100_000;
    const b = new Uint8Array(8 + 4 * levels);
    b.set([0x81, 0, 0, 0, 0, 1, 0x61, 0]);
    for (let i = 0; i < levels; i++) b.set([0x01, ((4 * (levels - i)) >> 16) & 0xff, ((4 * (levels - i)) >> 8) & 0xff, (4 * (levels - i)) & 0xff], 8 + 4 * i);
    b.set([0x81, (b.length >> 16) & 0xff, (b.length >> 8) & 0xff, b.length & 0xff], 0);
    expect(() => decodeBlobmsgTable(b)).toThrow(/nested deeper than 64 levels/);
  });
});

describe("blobmsg fuzzing (seeded, bounded)", () => {
  it("round-trips random values exactly", () => {
    const rnd = prng(1);
    for (let i = 0; i < 2000; i++) {
      const v = { v: randomValue(rnd, 0) };
      expect(decodeBlobmsgTable(encodeBlobmsgTable(v))).toEqual(v);
    }
  });
  it("never hangs or crashes on mutated or random bytes: a value or an Error naming the fault", () => {
    const rnd = prng(2);
    const seeds = Array.from({ length: 20 }, () => encodeBlobmsgTable({ v: randomValue(rnd, 0) }));
    const started = Date.now();
    let rejected = 0;
    for (let i = 0; i < 20_000 && Date.now() - started < 1500; i++) {
      const b = mutate(rnd, seeds[i % seeds.length]!);
      try {
        decodeBlobmsgTable(b);
      } catch (e) {
        expect(e).toBeInstanceOf(Error);
        expect((e as Error).message).toMatch(/^blobmsg: /);
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(100);
  });
});

function randomValue(rnd: () => number, depth: number): BlobmsgValue {
  const k = Math.floor(rnd() * (depth > 3 ? 7 : 9));
  switch (k) {
    case 0: return null;
    case 1: return rnd() < 0.5;
    case 2: return Math.floor((rnd() - 0.5) * 2 ** 32);
    case 3: return Math.floor((rnd() - 0.5) * 2 ** 53);
    case 4: return (rnd() - 0.5) * 1e6;
    case 5: return (rnd() < 0.5 ? -1n : 1n) * ((BigInt(Math.floor(rnd() * 2 ** 20)) + (1n << 20n)) << 40n); // beyond 2^53: stays a bigint
    case 6: return String.fromCharCode(...Array.from({ length: Math.floor(rnd() * 12) }, () => 1 + Math.floor(rnd() * 0x3000)));
    case 7: return Array.from({ length: Math.floor(rnd() * 4) }, () => randomValue(rnd, depth + 1));
    default: return Object.fromEntries(Array.from({ length: Math.floor(rnd() * 4) }, (_, i) => [`k${i}`, randomValue(rnd, depth + 1)]));
  }
}
