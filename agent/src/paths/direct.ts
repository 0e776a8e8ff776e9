// Direct paths for the Agent: the disco sockets behind the shared WireGuard
// port (IPv4, and IPv6 when the host has it: two sockets on one port number,
// as tailscale's magicsock has pconn4 and pconn6), endpoint discovery over
// STUN on both, and the DiscoManager's decisions applied to the kernel's peers. The decisions are made by the pure pieces
// (manager.ts and peer.ts here, stun/); this file only moves packets, time and results between
// them and the Host.
import type { DERPMap, NetInfo, Node } from "../control/tailcfg.js";
import type { PortShare } from "../gateway/portshare.js";
import type { Host, UdpSocket } from "../host/host.js";
import { type Endpoint, formatEndpoint, formatIp, type IpBytes, parseIp } from "../netaddr/ip.js";
import type { RelayBridge, RoamEvidence } from "./bridge.js";
import { type DiscoOut, DiscoManager, type DiscoVia, type PeerActivity } from "./manager.js";
import { type PathStatus, RECEIVED_FRESH_MS } from "./peer.js";
import { type NatMapping, type StunServer, StunProber } from "../stun/prober.js";
import type { LatencyReport } from "../derp/home.js";
import { toHex } from "../util/bytes.js";

/** tailcfg.EndpointType values the control server relays to peers. */
const EP_LOCAL = 1, EP_STUN = 2;
/** STUN again this often, and at every network change. Each round also measures the relay regions (the home region's netcheck). */
const STUN_EVERY_MS = 30_000;
/**
 * Without peers there is nothing to punch to, but the home region must still
 * follow the latencies (peers that come find us there); tailscaled stops
 * measuring when idle, a router that is always on measures seldom instead.
 */
const NETCHECK_IDLE_MS = 5 * 60_000;
/** The path tick's period while a peer is active: its heartbeats and timeouts are counted in these. */
const TICK_MS = 1_000;
const DEFAULT_STUN_PORT = 3478;
/**
 * Every region is measured over each family its nodes have (a home chosen
 * among the first few region IDs is no choice), at up to this many of its
 * nodes, as netcheck's full report tries three: a region whose first node is
 * dead is still measured.
 */
const STUN_NODES_PER_REGION = 3;
const PING_WAIT_MS = 5_000;
/**
 * A direct peer's kernel endpoint is set again this long after the bridge
 * delivered a packet for it: after the kernel has taken that packet (and moved
 * the endpoint to the bridge), and at most this often while the peer still
 * sends over the relay (a stock client does until its own path is confirmed).
 * Once the kernel itself sends to the bridge it has moved, and is set back at
 * once: all it sends meanwhile goes by the relay.
 */
export const REPIN_AFTER_MS = 100;

export interface DirectDeps {
  readonly host: Pick<Host, "bindUdp" | "setTimer" | "monotonic" | "random" | "log">;
  readonly wgPort: number;
  readonly nodeKey: Uint8Array;
  readonly discoPrivate: Uint8Array;
  readonly discoPublic: Uint8Array;
  sendDerp(region: number, peer: Uint8Array, packet: Uint8Array): void;
  /** Points the kernel peer at a direct endpoint, or back at its relay when undefined. */
  setKernelEndpoint(peer: Uint8Array, endpoint: Endpoint | undefined): Promise<void>;
  /** The relay bridge: told which peers are direct, it reports the packets that would move them back. */
  readonly bridge?: Pick<RelayBridge, "pin" | "onRoamed">;
  /** The router's own addresses that peers could reach (LAN and WAN; not the tunnel's). */
  localAddresses(): Promise<IpBytes[]>;
  /**
   * Whether the kernel routes `ip` into the tunnel itself (a peer's address,
   * or a subnet route taken from the netmap): disco sent there would travel
   * over the relay and its pong would make that "path" look direct.
   */
  routedByTunnel?(ip: IpBytes): boolean;
  /** Whether the peer with this node key carried traffic lately, and what the kernel received from it. */
  peerActivity(nodeKeyHex: string): PeerActivity;
  /** Our endpoints changed: tell the control server. */
  onEndpoints(eps: { addrs: string[]; types: number[] }): void;
  /** A STUN round's round trips by region: the relay's home choice. */
  onNetcheck?(report: LatencyReport): void;
  /**
   * Shares the WireGuard port with the agent's socket (gateway/portshare.ts, in meshwrt's table);
   * why not, when it cannot. Undefined: no longer (the table goes with the agent's stop).
   */
  sharePort(p: PortShare | undefined): Promise<string | undefined>;
}

