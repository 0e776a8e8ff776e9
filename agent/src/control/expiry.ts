// Key expiry by the clock, as tailscale's ipnlocal expiryManager does it: the
// control server's ControlTime corrects the router's wall clock (routers boot
// with a wrong one), a peer whose KeyExpiry has passed by that corrected time
// is flagged Expired (no endpoints, no relay: it leaves the kernel) before the
// server says so, and the next expiry, ours or a peer's, is when to look again.
// Pure: times in, a netmap and durations out.
import type { NetMap } from "./netmap.js";
import type { Node } from "./tailcfg.js";

/** A skew smaller than this is noise (tailscale's minClockDelta). */
const MIN_CLOCK_DELTA_MS = 60_000;
/** Before this (tailscale's flagExpiredPeersEpoch, January 2023) the clock is plainly wrong: expire nothing. */
const EPOCH_MS = Date.UTC(2023, 0, 10, 17, 51, 6);
/** The router warns this long before its own key expires (our choice: tailscaled itself does not warn ahead). */
export const EXPIRY_WARNING_MS = 7 * 86_400_000;

/** The control server's clock minus ours, from a MapResponse's ControlTime; small skews count as none. */
export function clockDelta(controlTimeIso: string, localNow: number): number {
  const t = Date.parse(controlTimeIso);
  if (!Number.isFinite(t)) return 0;
  const d = t - localNow;
  return Math.abs(d) > MIN_CLOCK_DELTA_MS ? d : 0;
}

/** A node's KeyExpiry in ms, or undefined for none (Go's zero time: tagged nodes, expiry disabled). */
export function expiryMs(n: Node | undefined): number | undefined {
  if (!n?.KeyExpiry) return undefined;
  const t = Date.parse(n.KeyExpiry);
  return Number.isFinite(t) && t > 0 ? t : undefined;
}

/** The netmap with every peer whose key expired by `controlNow` flagged Expired and unreachable; the same object when none is. */
export function flagExpiredPeers(nm: NetMap, controlNow: number): NetMap {
  if (controlNow < EPOCH_MS) return nm;
  let peers: Map<number, Node> | undefined;
  for (const [id, p] of nm.peers) {
    const t = expiryMs(p);
    if (t === undefined || t > controlNow || p.Expired) continue;
    const { Endpoints: _e, HomeDERP: _h, DERP: _d, ...rest } = p;
    (peers ??= new Map(nm.peers)).set(id, { ...rest, Expired: true });
  }
  return peers ? { ...nm, peers } : nm;
}

/** Milliseconds from `controlNow` to the next key expiry in the netmap (a peer's or ours), or undefined when none is ahead. */
export function untilNextExpiry(nm: NetMap, controlNow: number): number | undefined {
  if (controlNow < EPOCH_MS) return undefined;
  let next: number | undefined;
  for (const n of [...nm.peers.values(), ...(nm.self ? [nm.self] : [])]) {
    const t = expiryMs(n);
    if (t === undefined || n.Expired || t <= controlNow) continue;
    if (next === undefined || t < next) next = t;
  }
  return next === undefined ? undefined : next - controlNow;
}

/** Our own key: when it expires, and whether that is past or within the warning time, by the corrected clock. */
export interface SelfExpiry {
  readonly at: string;
  readonly remainingMs: number;
  readonly expired: boolean;
  readonly soon: boolean;
}

export function selfExpiry(nm: NetMap, controlNow: number): SelfExpiry | undefined {
  const t = expiryMs(nm.self);
  if (t === undefined) return undefined;
  const remainingMs = t - controlNow;
  // A clock before the epoch cannot tell: claim nothing rather than "expired".
  const known = controlNow >= EPOCH_MS;
  return { at: new Date(t).toISOString(), remainingMs, expired: known && remainingMs <= 0, soon: known && remainingMs > 0 && remainingMs <= EXPIRY_WARNING_MS };
}
