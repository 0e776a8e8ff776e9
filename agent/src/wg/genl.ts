// The kernel's "wireguard" generic netlink family (linux/wireguard.h):
// set-device messages split to fit the socket buffer the way `wg` splits
// them, and get-device dumps merged back into one Device.
import { type Endpoint, type Prefix } from "../netaddr/ip.js";
import {
  align4,
  attrMap,
  getStr,
  getU16,
  getU32,
  HOST_LE,
  type Message,
  NLA_F_NESTED,
  NLA_HDRLEN,
  NLA_TYPE_MASK,
  NetlinkDecodeError,
  putAttrHeader,
  Writer,
} from "../netlink/codec.js";
import { genlPayload } from "../netlink/genl.js";
import { bytesEqual, toHex } from "../util/bytes.js";
import type { Device, DeviceChange, Peer, PeerChange, PeerDump, PeerReading } from "./model.js";

export const WG_GENL_NAME = "wireguard";
export const WG_GENL_VERSION = 1;
export const WG_CMD_GET_DEVICE = 0;
export const WG_CMD_SET_DEVICE = 1;

const A_IFINDEX = 1, A_IFNAME = 2, A_PRIVATE_KEY = 3, A_PUBLIC_KEY = 4, A_FLAGS = 5, A_LISTEN_PORT = 6, A_FWMARK = 7, A_PEERS = 8;
const F_REPLACE_PEERS = 1;
const P_PUBLIC_KEY = 1, P_PRESHARED_KEY = 2, P_FLAGS = 3, P_ENDPOINT = 4, P_KEEPALIVE = 5, P_LAST_HANDSHAKE = 6, P_RX = 7, P_TX = 8, P_ALLOWEDIPS = 9;
const PF_REMOVE_ME = 1, PF_REPLACE_ALLOWEDIPS = 2, PF_UPDATE_ONLY = 4;
const IP_FAMILY = 1, IP_ADDR = 2, IP_CIDR = 3;
const AF_INET = 2, AF_INET6 = 10;

/** wg keeps each message within MNL_SOCKET_BUFFER_SIZE; a page on a small router. */
export const SET_MESSAGE_LIMIT = 4096;

/**
 * The attribute bodies (after the genl header) of the set-device messages
 * for `change`. Device settings go in the first; a peer whose allowed IPs do
 * not fit continues in the next message, as the kernel and `wg` expect.
 * Made one at a time as they are sent: 5,000 peers' messages at once were ~1 MB.
 */
export function* encodeSetDevice(change: DeviceChange, limit = SET_MESSAGE_LIMIT): Generator<Uint8Array, void, undefined> {
  const peers = change.peers ?? [];
  let peerIdx = 0;
  // Where the next message resumes the current peer's allowed IPs (an index, or an offset in its packed IPs).
  let ipAt = 0;
  for (let first = true; first || peerIdx < peers.length; first = false) {
    const w = new Writer(limit + 256);
    w.str(A_IFNAME, change.name);
    if (first) {
      if (change.privateKey) w.bytes(A_PRIVATE_KEY, key(change.privateKey, "private key"));
      if (change.listenPort !== undefined) w.u16(A_LISTEN_PORT, change.listenPort);
      if (change.fwmark !== undefined) w.u32(A_FWMARK, change.fwmark);
      if (change.replacePeers) w.u32(A_FLAGS, F_REPLACE_PEERS);
    }
    if (peerIdx < peers.length) {
      let inChunk = 0;
      // Nests opened and closed in place, not through closures: this loop runs for every peer.
      const list = w.open(A_PEERS);
      while (peerIdx < peers.length) {
        const p = peers[peerIdx]!;
        const mark = w.length;
        const peer = w.open(0);
        const next = writePeer(w, p, ipAt, limit);
        w.close(peer);
        if (w.length > limit && inChunk > 0) {
          w.truncate(mark);
          break;
        }
        inChunk++;
        if (next >= 0) {
          ipAt = next;
          break;
        }
        peerIdx++;
        ipAt = 0;
      }
      w.close(list);
      if (inChunk === 0) throw new Error(`wireguard set ${change.name}: peer does not fit in ${limit} bytes`);
    }
    yield w.finish();
  }
}

