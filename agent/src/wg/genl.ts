// The kernel's "wireguard" generic netlink family (linux/wireguard.h):
// set-device messages split to fit the socket buffer the way `wg` splits
// them, and get-device dumps merged back into one Device.
import { type Endpoint, type Prefix } from "../netaddr/ip.js";
import {
  attrMap,
  getS64,
  getStr,
  getU16,
  getU32,
  getU64,
  getU8,
  HOST_LE,
  type Message,
  NetlinkDecodeError,
  parseAttrs,
  Writer,
} from "../netlink/codec.js";
import { genlPayload } from "../netlink/genl.js";
import { bytesEqual, toHex } from "../util/bytes.js";
import type { Device, DeviceChange, Peer, PeerChange } from "./model.js";

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
 */
export function encodeSetDevice(change: DeviceChange, limit = SET_MESSAGE_LIMIT): Uint8Array[] {
  const peers = change.peers ?? [];
  const bodies: Uint8Array[] = [];
  let peerIdx = 0;
  let ipIdx = 0;
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
      w.nest(A_PEERS, () => {
        while (peerIdx < peers.length) {
          const p = peers[peerIdx]!;
          const mark = w.length;
          const resumeAt = ipIdx;
          let done = true;
          w.nest(0, () => {
            done = writePeer(w, p, ipIdx, limit, (next) => (ipIdx = next));
          });
          if (w.length > limit && inChunk > 0) {
            w.truncate(mark);
            ipIdx = resumeAt;
            return;
          }
          inChunk++;
          if (!done) return;
          peerIdx++;
          ipIdx = 0;
        }
      });
      if (inChunk === 0) throw new Error(`wireguard set ${change.name}: peer does not fit in ${limit} bytes`);
    }
    bodies.push(w.finish());
  }
  return bodies;
}

/** Writes one peer from allowed IP `from` on; false when IPs remain for the next message. */
function writePeer(w: Writer, p: PeerChange, from: number, limit: number, resume: (next: number) => void): boolean {
  w.bytes(P_PUBLIC_KEY, key(p.publicKey, "peer public key"));
  if (from === 0) {
    const flags = (p.remove ? PF_REMOVE_ME : 0) | (p.updateOnly ? PF_UPDATE_ONLY : 0) | (p.replaceAllowedIps ? PF_REPLACE_ALLOWEDIPS : 0);
    if (flags) w.u32(P_FLAGS, flags);
    if (p.remove) return true;
    if (p.presharedKey) w.bytes(P_PRESHARED_KEY, key(p.presharedKey, "preshared key"));
    if (p.endpoint) w.bytes(P_ENDPOINT, encodeSockaddr(p.endpoint));
    if (p.persistentKeepalive !== undefined) w.u16(P_KEEPALIVE, p.persistentKeepalive);
  } else {
    // A continuation only adds IPs to a peer that the previous message made.
    w.u32(P_FLAGS, PF_UPDATE_ONLY);
  }
  const ips = p.allowedIps ?? [];
  if (from >= ips.length) return true;
  let i = from;
  w.nest(P_ALLOWEDIPS, () => {
    for (; i < ips.length; i++) {
      const mark = w.length;
      writeAllowedIp(w, ips[i]!);
      if (w.length > limit - 8 && i > from) {
        w.truncate(mark);
        break;
      }
    }
  });
  resume(i);
  return i >= ips.length;
}

function writeAllowedIp(w: Writer, p: Prefix): void {
  w.nest(0, () => {
    w.u16(IP_FAMILY, p.ip.length === 4 ? AF_INET : AF_INET6);
    w.bytes(IP_ADDR, p.ip);
    w.u8(IP_CIDR, p.bits);
  });
}

function key(k: Uint8Array, what: string): Uint8Array {
  if (k.length !== 32) throw new Error(`wireguard: ${what} must be 32 bytes, got ${k.length}`);
  return k;
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

export function decodeSockaddr(b: Uint8Array, what: string): Endpoint {
  if (b.length < 2) throw new NetlinkDecodeError(`${what}: sockaddr of ${b.length} bytes`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const family = v.getUint16(0, HOST_LE);
  if (family === AF_INET && b.length >= 8) return { ip: b.slice(4, 8), port: v.getUint16(2, false) };
  if (family === AF_INET6 && b.length >= 24) return { ip: b.slice(8, 24), port: v.getUint16(2, false) };
  throw new NetlinkDecodeError(`${what}: sockaddr family ${family} in ${b.length} bytes`);
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
    for (const pa of parseAttrs(list, "wireguard peers")) {
      const peer = decodePeer(pa.data);
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

function decodePeer(b: Uint8Array): Peer {
  const a = attrMap(b, "wireguard peer");
  const pub = a.get(P_PUBLIC_KEY);
  if (!pub || pub.length !== 32) throw new NetlinkDecodeError("wireguard peer: missing or short public key");
  const what = `wireguard peer ${toHex(pub.subarray(0, 4))}`;
  const psk = a.get(P_PRESHARED_KEY);
  const ep = a.get(P_ENDPOINT);
  const hs = a.get(P_LAST_HANDSHAKE);
  let lastHandshakeMs = 0;
  if (hs) {
    if (hs.length < 16) throw new NetlinkDecodeError(`${what}: handshake time of ${hs.length} bytes`);
    lastHandshakeMs = Number(getS64(hs, what)) * 1000 + Math.floor(Number(getS64(hs.subarray(8), what)) / 1e6);
  }
  const allowedIps: Prefix[] = [];
  const ips = a.get(P_ALLOWEDIPS);
  if (ips) {
    for (const ia of parseAttrs(ips, `${what} allowed IPs`)) {
      const m = attrMap(ia.data, `${what} allowed IP`);
      const fam = m.get(IP_FAMILY), addr = m.get(IP_ADDR), cidr = m.get(IP_CIDR);
      if (!fam || !addr || !cidr) throw new NetlinkDecodeError(`${what}: allowed IP without family, address or mask`);
      const want = getU16(fam, what) === AF_INET ? 4 : 16;
      if (addr.length !== want) throw new NetlinkDecodeError(`${what}: allowed IP of ${addr.length} bytes`);
      allowedIps.push({ ip: addr.slice(), bits: getU8(cidr, what) });
    }
  }
  return {
    publicKey: pub.slice(),
    ...(psk && !isZero(psk) ? { presharedKey: psk.slice() } : {}),
    ...(ep ? { endpoint: decodeSockaddr(ep, what) } : {}),
    persistentKeepalive: a.get(P_KEEPALIVE) ? getU16(a.get(P_KEEPALIVE)!, what) : 0,
    allowedIps,
    lastHandshakeMs,
    rxBytes: a.get(P_RX) ? getU64(a.get(P_RX)!, what) : 0n,
    txBytes: a.get(P_TX) ? getU64(a.get(P_TX)!, what) : 0n,
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
