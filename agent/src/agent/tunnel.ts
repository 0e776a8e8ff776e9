// The tunnel's kernel state brought to the netmap by difference: the peers
// a delta changed go to WireGuard, the routes their allowed IPs ask for and
// the node's addresses to the router. The kernel is read back only when a
// reconcile is asked for (start, an error, an outside change, a slow timer).
import type { Node } from "../control/tailcfg.js";
import { parsePrefix } from "../netaddr/ip.js";
import { Router, type RouterOps } from "../router/router.js";
import type { WireGuardApi } from "../wg/api.js";
import { KernelPeers } from "../wg/kernel-peers.js";
import { NetmapPeers, type PeersDelta } from "../wg/netmap-peers.js";
import type { WantedOptions } from "../wg/wanted.js";

export interface TunnelDeps {
  readonly wg: WireGuardApi;
  readonly name: string;
  readonly rtnl: RouterOps;
  readonly index: number;
  readonly wanted: WantedOptions;
  /** A refusal the tailnet survives, said once per subject. */
  readonly note: (subject: string, msg: string) => void;
}

export interface TunnelApplied {
  /** Peer changes sent to WireGuard, address and route requests sent. */
  readonly sent: number;
  readonly routed: number;
}

export class Tunnel {
  readonly netmapPeers: NetmapPeers;
  readonly peers: KernelPeers;
  readonly router: Router;
  /** Peers are in the kernel only while the caller allows them (meshwrt's firewall table is loaded). */
  private allowed = false;
  /** False while an apply is under way or after one failed: the next compares every route. */
  private complete = false;

  constructor(d: TunnelDeps) {
    this.netmapPeers = new NetmapPeers(d.wanted);
    this.peers = new KernelPeers(d.wg, d.name);
    this.router = new Router(d.rtnl, d.index, d.note);
  }

  /** Takes the netmap's peers; what changed decides what else the caller redoes (names, paths). */
  follow(nodes: ReadonlyMap<number, Node>): PeersDelta {
    return this.netmapPeers.update(nodes);
  }

  /** Brings the kernel to the followed peers and `addresses` (the node's own). */
  async apply(delta: PeersDelta, addresses: readonly string[], allowed: boolean, reconcile: boolean): Promise<TunnelApplied> {
    const p = this.peers;
    const wasAllowed = this.allowed, wasComplete = this.complete;
    this.complete = false;
    let sent: number;
    if (!allowed) sent = this.allowed || p.needsReconcile || reconcile ? await p.reconcile([]) : 0;
    else if (!this.allowed || p.needsReconcile || reconcile) sent = await p.reconcile(this.netmapPeers.all());
    else sent = await p.apply(delta.peers);
    this.allowed = allowed;
    const config = { addresses: addresses.map(parsePrefix), routes: allowed ? this.netmapPeers.routes() : new Set<string>() };
    // The routes follow the peers by difference too, unless the whole set may have changed.
    const everything = reconcile || allowed !== wasAllowed || !wasComplete;
    const routed = reconcile ? await this.router.reconcile(config) : await this.router.set(config, everything || !delta.routes ? undefined : delta.routes);
    this.complete = true;
    return { sent, routed };
  }
}