/** What a disco ping found out. */
export interface PingResult {
  readonly latencyMs: number;
  /** Set when the pong came directly, else it came through the relay. */
  readonly endpoint?: Endpoint;
  readonly relayRegion?: number;
}

export interface NetcheckFacts {
  readonly mapping: NatMapping;
  readonly latencyMs: ReadonlyMap<number, number>;
  /** A STUN server answered over UDP (NetInfo.WorkingUDP). */
  readonly udp: boolean;
  /** A STUN server answered over IPv6 (NetInfo.WorkingIPv6). */
  readonly ipv6: boolean;
  /** The host could bind the IPv6 disco socket (NetInfo.OSHasIPv6). */
  readonly osHasIpv6: boolean;
}

/**
 * What the last STUN round says about this network, in Hostinfo.NetInfo's
 * words (as magicsock's netcheck reports it); nothing before a round ran.
 */
export function netInfoFacts(f: NetcheckFacts): Pick<NetInfo, "MappingVariesByDestIP" | "WorkingUDP" | "WorkingIPv6" | "OSHasIPv6"> {
  if (!f.udp && f.mapping !== "udp-blocked") return {};
  return {
    ...(f.mapping === "symmetric" ? { MappingVariesByDestIP: true } : f.mapping === "endpoint-independent" ? { MappingVariesByDestIP: false } : {}),
    WorkingUDP: f.udp,
    WorkingIPv6: f.ipv6,
    OSHasIPv6: f.osHasIpv6,
  };
}

export class DirectPaths {
  private sock: UdpSocket | undefined;
  /** IPv6-only, on the IPv4 socket's port number (the port-sharing rules name one port); none without IPv6. */
  private sock6: UdpSocket | undefined;
  private readonly disco: DiscoManager;
  private readonly stun: StunProber;
  private stunServers: StunServer[] = [];
  private ours: Endpoint[] = [];
  private announced = "";
  private facts: NetcheckFacts = { mapping: "unknown", latencyMs: new Map(), udp: false, ipv6: false, osHasIpv6: false };
  /**
   * The path tick: every second while a peer is active; asleep until the next STUN round while all
   * are idle (an idle peer's path needs nothing, and an idle router should sleep), until wake().
   */
  private ticking: { readonly pace: "active" | "asleep"; readonly cancel: () => void } | undefined;
  private stopRound: (() => void) | undefined;
  private lastStun = -Infinity;
  private peerCount = 0;
  /** Our own pings waiting for their pong, by txid (hex). */
  private readonly waiting = new Map<string, (via: DiscoVia) => void>();
  /** Direct peers whose kernel endpoint is about to be set again (node key hex), with what cancels the timer. */
  private readonly repinning = new Map<string, () => void>();
  /** When the bridge last carried a packet for a peer pinned direct (node key hex): its received bytes may have come that way. */
  private readonly relayedAt = new Map<string, number>();

  constructor(private readonly d: DirectDeps) {
    this.disco = new DiscoManager({
      random: (n) => d.host.random(n),
      ourNodeKey: d.nodeKey,
      ourDiscoPrivate: d.discoPrivate,
      ourDiscoPublic: d.discoPublic,
      ourEndpoints: () => this.ours,
    });
    this.stun = new StunProber((n) => d.host.random(n));
    this.disco.onPong = (txid, via) => this.waiting.get(toHex(txid))?.(via);
    if (d.bridge) d.bridge.onRoamed = (peer, evidence) => this.repin(peer, evidence);
  }

  get netcheck(): NetcheckFacts {
    return this.facts;
  }

