// rtnetlink (linux/rtnetlink.h, if_link.h, if_addr.h): links, addresses and
// routes, as requests for the NetlinkClient and as parsed dumps and events.
import { formatIp, type IpBytes, type Prefix } from "../netaddr/ip.js";
import { attrMap, getStr, getU32, HOST_LE, type Message, NetlinkDecodeError, type Writer } from "./codec.js";

export const RTM_NEWLINK = 16, RTM_DELLINK = 17, RTM_GETLINK = 18;
export const RTM_NEWADDR = 20, RTM_DELADDR = 21, RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24, RTM_DELROUTE = 25, RTM_GETROUTE = 26;

/** Multicast groups (bit masks for bind) of the events the agent follows. */
export const RTMGRP_LINK = 0x1, RTMGRP_IPV4_IFADDR = 0x10, RTMGRP_IPV4_ROUTE = 0x40, RTMGRP_IPV6_IFADDR = 0x100, RTMGRP_IPV6_ROUTE = 0x400;

const AF_UNSPEC = 0, AF_INET = 2, AF_INET6 = 10;
const IFF_UP = 0x1;
/** The link type of a device with no link layer: kernel WireGuard's and a TUN device's, always. */
export const ARPHRD_NONE = 0xfffe;
const IFLA_ADDRESS = 1, IFLA_IFNAME = 3, IFLA_MTU = 4, IFLA_LINKINFO = 18, IFLA_INFO_KIND = 1;
const IFA_ADDRESS = 1, IFA_LOCAL = 2, IFA_F_NODAD = 0x02;
const RTA_DST = 1, RTA_OIF = 4, RTA_GATEWAY = 5, RTA_PRIORITY = 6, RTA_TABLE = 15;
export const RT_TABLE_MAIN = 254;
const RT_SCOPE_UNIVERSE = 0, RT_SCOPE_LINK = 253, RTN_UNICAST = 1;
/** The routing protocol number meshwrt's routes carry ("proto 77" in `ip route`), so it finds and removes exactly its own. */
export const RTPROT_MESHWRT = 77;

export interface Link {
  readonly index: number;
  readonly name: string;
  /** ifi_type: ARPHRD_ETHER, ARPHRD_NONE, ... */
  readonly type: number;
  readonly up: boolean;
  readonly mtu: number;
  readonly kind?: string;
  readonly mac?: Uint8Array;
}

export interface Address {
  readonly index: number;
  readonly prefix: Prefix;
}

export interface Route {
  readonly dst: Prefix;
  readonly oif?: number;
  readonly gateway?: IpBytes;
  readonly table: number;
  readonly metric: number;
  readonly protocol: number;
  readonly type: number;
}

export interface RouteSpec {
  readonly dst: Prefix;
  readonly oif: number;
  readonly gateway?: IpBytes;
  readonly table?: number;
  readonly metric?: number;
}

const family = (ip: IpBytes) => (ip.length === 4 ? AF_INET : AF_INET6);

function ifinfomsg(index: number, flags = 0, change = 0): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setUint8(0, AF_UNSPEC);
  v.setInt32(4, index, HOST_LE);
  v.setUint32(8, flags, HOST_LE);
  v.setUint32(12, change, HOST_LE);
  return b;
}

/** RTM_NEWLINK, with NLM_F_CREATE | NLM_F_EXCL from the caller. */
export function newLink(name: string, kind: string, mtu: number): (w: Writer) => void {
  return (w) => {
    w.raw(ifinfomsg(0)).str(IFLA_IFNAME, name).u32(IFLA_MTU, mtu);
    w.nest(IFLA_LINKINFO, () => w.str(IFLA_INFO_KIND, kind));
  };
}

export function deleteLink(index: number): (w: Writer) => void {
  return (w) => void w.raw(ifinfomsg(index));
}

/** Up or down, and optionally the MTU, of an existing link (RTM_NEWLINK without CREATE). */
export function setLink(index: number, up: boolean, mtu?: number): (w: Writer) => void {
  return (w) => {
    w.raw(ifinfomsg(index, up ? IFF_UP : 0, IFF_UP));
    if (mtu !== undefined) w.u32(IFLA_MTU, mtu);
  };
}

export const dumpLinks = (w: Writer): void => void w.raw(ifinfomsg(0));

function ifaddrmsg(index: number, p: Prefix): Uint8Array {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint8(0, family(p.ip));
  v.setUint8(1, p.bits);
  v.setUint8(2, p.ip.length === 16 ? IFA_F_NODAD : 0);
  v.setUint32(4, index, HOST_LE);
  return b;
}

