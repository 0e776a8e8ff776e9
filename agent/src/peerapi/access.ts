// Who may ask the router's resolver through the peer API: a peer of the
// tailnet (by the address the connection came from), while the router is an
// exit node, and only one that may use it as one: a node of the router's own
// user, or one the packet filter lets reach the internet. The peer API is let
// through the firewall ahead of the ACL (its access is decided here, as
// tailscale's is), so this is the check. "The internet" is 0.0.0.0 for IPv4
// sources and 2000:: for IPv6 ones, TCP port 53, as tailscale probes it.
import type { NetMap } from "../control/netmap.js";
import type { FilterRule, Node } from "../control/tailcfg.js";
import { formatIp, type IpBytes, maskPrefix, parseIp, parsePrefix } from "../netaddr/ip.js";

const TCP = 6;
const DEFAULT_PROTOS = [6, 17, 1, 58];

/** The peer whose tailnet address this is, if any. */
export function peerByAddress(nm: NetMap, ip: string): Node | undefined {
  const want = parseIp(ip);
  for (const p of nm.peers.values()) {
    for (const a of p.Addresses) {
      try {
        const have = parsePrefix(a).ip;
        if (have.length === want.length && compare(have, want) === 0) return p;
      } catch {
        // a malformed address names nobody
      }
    }
  }
  return undefined;
}

function compare(a: IpBytes, b: IpBytes): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** Whether `ip` is within "*", an address, a prefix or a range "a-b"; anything unparsable matches nothing. */
function within(ip: IpBytes, text: string, bits?: number): boolean {
  if (text === "*") return true;
  try {
    const dash = text.indexOf("-");
    if (dash > 0) {
      const lo = parseIp(text.slice(0, dash)), hi = parseIp(text.slice(dash + 1));
      return lo.length === ip.length && hi.length === ip.length && compare(lo, ip) <= 0 && compare(ip, hi) <= 0;
    }
    const p = parsePrefix(bits !== undefined && !text.includes("/") ? `${text}/${bits}` : text);
    if (p.ip.length !== ip.length) return false;
    return compare(maskPrefix(p).ip, maskPrefix({ ip, bits: p.bits }).ip) === 0;
  } catch {
    return false;
  }
}

/** Whether the rules let `src` open a TCP connection to `dst` port `port`. */
export function filterAllowsTcp(rules: readonly FilterRule[], src: IpBytes, dst: IpBytes, port: number): boolean {
  return rules.some((r) => {
    if (!(r.IPProto?.length ? r.IPProto : DEFAULT_PROTOS).includes(TCP)) return false;
    if (!(r.SrcIPs ?? []).some((s) => within(src, s))) return false;
    return (r.DstPorts ?? []).some((d) => within(dst, d.IP, d.Bits) && (d.Ports?.First ?? 0) <= port && port <= (d.Ports?.Last ?? 65535));
  });
}

const INTERNET4 = parseIp("0.0.0.0");
const INTERNET6 = parseIp("2000::");

/** null when `ip` may ask; else why not, for the 403 and the log. */
export function dnsAccess(nm: NetMap, exitNode: boolean, ip: string): string | null {
  if (!exitNode) return "this node is not an exit node";
  const peer = peerByAddress(nm, ip);
  if (!peer) return `${ip} is not a peer of this tailnet`;
  if (nm.self && peer.User === nm.self.User) return null;
  const rules = [...nm.filters.keys()].sort().flatMap((k) => [...nm.filters.get(k)!]);
  const src = parseIp(ip);
  if (filterAllowsTcp(rules, src, src.length === 4 ? INTERNET4 : INTERNET6, 53)) return null;
  return `${peer.Name || formatIp(src)} may not use this exit node`;
}
