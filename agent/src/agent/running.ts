// What exists only while the agent runs, made by its start and removed by one
// stop: the control client, the tunnel (kernel WireGuard, its addresses and
// routes), relays and the bridge, direct paths, the gateway (meshwrt's
// firewall table and MagicDNS names), the peer API, the netlink sockets and
// the timers. Every netmap becomes the smallest change to the kernel and to
// the firewall and names; relayed peers reach the kernel through the bridge.
import { Controller } from "../control/controller.js";
import { emptyNetMap, homeRegion, type Change, type NetMap } from "../control/netmap.js";
import type { DERPNode, Hostinfo } from "../control/tailcfg.js";
import { keyFromText } from "../crypto/keys.js";
import { DerpManager } from "../derp/manager.js";
import { isDisco } from "../disco/message.js";
import type { Host, NetlinkSocket } from "../host/host.js";
import { formatIp, formatPrefix, type IpBytes } from "../netaddr/ip.js";
import { NetlinkClient } from "../netlink/client.js";
import type { Link } from "../netlink/route.js";
import { Rtnl } from "../netlink/rtnl.js";
import type { Settings } from "../openwrt/config.js";
import { BRIDGE_RECEIVE_BUFFER, RelayBridge } from "../paths/bridge.js";
import { DirectPaths, netInfoFacts } from "../paths/direct.js";
import { dnsAccess } from "../peerapi/access.js";
import { PeerApi } from "../peerapi/server.js";
import { latin1 } from "../util/bytes.js";
import { utf8Decode, utf8Encode } from "../util/utf8.js";
import { PeerActivity } from "../wg/activity.js";
import { readPeers, type WireGuardApi } from "../wg/api.js";
import { openWireGuard } from "../wg/open.js";
import { ApplyQueue } from "./apply-queue.js";
import { GatewayGlue, type GatewayWanted } from "./gateway-glue.js";
import { NetworkWatch } from "./network-watch.js";
import { Tunnel } from "./tunnel.js";
import type { AgentView } from "./view.js";

export interface AgentOptions {
  readonly version: string;
  readonly interfaceName: string;
  /** Tests only: trust this CA for the control server and the relays. */
  readonly caFile?: string;
  /** Tests only: reach relays over plain HTTP. */
  readonly derpPlainHttp?: boolean;
}

/** What the Running tells the Agent that made it. */
export interface RunningHooks {
  /** The control state or the problems changed. */
  onChange(): void;
  /** A warning said once per subject (the Agent keeps which were said). */
  once(subject: string, msg: string): void;
}

/** What the start opened before anything else: the netlink sockets and the WireGuard device. */
interface Opened {
  readonly rtnl: Rtnl;
  readonly wg: WireGuardApi;
  readonly link: Link;
  /** Every netlink socket the Running owns, closed last by stop. */
  readonly sockets: NetlinkSocket[];
}

const NETLINK_ROUTE = 0;
const NETLINK_GENERIC = 16;
/** The kernel is read back in full this often even when no event said it changed (WireGuard sends none). */
const RECONCILE_MS = 120_000;

/** The view's parts that come from the Running. */
export type RunningView = Omit<AgentView, "version" | "configured" | "interfaceName" | "exitNode">;

export class Running {
  private readonly rtnl: Rtnl;
  private readonly wg: WireGuardApi;
  private readonly link: Link;
  private readonly sockets: readonly NetlinkSocket[];
  readonly controller: Controller;
  private readonly derp: DerpManager;
  private readonly bridge: RelayBridge;
  /** The device's peers, addresses and routes, kept by difference. */
  private readonly tunnel: Tunnel;
  /** meshwrt's firewall table and MagicDNS names, and the subnets the router shares. */
  private readonly gateway: GatewayGlue;
  /** Exit-node DNS for the peers (only when the router is an exit node). */
  private readonly peerApi: PeerApi | undefined;
  /** Disco and STUN; undefined when the WireGuard port cannot be shared (relay only). */
  private direct: DirectPaths | undefined;
  /** Which peers carry traffic, from the counters of the last dump. */
  private readonly activity = new PeerActivity();
  private netmap: NetMap = emptyNetMap();
  /** The kernel brought to each netmap, one apply at a time; closed when stop begins. */
  private readonly applies: ApplyQueue;
  private homeRegion = 0;
  private endpoints: { addrs: string[]; types: number[] } = { addrs: [], types: [] };
  /** Our own addresses when last looked at (formatted). */
  private addresses: string[] = [];
  /** The timers that run while running: the slow reconcile, the activity reads; and the network's events. */
  private cancelReconcile = () => {};
  private cancelActivity = () => {};
  private stopWatch = () => {};

