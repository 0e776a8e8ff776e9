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
  readonly remove?: boolean;
  /** Only change an existing peer; never create one. */
  readonly updateOnly?: boolean;
  /** All-zero bytes clear the key. */
  readonly presharedKey?: Uint8Array;
  readonly endpoint?: Endpoint;
  readonly persistentKeepalive?: number;
  /** With replaceAllowedIps the list is the whole set, else it is added. */
  readonly allowedIps?: readonly Prefix[];
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
