// The control server's packet filter (tailcfg.FilterRule) as nftables
// statements: each rule allows sources to reach destination addresses on
// some ports with some protocols; whatever no rule allows is dropped by the
// chain that jumps here. Every address is parsed and printed again by us, so
// nothing from the server reaches the nft script unchecked.
import type { FilterRule } from "../control/tailcfg.js";
import { formatIp, formatPrefix, maskPrefix, parseIp, parsePrefix } from "../netaddr/ip.js";

/** Protocols Tailscale allows when a rule names none: TCP, UDP, ICMP, ICMPv6. */
const DEFAULT_PROTOS = [6, 17, 1, 58];
/** Protocols with ports (TCP, UDP, DCCP, SCTP); the others match on addresses alone. */
const PORTED = new Set([6, 17, 33, 132]);

type Family = "ip" | "ip6";

/** A set of addresses of one family; undefined stands for "any". */
interface Addrs {
  ip?: string[];
  ip6?: string[];
  any: boolean;
}

function familyOf(text: string): Family {
  return text.includes(":") ? "ip6" : "ip";
}

/** "*", an address, a prefix or a range "a-b", as an nft set element; throws naming what is wrong. */
function element(text: string, bits?: number): { family: Family; elem: string } | "any" {
  if (text === "*") return "any";
  const dash = text.indexOf("-");
  if (dash > 0) {
    const a = parseIp(text.slice(0, dash));
    const b = parseIp(text.slice(dash + 1));
    if (a.length !== b.length) throw new Error(`range ${JSON.stringify(text)} mixes IPv4 and IPv6`);
    return { family: a.length === 4 ? "ip" : "ip6", elem: `${formatIp(a)}-${formatIp(b)}` };
  }
  const p = parsePrefix(bits !== undefined && !text.includes("/") ? `${text}/${bits}` : text);
  const m = maskPrefix(p);
  const full = p.bits === p.ip.length * 8;
  return { family: familyOf(text), elem: full ? formatIp(p.ip) : formatPrefix(m) };
}

function addrs(texts: readonly { text: string; bits?: number }[], where: string, log: (msg: string) => void): Addrs {
  const out: Addrs = { any: false };
  for (const { text, bits } of texts) {
    // Capability grants ("cap:...") and the like concern the peer, not packets.
    if (/^[a-z]+:/.test(text)) continue;
    let e: ReturnType<typeof element>;
    try {
      e = element(text, bits);
    } catch (err) {
      log(`${where}: ${JSON.stringify(text)}: ${(err as Error).message}; left out`);
      continue;
    }
    if (e === "any") out.any = true;
    else (out[e.family] ??= []).push(e.elem);
  }
  return out;
}

function match(family: Family, dir: "saddr" | "daddr", a: Addrs): string | undefined {
  if (a.any) return "";
  const list = a[family];
  if (!list?.length) return undefined;
  return `${family} ${dir} { ${[...new Set(list)].join(", ")} } `;
}

/**
 * Which packets of a flow: "request", what a rule allows from its sources to its destinations;
 * "answer", what goes back (the addresses swapped, the ports on the source side): the answers to
 * flows the rules allow, whoever opened them.
 */
export type FilterSide = "request" | "answer";

/**
 * The statement filterStatements makes, either side, for a grant of every TCP and UDP port from
 * any address to any address of a family: Headscale's and Tailscale's default policy, allow all.
 */
export function allowAllPorted(family: Family): string {
  return `meta nfproto ${family === "ip" ? "ipv4" : "ipv6"} meta l4proto { ${DEFAULT_PROTOS.filter((p) => PORTED.has(p)).join(", ")} } accept`;
}

/** nft statements (one per line, each ending in accept) for the rules; log says what was left out and why. */
export function filterStatements(rules: readonly FilterRule[], log: (msg: string) => void, side: FilterSide = "request"): string[] {
  const [from, to, port] = side === "request" ? (["saddr", "daddr", "dport"] as const) : (["daddr", "saddr", "sport"] as const);
  const out: string[] = [];
  rules.forEach((rule, i) => {
    const where = `packet filter rule ${i}`;
    const src = addrs((rule.SrcIPs ?? []).map((text) => ({ text })), `${where} source`, log);
    const protos = rule.IPProto?.length ? rule.IPProto.filter((p) => Number.isInteger(p) && p >= 0 && p <= 255) : DEFAULT_PROTOS;
    const ported = protos.filter((p) => PORTED.has(p));
    const portless = protos.filter((p) => !PORTED.has(p));
    (rule.DstPorts ?? []).forEach((d, j) => {
      const dst = addrs([{ text: d.IP, ...(d.Bits !== undefined ? { bits: d.Bits } : {}) }], `${where} destination ${j}`, log);
      const first = d.Ports?.First ?? 0;
      const last = d.Ports?.Last ?? 65535;
      if (!(Number.isInteger(first) && Number.isInteger(last) && first >= 0 && first <= last && last <= 65535)) {
        log(`${where} destination ${j}: ports ${first}-${last} are not a port range; left out`);
        return;
      }
      const ports = first === 0 && last === 65535 ? "" : first === last ? `th ${port} ${first} ` : `th ${port} ${first}-${last} `;
      for (const family of ["ip", "ip6"] as const) {
        const s = match(family, from, src);
        const t = match(family, to, dst);
        if (s === undefined || t === undefined) continue;
        // A rule with "*" on both sides applies to each family: say which.
        const fam = s === "" && t === "" ? `meta nfproto ${family === "ip" ? "ipv4" : "ipv6"} ` : "";
        if (ported.length) out.push(`${fam}${s}${t}meta l4proto { ${ported.join(", ")} } ${ports}accept`);
        if (portless.length) out.push(`${fam}${s}${t}meta l4proto { ${portless.join(", ")} } accept`);
      }
    });
  });
  return out;
}