  /** Opens the netlink sockets and the WireGuard device, then makes the rest; throws (leaving nothing open) when it cannot. */
  static async open(env: Host, settings: Settings, opts: AgentOptions, hooks: RunningHooks): Promise<Running> {
    env.mkdir(settings.stateDir, 0o700);
    const sockets: NetlinkSocket[] = [];
    const client = (protocol: number) => netlinkClient(env, protocol, sockets);
    const rtnl = new Rtnl(client(NETLINK_ROUTE), (n) => env.errnoName(n));
    let opened: Opened;
    try {
      const { wg, link } = await openWireGuard(opts.interfaceName, {
        rtnl,
        genericNetlink: () => client(NETLINK_GENERIC),
        exists: (p) => env.exists(p),
        run: (argv) => env.run(argv),
        connectUnix: (p) => env.connectUnix(p),
        sleep: (ms) => new Promise<void>((res) => env.setTimer(ms, res)),
        log: (l, m) => env.log(l, m),
      });
      opened = { rtnl, wg, link, sockets };
    } catch (e) {
      for (const s of sockets) s.close();
      throw e;
    }
    try {
      return new Running(env, settings, opts, hooks, opened);
    } catch (e) {
      await removeInterface(env, opened);
      for (const s of sockets) s.close();
      throw e;
    }
  }