/** Writes one peer from allowed IP `from` on (an index, or an offset in its packed IPs); where the next message resumes, -1 when all are written. */
function writePeer(w: Writer, p: PeerChange, from: number, limit: number): number {
  if (p.publicKeyHex !== undefined) {
    if (p.publicKeyHex.length !== 64) throw new Error(`wireguard: peer public key must be 32 bytes, got ${p.publicKeyHex.length / 2}`);
    w.hex(P_PUBLIC_KEY, p.publicKeyHex);
  } else w.bytes(P_PUBLIC_KEY, key(p.publicKey, "peer public key"));
  if (from === 0) {
    const flags = (p.remove ? PF_REMOVE_ME : 0) | (p.updateOnly ? PF_UPDATE_ONLY : 0) | (p.replaceAllowedIps ? PF_REPLACE_ALLOWEDIPS : 0);
    if (flags) w.u32(P_FLAGS, flags);
    if (p.remove) return -1;
    if (p.presharedKey) w.bytes(P_PRESHARED_KEY, key(p.presharedKey, "preshared key"));
    if (p.endpoint) w.bytes(P_ENDPOINT, sockaddr(p.endpoint));
    if (p.persistentKeepalive !== undefined) w.u16(P_KEEPALIVE, p.persistentKeepalive);
  } else {
    // A continuation only adds IPs to a peer that the previous message made.
    w.u32(P_FLAGS, PF_UPDATE_ONLY);
  }
  const packed = p.packedIps;
  if (packed !== undefined) return writePackedIps(w, packed, from, limit);
  const ips = p.allowedIps ?? [];
  if (from >= ips.length) return -1;
  let i = from;
  const list = w.open(P_ALLOWEDIPS);
  for (; i < ips.length; i++) {
    const mark = w.length;
    const ip = ips[i]!;
    w.open(0);
    w.u16(IP_FAMILY, ip.ip.length === 4 ? AF_INET : AF_INET6);
    w.bytes(IP_ADDR, ip.ip);
    w.u8(IP_CIDR, ip.bits);
    w.close(mark);
    if (w.length > limit - 8 && i > from) {
      w.truncate(mark);
      break;
    }
  }
  w.close(list);
  return i < ips.length ? i : -1;
}

/** writePeer's allowed IPs from a packed list (wg/wanted.ts packPrefixes), written from its characters. */
function writePackedIps(w: Writer, packed: string, from: number, limit: number): number {
  if (from >= packed.length) return -1;
  let o = from;
  const list = w.open(P_ALLOWEDIPS);
  while (o < packed.length) {
    const mark = w.length;
    const len = packed.charCodeAt(o);
    if ((len !== 4 && len !== 16) || o + 2 + len > packed.length) throw new Error(`wireguard: packed allowed IPs: ${len}-byte address at ${o} of ${packed.length}`);
    // The nest and its attributes (family, address, mask, as writePeer orders them) written at once: 10,000 of them in a full netmap.
    const size = NLA_HDRLEN + 8 + NLA_HDRLEN + len + 8;
    const at = w.space(size), b = w.buffer;
    putAttrHeader(b, at, size, NLA_F_NESTED);
    putAttrHeader(b, at + 4, NLA_HDRLEN + 2, IP_FAMILY);
    b[at + (HOST_LE ? 8 : 9)] = len === 4 ? AF_INET : AF_INET6;
    putAttrHeader(b, at + 12, NLA_HDRLEN + len, IP_ADDR);
    for (let k = 0; k < len; k++) b[at + 16 + k] = packed.charCodeAt(o + 2 + k);
    putAttrHeader(b, at + 16 + len, NLA_HDRLEN + 1, IP_CIDR);
    b[at + 20 + len] = packed.charCodeAt(o + 1);
    if (w.length > limit - 8 && o > from) {
      w.truncate(mark);
      break;
    }
    o += 2 + len;
  }
  w.close(list);
  return o < packed.length ? o : -1;
}

