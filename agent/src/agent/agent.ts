// The agent: control client, kernel WireGuard, relays, the bridge and the
// gateway put together. Every netmap becomes the smallest change to the
// kernel (addresses, peers, routes) and to meshwrt's firewall table and
// MagicDNS names; relayed peers reach the kernel through the bridge. What it
// added, it removes on stop.
import { Controller, type ControlState } from "../control/controller.js";
import { emptyNetMap, homeRegion, type Change, type NetMap } from "../control/netmap.js";
import type { DERPNode, Hostinfo } from "../control/tailcfg.js";
import { keyFromText } from "../crypto/keys.js";
import { DerpManager } from "../derp/manager.js";
import { isDisco } from "../disco/message.js";
import { formatIp, formatPrefix, type IpBytes, type Prefix } from "../netaddr/ip.js";
import { NetlinkClient } from "../netlink/client.js";
import { parseMessages } from "../netlink/codec.js";
import { NETWORK_GROUPS, parseNetworkEvent } from "../netlink/events.js";
import type { Link } from "../netlink/route.js";
import { Rtnl } from "../netlink/rtnl.js";
import type { Settings } from "../openwrt/config.js";
import { BRIDGE_RECEIVE_BUFFER, RelayBridge } from "../paths/bridge.js";
import { latin1, toHex } from "../util/bytes.js";
import { utf8Decode, utf8Encode } from "../util/utf8.js";
import type { WireGuardApi } from "../wg/api.js";
import { PeerActivity } from "../wg/activity.js";
import { openWireGuard } from "../wg/open.js";
import type { Peer as WgPeer } from "../wg/model.js";
import type { Host, NetlinkSocket } from "../host/host.js";
import type { AgentView } from "./view.js";
import { hostsFile } from "../dns/hosts.js";
import { filterStatements } from "../gateway/filter.js";
import { Gateway } from "../gateway/gateway.js";
import { lanSubnets } from "../gateway/lan.js";
import { DirectPaths } from "./direct.js";
import { Tunnel } from "./tunnel.js";
import { dnsAccess } from "../peerapi/access.js";
import { PeerApi } from "../peerapi/server.js";

export interface AgentOptions {
  readonly version: string;
  readonly interfaceName: string;
  /** Tests only: trust this CA for the control server and the relays. */
  readonly caFile?: string;
  /** Tests only: reach relays over plain HTTP. */
  readonly derpPlainHttp?: boolean;
}

const NETLINK_ROUTE = 0;
const NETLINK_GENERIC = 16;
const ACTIVITY_READ_MS = 2_000;
/** The kernel is read back in full this often even when no event said it changed (WireGuard sends none). */
const RECONCILE_MS = 120_000;

export class Agent {
  /** Called when the control state or the problems change (the supervisor tells ubus subscribers). */
  onChange: () => void = () => {};
  private controller: Controller | undefined;
  private derp: DerpManager | undefined;
  private bridge: RelayBridge | undefined;
  private wg: WireGuardApi | undefined;
  private rtnl: Rtnl | undefined;
  private link: Link | undefined;
  private sockets: NetlinkSocket[] = [];
  private netmap: NetMap = emptyNetMap();
  private control: ControlState | undefined;
  private problems: string[] = [];
  private wgPeers = new Map<string, WgPeer>();
  /** The device's peers, addresses and routes, kept by difference. */
  private tunnel: Tunnel | undefined;
  /** What the netmaps since the last apply changed, and why the next apply reads the kernel back (if it does). */
  private pendingChanges = new Set<Change>();
  private reconcileWhy: string | undefined = "start";
  private stopReconcile: (() => void) | undefined;
  private applying: Promise<void> = Promise.resolve();
  private homeRegion = 0;
  private readonly warned = new Set<string>();
  private endpoints: { addrs: string[]; types: number[] } = { addrs: [], types: [] };
  private pendingApply = false;
  /** Set when stop begins: the interface it deletes must not be "repaired" by an apply (each failing, each retried). */
  private stopping = false;
  private gateway: Gateway | undefined;
  /** Exit-node DNS for the peers (only while the router is an exit node). */
  private peerApi: PeerApi | undefined;
  private direct: DirectPaths | undefined;
  /** Which peers carry traffic, from the counters of the last dump. */
  private readonly activity = new PeerActivity();
  private stopActivity: (() => void) | undefined;
  /** Our own addresses when last looked at (formatted). */
  private addresses: string[] | undefined;
  /** The subnets this router shares: the configured ones, else the LAN's. */
  private sharedRoutes: Prefix[] = [];

