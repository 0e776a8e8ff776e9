// The relay connections: one to the home region, kept up and marked
// preferred, and others opened when a peer homed there must be reached,
// closed again when idle. Packets to a region that is still connecting are
// dropped: WireGuard and disco both retransmit.
import type { DERPMap, DERPNode, DERPRegion } from "../control/tailcfg.js";
import type { ByteStream } from "../util/stream.js";
import { connectDerp, type DerpConnection } from "./connect.js";

export interface DerpDeps {
  dial(node: DERPNode): Promise<ByteStream>;
  random(n: number): Uint8Array;
  setTimer(ms: number, fn: () => void): () => void;
  now(): number;
  log(level: "debug" | "info" | "warn", msg: string): void;
}

interface Region {
  readonly id: number;
  conn?: DerpConnection;
  connecting: boolean;
  lastUsed: number;
  failures: number;
  retry?: () => void;
}

const IDLE_CLOSE_MS = 60_000;
// A relay that comes back is in use again within this long (plus the
// dial): relayed peers have no other path, and a dial is one TCP SYN.
const RETRY_MAX_MS = 4_000;

export class DerpManager {
  onPacket: (src: Uint8Array, data: Uint8Array, region: number) => void = () => {};
  onPeerGone: (peer: Uint8Array, region: number) => void = () => {};
  onHomeChange: (region: number) => void = () => {};

  private map: DERPMap | undefined;
  private home = 0;
  private readonly regions = new Map<number, Region>();
  private stopped = false;
  private idleTimer: (() => void) | undefined;

  constructor(
    private readonly deps: DerpDeps,
    private readonly nodePrivate: Uint8Array,
  ) {}

  get homeRegion(): number {
    return this.home;
  }

  setMap(map: DERPMap): void {
    this.map = map;
    for (const id of [...this.regions.keys()]) if (!map.Regions[String(id)]) this.drop(id);
    if (!this.home || !map.Regions[String(this.home)]) {
      const first = this.usableRegions()[0];
      if (first) this.setHome(first.RegionID);
    }
  }

  /** The regions a home may be chosen from, in the order of their IDs. */
  usableRegions(): DERPRegion[] {
    return Object.values(this.map?.Regions ?? {})
      .filter((r) => !r.Avoid && !r.NoMeasureNoHome && r.Nodes.some((n) => !n.STUNOnly))
      .sort((a, b) => a.RegionID - b.RegionID);
  }

  setHome(region: number): void {
    if (region === this.home) return;
    const old = this.home;
    this.home = region;
    this.deps.log("info", `derp: home region ${region}`);
    this.regions.get(old)?.conn?.session.notePreferred(false);
    this.ensure(region).lastUsed = this.deps.now();
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
    const r = this.ensure(region || this.home);
    r.lastUsed = this.deps.now();
    if (r.conn) {
      try {
        r.conn.session.sendPacket(peer, data);
      } catch (e) {
        this.deps.log("warn", `derp region ${r.id}: ${(e as Error).message}`);
      }
    } else if (!r.connecting && !r.retry) {
      this.connect(r);
    }
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
    this.idleTimer?.();
    for (const id of [...this.regions.keys()]) this.drop(id);
  }

  private ensure(id: number): Region {
    let r = this.regions.get(id);
    if (!r) {
      r = { id, connecting: false, lastUsed: this.deps.now(), failures: 0 };
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
    const region = this.map?.Regions[String(r.id)];
    const node = region?.Nodes.find((n) => !n.STUNOnly);
    if (!node || this.stopped) return;
    r.connecting = true;
    const attempt = async () => {
      const stream = await this.deps.dial(node);
      return connectDerp(stream, node.HostName, this.nodePrivate, () => this.deps.random(24));
    };
    attempt().then(
      (conn) => {
        r.connecting = false;
        if (this.stopped || this.regions.get(r.id) !== r) return conn.close();
        r.conn = conn;
        r.failures = 0;
        this.deps.log("info", `derp: connected to region ${r.id} (${node.HostName})`);
        if (r.id === this.home) conn.session.notePreferred(true);
        conn.onEvent = (e) => {
          if (e.kind === "packet") this.onPacket(e.src, e.data, r.id);
          else if (e.kind === "peer-gone") this.onPeerGone(e.peer, r.id);
          else if (e.kind === "health") this.deps.log("warn", `derp region ${r.id}: ${e.problem}`);
        };
        conn.onClose = (err) => {
          r.conn = undefined;
          this.deps.log("warn", `derp region ${r.id}: ${err.message}`);
          this.scheduleRetry(r);
        };
      },
      (err: Error) => {
        r.connecting = false;
        this.deps.log("warn", `derp region ${r.id} (${node.HostName}): ${err.message}`);
        this.scheduleRetry(r);
      },
    );
  }

  private scheduleRetry(r: Region): void {
    if (this.stopped || this.regions.get(r.id) !== r) return;
    // Only the home region, or one in use, is worth reconnecting.
    if (r.id !== this.home && this.deps.now() - r.lastUsed > IDLE_CLOSE_MS) return void this.regions.delete(r.id);
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
      const now = this.deps.now();
      for (const r of [...this.regions.values()]) if (r.id !== this.home && now - r.lastUsed > IDLE_CLOSE_MS) this.drop(r.id);
      this.armIdle();
    });
  }
}
