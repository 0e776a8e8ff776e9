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
// WireGuard data the router sends skips conntrack but for one packet per
// peer endpoint every SAMPLE_SECONDS: that one keeps the flow alive (UDP's
// shortest conntrack timeout is 30 s), so the peer's answers still pass a
// stateful WAN firewall (fw4's "established") however long the transfer,
// and after an idle spell the set's element is gone, so the router's first
// packet makes the flow again. Untracked, the rest cost no conntrack lookup
// (make bench's b/a shows what that is worth). Handshakes, disco and
// STUN stay tracked, and here so does what the router receives: fw4 lets it
// in as established, unless a rule accepts the port, where meshwrt's own
// table leaves the data untracked (ruleset.ts, untrackedWireGuardPort).

export const PORTSHARE_TABLE = "meshwrt_port";

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

/** A WireGuard transport data message: type 4, then three zero bytes. */
export const WG_DATA = "0x04000000";

/** Replaces the table whole, in one transaction: idempotent at every start. `sampleSeconds` is SAMPLE_SECONDS but in tests. */
export function portShareScript(wgPort: number, agentPort: number, sampleSeconds = SAMPLE_SECONDS): string {
  const wg = port(wgPort, "WireGuard"), agent = port(agentPort, "agent");
  if (wg === agent) throw new Error(`port sharing: the agent's port is the WireGuard port ${wg}`);
  if (!Number.isInteger(sampleSeconds) || sampleSeconds < 1 || sampleSeconds > 25) throw new Error(`port sharing: a sample every ${sampleSeconds} s would let conntrack's 30 s UDP timeout lapse`);
  const sampled = (family: string) => `\tset sampled${family === "ipv4_addr" ? 4 : 6} {
\t\ttype ${family} . inet_service
\t\tflags dynamic,timeout
\t\ttimeout ${sampleSeconds}s
\t}
`;
  return `table inet ${PORTSHARE_TABLE} {}
delete table inet ${PORTSHARE_TABLE}
table inet ${PORTSHARE_TABLE} {
${sampled("ipv4_addr")}${sampled("ipv6_addr")}\tchain disco {
\t\t${DISCO_REST} udp dport set ${agent}
\t}
\tchain stun {
\t\t${STUN_REST} udp dport set ${agent}
\t}
\tchain inbound {
\t\ttype filter hook prerouting priority mangle; policy accept;
\t\tudp dport ${wg} @th,64,16 vmap { ${DISCO_START} : goto disco, ${STUN_START} : goto stun }
\t}
\tchain data {
\t\tip daddr . udp dport @sampled4 notrack return
\t\tip6 daddr . udp dport @sampled6 notrack return
\t\tmeta nfproto ipv4 add @sampled4 { ip daddr . udp dport }
\t\tmeta nfproto ipv6 add @sampled6 { ip6 daddr . udp dport }
\t}
\tchain outbound {
\t\ttype filter hook output priority raw; policy accept;
\t\tudp sport ${wg} @th,64,32 ${WG_DATA} goto data
\t\tudp sport ${agent} udp sport set ${wg}
\t}
}
`;
}

export const removePortShareScript = `table inet ${PORTSHARE_TABLE} {}\ndelete table inet ${PORTSHARE_TABLE}\n`;
