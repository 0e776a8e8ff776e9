// Sharing the kernel's WireGuard port with the agent: disco and STUN
// answers that arrive at the WireGuard port go to the agent's socket, and
// what the agent sends leaves from the WireGuard port, so peers and STUN
// servers see one endpoint, the one the NAT maps for WireGuard. Rules in
// chains of meshwrt's table (ruleset.ts): every packet the router sends or
// receives passes that table's base chains anyway, and each base chain more
// would cost every packet again.
//
// Inbound, where the agent's sockets are transparent (IP_TRANSPARENT),
// nftables' tproxy hands disco and STUN to them in raw prerouting, the
// header untouched: conntrack takes the packet for the WireGuard port's
// flow, so fw4 lets answers in as established and the rest by the port's
// rule, and no chain after conntrack is needed, which every packet the
// router receives would cross. Otherwise (no nft_tproxy in the kernel, no
// CAP_NET_ADMIN) the packet's port is rewritten in a filter input chain
// (filter - 1), after conntrack (-200) matched it to the WireGuard port's
// flow. Outbound, what the agent sends is rewritten at raw priority (-300),
// before conntrack, so the flow it records is the WireGuard port's. Only
// packets delivered to the router itself can be for the agent's socket.
//
// Nearly every packet the router receives in a transfer is WireGuard data,
// so a data message is told apart first, with compares only; the rest of
// the port's packets are told apart by one lookup of their first two bytes,
// and only disco's "TS" and STUN's 0x0101 go on to their full match.
//
// WireGuard data the router sends skips conntrack but for one packet per
// peer endpoint every SAMPLE_SECONDS: that one keeps the flow alive (UDP's
// shortest conntrack timeout is 30 s), so the peer's answers still pass a
// stateful WAN firewall (fw4's "established") however long the transfer,
// and after an idle spell the set's element is gone, so the router's first
// packet makes the flow again. Untracked, the rest cost no conntrack lookup
// (make bench's b/a shows what that is worth). Handshakes, disco and
// STUN stay tracked. Where fw4 accepts the port untracked, the data needs
// no flow at all, either way (ruleset.ts, untrackedWireGuardPort).

export interface PortShare {
  /** The kernel's WireGuard port: the one peers and STUN servers see. */
  readonly wgPort: number;
  /** The agent's disco socket. */
  readonly agentPort: number;
  /** The agent's sockets are transparent: disco and STUN reach them by tproxy (see above). */
  readonly tproxy?: boolean;
  /** SAMPLE_SECONDS but in tests. */
  readonly sampleSeconds?: number;
}

/** "TS💬", the first bytes of every disco packet ("TS", then the rest); no WireGuard message starts so. */
const DISCO_START = "0x5453", DISCO_REST = "@th,80,32 0xf09f92ac";
/** A STUN binding success (0x0101; WireGuard's types are 1..4 little-endian), then the RFC 5389 cookie. */
const STUN_START = "0x0101", STUN_REST = "@th,96,32 0x2112a442";

function port(p: number, what: string): number {
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Error(`port sharing: ${what} port ${p} is not 1-65535`);
  return p;
}

/** How often a peer endpoint's WireGuard data is let through conntrack (see above). */
export const SAMPLE_SECONDS = 20;

/**
 * A WireGuard transport data message: type 4, then three zero bytes. Its rules match the port with
 * `th`, the transport header's bytes as they are, not `udp`, which loads and compares the protocol
 * first: two expressions fewer on each of a transfer's packets (meshwrt's tables on make bench's
 * kernel pair carried 0.7% more). A packet of another protocol to the port with these bytes where
 * UDP's payload begins (a TCP ack number, one value in 2^32) is only left untracked, or spared
 * the disco and STUN rules, which are for UDP; fw4's own chains still judge it.
 */
export const WG_DATA = "0x04000000";

/**
 * A table for `nft --check`, which the kernel validates and throws away: it fails where the kernel
 * has no tproxy (OpenWrt's kmod-nft-tproxy is not in its images by default).
 */
export const TPROXY_PROBE = `table inet meshwrt_tproxy_probe {
  chain probe {
    type filter hook prerouting priority raw; policy accept;
    meta l4proto udp tproxy to :1
  }
}
`;

/** The port-sharing parts of meshwrt's table, each for ruleset.ts to place. */
export interface PortShareRules {
  /** Sets and regular chains. */
  readonly declarations: string[];
  /** For the raw output chain, first: the WireGuard data sent, then the agent's sends. */
  readonly data: string;
  readonly agentSends: string;
  /**
   * Disco and STUN to the agent: in raw prerouting (tproxy), or in a filter input chain, there
   * after `dataIn`, the WireGuard data received (it is not the agent's). Either after the
   * tunnel's packets have left the chain: a peer's disco inside the tunnel is not the agent's.
   */
  readonly toAgent: { readonly hook: "prerouting"; readonly rule: string } | { readonly hook: "input"; readonly rule: string; readonly dataIn: string };
}

/**
 * The rules for `p`; with `untrackedData` (fw4 accepts the port untracked) the data sent skips
 * conntrack outright, without the sampled sets.
 */
export function portShareRules(p: PortShare, untrackedData: boolean): PortShareRules {
  const wg = port(p.wgPort, "WireGuard"), agent = port(p.agentPort, "agent");
  if (wg === agent) throw new Error(`port sharing: the agent's port is the WireGuard port ${wg}`);
  const sampleSeconds = p.sampleSeconds ?? SAMPLE_SECONDS;
  if (!Number.isInteger(sampleSeconds) || sampleSeconds < 1 || sampleSeconds > 25) throw new Error(`port sharing: a sample every ${sampleSeconds} s would let conntrack's 30 s UDP timeout lapse`);
  const sampled = (n: 4 | 6) => [`  set sampled${n} {`, `    type ipv${n}_addr . inet_service`, `    flags dynamic,timeout`, `    timeout ${sampleSeconds}s`, `  }`];
  // tproxy wants the protocol matched in its own rule.
  const deliver = p.tproxy ? `meta l4proto udp tproxy to :${agent}` : `udp dport set ${agent}`;
  const declarations = [
    `  chain disco_to_agent {`,
    `    ${DISCO_REST} ${deliver}`,
    `  }`,
    `  chain stun_to_agent {`,
    `    ${STUN_REST} ${deliver}`,
    `  }`,
  ];
  if (!untrackedData) {
    declarations.push(
      ...sampled(4),
      ...sampled(6),
      `  chain wireguard_data_out {`,
      `    ip daddr . udp dport @sampled4 notrack return`,
      `    ip6 daddr . udp dport @sampled6 notrack return`,
      `    meta nfproto ipv4 add @sampled4 { ip daddr . udp dport }`,
      `    meta nfproto ipv6 add @sampled6 { ip6 daddr . udp dport }`,
      `  }`,
    );
  }
  const toAgent = `udp dport ${wg} @th,64,16 vmap { ${DISCO_START} : goto disco_to_agent, ${STUN_START} : goto stun_to_agent }`;
  return {
    declarations,
    data: `th sport ${wg} @th,64,32 ${WG_DATA} ${untrackedData ? "notrack accept" : "goto wireguard_data_out"}`,
    agentSends: `udp sport ${agent} udp sport set ${wg}`,
    toAgent: p.tproxy ? { hook: "prerouting", rule: toAgent } : { hook: "input", rule: toAgent, dataIn: `th dport ${wg} @th,64,32 ${WG_DATA} accept` },
  };
}