  constructor(
    private readonly env: Host,
    private readonly settings: Settings,
    private readonly opts: AgentOptions,
  ) {}

  get configured(): boolean {
    return this.settings.enabled && (this.settings.authKey !== "" || this.settings.loginServer !== "");
  }

  async start(): Promise<void> {
    const s = this.settings;
    this.env.mkdir(s.stateDir, 0o700);
    const route = this.netlinkClient(NETLINK_ROUTE);
    this.rtnl = new Rtnl(route, (n) => this.env.errnoName(n));
    try {
      ({ wg: this.wg, link: this.link } = await this.openWireGuard());
    } catch (e) {
      this.problem((e as Error).message);
      return;
    }
    this.tunnel = new Tunnel({
      wg: this.wg,
      name: this.opts.interfaceName,
      rtnl: this.rtnl,
      index: this.link.index,
      wanted: {
        acceptRoutes: s.acceptRoutes,
        endpointFor: (n) => {
          const k = keyFromText("nodekey", n.Key);
          return this.direct?.endpointFor(k) ?? this.bridge?.endpointFor(k);
        },
        log: (m) => this.env.log("warn", m),
      },
      note: (subject, msg) => this.once(subject, msg),
    });
    this.watchNetwork();
    this.env.log("info", `wireguard: ${this.wg.kind}, interface ${this.opts.interfaceName} (#${this.link.index})`);
    this.gateway = new Gateway(
      {
        run: (argv, input) => this.env.run(argv, input),
        writeFile: (path, data) => this.env.writeFileAtomic(path, data, 0o644),
        removeFile: (path) => this.env.unlink(path),
        exists: (path) => this.env.exists(path),
        log: (l, m) => this.env.log(l, m),
      },
      { iface: this.opts.interfaceName, ...(s.acceptDns ? { hostsFile: s.dnsHostsFile } : {}) },
    );
    // A table deleted by someone else (fw4 flush) is loaded again; refused then, the peers go (fail closed).
    this.gateway.watch((protocol, groups) => this.env.netlink(protocol, groups));
    this.gateway.onUnloaded = () => this.onNetmap(this.netmap, new Set());
    await this.findSharedRoutes();
    if (s.advertiseExitNode) {
      this.peerApi = new PeerApi(
        {
          listenTcp: (ip, port) => this.env.listenTcp(ip, port),
          bindUdp: (ip, port) => this.env.bindUdp(ip, port),
          setTimer: (ms, fn) => this.env.setTimer(ms, fn),
          log: (l, m) => this.env.log(l, m),
          access: (ip) => dnsAccess(this.netmap, this.settings.advertiseExitNode, ip),
        },
        { resolver: { ip: "127.0.0.1", port: 53 } },
      );
    }
    // Rules before the first peer: until the ACL arrives, nothing from the tailnet gets in.
    await this.applyGateway();

    await this.followAddresses();
    const controller = new Controller(
      {
        dial: (srv) => this.env.dialTcp(srv.host, srv.port, srv.tls ? { serverName: srv.host, ...(this.opts.caFile ? { caFile: this.opts.caFile } : {}) } : undefined),
        random: (n) => this.env.random(n),
        now: () => this.env.now(),
        setTimer: (ms, fn) => this.env.setTimer(ms, fn),
        log: (l, m) => this.env.log(l, m),
        loadKeys: () => {
          const b = this.env.readFile(`${s.stateDir}/keys.json`);
          return b ? utf8Decode(b) : null;
        },
        saveKeys: (text) => this.env.writeFileAtomic(`${s.stateDir}/keys.json`, utf8Encode(text), 0o600),
        discoPing: (id) => this.direct?.ping(id) ?? Promise.reject(new Error("disco is not running (no direct paths)")),
      },
      { loginServer: s.loginServer, ...(s.authKey ? { authKey: s.authKey } : {}), hostinfo: this.hostinfo() },
    );
    this.controller = controller;
    await this.wg.set({ name: this.opts.interfaceName, privateKey: controller.nodePrivateKey, listenPort: s.listenPort });
    await this.rtnl.setLink(this.link.index, true);

    this.bridge = new RelayBridge(
      {
        openLoopback: () => {
          const u = this.env.bindUdp("127.0.0.1", 0, BRIDGE_RECEIVE_BUFFER);
          const port = { port: u.port, send: (d: Uint8Array, p: number) => u.send(d, "127.0.0.1", p), close: () => u.close(), onMessage: (_d: Uint8Array, _p: number) => {} };
          u.onMessage = (d, _ip, p) => port.onMessage(d, p);
          return port;
        },
        sendRelayed: (peer, data) => this.derp?.send(this.tunnel?.netmapPeers.region(latin1(peer)) ?? 0, peer, data),
        log: (l, m) => this.env.log(l, m),
      },
      s.listenPort,
    );
    this.derp = new DerpManager(
      {
        dial: (node) => this.dialDerp(node),
        random: (n) => this.env.random(n),
        setTimer: (ms, fn) => this.env.setTimer(ms, fn),
        monotonic: () => this.env.monotonic(),
        log: (l, m) => this.env.log(l, m),
      },
      controller.nodePrivateKey,
    );
    this.derp.onPacket = (src, data, region) => {
      if (isDisco(data)) return this.direct?.receiveDerp(src, region, data);
      this.bridge?.deliver(src, data);
    };
    await this.startDirect(controller);
    // Peers find us through our home relay: tell the control server which it is.
    this.derp.onHomeChange = (region) => {
      this.homeRegion = region;
      controller.update(this.endpoints, this.hostinfo());
    };
    controller.onState = (st) => {
      this.control = st;
      this.env.log("info", `control: ${st.kind}${st.kind === "needs-login" ? ` ${st.authUrl}` : ""}`);
      this.onChange();
    };
    controller.onNetmap = (nm, changes) => this.onNetmap(nm, changes);
    controller.start();
    const slow = () => {
      this.stopReconcile = this.env.setTimer(RECONCILE_MS, () => {
        this.reconcileSoon("the periodic check");
        slow();
      });
    };
    slow();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.controller?.stop();
    this.stopActivity?.();
    this.stopReconcile?.();
    await this.direct?.stop();
    this.derp?.stop();
    this.bridge?.close();
    await this.applying.catch(() => {});
    this.peerApi?.stop();
    // The interface goes first (issue 16): without it nothing comes from the tailnet, so the ACL's table can go after.
    if (this.rtnl && this.link) {
      try {
        for (const r of await this.rtnl.ownRoutes()) if (r.oif === this.link.index) await this.rtnl.removeRoute({ dst: r.dst, oif: r.oif, table: r.table });
        await this.rtnl.deleteLink(this.link.index);
      } catch (e) {
        this.env.log("warn", `stop: ${(e as Error).message}`);
      }
    }
    await this.gateway?.stop();
    for (const s of this.sockets) s.close();
  }