  /** Binds the disco socket and shares the WireGuard port with it; false (and said why) when it cannot: relay only. */
  async start(): Promise<boolean> {
    const h = this.d.host;
    // Transparent, so that tproxy may hand it disco and STUN (gateway/portshare.ts); where our
    // privileges refuse it, the port share rewrites their port instead.
    let transparent = true;
    try {
      try {
        this.sock = h.bindUdp("0.0.0.0", 0, { transparent });
      } catch (e) {
        h.log("debug", `direct paths: ${(e as Error).message}; disco's port is rewritten after conntrack instead`);
        transparent = false;
        this.sock = h.bindUdp("0.0.0.0", 0);
      }
    } catch (e) {
      h.log("warn", `direct paths: no disco socket (${(e as Error).message}); peers are reached through the relay only`);
      return false;
    }
    const refused = await this.d.sharePort({ wgPort: this.d.wgPort, agentPort: this.sock.port, tproxy: transparent });
    if (refused !== undefined) {
      h.log("warn", `direct paths: cannot share WireGuard port ${this.d.wgPort} with the agent (${refused}); peers are reached through the relay only`);
      this.sock.close();
      this.sock = undefined;
      return false;
    }
    this.sock.onMessage = (data, ip, port) => this.onUdp(data, ip, port);
    let v6 = "IPv6 too";
    try {
      this.sock6 = h.bindUdp("::", this.sock.port, { v6only: true, transparent });
      this.sock6.onMessage = (data, ip, port) => this.onUdp(data, ip, port);
    } catch (e) {
      v6 = `IPv4 only: ${(e as Error).message}`;
    }
    h.log("info", `direct paths: disco on WireGuard port ${this.d.wgPort} (agent socket ${this.sock.port}; ${v6})`);
    this.tickIn(TICK_MS, "active");
    return true;
  }

  async stop(): Promise<void> {
    this.ticking?.cancel();
    this.ticking = undefined;
    this.stopRound?.();
    this.sock6?.close();
    this.sock6 = undefined;
    if (!this.sock) return;
    this.sock.close();
    this.sock = undefined;
    await this.d.sharePort(undefined);
  }

  /** The netmap's peers and relay map. */
  setPeers(peers: Iterable<Node>, derpMap: DERPMap | undefined, regionOf: (n: Node) => number): void {
    const list = [...peers];
    this.peerCount = list.length;
    this.stunServers = stunServers(derpMap);
    this.handle(this.disco.setPeers(list, regionOf));
    if (this.sock && this.lastStun === -Infinity && this.stunServers.length) this.rediscover("first netmap");
    // The first peers bring STUN's period from the idle netcheck's down to 30 s.
    this.wake();
  }

  /** A disco packet that came over the relay. */
  receiveDerp(src: Uint8Array, region: number, packet: Uint8Array): void {
    this.handle(this.disco.receive(packet, { derpRegion: region, derpSrc: src }, this.d.host.monotonic()));
  }

  /** The confirmed direct endpoint of a peer, if it has one. */
  endpointFor(nodeKey: Uint8Array): Endpoint | undefined {
    const s = this.disco.status(toHex(nodeKey));
    return s?.kind === "direct" ? s.endpoint : undefined;
  }

  status(nodeKeyHex: string): PathStatus | undefined {
    return this.disco.status(nodeKeyHex);
  }

  /** A disco ping to a peer and its pong: the path it took and the round trip. */
  ping(nodeKeyHex: string): Promise<PingResult> {
    const h = this.d.host;
    const txid = h.random(12);
    const out = this.disco.probe(nodeKeyHex, txid);
    if (!out) return Promise.reject(new Error("the peer has no disco key in the netmap"));
    const sent = h.monotonic();
    const id = toHex(txid);
    return new Promise((resolve, reject) => {
      const cancel = h.setTimer(PING_WAIT_MS, () => {
        this.waiting.delete(id);
        reject(new Error(`no pong within ${PING_WAIT_MS / 1000} s (${out.kind === "udp" ? `direct ${formatEndpoint(out.to)}` : "relay"})`));
      });
      this.waiting.set(id, (via) => {
        this.waiting.delete(id);
        cancel();
        resolve({ latencyMs: h.monotonic() - sent, ...("from" in via ? { endpoint: via.from } : { relayRegion: via.derpRegion }) });
      });
      this.handle([out]);
    });
  }

  /** A STUN round now (the WAN changed, or it is time). */
  rediscover(why: string): void {
    if (!this.sock || !this.stunServers.length) return;
    const now = this.d.host.monotonic();
    this.lastStun = now;
    this.d.host.log("debug", `stun: asking ${this.stunServers.length} server(s) (${why})`);
    const servers = this.sock6 ? this.stunServers : this.stunServers.filter((s) => !s.ip.includes(":"));
    // A request that cannot leave (no route for its family) is not waited for.
    for (const r of this.stun.start(servers, now)) if (!this.sendUdp(r.packet, r.to.ip, r.to.port)) this.stun.abandon(r.packet);
    this.stopRound?.();
    this.stopRound = this.d.host.setTimer(3_000, () => void this.finishRound());
  }

