// Whether the router's own ACL-allowed flows may skip conntrack (ruleset.ts,
// `stateless`). fw4 lets in what conntrack calls established and leaves the
// rest, untracked packets too, to the tunnel's zone: its policy and the rules
// and redirects that name it. So only a zone that accepts input and output
// and that no rule names (but to accept) takes untracked packets as it takes
// established ones; anything else, or a configuration that cannot be read, keeps every
// flow tracked. Without fw4's configuration nothing but meshwrt's own table
// filters the tunnel.
import type { UciPackage } from "../openwrt/uci.js";

/** The verdict and the reason, said in the log when it changes. */
export interface UntrackedVerdict {
  readonly ok: boolean;
  readonly why: string;
}

const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : v.split(/\s+/).filter(Boolean));

/** `firewall`: fw4's configuration parsed, "absent" when there is none, or why it could not be read. */
export function untrackedVerdict(firewall: UciPackage | "absent" | { readonly unreadable: string }, iface: string): UntrackedVerdict {
  if (firewall === "absent") return { ok: true, why: "no fw4 configuration: meshwrt's table is the tunnel's only filter" };
  if ("unreadable" in firewall) return { ok: false, why: `fw4's configuration cannot be read (${firewall.unreadable})` };
  const zone = firewall.sections.find((s) => s.type === "zone" && list(s.options.get("device")).includes(iface));
  if (!zone) return { ok: false, why: `no fw4 zone lists ${iface}` };
  const name = String(zone.options.get("name") ?? zone.name ?? "");
  // fw4's own masquerading into the tunnel uses any source port: its answers would be taken for the router's own.
  if (zone.options.get("masq") === "1" || zone.options.get("masq6") === "1") return { ok: false, why: `fw4 zone ${name} masquerades` };
  for (const hook of ["input", "output"]) {
    const policy = String(zone.options.get(hook) ?? "");
    if (policy !== "ACCEPT") return { ok: false, why: `fw4 zone ${name}'s ${hook} is ${policy || "the default policy"}, not ACCEPT` };
  }
  const ours = (z: unknown) => z === name || z === "*";
  const naming = firewall.sections.find((s) => {
    if (s.options.get("enabled") === "0") return false;
    const [src, dest] = [s.options.get("src"), s.options.get("dest")];
    // A rule with both ends is a forwarding rule: the router's own flows never meet it. An
    // ACCEPT rule takes what the zone's ACCEPT would (the package's Allow-meshwrt-WireGuard).
    if (s.type === "rule") return s.options.get("target") !== "ACCEPT" && ((ours(src) && dest === undefined) || (ours(dest) && src === undefined));
    return (s.type === "redirect" || s.type === "nat") && (ours(src) || ours(dest));
  });
  if (naming) return { ok: false, why: `fw4 ${naming.type} ${naming.name ?? String(naming.options.get("name") ?? "")} names zone ${name}`.trim() };
  return { ok: true, why: `fw4 zone ${name} accepts input and output` };
}

/**
 * Options a rule may have and still accept every WireGuard packet to the port; any other (a source
 * address, a limit, a time, a mark, extra nft text) narrows it, and it does not count.
 */
const PLAIN_RULE = new Set(["name", "src", "proto", "dest_port", "target", "family", "enabled"]);

/** Whether fw4's `dest_port` value (ports and ranges, "a-b" or "a:b", space-separated) holds `port`. */
function portIn(value: string | string[] | undefined, port: number): boolean {
  return list(value).some((p) => {
    const [lo, hi = lo] = p.split(/[-:]/).map(Number);
    return lo !== undefined && hi !== undefined && lo <= port && port <= hi;
  });
}

/**
 * Whether the WireGuard data the router receives on `port` may skip conntrack (ruleset.ts,
 * `untrackedWireGuardPort`). fw4 lets into the router what conntrack calls established and
 * leaves the rest to the zone it came from, so untracked data gets in only where a plain rule
 * accepts UDP to the port (the package's Allow-meshwrt-WireGuard, src '*'): from every zone, or
 * from each zone that does not accept all input when interfaces in no zone are accepted too.
 * Anything else keeps the data tracked, and the peer's answers get in as established.
 */
export function wireGuardUntrackedVerdict(firewall: UciPackage | "absent" | { readonly unreadable: string }, port: number): UntrackedVerdict {
  if (firewall === "absent") return { ok: true, why: "no fw4 configuration: nothing else filters the router's input" };
  if ("unreadable" in firewall) return { ok: false, why: `fw4's configuration cannot be read (${firewall.unreadable})` };
  const accepting = firewall.sections.filter((s) => {
    const o = s.options;
    if (s.type !== "rule" || o.get("enabled") === "0" || o.get("target") !== "ACCEPT" || o.get("dest") !== undefined || o.get("src") === undefined) return false;
    if ([...o.keys()].some((k) => !PLAIN_RULE.has(k))) return false;
    const family = o.get("family");
    if (family !== undefined && family !== "any" && family !== "") return false;
    const proto = list(o.get("proto"));
    return (proto.length === 0 || proto.some((p) => ["udp", "17", "tcpudp", "all", "any"].includes(p))) && portIn(o.get("dest_port"), port);
  });
  const named = (s: (typeof accepting)[number]) => String(s.options.get("name") ?? s.name ?? "");
  const everywhere = accepting.find((s) => s.options.get("src") === "*");
  if (everywhere) return { ok: true, why: `fw4 rule ${named(everywhere)} accepts UDP port ${port} from every zone` };
  const defaults = firewall.sections.find((s) => s.type === "defaults");
  const defaultInput = String(defaults?.options.get("input") ?? "");
  if (defaultInput !== "ACCEPT") return { ok: false, why: `no fw4 rule accepts UDP port ${port} from every zone (src '*'), and fw4's default input is ${defaultInput || "unset"}` };
  const covered = new Set(accepting.map((s) => String(s.options.get("src"))));
  const shut = firewall.sections.find((s) => {
    if (s.type !== "zone") return false;
    const name = String(s.options.get("name") ?? s.name ?? "");
    return String(s.options.get("input") ?? defaultInput) !== "ACCEPT" && !covered.has(name);
  });
  if (shut) return { ok: false, why: `no fw4 rule accepts UDP port ${port} from zone ${String(shut.options.get("name") ?? shut.name ?? "")}` };
  return { ok: true, why: `every fw4 zone accepts UDP port ${port}` };
}
