// Whole ubus messages against byte vectors laid out by hand from struct
// ubus_msghdr (version u8, type u8, seq u16 BE, peer u32 BE) and the blob of
// UBUS_ATTR_* attributes that follows (ubusmsg.h), in the attribute order
// ubusd_proto.c and libubus write them; framing; malformed input; fuzz.
import { describe, expect, it } from "vitest";
import { encodeBlobmsgTable } from "../../agent/src/ubus/blobmsg.js";
import { ATTR, attr, decodeMessage, encodeMessage, MessageFramer, MSG, statusText, UBUS_MAX_MSGLEN } from "../../agent/src/ubus/message.js";
import { mutate } from "../fuzz/mutate.js";
import { prng } from "../fuzz/prng.js";

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+|;.*$/gm, ""), "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");

// ubusd_send_hello: HELLO, seq 0, peer = the new client's id, an empty blob.
const HELLO = "00 00 0000 12345678   00000004";
// libubus ubus_lookup_id("meshwrt"), first request: seq 1, peer 0.
const LOOKUP = `00 04 0001 00000000   00000010
  02 00000c 6d657368777274 00            ; OBJPATH "meshwrt"`;
// ubusd's answer: one DATA per object, then its retmsg STATUS.
const LOOKUP_DATA = `00 02 0001 00000000   0000004c
  02 00000c 6d657368777274 00            ; OBJPATH
  03 000008 0badf00d                     ; OBJID
  05 000008 00c0ffee                     ; OBJTYPE
  06 00002c                              ; SIGNATURE {
    82000010 0006 737461747573 00 000000  ;   "status": {},
    82000018 0003 736574 00 0000          ;   "set": {
      8500000c 0001 6b 00 00000003        ;     "k": STRING (3) } }`;
const STATUS_OK = "00 01 0001 00000000   0000000c  01 000008 00000000";
// libubus ubus_invoke(0x0badf00d, "set", {k: "v"}): seq 2, peer = the object.
const INVOKE = `00 05 0002 0badf00d   00000024
  03 000008 0badf00d                     ; OBJID
  04 000008 736574 00                    ; METHOD "set"
  07 000010                              ; DATA {
    8300000a 0001 6b 00 7600 0000        ;   "k": "v" }`;
// ubusd_forward_invoke to the object's client: peer = the caller's id, USER and GROUP added.
const FORWARDED = `00 05 0002 12345678   0000003c
  03 000008 0badf00d  04 000008 736574 00
  0c 000009 726f6f74 00 000000           ; USER "root"
  0d 000009 726f6f74 00 000000           ; GROUP "root"
  07 000010 8300000a 0001 6b 00 7600 0000`;
// ubusd_handle_notify's answer: OBJID, SUBSCRIBERS (id-0 int32s), STATUS.
const NOTIFY_STATUS = `00 01 0003 0badf00d   00000028
  03 000008 0badf00d
  0b 000014  00000008 aaaaaaaa  00000008 bbbbbbbb
  01 000008 00000000`;

describe("ubus message vectors", () => {
  it("HELLO", () => {
    expect(decodeMessage(hex(HELLO))).toEqual({ type: MSG.HELLO, seq: 0, peer: 0x12345678, attrs: {} });
    expect(toHex(encodeMessage({ type: MSG.HELLO, seq: 0, peer: 0x12345678 }, []))).toBe(toHex(hex(HELLO)));
  });
  it("LOOKUP and its DATA and STATUS", () => {
    expect(toHex(encodeMessage({ type: MSG.LOOKUP, seq: 1, peer: 0 }, [attr.string(ATTR.OBJPATH, "meshwrt")]))).toBe(toHex(hex(LOOKUP)));
    const d = decodeMessage(hex(LOOKUP_DATA));
    expect(d).toMatchObject({ type: MSG.DATA, seq: 1, peer: 0, attrs: { objpath: "meshwrt", objid: 0x0badf00d, objtype: 0xc0ffee } });
    const sig = encodeBlobmsgTable({ status: {}, set: { k: 3 } });
    expect(toHex(d.attrs.signature!)).toBe(toHex(sig));
    expect(decodeMessage(hex(STATUS_OK))).toEqual({ type: MSG.STATUS, seq: 1, peer: 0, attrs: { status: 0 } });
  });
  it("INVOKE as the caller sends it and as ubusd forwards it", () => {
    const attrs = [attr.u32(ATTR.OBJID, 0x0badf00d), attr.string(ATTR.METHOD, "set"), attr.nested(ATTR.DATA, encodeBlobmsgTable({ k: "v" }))];
    expect(toHex(encodeMessage({ type: MSG.INVOKE, seq: 2, peer: 0x0badf00d }, attrs))).toBe(toHex(hex(INVOKE)));
    expect(decodeMessage(hex(FORWARDED)).attrs).toMatchObject({ objid: 0x0badf00d, method: "set", user: "root", group: "root" });
  });
  it("ubusd's answer to NOTIFY lists the subscribers", () => {
    expect(decodeMessage(hex(NOTIFY_STATUS)).attrs).toEqual({ objid: 0x0badf00d, subscribers: [0xaaaaaaaa, 0xbbbbbbbb], status: 0 });
  });
  it("ACTIVE and NO_REPLY are one byte; unknown attribute ids are skipped, as libubus skips them", () => {
    const m = hex("00 0a 0001 00000000  0000001c  09000005 01 000000  0a000005 00 000000  3f000008 00000000");
    expect(decodeMessage(m).attrs).toEqual({ active: true, noReply: false });
  });
  it("names the status codes as ubus_strerror does", () => {
    expect(statusText(6)).toBe("Permission denied");
    expect(statusText(42)).toBe("Unknown error: 42");
  });
});

