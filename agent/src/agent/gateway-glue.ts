// The gateway as the running agent keeps it: the Running says what it wants
// (the netmap, the peer API's ports), this makes of it and the settings
// meshwrt's firewall table (the ACL, the shared subnets or the exit node,
// source NAT, flow offloading to the LAN devices there are) and the MagicDNS
// names, and keeps the subnets it shares, which the control server is told
// of; the direct paths' share of the WireGuard port goes in the same table.
// gateway/gateway.ts loads them, keeps them loaded and removes them.
import { type NetMap, packetFilter } from "../control/netmap.js";
import { hostsFile } from "../dns/hosts.js";
import type { FilterRule } from "../control/tailcfg.js";
import { filterStatements } from "../gateway/filter.js";
import { Gateway, type GatewayDeps } from "../gateway/gateway.js";
import { lanSubnets } from "../gateway/lan.js";
import { type PortShare, TPROXY_PROBE } from "../gateway/portshare.js";
import { untrackedVerdict, type UntrackedVerdict, wireGuardUntrackedVerdict } from "../gateway/untracked.js";
import type { NetlinkSocket } from "../host/host.js";
import { formatPrefix, parsePrefix, type Prefix } from "../netaddr/ip.js";
import { type Address, ARPHRD_NONE, type Link } from "../netlink/route.js";
import type { Settings } from "../openwrt/config.js";
import { parseUci } from "../openwrt/uci.js";

export interface GatewayGlueDeps extends GatewayDeps {
  /** The router's devices and addresses (Rtnl has them). */
  links(): Promise<readonly Link[]>;
  addresses(): Promise<readonly Address[]>;
  /** A filter rule or name from the server that was left out: said once. */
  noteOnce(msg: string): void;
  /** meshwrt's table was lost and nft refused it again: the peers must go (fail closed). */
  unloaded(): void;
  /** A file's bytes, null when there is none: fw4's configuration. */
  readFile(path: string): Uint8Array | null;
}

/** fw4's configuration on OpenWrt. */
export const FIREWALL_CONFIG = "/etc/config/firewall";

export type GatewaySettings = Pick<Settings, "advertiseRoutes" | "lanDevices" | "advertiseExitNode" | "snatSubnetRoutes" | "flowOffloading" | "acceptDns" | "dnsHostsFile" | "listenPort">;

/** What the Running wants the gateway to carry. */
export interface GatewayWanted {
  /** Its packet filter is the ACL; its self and peers are the names. */
  readonly netmap: NetMap;
  /** The peer API's TCP ports, open to the tailnet. */
  readonly peerApiPorts: readonly number[];
}

export class GatewayGlue {
  private readonly gateway: Gateway;
  private shared: Prefix[] = [];
  /** Why the router's own flows, and the WireGuard data it receives, are (or are not) left untracked, as last said. */
  private untrackedWhy = "";
  private wireGuardWhy = "";
  /** What the rules in force were made for: fw4's zone may change under them. */
  private last: GatewayWanted | undefined;
  /** The direct paths' share of the WireGuard port (sharePort). */
  private portShare: PortShare | undefined;
  /** Whether nft takes a tproxy rule: asked once (tproxyWorks). */
  private tproxy: boolean | undefined;

  constructor(
    private readonly deps: GatewayGlueDeps,
    private readonly settings: GatewaySettings,
    private readonly tunnel: Pick<Link, "name" | "type">,
  ) {
    this.gateway = new Gateway(deps, {
      iface: tunnel.name,
      ...(tunnel.type === ARPHRD_NONE ? { noLinkLayer: true } : {}),
      ...(settings.acceptDns ? { hostsFile: settings.dnsHostsFile } : {}),
    });
    this.gateway.onUnloaded = () => deps.unloaded();
    // fw4 reloaded (a zone changed in LuCI, say): untracked flows must stop where its zone no longer takes them.
    this.gateway.onCommitted = () => {
      if (!this.last) return;
      const was = [this.untrackedWhy, this.wireGuardWhy];
      this.fw4Verdicts();
      if (this.untrackedWhy !== was[0] || this.wireGuardWhy !== was[1]) void this.setRules(this.last);
    };
  }

  /** Whether meshwrt's table is in force: until it is, no peer may be in the kernel. */
  get loaded(): boolean {
    return this.gateway.loaded;
  }

  /** Why the table is not in force (or not the latest), for status; undefined when it is. */
  get failure(): string | undefined {
    return this.gateway.failure;
  }

  /** The subnets this router shares: the configured ones, else the LAN devices'. */
  get sharedRoutes(): readonly Prefix[] {
    return this.shared;
  }

  /** Follows nftables' events, to load a table someone deleted again (gateway.ts). */
  watch(open: (protocol: number, groups: number) => NetlinkSocket): void {
    this.gateway.watch(open);
  }

  /**
   * Shares the WireGuard port with the direct paths' disco socket (gateway/portshare.ts), in
   * meshwrt's table; why not, when nft refuses it (the table stays as it was). Undefined: the
   * share is left out of the next rules, and the Running's stop removes the table whole.
   */
  async sharePort(p: PortShare | undefined): Promise<string | undefined> {
    const w = this.last;
    if (p && !w) return "meshwrt's table is not loaded yet";
    if (p?.tproxy) p = { ...p, tproxy: await this.tproxyWorks() };
    const before = this.portShare;
    this.portShare = p;
    if (!p || !w) return undefined;
    if (await this.setRules(w)) return undefined;
    const why = this.gateway.failure ?? "nftables refused the rules";
    // The rules in force again: nft has them already, so this clears the failure without a run.
    this.portShare = before;
    await this.setRules(w);
    return why;
  }