/** An address on a point-to-point tunnel: the node's /32 or /128, no DAD wait. */
export function address(index: number, p: Prefix): (w: Writer) => void {
  return (w) => {
    w.raw(ifaddrmsg(index, p));
    if (p.ip.length === 4) w.bytes(IFA_LOCAL, p.ip);
    w.bytes(IFA_ADDRESS, p.ip);
  };
}

export function dumpAddresses(w: Writer): void {
  w.raw(new Uint8Array(8));
}

function rtmsg(dst: Prefix, table: number, protocol: number, scope: number): Uint8Array {
  const b = new Uint8Array(12);
  b[0] = family(dst.ip);
  b[1] = dst.bits;
  b[4] = table > 255 ? 0 : table;
  b[5] = protocol;
  b[6] = scope;
  b[7] = RTN_UNICAST;
  return b;
}

export function route(r: RouteSpec): (w: Writer) => void {
  return (w) => {
    const table = r.table ?? RT_TABLE_MAIN;
    w.raw(rtmsg(r.dst, table, RTPROT_MESHWRT, r.gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK));
    if (r.dst.bits > 0) w.bytes(RTA_DST, r.dst.ip);
    w.u32(RTA_OIF, r.oif);
    if (r.gateway) w.bytes(RTA_GATEWAY, r.gateway);
    if (r.metric !== undefined) w.u32(RTA_PRIORITY, r.metric);
    w.u32(RTA_TABLE, table);
  };
}

export function dumpRoutes(ipv6: boolean): (w: Writer) => void {
  return (w) => void w.raw(Uint8Array.of(ipv6 ? AF_INET6 : AF_INET, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
}

export function parseLink(m: Message): Link {
  if (m.payload.length < 16) throw new NetlinkDecodeError(`link message of ${m.payload.length} bytes`);
  const v = new DataView(m.payload.buffer, m.payload.byteOffset, 16);
  const index = v.getInt32(4, HOST_LE);
  const a = attrMap(m.payload.subarray(16), `link ${index}`);
  const info = a.get(IFLA_LINKINFO);
  const kind = info ? attrMap(info, `link ${index} info`).get(IFLA_INFO_KIND) : undefined;
  const mac = a.get(IFLA_ADDRESS);
  return {
    index,
    name: a.get(IFLA_IFNAME) ? getStr(a.get(IFLA_IFNAME)!) : "",
    type: v.getUint16(2, HOST_LE),
    up: (v.getUint32(8, HOST_LE) & IFF_UP) !== 0,
    mtu: a.get(IFLA_MTU) ? getU32(a.get(IFLA_MTU)!, `link ${index} mtu`) : 0,
    ...(kind ? { kind: getStr(kind) } : {}),
    ...(mac ? { mac: mac.slice() } : {}),
  };
}

export function parseAddress(m: Message): Address {
  if (m.payload.length < 8) throw new NetlinkDecodeError(`address message of ${m.payload.length} bytes`);
  const p = m.payload;
  const index = new DataView(p.buffer, p.byteOffset, 8).getUint32(4, HOST_LE);
  const a = attrMap(p.subarray(8), `address on link ${index}`);
  const ip = a.get(IFA_LOCAL) ?? a.get(IFA_ADDRESS);
  const want = p[0] === AF_INET ? 4 : 16;
  if (!ip || ip.length !== want) throw new NetlinkDecodeError(`address on link ${index}: missing or ${ip?.length}-byte address`);
  return { index, prefix: { ip: ip.slice(), bits: p[1]! } };
}

export function parseRoute(m: Message): Route {
  if (m.payload.length < 12) throw new NetlinkDecodeError(`route message of ${m.payload.length} bytes`);
  const p = m.payload;
  const a = attrMap(p.subarray(12), "route");
  const len = p[0] === AF_INET ? 4 : 16;
  const dst = a.get(RTA_DST);
  if (dst && dst.length !== len) throw new NetlinkDecodeError(`route: ${dst.length}-byte destination`);
  const gw = a.get(RTA_GATEWAY);
  const r: Route = {
    dst: { ip: dst ? dst.slice() : new Uint8Array(len), bits: p[1]! },
    table: a.get(RTA_TABLE) ? getU32(a.get(RTA_TABLE)!, "route table") : p[4]!,
    metric: a.get(RTA_PRIORITY) ? getU32(a.get(RTA_PRIORITY)!, "route metric") : 0,
    protocol: p[5]!,
    type: p[7]!,
    ...(a.get(RTA_OIF) ? { oif: getU32(a.get(RTA_OIF)!, "route oif") } : {}),
    ...(gw ? { gateway: gw.slice() } : {}),
  };
  return r;
}

export const describeRoute = (r: Route): string =>
  `${formatIp(r.dst.ip)}/${r.dst.bits}${r.oif !== undefined ? ` dev#${r.oif}` : ""}${r.gateway ? ` via ${formatIp(r.gateway)}` : ""} table ${r.table}`;

