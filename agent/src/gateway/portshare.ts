// Sharing the kernel's WireGuard port with the agent: disco and STUN
// answers that arrive at the WireGuard port go to the agent's socket, and
// what the agent sends leaves from the WireGuard port, so peers and STUN
// servers see one endpoint, the one the NAT maps for WireGuard. Stateless
// header rewrites in a table of our own, beside fw4's.
//
// Inbound is rewritten at mangle priority (-150), after conntrack (-200)
// has matched the packet to the WireGuard port's flow, so fw4's
// "established" rule lets the answers in; outbound at raw priority (-300),
// before conntrack, so the flow it records is the WireGuard port's.
//
// Every WireGuard packet the router receives passes the inbound chain, so
// it is told apart by one lookup of its first two bytes (WireGuard's start
// 01..04 00); only disco's "TS" and STUN's 0x0101 go on to their full match.
//
// What the router sends stays tracked, data too, though notrack on it
// measured ~4% to the router under emulation: after an idle spell longer
// than conntrack's UDP timeout, the router's first data packet is what lets
// the peer's answers in through a stateful WAN firewall (fw4's
// "established"); untracked, they would wait for the next handshake or
// disco heartbeat, seconds spent on the relay.

export const PORTSHARE_TABLE = "meshwrt_port";

/** "TS💬", the first bytes of every disco packet ("TS", then the rest); no WireGuard message starts so. */
const DISCO_START = "0x5453", DISCO_REST = "@th,80,32 0xf09f92ac";
/** A STUN binding success (0x0101; WireGuard's types are 1..4 little-endian), then the RFC 5389 cookie. */
const STUN_START = "0x0101", STUN_REST = "@th,96,32 0x2112a442";

function port(p: number, what: string): number {
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Error(`port sharing: ${what} port ${p} is not 1-65535`);
  return p;
}

/** Replaces the table whole, in one transaction: idempotent at every start. */
export function portShareScript(wgPort: number, agentPort: number): string {
  const wg = port(wgPort, "WireGuard"), agent = port(agentPort, "agent");
  if (wg === agent) throw new Error(`port sharing: the agent's port is the WireGuard port ${wg}`);
  return `table inet ${PORTSHARE_TABLE} {}
delete table inet ${PORTSHARE_TABLE}
table inet ${PORTSHARE_TABLE} {
\tchain disco {
\t\t${DISCO_REST} udp dport set ${agent}
\t}
\tchain stun {
\t\t${STUN_REST} udp dport set ${agent}
\t}
\tchain inbound {
\t\ttype filter hook prerouting priority mangle; policy accept;
\t\tudp dport ${wg} @th,64,16 vmap { ${DISCO_START} : goto disco, ${STUN_START} : goto stun }
\t}
\tchain outbound {
\t\ttype filter hook output priority raw; policy accept;
\t\tudp sport ${agent} udp sport set ${wg}
\t}
}
`;
}

export const removePortShareScript = `table inet ${PORTSHARE_TABLE} {}\ndelete table inet ${PORTSHARE_TABLE}\n`;
