// Which WireGuard peers the netmap asks for: one per node key, its allowed
// IPs being its own addresses plus, when the router accepts routes, the
// subnets it is the primary router for. Exit routes (/0) are never taken:
// the router is an exit node, it does not use one.
import type { Node } from "../control/tailcfg.js";
import { hexToBytes } from "@noble/hashes/utils.js";
import { keyFromText } from "../crypto/keys.js";
import { type Endpoint, maskPrefix, parsePrefix, type Prefix } from "../netaddr/ip.js";
import type { WantedPeer } from "./reconcile.js";

export interface WantedOptions {
  readonly acceptRoutes: boolean;
  /** The kernel endpoint for a peer: its direct path, or its relay bridge socket. */
  readonly endpointFor: (node: Node) => Endpoint | undefined;
  readonly log: (msg: string) => void;
}

export function wantedPeers(peers: Iterable<Node>, o: WantedOptions): WantedPeer[] {
  const out: WantedPeer[] = [];
  for (const n of peers) {
    const w = wantedPeer(n, o);
    if (w) out.push(w);
  }
  return out;
}

/** One node as a WireGuard peer; undefined when it is expired or its key is bad (said in the log). */
export function wantedPeer(n: Node, o: WantedOptions): WantedPeer | undefined {
  if (n.Expired) return undefined;
  try {
    keyFromText("nodekey", n.Key);
  } catch (e) {
    o.log(`peer ${n.Name || n.ID}: ${(e as Error).message}; skipped`);
    return undefined;
  }
  const own = new Set(n.Addresses.map((a) => a.split("/")[0]));
  const allowedIps: Prefix[] = [];
  for (const text of n.AllowedIPs?.length ? n.AllowedIPs : n.Addresses) {
    let p: Prefix;
    try {
      p = maskPrefix(parsePrefix(text));
    } catch (e) {
      o.log(`peer ${n.Name || n.ID}: allowed IP ${JSON.stringify(text)}: ${(e as Error).message}; skipped`);
      continue;
    }
    const isOwn = own.has(text.split("/")[0]) && p.bits === p.ip.length * 8;
    if (isOwn || (o.acceptRoutes && p.bits > 0)) allowedIps.push(p);
  }
  // The key checked: its text is "nodekey:" and the lowercase hex.
  return new PackedPeer(n.Key.slice(8), packPrefixes(allowedIps), o.endpointFor(n));
}

/**
 * A wanted peer as the agent keeps one for every node: its key as hex (the string the peer maps
 * are keyed by, shared with them) and its allowed IPs packed in a string, made into bytes when
 * read. In QuickJS a key and two prefixes as Uint8Arrays and objects cost ~1 KB a peer; this ~250 bytes.
 */
class PackedPeer implements WantedPeer {
  constructor(
    readonly id: string,
    private readonly ips: string,
    readonly endpoint: Endpoint | undefined,
  ) {}

  get publicKey(): Uint8Array {
    return hexToBytes(this.id);
  }

  get allowedIps(): Prefix[] {
    return unpackPrefixes(this.ips);
  }

  get packedIps(): string {
    return this.ips;
  }

  at(endpoint: Endpoint): WantedPeer {
    return new PackedPeer(this.id, this.ips, endpoint);
  }
}

/** Each prefix as its address length, its bits and its address bytes, a character each. */
export function packPrefixes(prefixes: readonly Prefix[]): string {
  let s = "";
  for (const p of prefixes) s += String.fromCharCode(p.ip.length, p.bits, ...p.ip);
  return s;
}

export function unpackPrefixes(s: string): Prefix[] {
  const out: Prefix[] = [];
  for (let i = 0; i < s.length; ) {
    const len = s.charCodeAt(i), bits = s.charCodeAt(i + 1);
    const ip = new Uint8Array(len);
    for (let k = 0; k < len; k++) ip[k] = s.charCodeAt(i + 2 + k);
    out.push({ ip, bits });
    i += 2 + len;
  }
  return out;
}
