// What a WireGuard device is, as the kernel reports it and as the agent asks
// for it. Keys are 32 raw bytes; the same model serves netlink and UAPI.
import type { Endpoint, Prefix } from "../netaddr/ip.js";

export interface Peer {
  readonly publicKey: Uint8Array;
  readonly presharedKey?: Uint8Array;
  readonly endpoint?: Endpoint;
  /** Seconds; 0 is off. */
  readonly persistentKeepalive: number;
  readonly allowedIps: readonly Prefix[];
  /** Milliseconds since the epoch; 0 when there was never a handshake. */
  readonly lastHandshakeMs: number;
  readonly rxBytes: bigint;
  readonly txBytes: bigint;
}

export interface Device {
  readonly name: string;
  readonly ifindex: number;
  readonly privateKey?: Uint8Array;
  readonly publicKey?: Uint8Array;
  readonly listenPort: number;
  readonly fwmark: number;
  readonly peers: readonly Peer[];
}

export interface PeerChange {
  readonly publicKey: Uint8Array;
  /** The public key as 64 lowercase hex digits, when the change keeps it so: netlink writes it from the text and does not read publicKey. */
  readonly publicKeyHex?: string;
  readonly remove?: boolean;
  /** Only change an existing peer; never create one. */
  readonly updateOnly?: boolean;
  /** All-zero bytes clear the key. */
  readonly presharedKey?: Uint8Array;
  readonly endpoint?: Endpoint;
  readonly persistentKeepalive?: number;
  /** With replaceAllowedIps the list is the whole set, else it is added. */
  readonly allowedIps?: readonly Prefix[];
  /** allowedIps packed (wg/wanted.ts packPrefixes), when the change keeps them so: netlink writes them from the text and does not read allowedIps. */
  readonly packedIps?: string;
  readonly replaceAllowedIps?: boolean;
}

export interface DeviceChange {
  readonly name: string;
  readonly privateKey?: Uint8Array;
  readonly listenPort?: number;
  readonly fwmark?: number;
  readonly replacePeers?: boolean;
  readonly peers?: readonly PeerChange[];
}

/**
 * One peer of a device read, read where it lies: the same object stands for each peer in turn,
 * so a visitor takes what it needs during its visit. Counters are numbers (exact to 2^53 bytes).
 */
export interface PeerReading {
  readonly persistentKeepalive: number;
  readonly lastHandshakeMs: number;
  readonly rxBytes: number;
  readonly txBytes: number;
  /** Decoded on asking (an object): only for the peers that need it. */
  endpoint(): Endpoint | undefined;
  /** Whether its allowed IPs are the prefixes of `list` (masked, in any order), or of a list packed by wg/wanted.ts packPrefixes. */
  allowedIpsAre(list: readonly Prefix[] | string): boolean;
}

/** A device's peers as read, each with its id (public key hex), without an object per peer. */
export interface PeerDump {
  forEach(visit: (id: string, p: PeerReading) => void): void;
}