  view(): AgentView {
    return {
      version: this.opts.version,
      control: this.control,
      configured: this.configured,
      problems: this.gateway?.failure ? [...this.problems, this.gateway.failure] : this.problems,
      netmap: this.netmap,
      homeRelay: this.derp?.homeRegion ?? 0,
      ...(this.derp ? { relayDrops: this.derp.dropped } : {}),
      ...(this.bridge ? { relayBridge: this.bridge.counters } : {}),
      ...(this.wg ? { wireguard: this.wg.kind } : {}),
      interfaceName: this.opts.interfaceName,
      pathOf: (id) => this.direct?.status(id),
      ...(this.direct ? { netcheck: this.direct.netcheck, ping: (id: string) => this.direct!.ping(id) } : {}),
      wgPeerOf: (id) => this.wgPeers.get(id),
      advertisedRoutes: this.sharedRoutes.map(formatPrefix),
      exitNode: this.settings.advertiseExitNode,
      endpoints: this.endpoints.addrs,
      ...(this.controller?.keyExpiry() ? { keyExpiry: this.controller.keyExpiry()! } : {}),
      ...(this.controller ? { tailnetLock: this.controller.tailnetLock() } : {}),
    };
  }

  /** Tells the control server to expire this node (tailscale's logout); the supervisor then deletes the keys. */
  logout(): Promise<void> {
    return this.controller?.logout() ?? Promise.resolve();
  }

  /** `meshwrt login` on a running router: a new node key, registered afresh when the supervisor restarts the agent. */
  prepareReauth(): void {
    this.controller?.prepareReauth();
  }

