// Which WireGuard peers the netmap asks for: one per node key, its allowed
// IPs being its own addresses plus, when the router accepts routes, the
// subnets it is the primary router for. Exit routes (/0) are never taken:
// the router is an exit node, it does not use one.
import type { Node } from "../control/tailcfg.js";
import { keyFromText } from "../crypto/keys.js";
import { type Endpoint, maskPrefix, parsePrefix, type Prefix } from "../netaddr/ip.js";
import { slabCopy } from "../util/slab.js";
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
  let publicKey: Uint8Array;
  try {
    publicKey = keyFromText("nodekey", n.Key);
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
  const endpoint = o.endpointFor(n);
  return { ...packed(publicKey, allowedIps), ...(endpoint ? { endpoint } : {}) };
}

/**
 * The key and the allowed IPs' bytes as views of shared buffers (util/slab.ts): the agent keeps
 * a wanted peer for every node, and the routes keep its prefixes.
 */
function packed(key: Uint8Array, prefixes: readonly Prefix[]): { publicKey: Uint8Array; allowedIps: Prefix[] } {
  return { publicKey: slabCopy(key), allowedIps: prefixes.map((p) => ({ ip: slabCopy(p.ip), bits: p.bits })) };
}
