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
    const p = have.get(id);
    if (!p) {
      changes.push({
        publicKey: w.publicKey,
        allowedIps: w.allowedIps,
        replaceAllowedIps: true,
        ...(w.endpoint ? { endpoint: w.endpoint } : {}),
        ...(w.persistentKeepalive !== undefined ? { persistentKeepalive: w.persistentKeepalive } : {}),
        ...(w.presharedKey ? { presharedKey: w.presharedKey } : {}),
      });
      continue;
    }
    const c: { -readonly [K in keyof PeerChange]: PeerChange[K] } = { publicKey: w.publicKey, updateOnly: true };
    let changed = false;
    if (w.endpoint && !(p.endpoint && p.endpoint.port === w.endpoint.port && ipEqual(p.endpoint.ip, w.endpoint.ip))) {
      c.endpoint = w.endpoint;
      changed = true;
    }
    const keepalive = w.persistentKeepalive ?? 0;
    if (keepalive !== p.persistentKeepalive) {
      c.persistentKeepalive = keepalive;
      changed = true;
    }
    const psk = w.presharedKey ?? new Uint8Array(32);
    if (!ipEqual(psk, p.presharedKey ?? new Uint8Array(32))) {
      c.presharedKey = psk;
      changed = true;
    }
    if (!samePrefixes(p.allowedIps, w.allowedIps)) {
      c.allowedIps = w.allowedIps;
      c.replaceAllowedIps = true;
      changed = true;
    }
    if (changed) changes.push(c);
  }
  for (const [id, p] of have) if (!seen.has(id)) changes.push({ publicKey: p.publicKey, remove: true });
  return changes;
}

function samePrefixes(a: readonly Prefix[], b: readonly Prefix[]): boolean {
  const key = (p: Prefix) => formatPrefix(maskPrefix(p));
  const sa = new Set(a.map(key));
  const sb = new Set(b.map(key));
  if (sa.size !== sb.size) return false;
  for (const k of sa) if (!sb.has(k)) return false;
  return true;
}
