// What `devices` answers: the LAN devices that the router could make
// reachable from the tailnet (printers, cameras), from dnsmasq's leases and
// the kernel's neighbour table, each with the LAN subnet that would have to
// be advertised to reach it and whether it is.
import type { Host } from "../host/host.js";
import { formatIp, formatPrefix, type IpBytes, ipEqual, maskPrefix, parseIp, type Prefix } from "../netaddr/ip.js";
import { NetlinkClient } from "../netlink/client.js";
import { type Neighbour, NUD_DELAY, NUD_NOARP, NUD_PERMANENT, NUD_REACHABLE } from "../netlink/neigh.js";
import type { Address, Link } from "../netlink/route.js";
import { Rtnl } from "../netlink/rtnl.js";
import { type DhcpLease, parseDhcpLeases } from "../openwrt/dhcp-leases.js";
import { toHex } from "../util/bytes.js";
import { utf8Decode } from "../util/utf8.js";

export interface DeviceReply {
  /** The host name it gave in its DHCP request. */
  name?: string;
  mac: string;
  /** IPv4 first. */
  addresses: string[];
  interface?: string;
  /** The kernel has confirmed it recently (neighbour REACHABLE, DELAY or PERMANENT). */
  reachable: boolean;
  /** The router's own subnet it lives in: the route to advertise to reach it. */
  subnet?: string;
  /** An advertised route covers it. */
  advertised: boolean;
  leaseExpires?: string;
}

export interface LanFacts {
  readonly leases: readonly DhcpLease[];
  readonly neighbours: readonly Neighbour[];
  readonly links: readonly Link[];
  readonly addresses: readonly Address[];
  /** Links that are not the LAN: the tunnel, and loopback always. */
  readonly skipLinks: readonly string[];
  readonly advertised: readonly Prefix[];
}

const CONFIRMED = NUD_REACHABLE | NUD_DELAY | NUD_PERMANENT;

const contains = (p: Prefix, ip: IpBytes) => p.ip.length === ip.length && ipEqual(maskPrefix(p).ip, maskPrefix({ ip, bits: p.bits }).ip);
/** Link-local and multicast addresses cannot be routed to: no use to the tailnet. */
const routable = (ip: IpBytes) => !(ip.length === 16 && ((ip[0] === 0xfe && (ip[1]! & 0xc0) === 0x80) || ip[0] === 0xff)) && !(ip.length === 4 && (ip[0]! & 0xf0) === 0xe0);
const macText = (m: Uint8Array) => toHex(m).replace(/(..)(?!$)/g, "$1:");

function compareIp(a: IpBytes | undefined, b: IpBytes | undefined): number {
  if (!a || !b) return a ? -1 : b ? 1 : 0;
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

export function devicesReply(f: LanFacts): DeviceReply[] {
  const linkName = new Map(f.links.map((l) => [l.index, l.name]));
  const skip = (index: number) => {
    const name = linkName.get(index);
    return name === undefined || name === "lo" || f.skipLinks.includes(name);
  };
  const lanPrefixes = f.addresses.filter((a) => !skip(a.index)).map((a) => a.prefix);
  const byMac = new Map<string, { ips: IpBytes[]; iface?: string; reachable: boolean; lease?: DhcpLease }>();
  const entry = (mac: string) => {
    let e = byMac.get(mac);
    if (!e) byMac.set(mac, (e = { ips: [], reachable: false }));
    return e;
  };
  const addIp = (ips: IpBytes[], ip: IpBytes) => {
    if (routable(ip) && !ips.some((x) => ipEqual(x, ip))) ips.push(ip);
  };
  for (const n of f.neighbours) {
    if (!n.mac || n.state & NUD_NOARP || skip(n.index)) continue;
    const e = entry(macText(n.mac));
    addIp(e.ips, n.ip);
    e.iface ??= linkName.get(n.index);
    if (n.state & CONFIRMED) e.reachable = true;
  }
  for (const l of f.leases) {
    const e = entry(l.mac);
    e.lease = l;
    addIp(e.ips, parseIp(l.ip));
  }
  const out: (DeviceReply & { first?: IpBytes })[] = [];
  for (const [mac, e] of byMac) {
    if (!e.ips.length) continue;
    const ips = [...e.ips].sort(compareIp);
    const subnet = lanPrefixes.find((p) => ips.some((ip) => contains(p, ip)));
    out.push({
      first: ips[0],
      ...(e.lease?.name ? { name: e.lease.name } : {}),
      mac,
      addresses: ips.map(formatIp),
      ...(e.iface ? { interface: e.iface } : {}),
      reachable: e.reachable,
      ...(subnet ? { subnet: formatPrefix(maskPrefix(subnet)) } : {}),
      advertised: ips.some((ip) => f.advertised.some((p) => contains(p, ip))),
      ...(e.lease && e.lease.expires > 0 ? { leaseExpires: new Date(e.lease.expires * 1000).toISOString() } : {}),
    });
  }
  out.sort((a, b) => compareIp(a.first, b.first) || (a.mac < b.mac ? -1 : 1));
  return out.map(({ first: _first, ...d }) => d);
}

export type LanHost = Pick<Host, "netlink" | "describeErrno" | "errnoName" | "readFile" | "random">;

/** Reads the leases and asks the kernel over a netlink socket of its own, closed again afterwards. */
export async function lanDevices(host: LanHost, opts: { leasesPath: string; skipLinks: readonly string[]; advertised: readonly Prefix[] }): Promise<DeviceReply[]> {
  const leases = host.readFile(opts.leasesPath);
  const sock = host.netlink(0, 0);
  try {
    const c = new NetlinkClient((d) => sock.send(d), (n) => host.describeErrno(n), (host.random(2)[0]! << 8) | 1);
    sock.onMessage = (d) => c.receive(d);
    sock.onError = (e) => c.failAll(e);
    const rtnl = new Rtnl(c, (n) => host.errnoName(n));
    const [links, addresses, neighbours] = [await rtnl.links(), await rtnl.addresses(), await rtnl.neighbours()];
    return devicesReply({ leases: leases ? parseDhcpLeases(utf8Decode(leases)) : [], neighbours, links, addresses, skipLinks: opts.skipLinks, advertised: opts.advertised });
  } finally {
    sock.close();
  }
}
