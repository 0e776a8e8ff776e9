// MagicDNS names for dnsmasq: a hosts file with every node of the tailnet
// (and the DNS config's extra records), which dnsmasq reads from its
// addn-hosts directory. LAN clients then resolve phone.<tailnet> to its
// tailnet address through the router. Names and addresses are checked:
// the file is written from what the control server sent.
import type { NetMap } from "../control/netmap.js";
import type { Node } from "../control/tailcfg.js";
import { formatIp, parseIp } from "../netaddr/ip.js";

const NAME = /^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*$/;

function entry(name: string, addr: string, log: (msg: string) => void, what: string): string | undefined {
  const n = name.replace(/\.$/, "").toLowerCase();
  if (!NAME.test(n)) {
    log(`${what}: name ${JSON.stringify(name)} is not a DNS name; left out`);
    return undefined;
  }
  try {
    return `${formatIp(parseIp(addr.split("/")[0]!))} ${n}`;
  } catch (e) {
    log(`${what}: address ${JSON.stringify(addr)}: ${(e as Error).message}; left out`);
    return undefined;
  }
}

/**
 * Each node's lines, by the node object: a netmap delta replaces only the nodes it changes, so
 * a 1,000-node file is rewritten from checked lines instead of checking every name again.
 * Kept as one string per node (lines joined by newlines): an array per node costs more memory.
 */
const nodeLines = new WeakMap<Node, string>();

function addLinesOf(n: Node, log: (msg: string) => void, to: Set<string>): void {
  let lines = nodeLines.get(n);
  if (lines === undefined) {
    const out: string[] = [];
    for (const a of n.Name ? n.Addresses : []) {
      const e = entry(n.Name, a, log, `node ${n.ID}`);
      if (e) out.push(e);
    }
    nodeLines.set(n, (lines = out.join("\n")));
  }
  if (lines) for (const l of lines.split("\n")) to.add(l);
}

/** The hosts file for the netmap; log says what was left out and why (once per node object). */
export function hostsFile(nm: NetMap, log: (msg: string) => void): string {
  const lines = new Set<string>();
  if (nm.self) addLinesOf(nm.self, log, lines);
  for (const n of nm.peers.values()) addLinesOf(n, log, lines);
  for (const r of nm.dns?.ExtraRecords ?? []) {
    if (r.Type && r.Type !== "A" && r.Type !== "AAAA") continue;
    const e = entry(r.Name, r.Value, log, "extra record");
    if (e) lines.add(e);
  }
  return `# meshwrt: the tailnet's names (MagicDNS), rewritten on every change\n${[...lines].join("\n")}\n`;
}
