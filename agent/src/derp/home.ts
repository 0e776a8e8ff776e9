// The home relay region, chosen by measured latency the way tailscale's
// netcheck and magicsock choose it: the region with the best round trip over
// the last five minutes among those answering now, latencies scaled by the
// control server's region scores, and the old home kept unless the new one
// is better by 10 ms and by a third. Pure: reports and time in, a region out.
import type { DERPMap } from "../control/tailcfg.js";

/** Reports older than this no longer count towards a region's best latency. */
export const HISTORY_MS = 5 * 60_000;
/** A new home must be this much nearer than the old one (so 4 ms against 5 ms never flaps)... */
export const MIN_GAIN_MS = 10;
/** ...and below two thirds of the old one's latency. */
export const MIN_GAIN_RATIO = 2 / 3;
/** A frame from the old home's relay this recent means it still works, STUN answer or not. */
export const HEARD_RECENTLY_MS = 8_000;
/** With no latency at all (UDP blocked), the old home stays while its relay was heard within two keep-alives. */
export const KEEP_WITHOUT_REPORT_MS = 120_000;

/** One netcheck round. Times are monotonic milliseconds. */
export interface LatencyReport {
  readonly startedAt: number;
  readonly at: number;
  /** The best round trip (ms) per region that answered, by any means (STUN over either family, or HTTPS). */
  readonly latencyMs: ReadonlyMap<number, number>;
  /** STUN's round trips over IPv4 and over IPv6 alone (none when measured over HTTPS, as netcheck leaves them). */
  readonly v4Ms?: ReadonlyMap<number, number>;
  readonly v6Ms?: ReadonlyMap<number, number>;
}

/** Whether a region may be home: in the map, measured, with a relay node, not avoided (unless it is home already). */
export function homeable(map: DERPMap, id: number, current: number): boolean {
  const r = map.Regions[String(id)];
  return !!r && !r.NoMeasureNoHome && (!r.Avoid || id === current) && r.Nodes.some((n) => !n.STUNOnly);
}

export class HomeChooser {
  private history: LatencyReport[] = [];
  private preferred = 0;

  /** The latest report, for NetInfo.DERPLatency and status. */
  get last(): LatencyReport | undefined {
    return this.history[this.history.length - 1];
  }

  /**
   * Adds a report and returns the preferred region, 0 when there is nothing
   * to judge by. `lastHeard(region)` is when a frame last came from that
   * region's relay (-Infinity: never).
   */
  report(r: LatencyReport, map: DERPMap, lastHeard: (region: number) => number): number {
    const prev = this.preferred;
    const now = r.at;
    this.history = [...this.history.filter((h) => now - h.at <= HISTORY_MS), r];
    const scores = map.HomeParams?.RegionScore ?? {};
    const scaled = (id: number, ms: number) => {
      const s = scores[String(id)];
      return s !== undefined && s > 0 ? ms * s : ms;
    };
    const best = new Map<number, number>();
    for (const h of this.history) for (const [id, ms] of h.latencyMs) best.set(id, Math.min(best.get(id) ?? Infinity, ms));

    // Among the regions answering now, the best over the recent past.
    let pick = 0, bestAny = Infinity, oldNow = 0;
    for (const [id, ms] of r.latencyMs) {
      if (!homeable(map, id, prev)) continue;
      if (id === prev) oldNow = scaled(id, ms);
      const b = scaled(id, best.get(id)!);
      if (!pick || b < bestAny) {
        bestAny = b;
        pick = id;
      }
    }
    // Stickiness: the old home stays while it works and the new one is not much better.
    const heard = prev ? lastHeard(prev) : -Infinity;
    const oldWorks = oldNow > 0 || heard > r.startedAt || heard > now - HEARD_RECENTLY_MS;
    if (prev && pick !== prev && oldWorks && (oldNow - bestAny < MIN_GAIN_MS || bestAny > oldNow * MIN_GAIN_RATIO)) pick = prev;
    if (!pick && prev && heard > now - KEEP_WITHOUT_REPORT_MS) pick = prev;
    this.preferred = pick;
    return pick;
  }

  /** NetInfo.DERPLatency as magicsock fills it: "REGION-v4" and "REGION-v6" to seconds, STUN's per family, from the latest report. */
  derpLatency(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [id, ms] of this.last?.v4Ms ?? []) out[`${id}-v4`] = ms / 1000;
    for (const [id, ms] of this.last?.v6Ms ?? []) out[`${id}-v6`] = ms / 1000;
    return out;
  }
}
