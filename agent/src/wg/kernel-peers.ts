// What meshwrt put in the WireGuard device, kept by meshwrt: a delta is
// planned against this model and sends only the peers it changes. The
// device is read back in full (a dump) only to reconcile: at start, after
// a failed change, when a dump read for the traffic counters shows that
// someone else changed our peers, and on the agent's slow timer.
import type { Endpoint } from "../netaddr/ip.js";
import { toHex } from "../util/bytes.js";
import type { WireGuardApi } from "./api.js";
import type { PeerChange, PeerDump, PeerReading } from "./model.js";
import { atEndpoint, peerId, planPeer, planPeers, type WantedPeer } from "./reconcile.js";

/** Our peers against a dump's, one peer at a time; changed() once all were seen. */
export interface OutsideCheck {
  readonly peer: (id: string, p: PeerReading) => void;
  changed(): boolean;
}

/** What the kernel has for a peer: the wanted peer itself when it names its endpoint (no copy per peer); no keep-alive is 0. */
type ModelPeer = WantedPeer;

export class KernelPeers {
  private model = new Map<string, ModelPeer>();
  private stale = true;
  private changes = 0;
  /** Set-device requests sent and peers they carried, dumps read: what the budgets are measured in. */
  readonly stats = { sets: 0, peersSent: 0, dumps: 0 };

  constructor(
    private readonly wg: WireGuardApi,
    private readonly name: string,
  ) {}

  /** True until a reconcile read the device, and again after a change failed. */
  get needsReconcile(): boolean {
    return this.stale;
  }

  get size(): number {
    return this.model.size;
  }

  /**
   * Moves when a change starts and when the model takes it: a dump read while it moved may
   * show the kernel before or after a change the model does not match yet, so it proves nothing.
   */
  get generation(): number {
    return this.changes;
  }

  /** Sends the listed peers' changes (null: remove) against the model; nothing for a peer as it is. */
  async apply(delta: ReadonlyMap<string, WantedPeer | null>): Promise<number> {
    const plan: PeerChange[] = [];
    for (const [id, w] of delta) {
      const have = this.model.get(id);
      if (!w) {
        if (have) plan.push({ publicKey: have.publicKey, remove: true });
        continue;
      }
      const c = planPeer(have, w);
      if (c) plan.push(c);
    }
    await this.send(plan);
    for (const [id, w] of delta) {
      if (w) this.model.set(id, modelPeer(w, this.model.get(id)?.endpoint));
      else this.model.delete(id);
    }
    this.changes++;
    return plan.length;
  }

  /**
   * Reads the device and brings it to exactly `wanted`: the model is what the kernel then has.
   * A peer keeps the endpoint meshwrt last gave it (path discovery moves endpoints between netmaps).
   */
  async reconcile(wanted: Iterable<WantedPeer>): Promise<number> {
    const want: WantedPeer[] = [];
    for (const w of wanted) {
      const ep = this.model.get(peerId(w))?.endpoint;
      want.push(ep ? atEndpoint(w, ep) : w);
    }
    this.stale = true;
    this.stats.dumps++;
    const device = await this.wg.get(this.name);
    const plan = planPeers(device, want);
    await this.send(plan);
    const had = new Map(device.peers.map((p) => [toHex(p.publicKey), p.endpoint]));
    this.model = new Map();
    for (const w of want) {
      const id = peerId(w);
      if (!this.model.has(id)) this.model.set(id, modelPeer(w, had.get(id)));
    }
    this.stale = false;
    this.changes++;
    return plan.length;
  }

  /** A peer's endpoint set by path discovery, not by a netmap. */
  async setEndpoint(key: Uint8Array, endpoint: Endpoint): Promise<void> {
    await this.send([{ publicKey: key, updateOnly: true, endpoint }]);
    const id = toHex(key);
    const have = this.model.get(id);
    if (have) this.model.set(id, atEndpoint(have, endpoint));
  }

  /**
   * Whether the peers of a dump read for other reasons show our peers changed by someone else (a peer
   * added, removed, or its allowed IPs or keep-alive changed). Endpoints are not compared:
   * the kernel moves them itself when a peer roams.
   */
  changedOutside(dump: PeerDump): boolean {
    const check = this.outsideCheck();
    if (!check) return false;
    dump.forEach(check.peer);
    return check.changed();
  }

  /** changedOutside's check a peer at a time, to ride along another pass over a dump; none while stale. */
  outsideCheck(): OutsideCheck | undefined {
    if (this.stale) return undefined;
    const model = this.model;
    let count = 0, changed = false;
    return {
      peer: (id, p) => {
        count++;
        if (changed) return;
        const m = model.get(id);
        changed = !m || (m.persistentKeepalive ?? 0) !== p.persistentKeepalive || !p.allowedIpsAre(m.packedIps ?? m.allowedIps);
      },
      changed: () => changed || count !== model.size,
    };
  }

  private async send(plan: PeerChange[]): Promise<void> {
    if (!plan.length) return;
    this.stats.sets++;
    this.stats.peersSent += plan.length;
    this.changes++;
    try {
      await this.wg.set({ name: this.name, peers: plan });
    } catch (e) {
      // Part of it may have gone in: only a dump says what the kernel has now.
      this.stale = true;
      throw e;
    }
  }
}

function modelPeer(w: WantedPeer, endpoint: Endpoint | undefined): ModelPeer {
  return w.endpoint || !endpoint ? w : atEndpoint(w, endpoint);
}
