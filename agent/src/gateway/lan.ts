// The router's LAN subnets, from the addresses on its LAN devices: what it
// advertises when the user lists no routes of their own.
import { formatPrefix, maskPrefix, type Prefix } from "../netaddr/ip.js";

export interface LanAddress {
  /** The device's name (br-lan on OpenWrt). */
  readonly device: string;
  readonly prefix: Prefix;
}

const isLinkLocal = (p: Prefix) => (p.ip.length === 4 ? p.ip[0] === 169 && p.ip[1] === 254 : p.ip[0] === 0xfe && (p.ip[1]! & 0xc0) === 0x80);

/** The subnets of the addresses on the given devices, masked and without duplicates, in the order found. */
export function lanSubnets(addresses: readonly LanAddress[], devices: readonly string[]): Prefix[] {
  const out = new Map<string, Prefix>();
  for (const a of addresses) {
    if (!devices.includes(a.device) || isLinkLocal(a.prefix)) continue;
    // A host address (a /128 from DHCPv6, say) names no subnet to share.
    if (a.prefix.bits === a.prefix.ip.length * 8 || a.prefix.bits === 0) continue;
    const m = maskPrefix(a.prefix);
    out.set(formatPrefix(m), m);
  }
  return [...out.values()];
}
