// Which peers carry traffic, from the kernel's counters read every second or
// two: an idle peer gets no disco heartbeats, so an idle router sleeps. Pure:
// a read of the device's peers and the monotonic time in, answers out.
import type { Received } from "../paths/peer.js";
import type { Peer } from "./model.js";

/** A peer whose counters moved this recently is active (Tailscale's sessionActiveTimeout is 45 s). */
export const ACTIVE_MS = 45_000;

interface Counters {
  readonly bytes: bigint;
  readonly rxBytes: bigint;
  /** Monotonic ms; -Infinity when never. */
  readonly movedAt: number;
  readonly received?: Received;
}

export class PeerActivity {
  private byPeer = new Map<string, Counters>();

  /** Takes a read of the device's peers (by key hex) made at `now`. */
  update(peers: ReadonlyMap<string, Peer>, now: number): void {
    const next = new Map<string, Counters>();
    for (const [id, p] of peers) {
      const bytes = p.rxBytes + p.txBytes;
      const had = this.byPeer.get(id);
      // A peer first seen with nothing carried yet (a node that joined, or one that never
      // connects) is idle until its counters move: no heartbeats, no CallMeMaybe for it.
      const movedAt = had ? (had.bytes === bytes ? had.movedAt : now) : bytes > 0n ? now : -Infinity;
      // The kernel moves a peer's endpoint to where its packets come from: received bytes
      // that grew, read with that endpoint, came over it.
      const received = had && p.rxBytes !== had.rxBytes ? { at: now, from: p.endpoint } : had?.received;
      next.set(id, { bytes, rxBytes: p.rxBytes, movedAt, ...(received ? { received } : {}) });
    }
    this.byPeer = next;
  }

  /** What path discovery asks of a peer at `now`. */
  of(id: string, now: number): { active: boolean; received?: Received } {
    const a = this.byPeer.get(id);
    return { active: active(a, now), ...(a?.received ? { received: a.received } : {}) };
  }

  anyActive(now: number): boolean {
    for (const a of this.byPeer.values()) if (active(a, now)) return true;
    return false;
  }
}

const active = (a: Counters | undefined, now: number) => now - (a?.movedAt ?? -Infinity) < ACTIVE_MS;