  private constructor(
    private readonly env: Host,
    private readonly settings: Settings,
    private readonly opts: AgentOptions,
    hooks: RunningHooks,
    opened: Opened,
  ) {
    ({ rtnl: this.rtnl, wg: this.wg, link: this.link, sockets: this.sockets } = opened);
    const s = settings;
    this.applies = new ApplyQueue(
      (changes, reconcile) => this.apply(this.netmap, changes, reconcile),
      (e) => env.log("error", `apply netmap: ${e.message}`),
    );
    this.tunnel = new Tunnel({
      wg: this.wg,
      name: opts.interfaceName,
      rtnl: this.rtnl,
      index: this.link.index,
      wanted: {
        acceptRoutes: s.acceptRoutes,
        endpointFor: (n) => {
          const k = keyFromText("nodekey", n.Key);
          const direct = this.direct?.endpointFor(k);
          if (direct) return direct;
          try {
            return this.bridge.endpointFor(k);
          } catch (e) {
            // Out of descriptors (one bridge socket a relayed peer): this peer waits for a direct path, the rest still go in.
            hooks.once("relay bridge", `relay bridge: no socket for more peers (${(e as Error).message}); those peers are reached only once a direct path is found`);
            return undefined;
          }
        },
        log: (m) => env.log("warn", m),
      },
      note: (subject, msg) => hooks.once(subject, msg),
    });
    this.gateway = new GatewayGlue(
      {
        run: (argv, input) => env.run(argv, input),
        writeFile: (path, data) => env.writeFileAtomic(path, data, 0o644),
        removeFile: (path) => env.unlink(path),
        exists: (path) => env.exists(path),
        log: (l, m) => env.log(l, m),
        links: () => this.rtnl.links(),
        addresses: () => this.rtnl.addresses(),
        noteOnce: (m) => hooks.once(m, m),
        unloaded: () => this.onNetmap(this.netmap, new Set()),
        readFile: (path) => env.readFile(path),
      },
      s,
      { name: opts.interfaceName, type: this.link.type },
    );
    this.peerApi = s.advertiseExitNode
      ? new PeerApi(
          {
            listenTcp: (ip, port) => env.listenTcp(ip, port),
            bindUdp: (ip, port) => env.bindUdp(ip, port),
            setTimer: (ms, fn) => env.setTimer(ms, fn),
            log: (l, m) => env.log(l, m),
            access: (ip) => dnsAccess(this.netmap, s.advertiseExitNode, ip),
          },
          { resolver: { ip: "127.0.0.1", port: 53 } },
        )
      : undefined;
    this.controller = new Controller(
      {
        dial: (srv) => env.dialTcp(srv.host, srv.port, srv.tls ? { serverName: srv.host, ...(opts.caFile ? { caFile: opts.caFile } : {}) } : undefined),
        random: (n) => env.random(n),
        now: () => env.now(),
        setTimer: (ms, fn) => env.setTimer(ms, fn),
        log: (l, m) => env.log(l, m),
        loadKeys: () => {
          const b = env.readFile(`${s.stateDir}/keys.json`);
          return b ? utf8Decode(b) : null;
        },
        saveKeys: (text) => env.writeFileAtomic(`${s.stateDir}/keys.json`, utf8Encode(text), 0o600),
        discoPing: (id) => this.direct?.ping(id) ?? Promise.reject(new Error("disco is not running (no direct paths)")),
      },
      { loginServer: s.loginServer, ...(s.authKey ? { authKey: s.authKey } : {}), hostinfo: this.hostinfo() },
    );
    this.controller.onState = (st) => {
      env.log("info", `control: ${st.kind}${st.kind === "needs-login" ? ` ${st.authUrl}` : ""}`);
      hooks.onChange();
    };
    this.controller.onNetmap = (nm, changes) => this.onNetmap(nm, changes);
    this.bridge = new RelayBridge(
      {
        openLoopback: (wgPort) => env.loopbackUdp(wgPort, BRIDGE_RECEIVE_BUFFER),
        sendRelayed: (_peer, id, frames, packets) => this.derp.sendFrames(this.tunnel.netmapPeers.region(id), frames, packets),
        log: (l, m) => env.log(l, m),
      },
      s.listenPort,
    );
    this.derp = new DerpManager(
      {
        dial: (node, connectMs) => this.dialDerp(node, connectMs),
        random: (n) => env.random(n),
        setTimer: (ms, fn) => env.setTimer(ms, fn),
        monotonic: () => env.monotonic(),
        log: (l, m) => env.log(l, m),
      },
      this.controller.nodePrivateKey,
    );
    this.derp.onPacket = (src, data, region) => {
      // WireGuard's messages are types 1-4 (and three zero bytes): only something else can be disco.
      if (data[0]! > 4 && isDisco(data)) return this.direct?.receiveDerp(src, region, data);
      this.bridge.deliver(src, data);
    };
    // Peers find us through our home relay: tell the control server which it is.
    this.derp.onHomeChange = (region) => {
      this.homeRegion = region;
      this.controller.update(this.endpoints, this.hostinfo());
    };
  }

  /** Brings everything up, the firewall before the first peer; `checkpoint` throws when a stop was asked for meanwhile. */
  async begin(checkpoint: () => void): Promise<void> {
    const s = this.settings;
    this.watchNetwork();
    this.env.log("info", `wireguard: ${this.wg.kind}, interface ${this.opts.interfaceName} (#${this.link.index})`);
    // A table deleted by someone else (fw4 flush) is loaded again; refused then, the peers go (fail closed).
    this.gateway.watch((protocol, groups) => this.env.netlink(protocol, groups));
    await this.gateway.findSharedRoutes();
    checkpoint();
    // Rules before the first peer: until the ACL arrives, nothing from the tailnet gets in.
    await this.gateway.set(this.gatewayWanted());
    checkpoint();
    await this.followAddresses();
    await this.wg.set({ name: this.opts.interfaceName, privateKey: this.controller.nodePrivateKey, listenPort: s.listenPort });
    await this.rtnl.setLink(this.link.index, true);
    checkpoint();
    await this.startDirect();
    checkpoint();
    // The shared routes are known now: the first request carries them.
    this.controller.update(this.endpoints, this.hostinfo());
    this.controller.start();
    const slow = () => {
      this.cancelReconcile = this.env.setTimer(RECONCILE_MS, () => {
        this.applies.reconcileSoon("the periodic check");
        slow();
      });
    };
    slow();
  }

