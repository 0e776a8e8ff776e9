// The relay connections: one to the home region, kept up and marked
// preferred, and others opened when a peer homed there must be reached,
// closed again when idle. Packets to a region that is still connecting, or
// whose relay is not taking what we send, are dropped and counted: WireGuard
// and disco both retransmit. The home region follows the netcheck reports
// (home.ts), measured over HTTPS where no region answers STUN
// (https-latency.ts); until the first one, or without any, it is the lowest region ID.
// All durations run on the monotonic clock.
import type { DERPMap, DERPNode, DERPRegion } from "../control/tailcfg.js";
import type { ByteStream } from "../util/stream.js";
import { connectDerp, type DerpConnection, nodeConnectMs } from "./connect.js";
import { HomeChooser, homeable, type LatencyReport } from "./home.js";
import { httpsDue, httpsRegions, measureRegionHttps } from "./https-latency.js";

export interface DerpDeps {
  /** `connectMs`: the TCP connect's deadline when another node of the region is left to try (connect.ts nodeConnectMs). */
  dial(node: DERPNode, connectMs?: number): Promise<ByteStream>;
  random(n: number): Uint8Array;
  setTimer(ms: number, fn: () => void): () => void;
  /** Monotonic milliseconds: a step of the wall clock must not close or keep a connection. */
  monotonic(): number;
  log(level: "debug" | "info" | "warn", msg: string): void;
}

interface Region {
  readonly id: number;
  conn?: DerpConnection;
  connecting: boolean;
  lastUsed: number;
  failures: number;
  retry?: () => void;
  /** The node dialled next (an index into the region's relay nodes), and how many failed in a row since one worked. */
  node: number;
  tried: number;
  /** The connection's read count when last seen moving, and when that was. */
  reads: number;
  heardAt: number;
  /** When the attempts that are under way began (undefined: connected, or none yet): the log says how long reaching the relay took. */
  since?: number;
}

/** Packets dropped instead of sent to a relay. */
export interface RelayDrops {
  /** The region's connection was not up (yet). */
  readonly notConnected: number;
  /** The relay was not taking what we sent: its queue was at the cap. */
  readonly queueFull: number;
}

const IDLE_CLOSE_MS = 60_000;
// A relay that comes back is in use again within this long (plus the
// dial): relayed peers have no other path, and a dial is one TCP SYN.
const RETRY_MAX_MS = 4_000;
/** A relay sends a keep-alive every 60 s: silence for two of them and a bit means the connection is dead. */
export const READ_DEADLINE_MS = 130_000;
const READ_CHECK_MS = 5_000;
/** The dial (connect and TLS each have their own deadline in the host), the HTTP upgrade and the DERP handshake, together. */
export const CONNECT_DEADLINE_MS = 30_000;
/**
 * What one relay connection may hold unsent before packets to it are dropped:
 * about 45 full-size packets, one GSO burst from the kernel (tailscaled drops
 * past 32 queued for a peer). At the 150-300 packets/s a slow router relays,
 * the 256 KB it was (190 packets) made relayed latency reach a second and more
 * under load.
 */
export const SEND_QUEUE_MAX = 64 << 10;
/** A first map waits this long for a netcheck report (one STUN round and a bit) before the lowest region ID becomes home. */
export const FIRST_REPORT_WAIT_MS = 4_000;

export class DerpManager {
  onPacket: (src: Uint8Array, data: Uint8Array, region: number) => void = () => {};
  onPeerGone: (peer: Uint8Array, region: number) => void = () => {};
  onHomeChange: (region: number) => void = () => {};

  private map: DERPMap | undefined;
  private home = 0;
  private readonly regions = new Map<number, Region>();
  private stopped = false;
  private idleTimer: (() => void) | undefined;
  private readTimer: (() => void) | undefined;
  private drops = { notConnected: 0, queueFull: 0 };
  private readonly chooser = new HomeChooser();
  private firstReportTimer: (() => void) | undefined;
  /** The last HTTPS round (https-latency.ts): when it started, and what it measured. */
  private httpsAt = -Infinity;
  private httpsMs: ReadonlyMap<number, number> = new Map();
  private httpsRunning = false;

  constructor(
    private readonly deps: DerpDeps,
    private readonly nodePrivate: Uint8Array,
  ) {}

  get homeRegion(): number {
    return this.home;
  }