function key(k: Uint8Array, what: string): Uint8Array {
  if (k.length !== 32) throw new Error(`wireguard: ${what} must be 32 bytes, got ${k.length}`);
  return k;
}

/** encodeSockaddr's bytes in one of two buffers kept for it (written into the message at once): no buffer and view a peer. */
const SOCKADDR4 = new Uint8Array(16), SOCKADDR6 = new Uint8Array(28);
function sockaddr(e: Endpoint): Uint8Array {
  const len = e.ip.length;
  if (len !== 4 && len !== 16) return encodeSockaddr(e);
  const b = len === 4 ? SOCKADDR4 : SOCKADDR6, family = len === 4 ? AF_INET : AF_INET6;
  b[HOST_LE ? 0 : 1] = family;
  b[2] = e.port >> 8;
  b[3] = e.port;
  b.set(e.ip, len === 4 ? 4 : 8);
  return b;
}

/** struct sockaddr_in / sockaddr_in6: family in host order, port in network order. */
export function encodeSockaddr(e: Endpoint): Uint8Array {
  const v4 = e.ip.length === 4;
  const b = new Uint8Array(v4 ? 16 : 28);
  const v = new DataView(b.buffer);
  v.setUint16(0, v4 ? AF_INET : AF_INET6, HOST_LE);
  v.setUint16(2, e.port, false);
  b.set(e.ip, v4 ? 4 : 8);
  return b;
}

