// meshwrt's own nftables table, written whole each time: one `nft -f`
// transaction deletes the old table and adds the new one, so there is never
// a moment without rules, and the user's (and fw4's) tables are never
// touched. Traffic from the tailnet, to the router or through it, is allowed
// only as the control server's packet filter says; forwarded traffic only to
// the advertised routes (anywhere, when the router is an exit node). The
// direct paths' port sharing (portshare.ts) has its rules here too.
import { formatPrefix, type Prefix } from "../netaddr/ip.js";
import { ARPHRD_NONE } from "../netlink/route.js";
import { allowAllPorted } from "./filter.js";
import { type PortShare, portShareRules, WG_DATA } from "./portshare.js";

export const TABLE = "meshwrt";

export interface GatewayRules {
  /** The WireGuard interface. */
  readonly iface: string;
  /**
   * The interface has no link layer (ARPHRD_NONE: kernel WireGuard and a TUN device always do).
   * The rules that pick out the tunnel's packets on hooks every packet passes then test the
   * interface's type first: one compare tells the Ethernet and PPP devices' packets (the LAN's
   * and WAN's, the router's own traffic too) from the tunnel's, where the name costs a copy of
   * 16 bytes and their compare. Absent: the name alone (the type test would let the packets of
   * a tunnel of another type past the ACL).
   */
  readonly noLinkLayer?: boolean;
  /** The subnets the router shares (never /0: that is exitNode). */
  readonly routes: readonly Prefix[];
  readonly exitNode: boolean;
  /** Source NAT to the router's own address for traffic between the tailnet and the LAN. */
  readonly snat: boolean;
  /** From filterStatements(): each ends in accept. */
  readonly filter: readonly string[];
  /**
   * LAN devices (that exist now: nft refuses a flowtable naming a missing one) whose
   * established TCP and UDP flows with the tunnel skip the firewall after their first
   * packets, as fw4's flow_offloading does; absent or empty: no flowtable.
   */
  readonly offload?: readonly string[];
  /** The peer API's TCP ports on the router: open to the tailnet ahead of the ACL, which the peer API applies itself (peerapi/access.ts), as tailscale does. */
  readonly peerApiPorts?: readonly number[];
  /**
   * Flows between the router's own tailnet addresses (`self`) and peers that the ACL allows skip
   * conntrack both ways: the requests `filter` allows and their answers (`answers`, filterStatements'
   * "answer" side), whoever opened the flow. The ACL needs no state for them, and no NAT touches
   * them. Only where the tunnel's firewall zone accepts what is untracked (fw4 lets in only what
   * conntrack calls established, else the zone's policy decides); absent: every flow is tracked.
   */
  readonly stateless?: { readonly self: readonly Prefix[]; readonly answers: readonly string[] };
  /**
   * The router's WireGuard port: the data messages it receives there skip conntrack. Only where
   * fw4 accepts the port untracked (gateway/untracked.ts); absent: tracked, and fw4 lets the
   * peer's data in as established.
   */
  readonly untrackedWireGuardPort?: number;
  /** The WireGuard port shared with the agent's disco socket; absent: no direct paths. */
  readonly portShare?: PortShare;
}

const quote = (name: string) => {
  if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(name)) throw new Error(`interface name ${JSON.stringify(name)} is not one nft can take`);
  return `"${name}"`;
};

const port = (p: number, what = "peer API") => {
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Error(`${what} port ${p} is not a port`);
  return p;
};

function set(family: 4 | 16, routes: readonly Prefix[]): string | undefined {
  const list = routes.filter((p) => p.ip.length === family).map(formatPrefix);
  return list.length ? `{ ${list.join(", ")} }` : undefined;
}

const peerApiSet = (ports: readonly number[]) => `{ ${[...new Set(ports)].map((p) => port(p)).join(", ")} }`;