  get dropped(): RelayDrops {
    return { ...this.drops };
  }

  /** The latest netcheck round trips (ms) by region: the last STUN round's, or without any answer there, the last HTTPS round's. */
  get latencyMs(): ReadonlyMap<number, number> {
    const last = this.chooser.last?.latencyMs;
    return last?.size ? last : this.httpsMs;
  }

  /** NetInfo.DERPLatency: "REGION-v4" to seconds. */
  derpLatency(): Record<string, number> {
    return this.chooser.derpLatency();
  }

  setMap(map: DERPMap): void {
    this.map = map;
    for (const id of [...this.regions.keys()]) if (!map.Regions[String(id)]) this.drop(id);
    if (this.home && !map.Regions[String(this.home)]) this.fallBack();
    else if (!this.home && !this.firstReportTimer && !this.stopped) {
      this.firstReportTimer = this.deps.setTimer(FIRST_REPORT_WAIT_MS, () => {
        this.firstReportTimer = undefined;
        if (!this.home) this.fallBack();
      });
    }
  }

  /** A netcheck round: the home moves when a region is clearly nearer (home.ts); no STUN answer at all: the regions are measured over HTTPS first. */
  netcheck(report: LatencyReport): void {
    if (!this.map || this.stopped) return;
    if (this.httpsRunning && !report.latencyMs.size) return; // the HTTPS round under way will judge
    if (httpsDue(report, this.httpsAt)) return this.measureHttps(report);
    this.judge(report);
  }

  private judge(report: LatencyReport): void {
    if (!this.map || this.stopped) return;
    const pick = this.chooser.report(report, this.map, (id) => this.lastHeard(id));
    if (!pick || !this.map.Regions[String(pick)]) {
      if (!this.home) this.fallBack();
      return;
    }
    if (pick === this.home) return;
    const ms = (id: number) => {
      const v = report.latencyMs.get(id);
      return v === undefined ? "no answer" : `${Math.round(v)} ms`;
    };
    this.deps.log("info", `derp: region ${pick} (${ms(pick)}) is nearer than ${this.home ? `region ${this.home} (${ms(this.home)})` : "none"}`);
    this.setHome(pick);
  }

  /**
   * Every region that could be home, over HTTPS one after the other: the
   * agent has one thread, and another region's TLS handshake computed while an
   * answer waits would count in that region's time (three at once in the lab:
   * 1.3 s for a 100 ms region, the others past 5 s). The first map's fallback
   * to the lowest ID waits for the answers.
   */
  private measureHttps(stun: LatencyReport): void {
    const map = this.map!;
    this.httpsAt = stun.at;
    this.httpsRunning = true;
    this.firstReportTimer?.();
    this.firstReportTimer = undefined;
    const regions = httpsRegions(map, this.home);
    this.deps.log("info", `derp: no STUN answer from any region (UDP blocked?); measuring ${regions.length} region(s) over HTTPS`);
    const latencyMs = new Map<number, number>();
    let measured = Promise.resolve();
    for (const r of regions) {
      measured = measured.then(() =>
        this.stopped
          ? undefined
          : measureRegionHttps(r, this.deps).then(
              (ms) => void latencyMs.set(r.RegionID, ms),
              (e: Error) => void this.deps.log("debug", `derp: HTTPS latency of ${e.message}`),
            ),
      );
    }
    void measured.then(() => {
      this.httpsRunning = false;
      this.httpsMs = latencyMs;
      this.deps.log("info", `derp: HTTPS latency ${[...latencyMs].map(([id, ms]) => `${id}: ${Math.round(ms)} ms`).join(", ") || "none"}`);
      this.judge({ startedAt: stun.startedAt, at: this.deps.monotonic(), latencyMs });
    });
  }

  /** The regions a home may be chosen from, in the order of their IDs. */
  usableRegions(): DERPRegion[] {
    const map = this.map;
    if (!map) return [];
    return Object.values(map.Regions)
      .filter((r) => homeable(map, r.RegionID, 0))
      .sort((a, b) => a.RegionID - b.RegionID);
  }

  /** No latency to go by: the lowest region ID (tailscale picks one at random per node; a fixed one is as good and easier to follow). */
  private fallBack(): void {
    const first = this.usableRegions()[0];
    if (first) this.setHome(first.RegionID);
  }

