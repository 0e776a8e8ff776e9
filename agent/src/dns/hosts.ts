// MagicDNS names for dnsmasq: a hosts file with every node of the tailnet
// (and the DNS config's extra records), which dnsmasq reads from its
// addn-hosts directory. LAN clients then resolve phone.<tailnet> to its
// tailnet address through the router. Names and addresses are checked:
// the file is written from what the control server sent.
import type { NetMap } from "../control/netmap.js";
import type { Node } from "../control/tailcfg.js";
import { ipText } from "../netaddr/ip.js";

/** A DNS name's labels; its length (1-253) is checked apart, cheaper than a lookahead in QuickJS's regex engine. */
const NAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*$/;

/** What a log line names: a node by its ID (the text made only for a line), or the words. */
type What = number | string;
const whatText = (w: What) => (typeof w === "number" ? `node ${w}` : w);

/** The name as the file writes it (no final dot, lowercase), undefined when it is no DNS name. */
function dnsName(name: string, log: (msg: string) => void, what: What): string | undefined {
  const n = (name.endsWith(".") ? name.slice(0, -1) : name).toLowerCase();
  if (n.length >= 1 && n.length <= 253 && NAME.test(n)) return n;
  log(`${whatText(what)}: name ${JSON.stringify(name)} is not a DNS name; left out`);
  return undefined;
}

/** The address of `addr` (an address or a prefix) as the file writes it, undefined when it is none. */
function addressText(addr: string, log: (msg: string) => void, what: What): string | undefined {
  const slash = addr.indexOf("/");
  const text = slash < 0 ? addr : addr.slice(0, slash);
  try {
    return ipText(text);
  } catch (e) {
    log(`${whatText(what)}: address ${JSON.stringify(addr)}: ${(e as Error).message}; left out`);
    return undefined;
  }
}

function entry(name: string, addr: string, log: (msg: string) => void, what: What): string | undefined {
  const n = dnsName(name, log, what);
  const a = n === undefined ? undefined : addressText(addr, log, what);
  return a === undefined ? undefined : `${a} ${n}`;
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
    lines = "";
    // The name checked once for all of the node's addresses (at 5,000 nodes, 10,000 checks were ~70 ms in QuickJS).
    const name = n.Name && n.Addresses.length ? dnsName(n.Name, log, n.ID) : undefined;
    if (name !== undefined) {
      for (const a of n.Addresses) {
        const ip = addressText(a, log, n.ID);
        if (ip === undefined) continue;
        const line = `${ip} ${name}`;
        if (!lines) lines = line;
        else if (!hasLine(lines, line)) lines += `\n${line}`;
      }
    }
    nodeLines.set(n, lines);
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
