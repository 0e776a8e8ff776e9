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
export function planPeer(
  p: (Pick<Peer, "endpoint" | "presharedKey" | "allowedIps"> & { readonly persistentKeepalive?: number; readonly packedIps?: string }) | undefined,
  w: WantedPeer,
): PeerChange | undefined {
  if (!p) return new AddedPeer(w);
  const endpoint = w.endpoint && !(p.endpoint && endpointEqual(p.endpoint, w.endpoint)) ? w.endpoint : undefined;
  const keepalive = w.persistentKeepalive ?? 0;
  const keepaliveChanged = keepalive !== (p.persistentKeepalive ?? 0);
  const psk = w.presharedKey ?? ZERO_KEY;
  const pskChanged = !ipEqual(psk, p.presharedKey ?? ZERO_KEY);
  // Packed allowed IPs compared as they are (a wanted peer's unpacked is new objects each time): the model's, or a dump's in the same order.
  const packed = w.packedIps;
  const same = packed !== undefined && (p.packedIps !== undefined ? p.packedIps === packed : packedInOrder(p.allowedIps, packed));
  const ipsChanged = !same && !samePrefixes(p.allowedIps, w.allowedIps);
  // The change made only for a peer that has one: its key's bytes cost ~15 us (a reconcile plans every peer).
  if (!endpoint && !keepaliveChanged && !pskChanged && !ipsChanged) return undefined;
  const c: { -readonly [K in keyof PeerChange]: PeerChange[K] } = { publicKey: w.publicKey, updateOnly: true };
  if (endpoint) c.endpoint = endpoint;
  if (keepaliveChanged) c.persistentKeepalive = keepalive;
  if (pskChanged) c.presharedKey = psk;
  if (ipsChanged) {
    c.allowedIps = w.allowedIps;
    c.replaceAllowedIps = true;
  }
  return c;
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

/** Whether `list` is the packed prefixes (wg/wanted.ts packPrefixes) one for one, in their order. */
function packedInOrder(list: readonly Prefix[], packed: string): boolean {
  let o = 0;
  for (const p of list) {
    const len = p.ip.length;
    if (o >= packed.length || packed.charCodeAt(o) !== len || packed.charCodeAt(o + 1) !== p.bits) return false;
    for (let k = 0; k < len; k++) if (packed.charCodeAt(o + 2 + k) !== p.ip[k]) return false;
    o += 2 + len;
  }
  return o === packed.length;
}

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