  /** When a frame last came from the region's relay (-Infinity: not connected). */
  private lastHeard(id: number): number {
    const r = this.regions.get(id);
    const c = r?.conn;
    if (!r || !c) return -Infinity;
    if (c.reads !== r.reads) {
      r.reads = c.reads;
      r.heardAt = this.deps.monotonic();
    }
    return r.heardAt;
  }

  setHome(region: number): void {
    if (region === this.home) return;
    this.firstReportTimer?.();
    this.firstReportTimer = undefined;
    const old = this.home;
    this.home = region;
    this.deps.log("info", `derp: home region ${region}`);
    this.regions.get(old)?.conn?.session.notePreferred(false);
    this.ensure(region).lastUsed = this.deps.monotonic();
    const r = this.regions.get(region)!;
    if (r.conn) r.conn.session.notePreferred(true);
    else this.connect(r);
    this.onHomeChange(region);
    this.armIdle();
  }

  isConnected(region: number): boolean {
    return !!this.regions.get(region)?.conn;
  }

  send(region: number, peer: Uint8Array, data: Uint8Array): void {
    const r = this.taking(region, 1);
    if (!r) return;
    try {
      r.conn!.session.sendPacket(peer, data);
    } catch (e) {
      this.deps.log("warn", `derp region ${r.id}: ${(e as Error).message}`);
    }
  }

  /**
   * `packets` packets already framed as SendPacket frames (frame.ts
   * putSendPacketHead), in one write: the relay bridge's batch, which it
   * reuses once this returns.
   */
  sendFrames(region: number, frames: Uint8Array, packets: number): void {
    const r = this.taking(region, packets);
    if (!r) return;
    try {
      r.conn!.session.sendFrames(frames);
    } catch (e) {
      this.deps.log("warn", `derp region ${r.id}: ${(e as Error).message}`);
    }
  }

  /** The region's connection when it takes `packets` more; else they are counted as dropped (and a missing connection dialled). */
  private taking(region: number, packets: number): Region | undefined {
    const r = this.ensure(region || this.home);
    r.lastUsed = this.deps.monotonic();
    if (!r.conn) {
      this.drops.notConnected += packets;
      if (!r.connecting && !r.retry) this.connect(r);
      return undefined;
    }
    if (r.conn.queuedBytes > SEND_QUEUE_MAX) {
      this.drops.queueFull += packets;
      return undefined;
    }
    return r;
  }

  /** The router's own addresses changed: every relay connection may ride one that is gone; dial them again now. */
  reconnect(why: string): void {
    for (const r of this.regions.values()) {
      const c = r.conn;
      if (!c) continue;
      this.deps.log("info", `derp region ${r.id}: reconnecting (${why})`);
      r.conn = undefined;
      c.onClose = () => {};
      c.close();
      r.failures = 0;
      this.connect(r);
    }
  }

  stop(): void {
    this.stopped = true;
    this.firstReportTimer?.();
    this.idleTimer?.();
    this.readTimer?.();
    for (const id of [...this.regions.keys()]) this.drop(id);
  }

  private ensure(id: number): Region {
    let r = this.regions.get(id);
    if (!r) {
      r = { id, connecting: false, lastUsed: this.deps.monotonic(), failures: 0, node: 0, tried: 0, reads: 0, heardAt: 0 };
      this.regions.set(id, r);
    }
    return r;
  }

  private drop(id: number): void {
    const r = this.regions.get(id);
    if (!r) return;
    this.regions.delete(id);
    r.retry?.();
    r.conn?.close();
  }