  /** The router's addresses peers could reach: every one but the tunnel's, loopback and link-local. */
  private async ownAddresses(): Promise<IpBytes[]> {
    const own = (await this.rtnl!.addresses()).filter((a) => a.index !== this.link?.index);
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
    const gone = before?.filter((a) => !now.includes(a)) ?? [];
    if (!gone.length) return;
    const why = `address ${gone.join(", ")} gone`;
    this.controller?.reconnect(why);
    this.derp?.reconnect(why);
  }

  /** Disco and STUN on the WireGuard port, when nftables lets the agent share it; else relay only. */
  private async startDirect(controller: Controller): Promise<void> {
    const name = this.opts.interfaceName;
    const direct = new DirectPaths({
      host: this.env,
      wgPort: (await this.wg!.get(name)).listenPort,
      nodeKey: controller.publicKeys.node,
      discoPrivate: controller.discoPrivateKey,
      discoPublic: controller.publicKeys.disco,
      keepTable: (table, script) => this.gateway?.keep(table, script),
      sendDerp: (region, peer, packet) => this.derp?.send(region || (this.tunnel?.netmapPeers.region(latin1(peer)) ?? 0), peer, packet),
      setKernelEndpoint: async (peer, ep) => {
        await this.tunnel!.peers.setEndpoint(peer, ep ?? this.bridge!.endpointFor(peer));
      },
      ...(this.bridge ? { bridge: this.bridge } : {}),
      localAddresses: () => this.ownAddresses(),
      peerActivity: (id) => this.activity.of(id, this.env.monotonic()),
      onNetcheck: (report) => this.derp?.netcheck(report),
      onEndpoints: (eps) => {
        this.endpoints = eps;
        this.controller?.update(this.endpoints, this.hostinfo());
      },
    });
    if (!(await direct.start())) return;
    this.direct = direct;
    // Read every second while a peer is active (a dead direct path shows in its received
    // bytes), every two when all are idle.
    const watch = () => {
      const busy = this.activity.anyActive(this.env.monotonic());
      this.stopActivity = this.env.setTimer(busy ? ACTIVITY_READ_MS / 2 : ACTIVITY_READ_MS, () => void this.readActivity().finally(watch));
    };
    watch();
  }

  /** Which peers carry traffic: an idle peer gets no disco heartbeats, so an idle router sleeps. */
  private async readActivity(): Promise<void> {
    if (!this.netmap.peers.size) return;
    const generation = this.tunnel?.peers.generation;
    await this.refreshPeers();
    // The dump is read for the counters anyway: it also shows a peer someone else changed
    // (unless meshwrt changed peers itself while it was read).
    if (generation === this.tunnel?.peers.generation && this.tunnel?.peers.changedOutside(this.wgPeers)) this.reconcileSoon("WireGuard peers changed outside meshwrt");
    this.activity.update(this.wgPeers, this.env.monotonic());
  }

  /** Reads the kernel's peers again, for answers with current traffic counters and handshakes. */
  async refreshPeers(): Promise<void> {
    if (!this.wg || !this.link) return;
    try {
      this.wgPeers = new Map((await this.wg.get(this.opts.interfaceName)).peers.map((p) => [toHex(p.publicKey), p]));
    } catch (e) {
      this.env.log("warn", `read ${this.opts.interfaceName}'s peers: ${(e as Error).message}`);
    }
  }

  /** A warning said once per subject: a netmap re-applied every minute must not flood the log. */
  private once(subject: string, msg: string): void {
    const level = this.warned.has(subject) ? "debug" : "warn";
    this.warned.add(subject);
    this.env.log(level, msg);
  }

  private problem(msg: string): void {
    this.problems.push(msg);
    this.env.log("error", msg);
    this.onChange();
  }

  private netlinkClient(protocol: number): NetlinkClient {
    const sock = this.env.netlink(protocol, 0);
    this.sockets.push(sock);
    const c = new NetlinkClient((d) => sock.send(d), (n) => this.env.describeErrno(n), (this.env.random(2)[0]! << 8) | 1);
    sock.onMessage = (d) => c.receive(d);
    sock.onError = (e) => c.failAll(e);
    return c;
  }