  /** Removes what the start added; also after a start that failed or was cut short. */
  async stop(): Promise<void> {
    const applied = this.applies.close();
    this.controller.stop();
    this.cancelActivity();
    this.cancelReconcile();
    this.stopWatch();
    await this.direct?.stop();
    this.derp.stop();
    this.bridge.close();
    await applied;
    this.peerApi?.stop();
    // The interface goes first (issue 16): without it nothing comes from the tailnet, so the ACL's table can go after.
    await removeInterface(this.env, { rtnl: this.rtnl, link: this.link });
    await this.gateway.stop();
    for (const s of this.sockets) s.close();
    // The next start, a logout's removal of the file or a login's new key come after the last save, not during it.
    await this.controller.keysSettled();
  }

  view(): RunningView {
    const direct = this.direct;
    const expiry = this.controller.keyExpiry();
    return {
      control: this.controller.current,
      problems: this.gateway.failure ? [this.gateway.failure] : [],
      netmap: this.netmap,
      homeRelay: this.derp.homeRegion,
      relayDrops: this.derp.dropped,
      relayBridge: this.bridge.counters,
      wireguard: this.wg.kind,
      pathOf: (id) => direct?.status(id),
      // The relays' latencies as the home was chosen by them (over HTTPS where STUN got no answer).
      ...(direct ? { netcheck: { ...direct.netcheck, latencyMs: this.derp.latencyMs }, ping: (id: string) => direct.ping(id) } : {}),
      wgPeerOf: (id) => this.activity.counters(id),
      advertisedRoutes: this.gateway.sharedRoutes.map(formatPrefix),
      endpoints: this.endpoints.addrs,
      ...(expiry ? { keyExpiry: expiry } : {}),
      tailnetLock: this.controller.tailnetLock(),
    };
  }

  /**
   * Reads the kernel's peers again: their counters and handshakes (kept by the activity, not the
   * read: a dumped peer costs ~2.5 kB), and a peer someone else changed (unless meshwrt changed
   * peers itself while it was read).
   */
  async refreshPeers(): Promise<void> {
    const peers = this.tunnel.peers;
    const generation = peers.generation, readAt = this.env.monotonic();
    try {
      // Read in place (wg/genl.ts KernelPeerDump): no object per peer; a malformed dump fails here.
      const read = await readPeers(this.wg, this.opts.interfaceName);
      const outside = generation === peers.generation ? peers.outsideCheck() : undefined;
      const moved = this.activity.update(read, this.env.monotonic(), outside?.peer);
      // The pass over the peers is most of a read's cost: counted in.
      this.activity.took(this.env.monotonic() - readAt);
      // The path tick sleeps while every peer is idle: one whose counters moved wakes it.
      if (moved) this.direct?.wake();
      if (outside?.changed()) this.applies.reconcileSoon("WireGuard peers changed outside meshwrt");
    } catch (e) {
      this.env.log("warn", `read ${this.opts.interfaceName}'s peers: ${(e as Error).message}`);
    }
  }

  /** The router's addresses peers could reach: every one but the tunnel's, loopback and link-local. */
  private async ownAddresses(): Promise<IpBytes[]> {
    const own = (await this.rtnl.addresses()).filter((a) => a.index !== this.link.index);
    return own.map((a) => a.prefix.ip).filter((ip) => !(ip.length === 4 ? ip[0] === 127 || (ip[0] === 169 && ip[1] === 254) : ip[0] === 0xfe && (ip[1]! & 0xc0) === 0x80) && !(ip.length === 16 && ip.every((b, i) => b === (i === 15 ? 1 : 0))));
  }

  /** When an address of ours went away, the control and relay connections may have gone with it. */
  private async followAddresses(): Promise<void> {
    let now: string[];
    try {
      now = (await this.ownAddresses()).map(formatIp);
    } catch (e) {
      return this.env.log("warn", `network changed: ${(e as Error).message}`);
    }
    const before = this.addresses;
    this.addresses = now;
    const gone = before.filter((a) => !now.includes(a));
    if (!gone.length) return;
    const why = `address ${gone.join(", ")} gone`;
    this.controller.reconnect(why);
    this.derp.reconnect(why);
  }

