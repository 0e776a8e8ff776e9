// From the peers the agent wants to the smallest change of the device the
// kernel has: an unchanged peer is never touched, so a live session never
// re-handshakes because the netmap changed elsewhere.
import { type Endpoint, formatPrefix, ipEqual, maskPrefix, type Prefix } from "../netaddr/ip.js";
import { toHex } from "../util/bytes.js";
import type { Device, Peer, PeerChange } from "./model.js";

export interface WantedPeer {
  /** The key as hex, when the peer keeps it (else it is made from publicKey). */
  readonly id?: string;
  readonly publicKey: Uint8Array;
  /** Undefined leaves the kernel's endpoint as it is (roaming or not yet known). */
  readonly endpoint?: Endpoint;
  readonly persistentKeepalive?: number;
  readonly allowedIps: readonly Prefix[];
  /** The allowed IPs packed (wg/wanted.ts packPrefixes), when the peer keeps them so: compared with a dump without unpacking. */
  readonly packedIps?: string;
  readonly presharedKey?: Uint8Array;
  /** The same peer at another endpoint, when a spread would not copy it (its fields behind getters). */
  at?(endpoint: Endpoint): WantedPeer;
}

/** The peer's key as hex: the key of the peer maps. */
export const peerId = (w: WantedPeer): string => w.id ?? toHex(w.publicKey);

/** The same wanted peer at `endpoint`. */
export const atEndpoint = (w: WantedPeer, endpoint: Endpoint): WantedPeer => (w.at ? w.at(endpoint) : { ...w, endpoint });

export function planPeers(current: Device, wanted: readonly WantedPeer[]): PeerChange[] {
  const have = new Map<string, Peer>();
  for (const p of current.peers) have.set(toHex(p.publicKey), p);
  const changes: PeerChange[] = [];
  const seen = new Set<string>();
  for (const w of wanted) {
    const id = peerId(w);
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
  if (!p) return new AddedPeer(w);
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

/**
 * A peer the kernel lacks, made as `w` wants it. Its fields are read from `w` when the change is
 * encoded: a wanted peer that keeps its bytes packed (wg/wanted.ts) makes them then, one peer at
 * a time, not for a plan of thousands at once (5,000 peers: ~8 MB of QuickJS heap).
 */
class AddedPeer implements PeerChange {
  readonly replaceAllowedIps = true;
  constructor(private readonly w: WantedPeer) {}
  get publicKey(): Uint8Array {
    return this.w.publicKey;
  }
  /** The key and the allowed IPs as the wanted peer keeps them, when it keeps them as text: netlink writes them without making their bytes (~30 us a peer in QuickJS). */
  get publicKeyHex(): string | undefined {
    return this.w.id;
  }
  get packedIps(): string | undefined {
    return this.w.packedIps;
  }
  get allowedIps(): readonly Prefix[] {
    return this.w.allowedIps;
  }
  get endpoint(): Endpoint | undefined {
    return this.w.endpoint;
  }
  get persistentKeepalive(): number | undefined {
    return this.w.persistentKeepalive;
  }
  get presharedKey(): Uint8Array | undefined {
    return this.w.presharedKey;
  }
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
