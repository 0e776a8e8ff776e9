// Relay latency over HTTPS, where UDP is blocked: when no region answered a
// STUN round, tailscale's netcheck times a GET of each region's
// /derp/latency-check on a connection it has just made (the dial and TLS not
// counted), so the home region is still the nearest one. The decisions (when,
// which regions, what answer counts) are pure; the measurement goes through
// the relay manager's dial.
import type { DERPMap, DERPNode, DERPRegion } from "../control/tailcfg.js";
import { requestHead, ResponseHeadReader } from "../http1/upgrade.js";
import type { ByteStream } from "../util/stream.js";
import { nodeConnectMs } from "./connect.js";
import { homeable, type LatencyReport } from "./home.js";

/** One region's measurement, its dials included, ends by then (netcheck's HTTPS probe timeout). */
export const HTTPS_CHECK_MS = 5_000;
/**
 * Without UDP, the regions are measured this seldom: a TLS handshake per region
 * (some thirty on Tailscale's map) every STUN round would cost a router's CPU
 * dearly, and a home's latencies are judged over this long anyway (home.ts).
 */
export const HTTPS_EVERY_MS = 5 * 60_000;

/** Whether a STUN round calls for measuring over HTTPS: no region answered it, and the last HTTPS round (-Infinity: never) is old. */
export function httpsDue(report: LatencyReport, lastHttpsAt: number): boolean {
  return report.latencyMs.size === 0 && report.at - lastHttpsAt >= HTTPS_EVERY_MS;
}

/** The regions worth measuring: those that could be home. */
export function httpsRegions(map: DERPMap, current: number): DERPRegion[] {
  return Object.values(map.Regions).filter((r) => homeable(map, r.RegionID, current));
}

/** The request: GET with the node's name, the connection closed after the answer. */
export function latencyCheckRequest(node: DERPNode): Uint8Array {
  return requestHead("GET", "/derp/latency-check", node.HostName, [["Connection", "close"], ["User-Agent", "meshwrt"]]);
}

/** Reads the answer: true once a 2xx head is complete; throws on another status (a proxy in the way is no measure of the relay). */
export class LatencyCheckReader {
  private readonly head = new ResponseHeadReader();

  push(bytes: Uint8Array): boolean {
    const r = this.head.push(bytes);
    if (!r) return false;
    if (r.head.status > 299) throw new Error(`latency check: HTTP ${r.head.status} ${r.head.reason}`);
    return true;
  }
}

export interface HttpsLatencyDeps {
  dial(node: DERPNode, connectMs?: number): Promise<ByteStream>;
  setTimer(ms: number, fn: () => void): () => void;
  monotonic(): number;
}

/**
 * A region's round trip (ms) over HTTPS: its relay nodes in turn until one
 * answers (each but the last given the short connect deadline), the time from
 * the request to the answer's head. Rejects with why, naming the node.
 */
export function measureRegionHttps(region: DERPRegion, d: HttpsLatencyDeps): Promise<number> {
  const nodes = region.Nodes.filter((n) => !n.STUNOnly);
  return new Promise((resolve, reject) => {
    let over = false;
    let stream: ByteStream | undefined;
    const end = (err: Error | undefined, ms = 0) => {
      if (over) return;
      over = true;
      cancel();
      stream?.close();
      if (err) reject(err);
      else resolve(ms);
    };
    const cancel = d.setTimer(HTTPS_CHECK_MS, () => end(new Error(`region ${region.RegionID}: no latency-check answer in ${HTTPS_CHECK_MS / 1000} s`)));
    const tryNode = (i: number, lastErr?: Error): void => {
      const node = nodes[i];
      if (!node) return end(lastErr ?? new Error(`region ${region.RegionID}: no relay node`));
      const next = (e: Error) => (over ? undefined : tryNode(i + 1, new Error(`region ${region.RegionID} (${node.HostName}): ${e.message}`)));
      d.dial(node, nodeConnectMs(i, nodes.length)).then(
        (s) => {
          if (over) return s.close();
          stream = s;
          const reader = new LatencyCheckReader();
          const sent = d.monotonic();
          s.onData = (bytes) => {
            try {
              if (reader.push(bytes)) end(undefined, d.monotonic() - sent);
            } catch (e) {
              end(new Error(`region ${region.RegionID} (${node.HostName}): ${(e as Error).message}`));
            }
          };
          s.onClose = (e) => end(new Error(`region ${region.RegionID} (${node.HostName}): closed before answering${e ? ` (${e.message})` : ""}`));
          s.write(latencyCheckRequest(node));
        },
        (e: Error) => next(e),
      );
    };
    tryNode(0);
  });
}