  private async finishRound(): Promise<void> {
    this.stopRound = undefined;
    const r = this.stun.result();
    this.facts = {
      mapping: r.mapping,
      latencyMs: r.latencyMs,
      udp: r.endpoints.length > 0,
      ipv6: r.endpoints.some((e) => e.ip.length === 16),
      osHasIpv6: this.sock6 !== undefined,
    };
    this.d.onNetcheck?.({ startedAt: this.lastStun, at: this.d.host.monotonic(), latencyMs: r.latencyMs, v4Ms: r.v4Ms, v6Ms: r.v6Ms });
    let local: IpBytes[] = [];
    try {
      local = (await this.d.localAddresses()).filter((ip) => ip.length === 4 || (this.sock6 !== undefined && usableV6(ip)));
    } catch (e) {
      this.d.host.log("warn", `direct paths: listing local addresses: ${(e as Error).message}`);
    }
    const eps: { ep: Endpoint; type: number }[] = [];
    const add = (ep: Endpoint, type: number) => {
      if (!eps.some((x) => formatEndpoint(x.ep) === formatEndpoint(ep))) eps.push({ ep, type });
    };
    for (const ep of r.endpoints) add(ep, EP_STUN);
    for (const ip of local) add({ ip, port: this.d.wgPort }, EP_LOCAL);
    this.ours = eps.map((x) => x.ep);
    const addrs = this.ours.map(formatEndpoint);
    const key = addrs.join(",");
    if (key === this.announced) return;
    this.announced = key;
    this.d.host.log("info", `endpoints: ${addrs.join(", ") || "none"} (NAT mapping ${r.mapping})`);
    this.d.onEndpoints({ addrs, types: eps.map((x) => x.type) });
  }

  private onUdp(data: Uint8Array, ip: string, port: number): void {
    const now = this.d.host.monotonic();
    if (this.stun.receive(data, now)) {
      if (this.stun.done(now) && this.stopRound) {
        this.stopRound();
        void this.finishRound();
      }
      return;
    }
    let from: Endpoint;
    try {
      from = { ip: parseIp(ip), port };
    } catch {
      return;
    }
    this.handle(this.disco.receive(data, { from }, now));
  }

  /** A peer turned active (the kernel's counters moved), or the peers changed: the paths are worked on now. */
  wake(): void {
    if (this.ticking?.pace !== "asleep") return;
    this.ticking.cancel();
    this.tick();
  }

  /** The path tick, which sets the next one; a round that fails is said and the tick goes on. */
  private tick(): void {
    const now = this.d.host.monotonic();
    const stunEvery = this.peerCount ? STUN_EVERY_MS : NETCHECK_IDLE_MS;
    let active = false;
    try {
      // Past the freshness window a relayed packet says nothing of the path: forget it (and peers that left).
      for (const [id, at] of this.relayedAt) if (now - at >= RECEIVED_FRESH_MS) this.relayedAt.delete(id);
      if (now - this.lastStun >= stunEvery) this.rediscover("periodic");
      this.handle(this.disco.tick(now, (id) => {
        const a = this.activity(id);
        active ||= a.active;
        return a;
      }));
    } catch (e) {
      this.d.host.log("error", `direct paths: ${(e as Error).message}`);
    }
    const untilStun = this.stunServers.length ? this.lastStun + stunEvery - now : stunEvery;
    this.tickIn(active ? TICK_MS : Math.min(stunEvery, Math.max(TICK_MS, untilStun)), active ? "active" : "asleep");
  }

  private tickIn(ms: number, pace: "active" | "asleep"): void {
    this.ticking = { pace, cancel: this.d.host.setTimer(ms, () => this.tick()) };
  }

  /** The kernel's word on a peer, with when the bridge last carried its packets while it was pinned direct. */
  private activity(id: string): PeerActivity {
    const a = this.d.peerActivity(id);
    const relayedAt = this.relayedAt.get(id);
    if (relayedAt === undefined || !a.received) return a;
    return { active: a.active, received: { ...a.received, relayedAt } };
  }

  private handle(outs: DiscoOut[]): void {
    for (const o of outs) {
      if (o.kind === "udp") {
        // A peer's LAN address behind a route we take from it (its shared LAN) reaches it only through the tunnel: no path.
        if (!this.d.routedByTunnel?.(o.to.ip)) this.sendUdp(o.packet, formatIp(o.to.ip), o.to.port);
      }
      else if (o.kind === "derp") this.d.sendDerp(o.region, o.peer, o.packet);
      else {
        this.d.host.log("info", `path to ${toHex(o.peer).slice(0, 8)}: ${o.endpoint ? `direct ${formatEndpoint(o.endpoint)}` : "relay"}`);
        this.setEndpoint(o.peer, o.endpoint);
      }
    }
  }