describe("malformed messages", () => {
  it.each([
    ["a header cut short", "00 01 0001 000000", /truncated message header \(7 of 12 bytes\)/],
    ["version 1", "01 00 0000 00000000 00000004", /message version 1, expected 0/],
    ["a blob shorter than its header", "00 00 0000 00000000 00000002", /has length 2, less than its own header/],
    ["a blob over UBUS_MAX_MSGLEN", "00 00 0000 00000000 00100001", /exceeds UBUS_MAX_MSGLEN/],
    ["fewer bytes than the header says", "00 01 0001 00000000 0000000c 01000008", /message of 16 bytes, its header says 20/],
    ["more bytes than the header says", "00 00 0000 00000000 00000004 00", /message of 13 bytes, its header says 12/],
    ["an OBJID of 2 bytes", "00 01 0001 00000000 0000000c 03000006 0000 0000", /attribute OBJID must be 4 bytes, is 2/],
    ["a METHOD without its NUL", "00 05 0001 00000000 0000000c 04000008 61626364", /attribute METHOD is not a NUL-terminated string/],
    ["an ACTIVE of 4 bytes", "00 0a 0001 00000000 0000000c 09000008 00000001", /attribute ACTIVE must be 1 byte, is 4/],
    ["an attribute past the blob", "00 01 0001 00000000 0000000c 01000010 00000000", /claims 16 bytes, only 8 remain/],
    ["a SUBSCRIBERS entry of 2 bytes", "00 01 0001 00000000 00000010 0b00000c 00000006 0000 0000", /a SUBSCRIBERS entry must be 4 bytes, is 2/],
  ])("rejects %s", (_, bytes, msg) => {
    expect(() => decodeMessage(hex(bytes))).toThrow(msg);
  });
  it("refuses to encode a message over UBUS_MAX_MSGLEN", () => {
    expect(() => encodeMessage({ type: MSG.DATA, seq: 1, peer: 0 }, [attr.nested(ATTR.DATA, new Uint8Array(UBUS_MAX_MSGLEN))])).toThrow(/exceeds UBUS_MAX_MSGLEN/);
  });
});

describe("framing a byte stream", () => {
  const stream = [hex(HELLO), hex(LOOKUP_DATA), hex(STATUS_OK), hex(FORWARDED)];
  const all = Uint8Array.from(stream.flatMap((m) => [...m]));
  it("yields the same messages whatever the chunk sizes", () => {
    for (const size of [1, 3, 12, 13, 64, all.length]) {
      const f = new MessageFramer();
      const got: string[] = [];
      for (let o = 0; o < all.length; o += size) got.push(...f.push(all.subarray(o, o + size)).map(toHex));
      expect(got).toEqual(stream.map(toHex));
      expect(f.pending).toBe(0);
    }
  });
  it("keeps an unfinished message until its last byte arrives", () => {
    const f = new MessageFramer();
    expect(f.push(all.subarray(0, 20))).toHaveLength(1);
    expect(f.pending).toBe(8);
  });
  it("throws on a header it cannot frame past", () => {
    expect(() => new MessageFramer().push(hex("00 00 0000 00000000 00200000"))).toThrow(/exceeds UBUS_MAX_MSGLEN/);
  });
  it("frames a message of exactly UBUS_MAX_MSGLEN", () => {
    const big = encodeMessage({ type: MSG.DATA, seq: 1, peer: 0 }, [attr.nested(ATTR.DATA, new Uint8Array(UBUS_MAX_MSGLEN - 8))]);
    expect(big.length).toBe(8 + UBUS_MAX_MSGLEN);
    expect(new MessageFramer().push(big)[0]!.length).toBe(big.length);
  });
});

describe("message fuzzing (seeded, bounded)", () => {
  it("decodes or throws an Error naming the fault; framing never loops", () => {
    const rnd = prng(3);
    const seeds = [HELLO, LOOKUP, LOOKUP_DATA, STATUS_OK, INVOKE, FORWARDED, NOTIFY_STATUS].map(hex);
    const started = Date.now();
    for (let i = 0; i < 20_000 && Date.now() - started < 1500; i++) {
      const b = mutate(rnd, seeds[i % seeds.length]!);
      for (const run of [() => decodeMessage(b), () => new MessageFramer().push(b).map(decodeMessage)]) {
        try {
          run();
        } catch (e) {
          expect(e).toBeInstanceOf(Error);
          expect((e as Error).message).toMatch(/^(ubus|blob)/);
        }
      }
    }
  });
});
