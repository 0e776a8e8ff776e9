// Netlink codec and client, with byte vectors laid out as linux/netlink.h
// defines them: headers and attributes in the host's byte order (host16,
// host32), big-endian on ath79's MIPS and little on x86 and ARM.
import {
  attrMap,
  getStr,
  getU16,
  getU32,
  getU64,
  HOST_LE,
  type Message,
  NetlinkDecodeError,
  NLM_F_ACK_TLVS,
  NLM_F_DUMP,
  NLM_F_MULTI,
  NLMSG_DONE,
  NLMSG_ERROR,
  parseAttrs,
  parseMessages,
  Writer,
} from "../../agent/src/netlink/codec.js";
import { NetlinkClient } from "../../agent/src/netlink/client.js";
import { parseFamily, resolveFamily } from "../../agent/src/netlink/genl.js";
import { eq, eqBytes, hex, host16, host32, host64, HOST_LITTLE_ENDIAN, suite } from "./check.js";

const errnoText = (n: number) => ({ 2: "ENOENT (No such file or directory)", 17: "EEXIST (File exists)" })[n] ?? `errno ${n}`;

function message(type: number, flags: number, seq: number, body: (w: Writer) => void): Uint8Array {
  const w = new Writer();
  const at = w.begin(type, flags, seq);
  body(w);
  w.end(at);
  return w.finish();
}

function errorMessage(seq: number, errno: number, extack?: string): Uint8Array {
  return message(NLMSG_ERROR, extack ? NLM_F_ACK_TLVS | 0x100 : 0, seq, (w) => {
    const e = new Uint8Array(4 + 16);
    const v = new DataView(e.buffer);
    v.setInt32(0, -errno, HOST_LITTLE_ENDIAN);
    v.setUint32(4, 16, HOST_LITTLE_ENDIAN);
    v.setUint32(12, seq, HOST_LITTLE_ENDIAN);
    w.raw(e);
    if (extack) w.str(1, extack);
  });
}

/** The message with its nlmsghdr length field overwritten. */
function withLength(m: Uint8Array, len: number): Uint8Array {
  const b = m.slice();
  new DataView(b.buffer).setUint32(0, len, HOST_LITTLE_ENDIAN);
  return b;
}

suite("netlink codec", (check) => {
  check("nlctrl GETFAMILY request for wireguard (byte vector)", () => {
    const bytes = message(0x10, 0x5, 7, (w) => {
      w.raw(Uint8Array.of(3, 1, 0, 0));
      w.str(2, "wireguard");
    });
    // nlmsghdr{len 36, type 0x10, flags REQUEST|ACK, seq 7, pid 0}, genlmsghdr{cmd 3, version 1},
    // nlattr{len 14, type 2} "wireguard\0" + 2 bytes of padding.
    eqBytes(bytes, `${host32(36)} ${host16(0x10)} ${host16(5)} ${host32(7)} ${host32(0)} 03010000 ${host16(14)} ${host16(2)} 776972656775617264 00 0000`, "request");
  });
  check("the codec's byte order is the machine's", () => eq(HOST_LE, HOST_LITTLE_ENDIAN, "little-endian"));
  check("a kernel answer decodes: header, u16, u32, u64 and nested attributes (byte vector)", () => {
    const [m, ...rest] = parseMessages(
      hex(`${host32(52)} ${host16(16)} ${host16(NLM_F_MULTI)} ${host32(0x01020304)} ${host32(4242)}
        ${host16(6)} ${host16(1)} ${host16(41641)} 0000
        ${host16(8)} ${host16(2)} ${host32(0xfeedf00d)}
        ${host16(12)} ${host16(3)} ${host64(0x0123456789abcdefn)}
        ${host16(8)} ${host16(0x8004)} ${host16(4)} ${host16(5)}`),
    );
    eq(rest.length, 0, "one message");
    eq(`${m!.type} ${m!.flags} ${m!.seq} ${m!.pid}`, `16 ${NLM_F_MULTI} ${0x01020304} 4242`, "header");
    const a = parseAttrs(m!.payload, "answer");
    eq(getU16(a[0]!.data, "port"), 41641, "u16");
    eq(getU32(a[1]!.data, "u32"), 0xfeedf00d, "u32");
    eq(getU64(a[2]!.data, "u64"), 0x0123456789abcdefn, "u64");
    eq(a[3]!.type, 4, "nested type without the flag");
    eq(a[3]!.nested, true, "nested flag");
    eq(parseAttrs(a[3]!.data, "inner")[0]!.type, 5, "inner attribute type");
  });
  check("nested attributes round trip", () => {
    const w = new Writer(8);
    w.u32(1, 0xdeadbeef).nest(2, () => w.u16(3, 41641).str(4, "wg0").flag(5)).u64(6, 1n << 40n);
    const top = parseAttrs(w.finish(), "test");
    eq(top.length, 3, "top-level count");
    eq(top[1]!.nested, true, "nested flag");
    const inner = attrMap(top[1]!.data, "inner");
    eq(getStr(inner.get(4)!), "wg0", "string");
    eq(inner.get(5)!.length, 0, "flag attribute");
    eq(getU32(top[0]!.data, "u32"), 0xdeadbeef, "u32");
  });
  check("truncated, oversized and misaligned input is an error", () => {
    const good = message(16, 0, 1, (w) => w.u32(1, 5));
    const cases: [string, Uint8Array][] = [
      ["cut in the header", good.subarray(0, 10)],
      ["length beyond the datagram", withLength(good, 200)],
      ["length below a header", withLength(good, 8)],
    ];
    for (const [what, b] of cases) {
      let threw = false;
      try {
        const ms = parseMessages(b);
        for (const m of ms) parseAttrs(m.payload, "payload");
      } catch (e) {
        threw = e instanceof NetlinkDecodeError;
      }
      if (!threw && what !== "cut in the header") throw new Error(`${what}: no decode error`);
    }
    let threw = false;
    try {
      parseAttrs(hex(`${host16(8)} ${host16(1)} ${host32(1)} 0900`), "attrs");
    } catch (e) {
      threw = e instanceof NetlinkDecodeError && /2 stray bytes/.test(e.message);
    }
    eq(threw, true, "stray bytes after the last attribute");
  });
  check("seeded fuzz: mutated messages decode or fail cleanly", () => {
    let seed = 0x5eed;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8);
    const base = message(16, 2, 9, (w) => w.u32(1, 5).nest(2, () => w.str(3, "eth0").u16(4, 1)).bytes(5, new Uint8Array(33)));
    for (let i = 0; i < 3000; i++) {
      const b = base.slice(0, rnd() % (base.length + 1));
      for (let k = rnd() % 4; k > 0; k--) if (b.length) b[rnd() % b.length] = rnd() & 0xff;
      try {
        for (const m of parseMessages(b)) for (const a of parseAttrs(m.payload, "fuzz")) if (a.nested) parseAttrs(a.data, "fuzz nested");
      } catch (e) {
        if (!(e instanceof NetlinkDecodeError)) throw new Error(`case ${i}: ${String(e)}`);
      }
    }
  });
});

