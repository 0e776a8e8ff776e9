// From the peers the agent wants to the smallest change of the device the
// kernel has: an unchanged peer is never touched, so a live session never
// re-handshakes because the netmap changed elsewhere.
import { type Endpoint, formatPrefix, ipEqual, maskPrefix, type Prefix } from "../netaddr/ip.js";
import { toHex } from "../util/bytes.js";
import type { Device, Peer, PeerChange } from "./model.js";

export interface WantedPeer {
  readonly publicKey: Uint8Array;
  /** Undefined leaves the kernel's endpoint as it is (roaming or not yet known). */
  readonly endpoint?: Endpoint;
  readonly persistentKeepalive?: number;
  readonly allowedIps: readonly Prefix[];
  readonly presharedKey?: Uint8Array;
}

export function planPeers(current: Device, wanted: readonly WantedPeer[]): PeerChange[] {
  const have = new Map<string, Peer>();
  for (const p of current.peers) have.set(toHex(p.publicKey), p);
  const changes: PeerChange[] = [];
  const seen = new Set<string>();
  for (const w of wanted) {
    const id = toHex(w.publicKey);
    if (seen.has(id)) continue;
    seen.add(id);
    const c = planPeer(have.get(id), w);
    if (c) changes.push(c);
  }
  for (const [id, p] of have) if (!seen.has(id)) changes.push({ publicKey: p.publicKey, remove: true });
  return changes;
}

/**
 * What the kernel must be told so a peer it has as `p` (or lacks) becomes `w`; undefined when nothing.
 * A `p` without a keep-alive has 0 (a wanted peer kept as the agent's model of the kernel).
 */
export function planPeer(p: (Pick<Peer, "endpoint" | "presharedKey" | "allowedIps"> & { readonly persistentKeepalive?: number }) | undefined, w: WantedPeer): PeerChange | undefined {
  if (!p) {
    return {
      publicKey: w.publicKey,
      allowedIps: w.allowedIps,
      replaceAllowedIps: true,
      ...(w.endpoint ? { endpoint: w.endpoint } : {}),
      ...(w.persistentKeepalive !== undefined ? { persistentKeepalive: w.persistentKeepalive } : {}),
      ...(w.presharedKey ? { presharedKey: w.presharedKey } : {}),
    };
  }
  const c: { -readonly [K in keyof PeerChange]: PeerChange[K] } = { publicKey: w.publicKey, updateOnly: true };
  let changed = false;
  if (w.endpoint && !(p.endpoint && endpointEqual(p.endpoint, w.endpoint))) {
    c.endpoint = w.endpoint;
    changed = true;
  }
  const keepalive = w.persistentKeepalive ?? 0;
  if (keepalive !== (p.persistentKeepalive ?? 0)) {
    c.persistentKeepalive = keepalive;
    changed = true;
  }
  const psk = w.presharedKey ?? ZERO_KEY;
  if (!ipEqual(psk, p.presharedKey ?? ZERO_KEY)) {
    c.presharedKey = psk;
    changed = true;
  }
  if (!samePrefixes(p.allowedIps, w.allowedIps)) {
    c.allowedIps = w.allowedIps;
    c.replaceAllowedIps = true;
    changed = true;
  }
  return changed ? c : undefined;
}

const ZERO_KEY = new Uint8Array(32);

export const endpointEqual = (a: Endpoint, b: Endpoint): boolean => a.port === b.port && ipEqual(a.ip, b.ip);

/** Allowed IPs as a set of masked prefixes. */
export function samePrefixes(a: readonly Prefix[], b: readonly Prefix[]): boolean {
  if (a.length === b.length && a.every((p, i) => p.bits === b[i]!.bits && ipEqual(p.ip, b[i]!.ip))) return true;
  const key = (p: Prefix) => formatPrefix(maskPrefix(p));
  const sa = new Set(a.map(key));
  const sb = new Set(b.map(key));
  if (sa.size !== sb.size) return false;
  for (const k of sa) if (!sb.has(k)) return false;
  return true;
}