export function decodeSockaddr(b: Uint8Array, what: string | (() => string)): Endpoint {
  if (b.length < 2) throw new NetlinkDecodeError(`${nameOf(what)}: sockaddr of ${b.length} bytes`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const family = v.getUint16(0, HOST_LE);
  if (family === AF_INET && b.length >= 8) return { ip: b.slice(4, 8), port: v.getUint16(2, false) };
  if (family === AF_INET6 && b.length >= 24) return { ip: b.slice(8, 24), port: v.getUint16(2, false) };
  throw new NetlinkDecodeError(`${nameOf(what)}: sockaddr family ${family} in ${b.length} bytes`);
}

/** Merges the parts of a get-device dump. A peer split over two parts comes back whole. */
export function decodeDevice(parts: readonly Message[]): Device {
  if (parts.length === 0) throw new NetlinkDecodeError("wireguard device: empty dump");
  let dev: Omit<Device, "peers"> | undefined;
  const peers: Peer[] = [];
  for (const m of parts) {
    const attrs = attrMap(genlPayload(m, "wireguard device"), "wireguard device");
    if (!dev) {
      const get = (t: number) => attrs.get(t);
      const name = get(A_IFNAME);
      const ifindex = get(A_IFINDEX);
      const priv = get(A_PRIVATE_KEY);
      const pub = get(A_PUBLIC_KEY);
      dev = {
        name: name ? getStr(name) : "",
        ifindex: ifindex ? getU32(ifindex, "wireguard ifindex") : 0,
        listenPort: get(A_LISTEN_PORT) ? getU16(get(A_LISTEN_PORT)!, "wireguard listen port") : 0,
        fwmark: get(A_FWMARK) ? getU32(get(A_FWMARK)!, "wireguard fwmark") : 0,
        ...(priv && !isZero(priv) ? { privateKey: priv.slice() } : {}),
        ...(pub && !isZero(pub) ? { publicKey: pub.slice() } : {}),
      };
    }
    const list = attrs.get(A_PEERS);
    if (!list) continue;
    // Each peer's bytes by offsets, no attribute objects: a 5,000-peer dump's were ~330 ms in QuickJS.
    const v = new DataView(list.buffer, list.byteOffset, list.byteLength);
    for (let off = 0, len = 0; off < list.length; off += align4(len)) len = attrLen(v, off, list.length, "wireguard peers");
    for (let off = 0, len = 0; off < list.length; off += align4(len)) {
      len = v.getUint16(off, HOST_LE);
      const peer = decodePeer(list.subarray(off + NLA_HDRLEN, off + len));
      const last = peers[peers.length - 1];
      if (last && bytesEqual(last.publicKey, peer.publicKey)) {
        peers[peers.length - 1] = { ...last, allowedIps: [...last.allowedIps, ...peer.allowedIps] };
      } else {
        peers.push(peer);
      }
    }
  }
  return { ...dev!, peers };
}

/**
 * One peer of a dump. Its attributes are read where they lie (the last of a type counts, as
 * attrMap has it), checked in the order the decoding by maps checked them, with the same errors.
 */
function decodePeer(b: Uint8Array): Peer {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let pub = -1, psk = -1, ep = -1, hs = -1, ka = -1, rx = -1, tx = -1, ips = -1;
  let pubLen = 0, pskLen = 0, epLen = 0, hsLen = 0, kaLen = 0, rxLen = 0, txLen = 0, ipsLen = 0;
  for (let off = 0, len = 0; off < b.length; off += align4(len)) {
    len = attrLen(v, off, b.length, "wireguard peer");
    const at = off + NLA_HDRLEN, size = len - NLA_HDRLEN;
    switch (attrType(v, off)) {
      case P_PUBLIC_KEY: (pub = at), (pubLen = size); break;
      case P_PRESHARED_KEY: (psk = at), (pskLen = size); break;
      case P_ENDPOINT: (ep = at), (epLen = size); break;
      case P_LAST_HANDSHAKE: (hs = at), (hsLen = size); break;
      case P_KEEPALIVE: (ka = at), (kaLen = size); break;
      case P_RX: (rx = at), (rxLen = size); break;
      case P_TX: (tx = at), (txLen = size); break;
      case P_ALLOWEDIPS: (ips = at), (ipsLen = size); break;
    }
  }
  if (pub < 0 || pubLen !== 32) throw new NetlinkDecodeError("wireguard peer: missing or short public key");
  const what = () => `wireguard peer ${toHex(b.subarray(pub, pub + 4))}`;
  let lastHandshakeMs = 0;
  if (hs >= 0) {
    if (hsLen < 16) throw new NetlinkDecodeError(`${what()}: handshake time of ${hsLen} bytes`);
    lastHandshakeMs = Number(v.getBigInt64(hs, HOST_LE)) * 1000 + Math.floor(Number(v.getBigInt64(hs + 8, HOST_LE)) / 1e6);
  }
  const allowedIps: Prefix[] = [];
  if (ips >= 0) {
    const end = ips + ipsLen;
    const listWhat = () => `${what()} allowed IPs`, ipWhat = () => `${what()} allowed IP`;
    for (let off = ips, len = 0; off < end; off += align4(len)) len = attrLen(v, off, end, listWhat);
    for (let off = ips, len = 0; off < end; off += align4(len)) {
      len = v.getUint16(off, HOST_LE);
      let fam = -1, addr = -1, cidr = -1, famLen = 0, addrLen = 0, cidrLen = 0;
      for (let a = off + NLA_HDRLEN, alen = 0; a < off + len; a += align4(alen)) {
        alen = attrLen(v, a, off + len, ipWhat);
        const t = attrType(v, a), at = a + NLA_HDRLEN, size = alen - NLA_HDRLEN;
        if (t === IP_FAMILY) (fam = at), (famLen = size);
        else if (t === IP_ADDR) (addr = at), (addrLen = size);
        else if (t === IP_CIDR) (cidr = at), (cidrLen = size);
      }
      if (fam < 0 || addr < 0 || cidr < 0) throw new NetlinkDecodeError(`${what()}: allowed IP without family, address or mask`);
      if (famLen < 2) throw new NetlinkDecodeError(`${what()}: want 2 bytes, got ${famLen}`);
      const want = v.getUint16(fam, HOST_LE) === AF_INET ? 4 : 16;
      if (addrLen !== want) throw new NetlinkDecodeError(`${what()}: allowed IP of ${addrLen} bytes`);
      if (cidrLen < 1) throw new NetlinkDecodeError(`${what()}: want 1 bytes, got ${cidrLen}`);
      allowedIps.push({ ip: b.slice(addr, addr + addrLen), bits: b[cidr]! });
    }
  }
  const endpoint = ep >= 0 ? decodeSockaddr(b.subarray(ep, ep + epLen), what) : undefined;
  if (ka >= 0 && kaLen < 2) throw new NetlinkDecodeError(`${what()}: want 2 bytes, got ${kaLen}`);
  if (rx >= 0 && rxLen < 8) throw new NetlinkDecodeError(`${what()}: want 8 bytes, got ${rxLen}`);
  if (tx >= 0 && txLen < 8) throw new NetlinkDecodeError(`${what()}: want 8 bytes, got ${txLen}`);
  return {
    publicKey: b.slice(pub, pub + 32),
    ...(psk >= 0 && !isZero(b.subarray(psk, psk + pskLen)) ? { presharedKey: b.slice(psk, psk + pskLen) } : {}),
    ...(endpoint ? { endpoint } : {}),
    persistentKeepalive: ka >= 0 ? v.getUint16(ka, HOST_LE) : 0,
    allowedIps,
    lastHandshakeMs,
    rxBytes: rx >= 0 ? v.getBigUint64(rx, HOST_LE) : 0n,
    txBytes: tx >= 0 ? v.getBigUint64(tx, HOST_LE) : 0n,
  };
}

const isZero = (b: Uint8Array) => b.every((x) => x === 0);

/** Writes the set-device body for the i-th message (used with a genl header by the device client). */
export function setDeviceRequest(body: Uint8Array): (w: Writer) => void {
  return (w) => {
    w.raw(Uint8Array.of(WG_CMD_SET_DEVICE, WG_GENL_VERSION, 0, 0));
    w.raw(body);
  };
}

export function getDeviceRequest(name: string): (w: Writer) => void {
  return (w) => {
    w.raw(Uint8Array.of(WG_CMD_GET_DEVICE, WG_GENL_VERSION, 0, 0));
    w.str(A_IFNAME, name);
  };
}

/**
 * The ids (public key hex) of the last dump's peers, by position: the kernel dumps its peers in
 * the same order read after read, so a key where it was last time takes the same string, and the
 * hex is made only for a peer that is new there.
 */
export class PeerIds {
  private ids: string[] = [];
  private keys = new Uint8Array(0);

  /** The id of the key at `buf[at..at+32]`, the i-th peer of a dump. */
  at(i: number, buf: Uint8Array, at: number): string {
    const k = i * 32;
    const known = this.ids[i];
    if (known !== undefined && k + 32 <= this.keys.length) {
      let same = true;
      for (let j = 0; j < 32; j++) {
        if (this.keys[k + j] !== buf[at + j]) {
          same = false;
          break;
        }
      }
      if (same) return known;
    }
    if (k + 32 > this.keys.length) {
      const grown = new Uint8Array(Math.max(k + 32, this.keys.length * 2));
      grown.set(this.keys);
      this.keys = grown;
    }
    this.keys.set(buf.subarray(at, at + 32), k);
    const id = toHex(buf.subarray(at, at + 32));
    if (i >= this.ids.length) this.ids.length = i + 1;
    this.ids[i] = id;
    return id;
  }

  /** Forgets positions past the last read's `count` peers. */
  trim(count: number): void {
    if (this.ids.length > count) this.ids.length = count;
  }
}

/**
 * A get-device dump's peers read in place, for the activity's frequent reads: one pass over the
 * kernel's bytes, no object per peer (at a thousand peers decodeDevice's objects were most of a read).
 * A peer whose allowed IPs the kernel split over two messages is visited once, whole.
 */
export class KernelPeerDump implements PeerDump {
  constructor(
    private readonly parts: readonly Message[],
    private readonly ids: PeerIds,
  ) {}

  forEach(visit: (id: string, p: PeerReading) => void): void {
    const r = new DumpedPeer();
    let count = 0;
    const flush = () => {
      if (r.buf) visit(this.ids.at(count++, r.buf, r.keyAt), r);
    };
    for (const m of this.parts) {
      const body = genlPayload(m, "wireguard device");
      const v = new DataView(body.buffer, body.byteOffset, body.byteLength);
      for (let off = 0, len = 0; off < body.length; off += align4(len)) {
        len = attrLen(v, off, body.length, "wireguard device");
        if (attrType(v, off) !== A_PEERS) continue;
        for (let p = off + NLA_HDRLEN, plen = 0, first = true; p < off + len; p += align4(plen), first = false) {
          plen = attrLen(v, p, off + len, "wireguard peers");
          // The kernel continues a peer whose allowed IPs did not fit at the start of the next message.
          if (first && r.buf && sameBytes(r.buf, r.keyAt, body, findKey(v, p + NLA_HDRLEN, p + plen), 32)) {
            r.addIps(body, v, p + NLA_HDRLEN, p + plen);
            continue;
          }
          flush();
          r.take(body, v, p + NLA_HDRLEN, p + plen);
        }
      }
    }
    flush();
    this.ids.trim(count);
  }
}

/** One peer of a dump (see PeerReading): offsets into the kernel's bytes, counters read as numbers. */
class DumpedPeer implements PeerReading {
  buf: Uint8Array | undefined;
  keyAt = 0;
  persistentKeepalive = 0;
  lastHandshakeMs = 0;
  rxBytes = 0;
  txBytes = 0;
  private endpointAt = -1;
  private endpointLen = 0;
  /** Where its allowed-IP lists are (a buffer, start and end per part), reused from peer to peer. */
  private ipBufs: Uint8Array[] = [];
  private ipRanges: number[] = [];
  private ipParts = 0;

  take(buf: Uint8Array, v: DataView, start: number, end: number): void {
    this.buf = buf;
    this.keyAt = -1;
    this.persistentKeepalive = this.lastHandshakeMs = this.rxBytes = this.txBytes = 0;
    this.endpointAt = -1;
    this.ipParts = 0;
    // Attribute headers read as bytes, inline: this loop runs for every attribute of every peer.
    for (let off = start, len = 0; off < end; off += (len + 3) & ~3) {
      if (end - off < NLA_HDRLEN) throw new NetlinkDecodeError(`wireguard peer: ${end - off} stray bytes at the end`);
      len = HOST_LE ? buf[off]! | (buf[off + 1]! << 8) : (buf[off]! << 8) | buf[off + 1]!;
      const type = (HOST_LE ? buf[off + 2]! | (buf[off + 3]! << 8) : (buf[off + 2]! << 8) | buf[off + 3]!) & NLA_TYPE_MASK;
      if (len < NLA_HDRLEN || len > end - off) throw new NetlinkDecodeError(`wireguard peer: attribute ${type} claims ${len} bytes, ${end - off} left`);
      const at = off + NLA_HDRLEN, size = len - NLA_HDRLEN;
      switch (type) {
        case P_PUBLIC_KEY:
          if (size === 32) this.keyAt = at;
          break;
        case P_KEEPALIVE:
          this.persistentKeepalive = size >= 2 ? v.getUint16(at, HOST_LE) : 0;
          break;
        case P_LAST_HANDSHAKE:
          if (size < 16) throw new NetlinkDecodeError(`wireguard peer: handshake time of ${size} bytes`);
          this.lastHandshakeMs = s64(v, at) * 1000 + Math.floor(s64(v, at + 8) / 1e6);
          break;
        case P_RX:
          this.rxBytes = size >= 8 ? u64(v, at) : 0;
          break;
        case P_TX:
          this.txBytes = size >= 8 ? u64(v, at) : 0;
          break;
        case P_ENDPOINT:
          this.endpointAt = at;
          this.endpointLen = size;
          break;
        case P_ALLOWEDIPS:
          this.addPart(buf, at, at + size);
      }
    }
    if (this.keyAt < 0) throw new NetlinkDecodeError(`wireguard peer: missing or short public key (${end - start} bytes of attributes)`);
  }

  /** Where a list of its allowed IPs is; the arrays keep their slots from peer to peer. */
  private addPart(buf: Uint8Array, start: number, end: number): void {
    const i = this.ipParts++;
    this.ipBufs[i] = buf;
    this.ipRanges[2 * i] = start;
    this.ipRanges[2 * i + 1] = end;
  }

  /** The allowed IPs of a continuation of this peer (the rest of its attributes are in the first part). */
  addIps(buf: Uint8Array, v: DataView, start: number, end: number): void {
    for (let off = start, len = 0; off < end; off += align4(len)) {
      len = attrLen(v, off, end, "wireguard peer");
      if (attrType(v, off) === P_ALLOWEDIPS) this.addPart(buf, off + NLA_HDRLEN, off + len);
    }
  }

  endpoint(): Endpoint | undefined {
    if (this.endpointAt < 0) return undefined;
    return decodeSockaddr(this.buf!.subarray(this.endpointAt, this.endpointAt + this.endpointLen), this.what());
  }

  allowedIpsAre(list: readonly Prefix[] | string): boolean {
    const packed = typeof list === "string";
    // The kernel's are distinct (a trie): equal as sets when each is in the list and they number
    // the list's distinct prefixes. A few each, so pairs are cheap, and nothing is allocated.
    let dumped = 0;
    for (let i = 0; i < this.ipParts; i++) {
      const buf = this.ipBufs[i]!, end = this.ipRanges[2 * i + 1]!;
      // Headers read inline as in take(): two or three allowed IPs of three attributes, every peer.
      for (let off = this.ipRanges[2 * i]!, len = 0; off < end; off += (len + 3) & ~3) {
        len = end - off < NLA_HDRLEN ? 0 : HOST_LE ? buf[off]! | (buf[off + 1]! << 8) : (buf[off]! << 8) | buf[off + 1]!;
        if (len < NLA_HDRLEN || len > end - off) throw new NetlinkDecodeError(`${this.what()}: allowed IPs: attribute of ${len} bytes, ${end - off} left`);
        let family = -1, addrAt = -1, addrLen = 0, bits = -1;
        for (let a = off + NLA_HDRLEN, alen = 0; a < off + len; a += (alen + 3) & ~3) {
          alen = off + len - a < NLA_HDRLEN ? 0 : HOST_LE ? buf[a]! | (buf[a + 1]! << 8) : (buf[a]! << 8) | buf[a + 1]!;
          if (alen < NLA_HDRLEN || alen > off + len - a) throw new NetlinkDecodeError(`${this.what()}: allowed IP: attribute of ${alen} bytes, ${off + len - a} left`);
          const t = (HOST_LE ? buf[a + 2]! | (buf[a + 3]! << 8) : (buf[a + 2]! << 8) | buf[a + 3]!) & NLA_TYPE_MASK;
          if (t === IP_FAMILY && alen >= NLA_HDRLEN + 2) family = HOST_LE ? buf[a + 4]! | (buf[a + 5]! << 8) : (buf[a + 4]! << 8) | buf[a + 5]!;
          else if (t === IP_ADDR) (addrAt = a + NLA_HDRLEN), (addrLen = alen - NLA_HDRLEN);
          else if (t === IP_CIDR && alen >= NLA_HDRLEN + 1) bits = buf[a + 4]!;
        }
        if (family < 0 || addrAt < 0 || bits < 0) throw new NetlinkDecodeError(`${this.what()}: allowed IP without family, address or mask`);
        if (addrLen !== (family === AF_INET ? 4 : 16)) throw new NetlinkDecodeError(`${this.what()}: allowed IP of ${addrLen} bytes`);
        let found = false;
        if (packed) for (let o = 0; o < list.length && !found; o += 2 + list.charCodeAt(o)) found = packedIs(list, o, buf, addrAt, addrLen, bits);
        else for (let j = 0; j < list.length && !found; j++) found = prefixIs(list[j]!, buf, addrAt, addrLen, bits);
        if (!found) return false;
        dumped++;
      }
    }
    let distinct = 0;
    if (packed) {
      for (let o = 0; o < list.length; o += 2 + list.charCodeAt(o)) {
        let again = false;
        for (let e = 0; e < o && !again; e += 2 + list.charCodeAt(e)) again = packedSame(list, e, o);
        if (!again) distinct++;
      }
    } else {
      for (let i = 0; i < list.length; i++) {
        let again = false;
        for (let j = 0; j < i && !again; j++) again = prefixIs(list[j]!, list[i]!.ip, 0, list[i]!.ip.length, list[i]!.bits);
        if (!again) distinct++;
      }
    }
    return dumped === distinct;
  }

  private what(): string {
    return `wireguard peer ${toHex(this.buf!.subarray(this.keyAt, this.keyAt + 4))}`;
  }
}

/** An attribute's length, checked against [off, end); `what` names the container in the error (made then, when a function). */
function attrLen(v: DataView, off: number, end: number, what: string | (() => string)): number {
  if (end - off < NLA_HDRLEN) throw new NetlinkDecodeError(`${nameOf(what)}: ${end - off} stray bytes at the end`);
  const len = v.getUint16(off, HOST_LE);
  if (len < NLA_HDRLEN || len > end - off) throw new NetlinkDecodeError(`${nameOf(what)}: attribute ${attrType(v, off)} claims ${len} bytes, ${end - off} left`);
  return len;
}

const nameOf = (what: string | (() => string)) => (typeof what === "string" ? what : what());

const attrType = (v: DataView, off: number) => v.getUint16(off + 2, HOST_LE) & NLA_TYPE_MASK;

/** Where the peer's 32-byte public key is, in the attributes at [start, end). */
function findKey(v: DataView, start: number, end: number): number {
  for (let off = start, len = 0; off < end; off += align4(len)) {
    len = attrLen(v, off, end, "wireguard peer");
    if (attrType(v, off) === P_PUBLIC_KEY && len - NLA_HDRLEN === 32) return off + NLA_HDRLEN;
  }
  throw new NetlinkDecodeError(`wireguard peer: missing or short public key (${end - start} bytes of attributes)`);
}

function sameBytes(a: Uint8Array, ai: number, b: Uint8Array, bi: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[ai + i] !== b[bi + i]) return false;
  return true;
}