  private setEndpoint(peer: Uint8Array, endpoint: Endpoint | undefined): void {
    // Pinned first: a packet the bridge carries while the kernel is being told is reported too.
    this.d.bridge?.pin(peer, endpoint !== undefined);
    this.d.setKernelEndpoint(peer, endpoint).catch((e: Error) => this.d.host.log("warn", `path to ${toHex(peer).slice(0, 8)}: ${e.message}`));
  }

  /**
   * The bridge carried a packet for a direct peer: the kernel has moved (or,
   * having been handed one, will move) its endpoint to the relay. Set it
   * direct again: at once when the kernel was seen sending to the relay,
   * otherwise shortly, once for any number of such packets meanwhile.
   */
  private repin(peer: Uint8Array, evidence: RoamEvidence): void {
    const id = toHex(peer);
    this.relayedAt.set(id, this.d.host.monotonic());
    const pending = this.repinning.get(id);
    if (evidence === "delivered") {
      if (pending) return;
      const key = peer.slice();
      this.repinning.set(id, this.d.host.setTimer(REPIN_AFTER_MS, () => this.setDirectAgain(id, key)));
      return;
    }
    pending?.();
    this.setDirectAgain(id, peer.slice());
  }

  private setDirectAgain(id: string, peer: Uint8Array): void {
    this.repinning.delete(id);
    const s = this.disco.status(id);
    if (s?.kind !== "direct") {
      this.relayedAt.delete(id); // on the relay by now: the bridge is the right endpoint
      return;
    }
    this.d.host.log("debug", `path to ${id.slice(0, 8)}: a packet through the relay moved the kernel's endpoint; direct ${formatEndpoint(s.endpoint)} again`);
    this.setEndpoint(peer, s.endpoint);
  }

  /** A datagram that cannot leave (the WAN is down: ENETUNREACH) is lost like any other; disco and STUN retry. False when it did not leave. */
  private sendUdp(packet: Uint8Array, ip: string, port: number): boolean {
    const sock = ip.includes(":") ? this.sock6 : this.sock;
    if (!sock) return false;
    try {
      sock.send(packet, ip, port);
      return true;
    } catch (e) {
      this.d.host.log("debug", `direct paths: ${(e as Error).message}`);
      return false;
    }
  }
}

/**
 * The relay map's STUN servers at their IPv4 and IPv6 addresses, as netcheck
 * asks both families: STUNPort 0 means 3478, -1 none; an address "none" (or
 * not an IP) is skipped. At most 8 of each family.
 */
export function stunServers(m: DERPMap | undefined): StunServer[] {
  const v4: StunServer[] = [], v6: StunServer[] = [];
  for (const r of Object.values(m?.Regions ?? {})) {
    if (r.NoMeasureNoHome) continue;
    for (const [family, list, len] of [["IPv4", v4, 4], ["IPv6", v6, 16]] as const) {
      let nodes = 0;
      for (const n of r.Nodes ?? []) {
        const ip = n[family];
        const port = n.STUNPort === undefined || n.STUNPort === 0 ? DEFAULT_STUN_PORT : n.STUNPort;
        if (port < 0 || !ip || ipLength(ip) !== len || nodes === STUN_NODES_PER_REGION) continue;
        if (list.some((s) => s.ip === ip && s.port === port)) continue;
        list.push({ region: r.RegionID, ip, port });
        nodes++;
      }
    }
  }
  return [...v4, ...v6];
}

function ipLength(s: string): number {
  try {
    return parseIp(s).length;
  } catch {
    return 0;
  }
}

/**
 * An IPv6 address peers could reach, as tailscale's interfaces.isUsableV6:
 * global unicast (2000::/3), or unique local (fc00::/7) outside the tailnet's own range.
 */
export function usableV6(ip: IpBytes): boolean {
  if (ip.length !== 16) return false;
  if ((ip[0]! & 0xe0) === 0x20) return true;
  const tailnet = ip[0] === 0xfd && ip[1] === 0x7a && ip[2] === 0x11 && ip[3] === 0x5c && ip[4] === 0xa1 && ip[5] === 0xe0;
  return (ip[0]! & 0xfe) === 0xfc && !tailnet;
}
