// The wireguard genl codec: set-device messages split as `wg` splits them,
// and dumps merged back, checked by decoding what we encode.
import { parsePrefix, formatPrefix, parseEndpoint, formatEndpoint } from "../../agent/src/netaddr/ip.js";
import { type Message, parseAttrs, attrMap, getU32 } from "../../agent/src/netlink/codec.js";
import { toHex } from "../../agent/src/util/bytes.js";
import { decodeDevice, encodeSetDevice, KernelPeerDump, PeerIds, SET_MESSAGE_LIMIT } from "../../agent/src/wg/genl.js";
import type { PeerChange, PeerDump, PeerReading } from "../../agent/src/wg/model.js";
import { packPrefixes } from "../../agent/src/wg/wanted.js";
import { eq, eqBytes, hex, host16, host32, host64, suite, throws } from "./check.js";

const keyN = (n: number) => {
  const k = new Uint8Array(32);
  new DataView(k.buffer).setUint32(0, n + 1);
  k[31] = 0x42;
  return k;
};
/** A netlink attribute as hex: length and type in the host's byte order, the body, padding. */
const nla = (type: number, body: string): string => {
  const len = 4 + body.replace(/\s+/g, "").length / 2;
  return `${host16(len)} ${host16(type)} ${body}${"00".repeat(((len + 3) & ~3) - len)}`;
};
const NESTED = 0x8000;
// A set body read back as if it were a dump part: the attribute numbers are the same.
const asDumpPart = (body: Uint8Array): Message => ({ type: 0x1b, flags: 2, seq: 1, pid: 0, payload: new Uint8Array([0, 1, 0, 0, ...body]) });

/** One peer as the kernel dumps it (linux/wireguard.h), in the host's byte order. */
function kernelDumpBytes(): Uint8Array {
  const allowedIp = nla(NESTED, nla(1, host16(2)) + nla(2, "64400002") + nla(3, "20"));
  const peer = nla(
    NESTED,
    nla(1, "11".repeat(32)) +
      // sockaddr_in6{AF_INET6, port 6666, flowinfo 0, 2001:db8::1, scope 0}
      nla(4, `${host16(10)} 1a0a 00000000 20010db8000000000000000000000001 00000000`) +
      nla(5, host16(25)) +
      // struct __kernel_timespec: 1700000000 s, 500000000 ns
      nla(6, host64(1_700_000_000n) + host64(500_000_000n)) +
      nla(7, host64(0x100000002n)) +
      nla(8, host64(3n)) +
      nla(9 | NESTED, allowedIp),
  );
  return hex(`00010000 ${nla(1, host32(7))} ${nla(2, "77673000")} ${nla(6, host16(41641))} ${nla(7, host32(0x51820))} ${nla(8 | NESTED, peer)}`);
}