/** The script for `nft -f -`: replaces the table atomically (creating it first makes the delete safe). */
export function rulesetScript(r: GatewayRules): string {
  const wg = quote(r.iface);
  const inTunnel = `${r.noLinkLayer ? `meta iiftype ${ARPHRD_NONE} ` : ""}iifname ${wg}`;
  const outTunnel = `${r.noLinkLayer ? `meta oiftype ${ARPHRD_NONE} ` : ""}oifname ${wg}`;
  const v4 = set(4, r.routes);
  const v6 = set(16, r.routes);
  // Each packet of a transfer passes these base chains, and a name compare costs a copy of the
  // name: the tunnel's packets are told apart once, with goto, and go on in chains of their own.
  // The tunnel's MTU is smaller than the LAN's: clamp TCP's MSS both ways, before the verdicts
  // below end the chain.
  const clamp = `tcp flags syn / syn,rst tcp option maxseg size set rt mtu`;
  const fromTailnet = [clamp];
  if (!r.exitNode) {
    // Not an exit node: forward to the shared subnets and nowhere else.
    fromTailnet.push(v4 ? `ip daddr != ${v4} drop` : `meta nfproto ipv4 drop`);
    fromTailnet.push(v6 ? `ip6 daddr != ${v6} drop` : `meta nfproto ipv6 drop`);
  }
  const toTailnet = [`${outTunnel} ${clamp}`];
  const lan = r.offload?.length ? `{ ${r.offload.map(quote).join(", ")} }` : undefined;
  if (lan) {
    // Only flows the rules above and the ACL let through reach "established"; a reload of the
    // table (a change of routes or ACL) empties the flowtable, so open flows meet the rules
    // again, as they would without it.
    fromTailnet.push(`meta l4proto { tcp, udp } oifname ${lan} ct state established flow add @ft`);
    toTailnet.push(`meta l4proto { tcp, udp } iifname ${lan} oifname ${wg} ct state established flow add @ft`);
  }
  fromTailnet.push(`goto from_tailnet`);
  const forward = [`${inTunnel} goto forward_from_tailnet`, ...toTailnet];
  // The peer API is the tailnet's alone: from anywhere else (a WAN zone left open, a neighbour
  // routing to our tailnet address) its ports answer nothing.
  const peerApi = r.peerApiPorts?.length ? peerApiSet(r.peerApiPorts) : undefined;
  const shared = r.portShare ? portShareRules(r.portShare, r.untrackedWireGuardPort === r.portShare.wgPort) : undefined;
  // Flows to the router are judged at their first packet, in a NAT chain, which the kernel calls
  // for nothing else: a filter chain at input would be crossed by every packet the router
  // receives, the tunnel's and the WireGuard data that carries them (make bench's b/a). What
  // follows is established (or related) and accepted as from_tailnet would; what the raw chains
  // left untracked has met the ACL there.
  const inputFlows = [`${inTunnel} goto ${peerApi ? "input_from_tailnet" : "from_tailnet"}`, ...(peerApi ? [`tcp dport ${peerApi} iifname != "lo" drop`] : [])];
  // Port sharing without tproxy: its rewrite must follow conntrack (portshare.ts). The tunnel's
  // packets first: a peer's disco inside the tunnel is not the agent's.
  const toAgent = shared?.toAgent;
  const inputSharedPort = toAgent?.hook === "input" ? [`${inTunnel} accept`, toAgent.dataIn, toAgent.rule] : [];
  const nat: string[] = [];
  if (r.snat) {
    // LAN devices answer the router, and tailnet peers need no route to the LAN.
    if (v4) nat.push(`iifname ${wg} oifname != ${wg} ip daddr ${v4} masquerade`);
    if (v6) nat.push(`iifname ${wg} oifname != ${wg} ip6 daddr ${v6} masquerade`);
    // Forwarded only: a packet the router sends itself has no input interface, so this does not match it.
    // TCP and UDP to source ports of their own, which the router's own untracked flows never use.
    nat.push(`oifname ${wg} iifname != ${wg} meta l4proto { 6, 17 } masquerade to :${NAT_PORTS}`);
    nat.push(`oifname ${wg} iifname != ${wg} masquerade`);
  }
  if (r.exitNode) nat.push(`iifname ${wg} oifname != ${wg} masquerade`);
  const untracked = r.stateless ? statelessChains(r.stateless.self, r.filter, r.stateless.answers) : [];
  const rawPrerouting: string[] = [];
  // First: nearly every packet the router receives in a transfer is one of these. `th`, not `udp`
  // (see WG_DATA).
  if (r.untrackedWireGuardPort !== undefined) rawPrerouting.push(`th dport ${port(r.untrackedWireGuardPort, "WireGuard")} @th,64,32 ${WG_DATA} notrack accept`);
  // The tunnel's packets leave the chain before disco and STUN are handed to the agent.
  if (untracked.length) rawPrerouting.push(`${inTunnel} goto from_tailnet_raw`);
  else if (toAgent?.hook === "prerouting") rawPrerouting.push(`${inTunnel} accept`);
  if (toAgent?.hook === "prerouting") rawPrerouting.push(toAgent.rule);
  // First, likewise: the WireGuard data the router sends.
  const rawOutput = [...(shared ? [shared.data] : []), ...(untracked.length ? [`${outTunnel} goto to_tailnet_raw`] : []), ...(shared ? [shared.agentSends] : [])];
  const lines = [
    `table inet ${TABLE} {}`,
    `delete table inet ${TABLE}`,
    `table inet ${TABLE} {`,
    ...(lan ? [`  flowtable ft {`, `    hook ingress priority filter;`, `    devices = { ${wg}, ${lan.slice(2, -2)} };`, `  }`] : []),
    `  chain from_tailnet {`,
    `    ct state vmap { established : accept, related : accept, invalid : drop }`,
    ...r.filter.map((s) => `    ${s}`),
    `    drop`,
    `  }`,
    ...(peerApi ? [`  chain input_from_tailnet {`, `    tcp dport ${peerApi} accept`, `    goto from_tailnet`, `  }`] : []),
    `  chain input_flows {`,
    `    type nat hook input priority 100; policy accept;`,
    ...inputFlows.map((s) => `    ${s}`),
    `  }`,
    ...(inputSharedPort.length ? [`  chain input_shared_port {`, `    type filter hook input priority filter - 1; policy accept;`, ...inputSharedPort.map((s) => `    ${s}`), `  }`] : []),
    `  chain forward_from_tailnet {`,
    ...fromTailnet.map((s) => `    ${s}`),
    `  }`,
    `  chain forward {`,
    `    type filter hook forward priority filter - 1; policy accept;`,
    ...forward.map((s) => `    ${s}`),
    `  }`,
    // Without NAT no NAT chain: its hook alone would make the kernel NAT-check every flow.
    ...(nat.length ? [`  chain postrouting {`, `    type nat hook postrouting priority srcnat - 1; policy accept;`, ...nat.map((s) => `    ${s}`), `  }`] : []),
    ...untracked,
    ...(shared?.declarations ?? []),
    ...(rawOutput.length ? [`  chain raw_output {`, `    type filter hook output priority raw; policy accept;`, ...rawOutput.map((x) => `    ${x}`), `  }`] : []),
    ...(rawPrerouting.length ? [`  chain raw_prerouting {`, `    type filter hook prerouting priority raw; policy accept;`, ...rawPrerouting.map((x) => `    ${x}`), `  }`] : []),
    `}`,
  ];
  return lines.join("\n") + "\n";
}

