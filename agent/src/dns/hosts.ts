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
 * Kept as one string per node (lines joined by newlines, each line once): an array per node costs more memory.
 */
const nodeLines = new WeakMap<Node, string>();

function linesOf(n: Node, log: (msg: string) => void): string {
  let lines = nodeLines.get(n);
  if (lines === undefined) {
    const out: string[] = [];
    for (const a of n.Name ? n.Addresses : []) {
      const e = entry(n.Name, a, log, `node ${n.ID}`);
      if (e && !out.includes(e)) out.push(e);
    }
    nodeLines.set(n, (lines = out.join("\n")));
  }
  return lines;
}

/** Whether `lines` (lines joined by newlines) holds `line` as one of them. */
function hasLine(lines: string, line: string): boolean {
  for (let at = lines.indexOf(line); at >= 0; at = lines.indexOf(line, at + 1)) {
    const end = at + line.length;
    if ((at === 0 || lines[at - 1] === "\n") && (end === lines.length || lines[end] === "\n")) return true;
  }
  return false;
}

/**
 * The hosts file for the netmap; log says what was left out and why (once per node object).
 * Built from the nodes' strings as they are, with no set of every line: at 5,000 nodes that set
 * and its copies were 2.3 MB passing through each rewrite. A node's lines are each there once;
 * nodes do not share a name, so only an extra record can repeat a line.
 */
export function hostsFile(nm: NetMap, log: (msg: string) => void): string {
  // The header and the closing newline are parts too: one join makes the file, with no copy of it after.
  const parts: string[] = ["# meshwrt: the tailnet's names (MagicDNS), rewritten on every change"];
  const add = (lines: string) => lines && parts.push(lines);
  if (nm.self) add(linesOf(nm.self, log));
  nm.peers.forEach((n) => add(linesOf(n, log)));
  for (const r of nm.dns?.ExtraRecords ?? []) {
    if (r.Type && r.Type !== "A" && r.Type !== "AAAA") continue;
    const e = entry(r.Name, r.Value, log, "extra record");
    if (e && !parts.some((p) => hasLine(p, e))) parts.push(e);
  }
  if (parts.length === 1) parts.push("");
  parts.push("");
  return parts.join("\n");
}