  private openWireGuard(): Promise<{ wg: WireGuardApi; link: Link }> {
    return openWireGuard(this.opts.interfaceName, {
      rtnl: this.rtnl!,
      genericNetlink: () => this.netlinkClient(NETLINK_GENERIC),
      exists: (p) => this.env.exists(p),
      run: (argv) => this.env.run(argv),
      connectUnix: (p) => this.env.connectUnix(p),
      sleep: (ms) => new Promise<void>((res) => this.env.setTimer(ms, res)),
      log: (l, m) => this.env.log(l, m),
    });
  }

  /** Address and route changes elsewhere (a new WAN address) make the agent tell control its news again. */
  private watchNetwork(): void {
    const sock = this.env.netlink(NETLINK_ROUTE, NETWORK_GROUPS);
    this.sockets.push(sock);
    let pending: (() => void) | undefined;
    const changed = (why: string) => {
      if (pending) return;
      // Changes come in bursts (an address, then its routes): act once, a moment later.
      pending = this.env.setTimer(1000, () => {
        pending = undefined;
        this.env.log("info", `network changed (${why}): re-announcing endpoints`);
        this.direct?.rediscover("network changed");
        void this.followAddresses();
        this.findSharedRoutes()
          .then(() => this.applyGateway())
          .catch((e: Error) => this.env.log("warn", `network changed: ${e.message}`))
          .finally(() => this.controller?.update(this.endpoints, this.hostinfo()));
      });
    };
    sock.onError = (e) => changed(e.message);
    sock.onMessage = (d) => {
      try {
        for (const m of parseMessages(d)) {
          const ev = parseNetworkEvent(m);
          if (!ev) continue;
          const onOurs = ev.kind === "link" ? ev.link.index === this.link?.index : ev.kind === "address" ? ev.address.index === this.link?.index : ev.route.oif === this.link?.index;
          if (!onOurs && ev.kind !== "link") changed(`${ev.kind} ${ev.added ? "added" : "removed"}`);
          if (onOurs && ev.kind !== "link" && !ev.added && this.tunnel?.router.lostOurs(ev)) this.reconcileSoon(`${ev.kind} ${formatPrefix(ev.kind === "route" ? ev.route.dst : ev.address.prefix)} removed outside meshwrt`);
        }
      } catch (e) {
        this.env.log("warn", `network event: ${(e as Error).message}`);
      }
    };
  }

  private dialDerp(node: DERPNode) {
    const host = node.IPv4 || node.HostName;
    if (this.opts.derpPlainHttp) return this.env.dialTcp(host, node.DERPPort || 80);
    return this.env.dialTcp(host, node.DERPPort || 443, { serverName: node.HostName, ...(this.opts.caFile ? { caFile: this.opts.caFile } : {}) });
  }

