// Whether the router's own ACL-allowed flows may skip conntrack (ruleset.ts,
// `stateless`). fw4 lets in what conntrack calls established and leaves the
// rest, untracked packets too, to the tunnel's zone: its policy and the rules
// and redirects that name it. So only a zone that accepts input and output
// and that no rule names takes untracked packets as it takes established
// ones; anything else, or a configuration that cannot be read, keeps every
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
    // A rule with both ends is a forwarding rule: the router's own flows never meet it.
    if (s.type === "rule") return (ours(src) && dest === undefined) || (ours(dest) && src === undefined);
    return (s.type === "redirect" || s.type === "nat") && (ours(src) || ours(dest));
  });
  if (naming) return { ok: false, why: `fw4 ${naming.type} ${naming.name ?? String(naming.options.get("name") ?? "")} names zone ${name}`.trim() };
  return { ok: true, why: `fw4 zone ${name} accepts input and output` };
}