  /** Disco and STUN on the WireGuard port, when nftables lets the agent share it; else relay only. */
  private async startDirect(): Promise<void> {
    const name = this.opts.interfaceName;
    const direct = new DirectPaths({
      host: this.env,
      wgPort: (await this.wg.get(name)).listenPort,
      nodeKey: this.controller.publicKeys.node,
      discoPrivate: this.controller.discoPrivateKey,
      discoPublic: this.controller.publicKeys.disco,
      sharePort: (p) => this.gateway.sharePort(p),
      sendDerp: (region, peer, packet) => this.derp.send(region || this.tunnel.netmapPeers.region(latin1(peer)), peer, packet),
      setKernelEndpoint: async (peer, ep) => {
        await this.tunnel.peers.setEndpoint(peer, ep ?? this.bridge.endpointFor(peer));
      },
      bridge: this.bridge,
      localAddresses: () => this.ownAddresses(),
      routedByTunnel: (ip) => this.tunnel.netmapPeers.routesContain(ip),
      peerActivity: (id) => this.activity.of(id, this.env.monotonic()),
      onNetcheck: (report) => this.derp.netcheck(report),
      onEndpoints: (eps) => {
        this.endpoints = eps;
        this.controller.update(this.endpoints, this.hostinfo());
      },
    });
    if (!(await direct.start())) return;
    this.direct = direct;
    // Every second while a peer is active, every two when all are idle; further apart as reads grow dear (wg/activity.ts).
    const watch = () => {
      this.cancelActivity = this.env.setTimer(this.activity.nextReadMs(this.env.monotonic()), () => void this.readActivity().finally(watch));
    };
    watch();
  }

  /** Which peers carry traffic: an idle peer gets no disco heartbeats, so an idle router sleeps. */
  private async readActivity(): Promise<void> {
    if (!this.netmap.peers.size) return;
    await this.refreshPeers();
  }

  /** Address and route changes elsewhere (a new WAN address) make the agent tell control its news again. */
  private watchNetwork(): void {
    const watch = new NetworkWatch({
      host: this.env,
      tunnelIndex: this.link.index,
      settled: (why) => {
        this.env.log("info", `network changed (${why}): re-announcing endpoints`);
        this.direct?.rediscover("network changed");
        void this.followAddresses();
        this.gateway
          .findSharedRoutes()
          .then(() => this.gateway.set(this.gatewayWanted()))
          .catch((e: Error) => this.env.log("warn", `network changed: ${e.message}`))
          .finally(() => this.controller.update(this.endpoints, this.hostinfo()));
      },
      removedOurs: (ev) => {
        if (this.tunnel.router.lostOurs(ev)) this.applies.reconcileSoon(`${ev.kind} ${formatPrefix(ev.kind === "route" ? ev.route.dst : ev.address.prefix)} removed outside meshwrt`);
      },
    });
    this.stopWatch = () => watch.close();
  }

  private dialDerp(node: DERPNode, connectMs?: number) {
    const host = node.IPv4 || node.HostName;
    if (this.opts.derpPlainHttp) return this.env.dialTcp(host, node.DERPPort || 80, undefined, undefined, connectMs);
    return this.env.dialTcp(host, node.DERPPort || 443, { serverName: node.HostName, ...(this.opts.caFile ? { caFile: this.opts.caFile } : {}) }, undefined, connectMs);
  }

