// dnsmasq's lease file (/tmp/dhcp.leases on OpenWrt), as its lease.c writes
// it: one IPv4 lease a line, "EXPIRY MAC IP HOSTNAME CLIENTID", "*" for a
// missing hostname or client id, EXPIRY in seconds since the epoch (0: never).
// The IPv6 leases follow a "duid" line and carry no MAC: they are left out,
// and the neighbour table supplies those addresses.
import { parseIp } from "../netaddr/ip.js";

export interface DhcpLease {
  /** Seconds since the epoch; 0 for an infinite lease. */
  readonly expires: number;
  /** Lower case, colon separated. */
  readonly mac: string;
  readonly ip: string;
  readonly name?: string;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** The IPv4 leases; lines that are not one (another hardware type, a damaged line) are skipped. */
export function parseDhcpLeases(text: string): DhcpLease[] {
  const out: DhcpLease[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[0] === "duid") break;
    if (f.length < 4 || !/^\d+$/.test(f[0]!)) continue;
    const mac = f[1]!.toLowerCase();
    if (!MAC.test(mac)) continue;
    try {
      if (parseIp(f[2]!).length !== 4) continue;
    } catch {
      continue;
    }
    out.push({ expires: Number(f[0]), mac, ip: f[2]!, ...(f[3] !== "*" ? { name: f[3]! } : {}) });
  }
  return out;
}