  private connect(r: Region): void {
    const nodes = this.map?.Regions[String(r.id)]?.Nodes.filter((n) => !n.STUNOnly) ?? [];
    if (!nodes.length || this.stopped) return;
    const node = nodes[r.node % nodes.length]!;
    const which = `region ${r.id} (${node.HostName})`;
    r.connecting = true;
    r.since ??= this.deps.monotonic();
    let step = "dial";
    let stream: ByteStream | undefined;
    let late = false;
    const attempt = new Promise<DerpConnection>((resolve, reject) => {
      const cancel = this.deps.setTimer(CONNECT_DEADLINE_MS, () => {
        late = true;
        stream?.close();
        reject(new Error(`no connection in ${CONNECT_DEADLINE_MS / 1000} s (${step})`));
      });
      this.deps
        .dial(node, nodeConnectMs(r.tried, nodes.length))
        .then((s) => {
          if (late) return void s.close();
          stream = s;
          step = "HTTP upgrade and DERP handshake";
          return connectDerp(s, node.HostName, this.nodePrivate, () => this.deps.random(24));
        })
        .then(
          (conn) => {
            cancel();
            if (conn) resolve(conn);
          },
          (e: Error) => {
            cancel();
            reject(e);
          },
        );
    });
    attempt.then(
      (conn) => {
        r.connecting = false;
        if (this.stopped || this.regions.get(r.id) !== r) return conn.close();
        r.conn = conn;
        r.failures = 0;
        r.tried = 0;
        r.reads = conn.reads;
        r.heardAt = this.deps.monotonic();
        this.armReadCheck();
        this.deps.log("info", `derp: connected to ${which} in ${((this.deps.monotonic() - r.since!) / 1000).toFixed(1)} s`);
        r.since = undefined;
        if (r.id === this.home) conn.session.notePreferred(true);
        conn.session.onPacket = (src, data) => this.onPacket(src, data, r.id);
        conn.onEvent = (e) => {
          if (e.kind === "peer-gone") this.onPeerGone(e.peer, r.id);
          else if (e.kind === "health") this.deps.log("warn", `derp region ${r.id}: ${e.problem}`);
        };
        conn.onClose = (err) => {
          r.conn = undefined;
          this.deps.log("warn", `derp ${which}: ${err.message}`);
          this.failed(r, nodes.length);
        };
      },
      (err: Error) => {
        r.connecting = false;
        this.deps.log("warn", `derp ${which}: ${err.message}`);
        this.failed(r, nodes.length);
      },
    );
  }

  /** The node failed or its connection ended: the next node of the region now, or, once each was tried, after a backoff. */
  private failed(r: Region, nodes: number): void {
    if (this.stopped || this.regions.get(r.id) !== r) return;
    r.node = (r.node + 1) % nodes;
    if (++r.tried < nodes) return this.connect(r);
    r.tried = 0;
    this.scheduleRetry(r);
  }

  /** A relay that stopped sending, keep-alives included, while the TCP connection stays open, is dead: closed, and the next node dialled. */
  private armReadCheck(): void {
    if (this.readTimer) return;
    this.readTimer = this.deps.setTimer(READ_CHECK_MS, () => {
      this.readTimer = undefined;
      const now = this.deps.monotonic();
      let open = false;
      for (const r of this.regions.values()) {
        const c = r.conn;
        if (!c) continue;
        if (c.reads !== r.reads) {
          r.reads = c.reads;
          r.heardAt = now;
        } else if (now - r.heardAt > READ_DEADLINE_MS) {
          r.conn = undefined;
          c.onClose = () => {};
          c.close();
          this.deps.log("warn", `derp region ${r.id}: nothing heard from the relay in ${Math.round((now - r.heardAt) / 1000)} s; connecting again`);
          const nodes = this.map?.Regions[String(r.id)]?.Nodes.filter((n) => !n.STUNOnly).length ?? 1;
          r.tried = 0;
          this.failed(r, nodes);
          continue;
        }
        open = true;
      }
      if (open) this.armReadCheck();
    });
  }

  private scheduleRetry(r: Region): void {
    if (this.stopped || this.regions.get(r.id) !== r) return;
    // Only the home region, or one in use, is worth reconnecting.
    if (r.id !== this.home && this.deps.monotonic() - r.lastUsed > IDLE_CLOSE_MS) return void this.regions.delete(r.id);
    r.failures++;
    const base = Math.min(RETRY_MAX_MS, 500 * 2 ** Math.min(r.failures, 6));
    const ms = base / 2 + (this.deps.random(1)[0]! / 255) * (base / 2);
    r.retry = this.deps.setTimer(ms, () => {
      r.retry = undefined;
      this.connect(r);
    });
  }

  private armIdle(): void {
    this.idleTimer?.();
    this.idleTimer = this.deps.setTimer(IDLE_CLOSE_MS, () => {
      const now = this.deps.monotonic();
      for (const r of [...this.regions.values()]) if (r.id !== this.home && now - r.lastUsed > IDLE_CLOSE_MS) this.drop(r.id);
      this.armIdle();
    });
  }
}
