// One interface to a WireGuard device, whoever runs it: the kernel (generic
// netlink) or wireguard-go (UAPI).
import type { Prefix } from "../netaddr/ip.js";
import { toHex } from "../util/bytes.js";
import type { Device, DeviceChange, Peer, PeerDump, PeerReading } from "./model.js";
import { samePrefixes } from "./reconcile.js";
import { unpackPrefixes } from "./wanted.js";

export interface WireGuardApi {
  readonly kind: "kernel" | "wireguard-go";
  get(name: string): Promise<Device>;
  set(change: DeviceChange): Promise<void>;
  /** The peers' counters and settings read in place (the kernel's dump); without it, from get(). */
  readPeers?(name: string): Promise<PeerDump>;
}

/** The device's peers, as cheaply as `wg` can read them: what the activity reads every few seconds. */
export async function readPeers(wg: WireGuardApi, name: string): Promise<PeerDump> {
  if (wg.readPeers) return wg.readPeers(name);
  return peerDump((await wg.get(name)).peers.map((p) => [toHex(p.publicKey), p] as const));
}

/** Peers already decoded (wireguard-go's answer, a test's), read through the same interface. */
export function peerDump(peers: Iterable<readonly [string, Peer]>): PeerDump {
  return {
    forEach(visit) {
      for (const [id, p] of peers) visit(id, new DecodedPeer(p));
    },
  };
}

class DecodedPeer implements PeerReading {
  constructor(private readonly p: Peer) {}
  get persistentKeepalive() {
    return this.p.persistentKeepalive;
  }
  get lastHandshakeMs() {
    return this.p.lastHandshakeMs;
  }
  get rxBytes() {
    return Number(this.p.rxBytes);
  }
  get txBytes() {
    return Number(this.p.txBytes);
  }
  endpoint() {
    return this.p.endpoint;
  }
  allowedIpsAre(list: readonly Prefix[] | string) {
    return samePrefixes(this.p.allowedIps, typeof list === "string" ? unpackPrefixes(list) : list);
  }
}
