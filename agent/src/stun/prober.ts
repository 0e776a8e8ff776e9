// Endpoint discovery over STUN: a round of binding requests to the relay
// map's STUN servers, and what their answers say about our NAT. Pure: the
// caller sends the packets, feeds answers and time in, and reads the result.
import { type Endpoint, formatEndpoint } from "../netaddr/ip.js";
import { toHex } from "../util/bytes.js";
import { bindingRequest, parseBindingResponse, TXID_LEN } from "./message.js";

export interface StunServer {
  readonly region: number;
  readonly ip: string;
  readonly port: number;
}

/** "endpoint-independent": one public port for every server; "symmetric": a port per server. */
export type NatMapping = "unknown" | "udp-blocked" | "endpoint-independent" | "symmetric";

export interface StunResult {
  /** Our public endpoints as the servers saw them, deduplicated, in answer order. */
  readonly endpoints: readonly Endpoint[];
  readonly mapping: NatMapping;
  /** Round-trip time per region that answered (ms), the better of the two families (netcheck's RegionLatency). */
  readonly latencyMs: ReadonlyMap<number, number>;
  /** The same over IPv4 and over IPv6 alone, by the server's family (RegionV4Latency, RegionV6Latency: NetInfo.DERPLatency's "-v4" and "-v6"). */
  readonly v4Ms: ReadonlyMap<number, number>;
  readonly v6Ms: ReadonlyMap<number, number>;
}

/** A round ends this long after it started, answered or not. */
export const ROUND_MS = 3_000;

export class StunProber {
  private pending = new Map<string, { server: StunServer; at: number }>();
  private seen: { server: StunServer; mapped: Endpoint; rtt: number }[] = [];
  private sentTo = 0;
  private startedAt = -Infinity;

  constructor(private readonly random: (n: number) => Uint8Array) {}

  /** Starts a round: the requests to send. */
  start(servers: readonly StunServer[], now: number): { to: StunServer; packet: Uint8Array }[] {
    this.pending.clear();
    this.seen = [];
    this.sentTo = servers.length;
    this.startedAt = now;
    return servers.map((s) => {
      const txid = this.random(TXID_LEN);
      this.pending.set(toHex(txid), { server: s, at: now });
      return { to: s, packet: bindingRequest(txid) };
    });
  }

  /** A datagram that may be an answer of this round; true when it was one. */
  receive(packet: Uint8Array, now: number): boolean {
    const r = parseBindingResponse(packet);
    if (!r) return false;
    const p = this.pending.get(toHex(r.txid));
    if (!p) return false;
    this.pending.delete(toHex(r.txid));
    this.seen.push({ server: p.server, mapped: r.mapped, rtt: now - p.at });
    return true;
  }

  /** A request of this round that could not be sent: not waited for. */
  abandon(request: Uint8Array): void {
    this.pending.delete(toHex(request.subarray(8, 8 + TXID_LEN)));
  }

  /** Every request answered, or the round's time is up. */
  done(now: number): boolean {
    return this.pending.size === 0 || now - this.startedAt >= ROUND_MS;
  }

  result(): StunResult {
    const endpoints: Endpoint[] = [];
    for (const s of this.seen) if (!endpoints.some((e) => formatEndpoint(e) === formatEndpoint(s.mapped))) endpoints.push(s.mapped);
    const v4 = this.seen.filter((s) => s.mapped.ip.length === 4);
    const ports = new Set(v4.map((s) => s.mapped.port));
    const servers = new Set(v4.map((s) => `${s.server.ip}:${s.server.port}`));
    const mapping: NatMapping = !this.seen.length
      ? this.sentTo ? "udp-blocked" : "unknown"
      : ports.size > 1 ? "symmetric" : servers.size > 1 ? "endpoint-independent" : "unknown";
    const latencyMs = new Map<number, number>(), v4Ms = new Map<number, number>(), v6Ms = new Map<number, number>();
    const best = (m: Map<number, number>, region: number, rtt: number) => m.set(region, Math.min(m.get(region) ?? Infinity, rtt));
    for (const s of this.seen) {
      best(latencyMs, s.server.region, s.rtt);
      // The family of the server's address, not of the mapped one: a dual-stack server names an IPv4 client ::ffff:a.b.c.d.
      best(s.server.ip.includes(":") ? v6Ms : v4Ms, s.server.region, s.rtt);
    }
    return { endpoints, mapping, latencyMs, v4Ms, v6Ms };
  }
}
