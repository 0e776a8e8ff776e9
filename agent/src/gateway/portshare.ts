// Sharing the kernel's WireGuard port with the agent: disco and STUN
// answers that arrive at the WireGuard port go to the agent's socket, and
// what the agent sends leaves from the WireGuard port, so peers and STUN
// servers see one endpoint, the one the NAT maps for WireGuard. Stateless
// header rewrites, in chains of meshwrt's table (ruleset.ts): every packet
// the router sends or receives passes that table's base chains anyway, and
// each base chain more would cost every packet again.
//
// Inbound is rewritten in the input chain (filter - 1), after conntrack
// (-200) has matched the packet to the WireGuard port's flow, so fw4's
// "established" rule lets the answers in; outbound at raw priority (-300),
// before conntrack, so the flow it records is the WireGuard port's. Only
// packets delivered to the router itself can be for the agent's socket.
//
// Nearly every packet the router receives in a transfer is WireGuard data
// (the tunnel's own packets come in GRO'd, many to one), so a data message
// leaves the input chain by the first rule after the tunnel's, with
// compares only; the rest of the port's packets are told apart by one
// lookup of their first two bytes, and only disco's "TS" and STUN's 0x0101
// go on to their full match.
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
 * UDP's payload begins (a TCP ack number, one value in 2^32) is only left untracked, or passed by
 * the input chain's rules, which are for UDP; fw4's own chains still judge it.
 */
export const WG_DATA = "0x04000000";

/** The port-sharing parts of meshwrt's table, each for ruleset.ts to place. */
export interface PortShareRules {
  /** Sets and regular chains. */
  readonly declarations: string[];
  /** For the raw output chain, first: the WireGuard data sent, then the agent's sends. */
  readonly data: string;
  readonly agentSends: string;
  /** For the input chain, after the tunnel's own rule: the WireGuard data received (it is not the agent's). */
  readonly dataIn: string;
  /** For the input chain: disco and STUN to the agent. */
  readonly toAgent: string;
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
  const declarations = [
    `  chain disco_to_agent {`,
    `    ${DISCO_REST} udp dport set ${agent}`,
    `  }`,
    `  chain stun_to_agent {`,
    `    ${STUN_REST} udp dport set ${agent}`,
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
  return {
    declarations,
    data: `th sport ${wg} @th,64,32 ${WG_DATA} ${untrackedData ? "notrack accept" : "goto wireguard_data_out"}`,
    agentSends: `udp sport ${agent} udp sport set ${wg}`,
    dataIn: `th dport ${wg} @th,64,32 ${WG_DATA} accept`,
    toAgent: `udp dport ${wg} @th,64,16 vmap { ${DISCO_START} : goto disco_to_agent, ${STUN_START} : goto stun_to_agent }`,
  };
}