/** A prefix against a dumped address and mask, both masked (the kernel dumps them masked; a netmap may not). */
function prefixIs(p: Prefix, buf: Uint8Array, at: number, len: number, bits: number): boolean {
  if (p.bits !== bits || p.ip.length !== len) return false;
  const whole = bits >> 3, rest = bits & 7;
  for (let i = 0; i < whole; i++) if (p.ip[i] !== buf[at + i]) return false;
  if (!rest) return true;
  const m = (0xff << (8 - rest)) & 0xff;
  return (p.ip[whole]! & m) === (buf[at + whole]! & m);
}

/** prefixIs for the packed prefix at `o` of `s` (wg/wanted.ts packPrefixes: length, bits, address bytes, a character each). */
function packedIs(s: string, o: number, buf: Uint8Array, at: number, len: number, bits: number): boolean {
  if (s.charCodeAt(o + 1) !== bits || s.charCodeAt(o) !== len) return false;
  const whole = bits >> 3, rest = bits & 7;
  for (let i = 0; i < whole; i++) if (s.charCodeAt(o + 2 + i) !== buf[at + i]) return false;
  if (!rest) return true;
  const m = (0xff << (8 - rest)) & 0xff;
  return (s.charCodeAt(o + 2 + whole) & m) === (buf[at + whole]! & m);
}

/** Whether the packed prefixes at `a` and `b` of `s` are one (masked). */
function packedSame(s: string, a: number, b: number): boolean {
  const len = s.charCodeAt(a), bits = s.charCodeAt(a + 1);
  if (s.charCodeAt(b) !== len || s.charCodeAt(b + 1) !== bits) return false;
  for (let i = 0; i < len; i++) {
    const m = i < bits >> 3 ? 0xff : i === bits >> 3 ? (0xff << (8 - (bits & 7))) & 0xff : 0;
    if ((s.charCodeAt(a + 2 + i) & m) !== (s.charCodeAt(b + 2 + i) & m)) return false;
  }
  return true;
}

// 64-bit fields as numbers: a BigInt is an allocation, and counters stay exact to 2^53.
const LO = HOST_LE ? 0 : 4, HI = HOST_LE ? 4 : 0;
const u64 = (v: DataView, at: number) => v.getUint32(at + HI, HOST_LE) * 4294967296 + v.getUint32(at + LO, HOST_LE);
const s64 = (v: DataView, at: number) => v.getInt32(at + HI, HOST_LE) * 4294967296 + v.getUint32(at + LO, HOST_LE);