suite("wireguard genl", (check) => {
  check("device settings and one peer (byte layout)", () => {
    const [body, ...rest] = [...encodeSetDevice({
      name: "wg0",
      privateKey: keyN(0),
      listenPort: 41641,
      replacePeers: true,
      peers: [{ publicKey: keyN(1), endpoint: parseEndpoint("203.0.113.7:41641"), persistentKeepalive: 25, allowedIps: [parsePrefix("100.64.0.2/32")], replaceAllowedIps: true }],
    })];
    eq(rest.length, 0, "one message");
    const top = attrMap(body!, "device");
    eq(getU32(top.get(5)!, "flags"), 1, "WGDEVICE_F_REPLACE_PEERS");
    const peer = attrMap(parseAttrs(top.get(8)!, "peers")[0]!.data, "peer");
    // sockaddr_in: AF_INET in host order, port 41641 big-endian, 203.0.113.7, 8 zero bytes.
    eqBytes(peer.get(4)!, `${host16(2)} a2a9 cb007107 0000000000000000`, "endpoint sockaddr");
    eq(getU32(peer.get(3)!, "peer flags"), 2, "WGPEER_F_REPLACE_ALLOWEDIPS");
    const dev = decodeDevice([asDumpPart(body!)]);
    eq(dev.name, "wg0", "name");
    eq(dev.listenPort, 41641, "port");
    eq(dev.peers.length, 1, "peers");
    eq(formatEndpoint(dev.peers[0]!.endpoint!), "203.0.113.7:41641", "endpoint");
    eq(dev.peers[0]!.persistentKeepalive, 25, "keepalive");
    eq(formatPrefix(dev.peers[0]!.allowedIps[0]!), "100.64.0.2/32", "allowed IP");
  });
  check("a peer's IPv6 endpoint (a path over IPv6) as WGPEER_A_ENDPOINT: struct sockaddr_in6", () => {
    const [body] = [...encodeSetDevice({
      name: "meshwrt0",
      peers: [{ publicKey: keyN(1), endpoint: parseEndpoint("[2001:db8:168:2::10]:41641"), allowedIps: [] }],
    })];
    const peer = attrMap(parseAttrs(attrMap(body!, "device").get(8)!, "peers")[0]!.data, "peer");
    // AF_INET6 (10) in host order, port 41641 big-endian, flowinfo 0, the address, scope id 0: 28 bytes.
    eqBytes(peer.get(4)!, `${host16(10)} a2a9 00000000 20010db8016800020000000000000010 00000000`, "endpoint sockaddr_in6");
    eq(formatEndpoint(decodeDevice([asDumpPart(body!)]).peers[0]!.endpoint!), "[2001:db8:168:2::10]:41641", "read back");
  });
  check("a get-device dump from the kernel (byte vector, host order)", () => {
    const payload = kernelDumpBytes();
    const dev = decodeDevice([{ type: 0x1b, flags: 2, seq: 1, pid: 0, payload }]);
    eq(`${dev.name} ${dev.ifindex} ${dev.listenPort} ${dev.fwmark.toString(16)}`, "wg0 7 41641 51820", "device");
    const p = dev.peers[0]!;
    eq(formatEndpoint(p.endpoint!), "[2001:db8::1]:6666", "endpoint");
    eq(p.persistentKeepalive, 25, "keepalive");
    eq(p.lastHandshakeMs, 1_700_000_000_500, "last handshake");
    eq(`${p.rxBytes} ${p.txBytes}`, "4294967298 3", "rx and tx bytes");
    eq(p.allowedIps.map(formatPrefix).join(" "), "100.64.0.2/32", "allowed IPs");
  });
  check("1,000 peers split under the message limit and read back whole", () => {
    const peers: PeerChange[] = Array.from({ length: 1000 }, (_, i) => ({
      publicKey: keyN(i),
      endpoint: parseEndpoint(i % 2 ? `[2001:db8::${i.toString(16)}]:41641` : `198.51.100.${i % 250}:${1000 + i}`),
      allowedIps: [parsePrefix(`100.64.${i >> 8}.${i & 255}/32`), parsePrefix(`fd7a:115c:a1e0::${i.toString(16)}/128`)],
      replaceAllowedIps: true,
    }));
    const bodies = [...encodeSetDevice({ name: "wg0", peers })];
    eq(bodies.length > 10, true, `split into ${bodies.length} messages`);
    for (const b of bodies) if (b.length + 20 > SET_MESSAGE_LIMIT + 64) throw new Error(`a message of ${b.length} bytes`);
    const dev = decodeDevice(bodies.map(asDumpPart));
    eq(dev.peers.length, 1000, "peers");
    eq(formatPrefix(dev.peers[999]!.allowedIps[1]!), "fd7a:115c:a1e0::3e7/128", "last peer's IPv6");
    eq(formatEndpoint(dev.peers[1]!.endpoint!), "[2001:db8::1]:41641", "IPv6 endpoint");
  });
  check("a peer with 600 allowed IPs continues in the next message", () => {
    const allowedIps = Array.from({ length: 600 }, (_, i) => parsePrefix(`10.${i >> 8}.${i & 255}.0/24`));
    const bodies = [...encodeSetDevice({ name: "wg0", peers: [{ publicKey: keyN(7), allowedIps, replaceAllowedIps: true }] })];
    eq(bodies.length > 1, true, "more than one message");
    const second = attrMap(parseAttrs(attrMap(bodies[1]!, "device").get(8)!, "peers")[0]!.data, "peer");
    eq(getU32(second.get(3)!, "flags"), 4, "continuation is update-only, never replace");
    const dev = decodeDevice(bodies.map(asDumpPart));
    eq(dev.peers.length, 1, "merged into one peer");
    eq(dev.peers[0]!.allowedIps.length, 600, "every allowed IP");
  });
  check("the activity's read in place (KernelPeerDump) says what the decoded dump says, with no object per peer", () => {
    const part = (payload: Uint8Array): Message => ({ type: 0x1b, flags: 2, seq: 1, pid: 0, payload });
    let seen = "";
    new KernelPeerDump([part(kernelDumpBytes())], new PeerIds()).forEach((id, p) => {
      seen += `${id.slice(0, 8)} ${p.rxBytes} ${p.txBytes} ${p.lastHandshakeMs} ${p.persistentKeepalive} ${formatEndpoint(p.endpoint()!)}`;
      eq(p.allowedIpsAre([parsePrefix("100.64.0.2/32")]), true, "its allowed IPs");
      eq(p.allowedIpsAre([parsePrefix("100.64.0.2/32"), parsePrefix("100.64.0.2/32")]), true, "the same prefix twice in a netmap");
      eq(p.allowedIpsAre([parsePrefix("100.64.0.2/32"), parsePrefix("10.0.0.0/8")]), false, "one more");
      eq(p.allowedIpsAre([parsePrefix("100.64.0.3/32")]), false, "another");
      eq(p.allowedIpsAre([]), false, "none");
      // As the agent's model keeps them (wg/wanted.ts): packed in a string, compared without unpacking.
      eq(p.allowedIpsAre(packPrefixes([parsePrefix("100.64.0.2/32")])), true, "packed: its allowed IPs");
      eq(p.allowedIpsAre(packPrefixes([parsePrefix("100.64.0.2/32"), parsePrefix("100.64.0.2/32")])), true, "packed: the same prefix twice");
      eq(p.allowedIpsAre(packPrefixes([parsePrefix("100.64.0.2/32"), parsePrefix("fd7a::2/128")])), false, "packed: one more");
      eq(p.allowedIpsAre(packPrefixes([parsePrefix("100.64.0.3/32")])), false, "packed: another");
      eq(p.allowedIpsAre(""), false, "packed: none");
    });
    eq(seen, "11111111 4294967298 3 1700000000500 25 [2001:db8::1]:6666", "id, counters, handshake, keep-alive, endpoint");
  });
  check("read in place: 1,000 peers over many messages in order, a peer whose allowed IPs continue is visited once and whole", () => {
    const read = (dump: PeerDump) => {
      const out: [string, PeerReading][] = [];
      dump.forEach((id, p) => out.push([id, p]));
      return out.map(([id]) => id);
    };
    const ids = new PeerIds();
    const peers: PeerChange[] = Array.from({ length: 1000 }, (_, i) => ({ publicKey: keyN(i), allowedIps: [parsePrefix(`100.64.${i >> 8}.${i & 255}/32`)], replaceAllowedIps: true }));
    const bodies = [...encodeSetDevice({ name: "wg0", peers })].map(asDumpPart);
    const want = decodeDevice(bodies).peers.map((p) => toHex(p.publicKey));
    eq(read(new KernelPeerDump(bodies, ids)).join(), want.join(), "every peer, in the dump's order");
    eq(read(new KernelPeerDump(bodies, ids)).join(), want.join(), "again, its ids kept by position");
    // Peers gone and moved: the ids kept by position must not stick to the wrong key.
    const fewer = [...encodeSetDevice({ name: "wg0", peers: [peers[5]!, ...peers.slice(10, 20), peers[0]!] })].map(asDumpPart);
    eq(read(new KernelPeerDump(fewer, ids)).join(), [5, ...Array.from({ length: 10 }, (_, i) => 10 + i), 0].map((i) => toHex(keyN(i))).join(), "after peers left and moved");
    const allowedIps = Array.from({ length: 600 }, (_, i) => parsePrefix(`10.${i >> 8}.${i & 255}.0/24`));
    const split = [...encodeSetDevice({ name: "wg0", peers: [{ publicKey: keyN(7), allowedIps, replaceAllowedIps: true }, peers[1]!] })].map(asDumpPart);
    eq(split.length > 1, true, "the first peer's allowed IPs fill more than one message");
    let visits = "";
    new KernelPeerDump(split, ids).forEach((id, p) => {
      visits += `${id === toHex(keyN(7)) ? "split" : "next"} ${p.allowedIpsAre(id === toHex(keyN(7)) ? allowedIps : peers[1]!.allowedIps!)} ${p.allowedIpsAre(allowedIps.slice(1))};`;
    });
    eq(visits, "split true false;next true false;", "the split peer once with all 600, then the next");
  });
  check("read in place: a malformed dump fails with what was wrong, not a wrong reading", () => {
    const walk = (payload: Uint8Array) => new KernelPeerDump([{ type: 0x1b, flags: 2, seq: 1, pid: 0, payload }], new PeerIds()).forEach(() => {});
    const keyless = hex(`00010000 ${nla(8 | NESTED, nla(NESTED, nla(7, host64(1n))))}`);
    throws(() => walk(keyless), /wireguard peer: missing or short public key/, "a peer without its key");
    const cut = kernelDumpBytes().slice(0, 60);
    throws(() => walk(cut), /wireguard (device|peers|peer).*claims/, "a dump cut short");
  });
  check("removal and bad keys", () => {
    const [body] = [...encodeSetDevice({ name: "wg0", peers: [{ publicKey: keyN(3), remove: true, allowedIps: [parsePrefix("10.0.0.1/32")] }] })];
    const peer = attrMap(parseAttrs(attrMap(body!, "device").get(8)!, "peers")[0]!.data, "peer");
    eq(getU32(peer.get(3)!, "flags"), 1, "WGPEER_F_REMOVE_ME");
    eq(peer.has(9), false, "a removed peer carries no allowed IPs");
    throws(() => [...encodeSetDevice({ name: "wg0", privateKey: new Uint8Array(31) })], /private key must be 32 bytes, got 31/, "short key");
  });
});