suite("netlink client", (check) => {
  check("dump parts, then DONE", async () => {
    const sent: Uint8Array[] = [];
    const c = new NetlinkClient((d) => sent.push(d), errnoText);
    let got: Message[] | undefined;
    void c.request(18, NLM_F_DUMP, () => {}, "list links").then((m) => (got = m));
    const seq = parseMessages(sent[0]!)[0]!.seq;
    c.receive(new Uint8Array([...message(16, NLM_F_MULTI, seq, (w) => w.u32(1, 1)), ...message(16, NLM_F_MULTI, seq, (w) => w.u32(1, 2))]));
    eq(got, undefined, "not done before DONE");
    c.receive(message(NLMSG_DONE, NLM_F_MULTI, seq, (w) => w.raw(new Uint8Array(4))));
    await Promise.resolve();
    eq(got?.length, 2, "two parts");
    eq(c.inFlight, 0, "nothing pending");
  });
  check("a second dump waits for the first (the kernel would answer EBUSY)", async () => {
    const sent: Uint8Array[] = [];
    const c = new NetlinkClient((d) => sent.push(d), errnoText);
    const first = c.request(18, NLM_F_DUMP, () => {}, "list links");
    const second = c.request(22, NLM_F_DUMP, () => {}, "list addresses");
    eq(sent.length, 1, "one dump on the wire");
    c.receive(message(NLMSG_DONE, NLM_F_MULTI, parseMessages(sent[0]!)[0]!.seq, (w) => w.raw(new Uint8Array(4))));
    await first;
    for (let i = 0; i < 3 && sent.length < 2; i++) await Promise.resolve();
    eq(sent.length, 2, "the second sent after the first's DONE");
    c.receive(message(NLMSG_DONE, NLM_F_MULTI, parseMessages(sent[1]!)[0]!.seq, (w) => w.raw(new Uint8Array(4))));
    eq((await second).length, 0, "answered");
  });
  check("an error carries the errno text and the extended ack", async () => {
    const sent: Uint8Array[] = [];
    const c = new NetlinkClient((d) => sent.push(d), errnoText);
    let err = "";
    void c.request(16, 0x400, () => {}, "create link wg0").catch((e: Error) => (err = e.message));
    c.receive(errorMessage(parseMessages(sent[0]!)[0]!.seq, 17, "Link already exists"));
    await Promise.resolve();
    eq(err, "create link wg0: EEXIST (File exists) (Link already exists)", "message");
  });
  check("garbage fails what is pending instead of hanging", async () => {
    const c = new NetlinkClient(() => {}, errnoText);
    let err = "";
    void c.request(18, NLM_F_DUMP, () => {}, "list links").catch((e: Error) => (err = e.message));
    c.receive(hex("ffff0000 0000 0000"));
    c.receive(hex(`${host32(5)} ${host16(16)} 0000 ${host32(1)} 00000000`));
    await Promise.resolve();
    eq(/^list links: netlink: message at offset 0/.test(err), true, `error text: ${err}`);
  });
  check("genl family from a controller answer", async () => {
    const sent: Uint8Array[] = [];
    const c = new NetlinkClient((d) => sent.push(d), errnoText);
    const fam = resolveFamily(c, "wireguard");
    const seq = parseMessages(sent[0]!)[0]!.seq;
    c.receive(
      message(0x10, 0, seq, (w) => {
        w.raw(Uint8Array.of(1, 2, 0, 0)).u16(1, 0x1b).str(2, "wireguard").u32(3, 1);
      }),
    );
    c.receive(errorMessage(seq, 0));
    const f = await fam;
    eq(f.id, 0x1b, "family id");
    eq(parseFamily(parseMessages(message(0x10, 0, 1, (w) => w.raw(Uint8Array.of(1, 2, 0, 0)).u16(1, 5).str(2, "x")))[0]!).version, 1, "default version");
  });
});