  private hostinfo(): Hostinfo {
    const release = this.env.readFile("/etc/openwrt_release");
    const version = release ? /DISTRIB_RELEASE='([^']*)'/.exec(utf8Decode(release))?.[1] : undefined;
    const sysname = this.env.readFile("/proc/sys/kernel/hostname");
    const routes = this.gateway.sharedRoutes.map(formatPrefix);
    if (this.settings.advertiseExitNode) routes.push("0.0.0.0/0", "::/0");
    return {
      OS: "linux",
      ...(version ? { OSVersion: version, Distro: "openwrt", DistroVersion: version } : {}),
      Hostname: this.settings.hostname || (sysname ? utf8Decode(sysname).trim() : "openwrt"),
      ...(routes.length ? { RoutableIPs: routes } : {}),
      ...(this.homeRegion ? { NetInfo: { PreferredDERP: this.homeRegion, DERPLatency: this.derp.derpLatency(), ...(this.direct ? netInfoFacts(this.direct.netcheck) : {}) } } : {}),
      ...(this.peerApi?.services.length ? { Services: this.peerApi.services } : {}),
    };
  }

  private onNetmap(nm: NetMap, changes: ReadonlySet<Change>): void {
    this.netmap = nm;
    if (changes.has("derp") && nm.derpMap) this.derp.setMap(nm.derpMap);
    this.applies.changed(changes);
  }

  /**
   * The kernel brought to the netmap by difference: only the peers, addresses and routes the
   * changes touch, and the firewall and names only when their inputs changed. With `reconcile`
   * (why) the device, addresses and routes are read back first and repaired.
   */
  private async apply(nm: NetMap, changes: ReadonlySet<Change>, reconcile: string | undefined): Promise<void> {
    const started = this.env.monotonic();
    const tunnel = this.tunnel;
    const delta = tunnel.follow(nm.peers);
    if (delta.paths || changes.has("derp")) this.direct?.setPeers(nm.peers.values(), nm.derpMap, homeRegion);
    // The firewall before the peers, and no peer while meshwrt's table is not loaded: the ACL is
    // enforced there, and fw4's zone for the tunnel accepts what reaches it (fail closed).
    // "self": the router's own addresses, whose ACL-allowed flows may skip conntrack (gateway-glue).
    if (changes.has("filter") || changes.has("self") || !this.gateway.loaded || reconcile) await this.gateway.setRules(this.gatewayWanted());
    if (delta.names || changes.has("self") || changes.has("dns") || reconcile) await this.gateway.setNames(this.netmap);
    const { sent, routed } = await tunnel.apply(delta, nm.self?.Addresses ?? [], this.gateway.loaded, reconcile !== undefined);
    // The peer API on the tailnet addresses once they are ours: the firewall opens its port, peers learn it from Hostinfo.
    if (this.peerApi?.listen((nm.self?.Addresses ?? []).map((a) => a.split("/")[0]!))) {
      await this.gateway.setRules(this.gatewayWanted());
      this.controller.update(this.endpoints, this.hostinfo());
    }
    for (const w of delta.peers.values()) {
      if (w) continue;
      // A peer left: its relay bridge socket goes with it.
      this.bridge.retain([...tunnel.netmapPeers.all()].map((p) => p.publicKey));
      break;
    }
    const ms = Math.round(this.env.monotonic() - started);
    this.env.log("debug", `netmap applied${reconcile ? ` (kernel read back: ${reconcile})` : ""}: ${nm.peers.size} peers, ${sent} peer changes, ${routed} address and route changes, in ${ms} ms`);
  }

  /** What the gateway is to carry now: the latest netmap's ACL and names, the peer API's ports. */
  private gatewayWanted(): GatewayWanted {
    return { netmap: this.netmap, peerApiPorts: this.peerApi?.ports ?? [] };
  }
}

function netlinkClient(env: Host, protocol: number, sockets: NetlinkSocket[]): NetlinkClient {
  const sock = env.netlink(protocol, 0);
  sockets.push(sock);
  const c = new NetlinkClient((d) => sock.send(d), (n) => env.describeErrno(n), (env.random(2)[0]! << 8) | 1);
  sock.onMessage = (d) => c.receive(d);
  sock.onError = (e) => c.failAll(e);
  return c;
}

/** The tunnel's routes, then the interface; a failure is said, and the stop goes on. */
async function removeInterface(env: Host, o: Pick<Opened, "rtnl" | "link">): Promise<void> {
  try {
    for (const r of await o.rtnl.ownRoutes()) if (r.oif === o.link.index) await o.rtnl.removeRoute({ dst: r.dst, oif: r.oif, table: r.table });
    await o.rtnl.deleteLink(o.link.index);
  } catch (e) {
    env.log("warn", `stop: ${(e as Error).message}`);
  }
}