  /** Whether the kernel has nftables' tproxy, asked once and said in the log. */
  private async tproxyWorks(): Promise<boolean> {
    if (this.tproxy === undefined) {
      const why = await this.gateway.check(TPROXY_PROBE);
      this.tproxy = why === undefined;
      this.deps.log("info", `firewall: disco and STUN reach the agent ${this.tproxy ? "by tproxy, before conntrack" : `with their port rewritten after conntrack (no tproxy: ${why})`}`);
    }
    return this.tproxy;
  }

  /** Looks for the shared subnets again (the LAN's may have changed); said in the log when they change. */
  async findSharedRoutes(): Promise<void> {
    const s = this.settings;
    let routes = [...s.advertiseRoutes];
    if (!routes.length) {
      const names = new Map((await this.deps.links()).map((l) => [l.index, l.name]));
      const addrs = (await this.deps.addresses()).map((a) => ({ device: names.get(a.index) ?? "", prefix: a.prefix }));
      routes = lanSubnets(addrs, s.lanDevices);
    }
    const text = routes.map(formatPrefix).join(", ");
    if (text !== this.shared.map(formatPrefix).join(", ")) this.deps.log("info", `sharing ${text || "no subnets"}${s.advertiseRoutes.length ? "" : ` (the subnets of ${s.lanDevices.join(", ")})`}${s.advertiseExitNode ? ", and the internet as an exit node" : ""}`);
    this.shared = routes;
  }

  /** The table and the names, for `w` and the shared subnets. */
  async set(w: GatewayWanted): Promise<void> {
    await this.setRules(w);
    await this.setNames(w.netmap);
  }

  /** meshwrt's table for `w`; false when nft refuses it, and `failure` says why (and `loaded` whether an older one stays). */
  async setRules(w: GatewayWanted): Promise<boolean> {
    const s = this.settings;
    // A flowtable may name only devices that exist now.
    const links = s.flowOffloading ? new Set((await this.deps.links()).map((l) => l.name)) : undefined;
    const rules = packetFilter(w.netmap);
    const filter = filterStatements(rules, (m) => this.deps.noteOnce(m));
    const fw4 = this.fw4Verdicts();
    const stateless = fw4.ownFlows ? this.stateless(w.netmap, rules, filter) : undefined;
    this.last = w;
    return this.gateway.setRules({
      ...(links ? { offload: s.lanDevices.filter((d) => links.has(d)) } : {}),
      routes: this.shared,
      exitNode: s.advertiseExitNode,
      snat: s.snatSubnetRoutes,
      filter,
      ...(w.peerApiPorts.length ? { peerApiPorts: w.peerApiPorts } : {}),
      ...(stateless ? { stateless } : {}),
      ...(fw4.wireGuard ? { untrackedWireGuardPort: s.listenPort } : {}),
      ...(this.portShare ? { portShare: this.portShare } : {}),
    });
  }

  /**
   * The router's own tailnet addresses and the ACL's answer side, for flows fw4 takes untracked
   * from and to the tunnel (gateway/untracked.ts).
   */
  private stateless(nm: NetMap, rules: readonly FilterRule[], filter: readonly string[]): { self: Prefix[]; answers: string[] } | undefined {
    const self = (nm.self?.Addresses ?? []).flatMap((a) => {
      try {
        return [parsePrefix(a)];
      } catch {
        return []; // said where the addresses are applied
      }
    });
    if (!self.length || !filter.length) return undefined;
    // What the rules left out was said once already, for the request side.
    return { self, answers: filterStatements(rules, () => {}, "answer") };
  }

  /**
   * fw4's configuration read afresh (a user may have changed a zone or a rule): whether it takes
   * the router's own flows with peers untracked, and the WireGuard data the router receives; each
   * said when its reason changes.
   */
  private fw4Verdicts(): { ownFlows: boolean; wireGuard: boolean } {
    const bytes = this.deps.readFile(FIREWALL_CONFIG);
    let config: Parameters<typeof untrackedVerdict>[0] = "absent";
    if (bytes) {
      try {
        config = parseUci(bytes, FIREWALL_CONFIG, "firewall");
      } catch (e) {
        config = { unreadable: (e as Error).message };
      }
    }
    const say = (v: UntrackedVerdict, was: string, what: string) => {
      if (v.why !== was) this.deps.log("info", `firewall: ${what} ${v.ok ? "skip conntrack" : "stay tracked"}: ${v.why}`);
      return v.why;
    };
    const own = untrackedVerdict(config, this.tunnel.name);
    this.untrackedWhy = say(own, this.untrackedWhy, "the router's own ACL-allowed flows");
    const wg = wireGuardUntrackedVerdict(config, this.settings.listenPort);
    this.wireGuardWhy = say(wg, this.wireGuardWhy, "WireGuard data messages to the router");
    return { ownFlows: own.ok, wireGuard: wg.ok };
  }

  /** The MagicDNS names, once the netmap has our own node. */
  async setNames(nm: NetMap): Promise<void> {
    if (nm.self) await this.gateway.setNames(hostsFile(nm, (m) => this.deps.noteOnce(m)));
  }

  /** Removes the table and the names; the Running removes the interface first, so nothing is let in meanwhile. */
  stop(): Promise<void> {
    return this.gateway.stop();
  }
}