  private hostinfo(): Hostinfo {
    const release = this.env.readFile("/etc/openwrt_release");
    const version = release ? /DISTRIB_RELEASE='([^']*)'/.exec(utf8Decode(release))?.[1] : undefined;
    const sysname = this.env.readFile("/proc/sys/kernel/hostname");
    const routes = this.sharedRoutes.map(formatPrefix);
    if (this.settings.advertiseExitNode) routes.push("0.0.0.0/0", "::/0");
    return {
      OS: "linux",
      ...(version ? { OSVersion: version, Distro: "openwrt", DistroVersion: version } : {}),
      Hostname: this.settings.hostname || (sysname ? utf8Decode(sysname).trim() : "openwrt"),
      ...(routes.length ? { RoutableIPs: routes } : {}),
      ...(this.homeRegion ? { NetInfo: { PreferredDERP: this.homeRegion, DERPLatency: this.derp?.derpLatency() ?? {} } } : {}),
      ...(this.peerApi?.services.length ? { Services: this.peerApi.services } : {}),
    };
  }

  private onNetmap(nm: NetMap, changes: ReadonlySet<Change>): void {
    this.netmap = nm;
    if (changes.has("derp") && nm.derpMap) this.derp?.setMap(nm.derpMap);
    for (const c of changes) this.pendingChanges.add(c);
    this.scheduleApply();
  }

  /** The next apply reads the kernel back first. */
  private reconcileSoon(why: string): void {
    this.reconcileWhy ??= why;
    this.scheduleApply();
  }

  private scheduleApply(): void {
    if (this.pendingApply || this.stopping) return;
    this.pendingApply = true;
    // One apply at a time; deltas that arrive meanwhile are folded into the next.
    this.applying = this.applying.then(async () => {
      this.pendingApply = false;
      const changes = this.pendingChanges;
      this.pendingChanges = new Set();
      const why = this.reconcileWhy;
      this.reconcileWhy = undefined;
      try {
        await this.apply(this.netmap, changes, why);
      } catch (e) {
        this.env.log("error", `apply netmap: ${(e as Error).message}`);
        this.reconcileSoon("a failed change");
      }
    });
  }

  /**
   * The kernel brought to the netmap by difference: only the peers, addresses and routes the
   * changes touch, and the firewall and names only when their inputs changed. With `reconcile`
   * (why) the device, addresses and routes are read back first and repaired.
   */
  private async apply(nm: NetMap, changes: ReadonlySet<Change>, reconcile: string | undefined): Promise<void> {
    const started = this.env.monotonic();
    const tunnel = this.tunnel!;
    const delta = tunnel.follow(nm.peers);
    if (delta.paths || changes.has("derp")) this.direct?.setPeers(nm.peers.values(), nm.derpMap, homeRegion);
    // The firewall before the peers, and no peer while meshwrt's table is not loaded: the ACL is
    // enforced there, and fw4's zone for the tunnel accepts what reaches it (fail closed).
    if (changes.has("filter") || !this.gateway!.loaded || reconcile) await this.applyRules();
    if (delta.names || changes.has("self") || changes.has("dns") || reconcile) await this.applyNames();
    const { sent, routed } = await tunnel.apply(delta, nm.self?.Addresses ?? [], this.gateway!.loaded, reconcile !== undefined);
    // The peer API on the tailnet addresses once they are ours: the firewall opens its port, peers learn it from Hostinfo.
    if (this.peerApi?.listen((nm.self?.Addresses ?? []).map((a) => a.split("/")[0]!))) {
      await this.applyRules();
      this.controller?.update(this.endpoints, this.hostinfo());
    }
    for (const w of delta.peers.values()) {
      if (w) continue;
      // A peer left: its relay bridge socket goes with it.
      this.bridge!.retain([...tunnel.netmapPeers.all()].map((p) => p.publicKey));
      break;
    }
    const ms = Math.round(this.env.monotonic() - started);
    this.env.log("debug", `netmap applied${reconcile ? ` (kernel read back: ${reconcile})` : ""}: ${nm.peers.size} peers, ${sent} peer changes, ${routed} address and route changes, in ${ms} ms`);
  }

  /** The configured routes, or the subnets on the LAN devices; said in the log when they change. */
  private async findSharedRoutes(): Promise<void> {
    const s = this.settings;
    let routes = [...s.advertiseRoutes];
    if (!routes.length) {
      const names = new Map((await this.rtnl!.links()).map((l) => [l.index, l.name]));
      const addrs = (await this.rtnl!.addresses()).map((a) => ({ device: names.get(a.index) ?? "", prefix: a.prefix }));
      routes = lanSubnets(addrs, s.lanDevices);
    }
    const text = routes.map(formatPrefix).join(", ");
    if (text !== this.sharedRoutes.map(formatPrefix).join(", ")) this.env.log("info", `sharing ${text || "no subnets"}${s.advertiseRoutes.length ? "" : ` (the subnets of ${s.lanDevices.join(", ")})`}${s.advertiseExitNode ? ", and the internet as an exit node" : ""}`);
    this.sharedRoutes = routes;
  }

  /** The firewall table and the MagicDNS names for the current netmap and shared routes. */
  private async applyGateway(): Promise<void> {
    await this.applyRules();
    await this.applyNames();
  }

  private async applyRules(): Promise<void> {
    const nm = this.netmap;
    const rules = [...nm.filters.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).flatMap(([, r]) => r);
    // A flowtable may name only devices that exist now.
    const links = this.settings.flowOffloading ? new Set((await this.rtnl!.links()).map((l) => l.name)) : undefined;
    await this.gateway!.setRules({
      ...(links ? { offload: this.settings.lanDevices.filter((d) => links.has(d)) } : {}),
      routes: this.sharedRoutes,
      exitNode: this.settings.advertiseExitNode,
      snat: this.settings.snatSubnetRoutes,
      filter: filterStatements(rules, (m) => this.once(m, m)),
      ...(this.peerApi?.ports.length ? { peerApiPorts: this.peerApi.ports } : {}),
    });
  }

  private async applyNames(): Promise<void> {
    const nm = this.netmap;
    if (nm.self) await this.gateway!.setNames(hostsFile(nm, (m) => this.once(m, m)));
  }
}
