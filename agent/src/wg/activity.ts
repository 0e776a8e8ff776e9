// Which peers carry traffic, from the kernel's counters read every second or
// two: an idle peer gets no disco heartbeats, so an idle router sleeps. Pure:
// a read of the device's peers and the monotonic time in, answers out.
import type { Received } from "../paths/peer.js";
import type { Peer, PeerDump, PeerReading } from "./model.js";

/** A peer whose counters moved this recently is active (Tailscale's sessionActiveTimeout is 45 s). */
export const ACTIVE_MS = 45_000;

/**
 * How often the device is read. The kernel dumps every peer or none, so a read costs what the
 * tailnet holds: at a thousand peers, read every second or two, it was most of an idle router's
 * CPU. So the wait is the floor or a multiple of what the last reads took, whichever is longer:
 * while a peer is active (a dead direct path shows in its received bytes) every second, at most
 * a tenth of the time and 5 s apart; all idle (a peer that starts sending is noticed within the
 * wait, its traffic going through the relay meanwhile) every 2 s, at most a fiftieth and 30 s.
 */
export const READ_CADENCE = {
  active: { floorMs: 1_000, costTimes: 10, ceilingMs: 5_000 },
  idle: { floorMs: 2_000, costTimes: 50, ceilingMs: 30_000 },
} as const;

/** What the agent keeps of a peer from the last read: counters, not the read (a dumped peer costs ~2.5 kB). */
interface Counters {
  rxBytes: number;
  txBytes: number;
  /** Milliseconds since the epoch; 0 when never. */
  lastHandshakeMs: number;
  /** Monotonic ms; -Infinity when never. */
  movedAt: number;
  received?: Received;
  /** The read that last listed it. */
  seen: number;
}

/** A peer's traffic and handshake as the kernel last counted them, for the status. */
export type KernelCounters = Readonly<Pick<Peer, "rxBytes" | "txBytes" | "lastHandshakeMs">>;

export class PeerActivity {
  private readonly byPeer = new Map<string, Counters>();
  /** What a read takes (ms), averaged over the last few. */
  private readCostMs = 0;
  private reads = 0;

  /**
   * Takes a read of the device's peers made at `now`. A peer as it was is updated in place:
   * nothing is allocated for it. `also` sees each peer in the same pass (the outside-change
   * check). What the read cost, this pass included, is told after it (took). True when a peer's
   * counters moved, which is how an idle peer turns active.
   */
  update(peers: PeerDump, now: number, also?: (id: string, p: PeerReading) => void): boolean {
    const read = ++this.reads;
    let count = 0;
    let moved = false;
    peers.forEach((id, p) => {
      count++;
      also?.(id, p);
      const had = this.byPeer.get(id);
      if (!had) {
        // A peer first seen with nothing carried yet (a node that joined, or one that never
        // connects) is idle until its counters move: no heartbeats, no CallMeMaybe for it.
        const movedAt = p.rxBytes + p.txBytes > 0 ? now : -Infinity;
        moved ||= movedAt === now;
        this.byPeer.set(id, { rxBytes: p.rxBytes, txBytes: p.txBytes, lastHandshakeMs: p.lastHandshakeMs, movedAt, seen: read });
        return;
      }
      had.seen = read;
      if (had.rxBytes === p.rxBytes && had.txBytes === p.txBytes) {
        had.lastHandshakeMs = p.lastHandshakeMs;
        return;
      }
      // The kernel moves a peer's endpoint to where its packets come from: received bytes
      // that grew, read with that endpoint, came over it.
      if (had.rxBytes !== p.rxBytes) had.received = { at: now, from: p.endpoint() };
      had.movedAt = now;
      moved = true;
      had.rxBytes = p.rxBytes;
      had.txBytes = p.txBytes;
      had.lastHandshakeMs = p.lastHandshakeMs;
    });
    if (this.byPeer.size > count) for (const [id, c] of this.byPeer) if (c.seen !== read) this.byPeer.delete(id);
    return moved;
  }

  /** What the last read cost (ms), from asking to the end of update's pass over it: sets the wait before the next. */
  took(costMs: number): void {
    this.readCostMs = this.readCostMs ? (3 * this.readCostMs + costMs) / 4 : costMs;
  }

  /** The kernel's counters of a peer at the last read. */
  counters(id: string): KernelCounters | undefined {
    const a = this.byPeer.get(id);
    return a && { rxBytes: BigInt(a.rxBytes), txBytes: BigInt(a.txBytes), lastHandshakeMs: a.lastHandshakeMs };
  }

  /** What path discovery asks of a peer at `now`. */
  of(id: string, now: number): { active: boolean; received?: Received } {
    const a = this.byPeer.get(id);
    return { active: active(a, now), ...(a?.received ? { received: a.received } : {}) };
  }

  /** How long to wait, from `now`, before the next read (see READ_CADENCE). */
  nextReadMs(now: number): number {
    const c = this.anyActive(now) ? READ_CADENCE.active : READ_CADENCE.idle;
    return Math.min(c.ceilingMs, Math.max(c.floorMs, this.readCostMs * c.costTimes));
  }

  anyActive(now: number): boolean {
    for (const a of this.byPeer.values()) if (active(a, now)) return true;
    return false;
  }
}

const active = (a: Counters | undefined, now: number) => now - (a?.movedAt ?? -Infinity) < ACTIVE_MS;