/**
 * The source ports the LAN's flows into the tunnel are masqueraded to (above Linux's ephemeral
 * ports, 32768-60999): their answers come to the router's own tailnet address, and conntrack
 * must see them to give them back to the LAN host, so the untracked chains leave these ports alone.
 */
export const NAT_PORTS = "61000-65535";

/**
 * The raw chains (before conntrack) that leave the router's own ACL-allowed flows untracked: the
 * requests the filter allows to `self` coming in, the answers to them going out. The ACL is
 * judged here, for each packet: input_flows, which judges a flow once, never sees an untracked
 * one. What conntrack must see stays tracked: the answers to the LAN's masqueraded flows
 * (NAT_PORTS, and ICMP but for echo requests in and echo replies out) and ICMP errors, which
 * belong to a flow.
 */
function statelessChains(self: readonly Prefix[], requests: readonly string[], answers: readonly string[]): string[] {
  const v4 = set(4, self), v6 = set(16, self);
  if (!(v4 || v6) || !requests.length) return [];
  const untracked = (statements: readonly string[]) => statements.map((st) => `    ${st.replace(/accept$/, "notrack accept")}`);
  // Protocols by number or nft's own keywords: a name such as "ipv6-icmp" is looked up in
  // /etc/protocols, which a minimal root may lack (nft then refuses the whole table). One rule a
  // family and kind, each test in it: the fewest evaluations for the common packet (a TCP segment
  // to or from the router), which every packet of a transfer pays. Where the ACL grants every TCP
  // and UDP port of the family (the default policy, allow all), the gate's own tests say what the
  // ACL would: the packet is left untracked there, not judged again.
  const gate = (name: string, dir: "daddr" | "saddr", port: "dport" | "sport", icmp: "request" | "reply", then: string, statements: readonly string[]) => {
    const ported = (family: "ip" | "ip6") => (statements.includes(allowAllPorted(family)) ? "notrack accept" : `goto ${then}`);
    return [
      `  chain ${name} {`,
      ...(v4 ? [`    ip ${dir} ${v4} meta l4proto { 6, 17 } th ${port} != ${NAT_PORTS} ${ported("ip")}`, `    ip ${dir} ${v4} icmp type echo-${icmp} goto ${then}`] : []),
      ...(v6 ? [`    ip6 ${dir} ${v6} meta l4proto { 6, 17 } th ${port} != ${NAT_PORTS} ${ported("ip6")}`, `    ip6 ${dir} ${v6} icmpv6 type echo-${icmp} goto ${then}`] : []),
      `  }`,
    ];
  };
  return [
    `  chain stateless_requests {`,
    ...untracked(requests),
    `  }`,
    `  chain stateless_answers {`,
    ...untracked(answers),
    `  }`,
    ...gate("from_tailnet_raw", "daddr", "dport", "request", "stateless_requests", requests),
    ...gate("to_tailnet_raw", "saddr", "sport", "reply", "stateless_answers", answers),
  ];
}

/** The script that removes the table (and is harmless when it is already gone). */
export function removeScript(): string {
  return `table inet ${TABLE} {}\ndelete table inet ${TABLE}\n`;
}
