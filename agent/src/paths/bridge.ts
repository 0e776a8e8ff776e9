// The relay bridge: for each peer reached over DERP, a UDP socket on
// 127.0.0.1 that is that peer's endpoint in the kernel. What the kernel
// sends there goes out over DERP to the peer's node key; what DERP brings
// from the peer is sent from that socket to the kernel's WireGuard port, so
// the kernel sees one steady endpoint per relayed peer.
//
// The kernel moves a peer's endpoint to wherever its last authenticated
// packet came from, so one packet through the bridge would put a peer with a
// direct path back on the relay. For a peer pinned direct, the bridge says
// so (onRoamed) when it carries anything for it, and the direct-path glue
// points the kernel back at the direct endpoint.
import { type Endpoint, parseIp } from "../netaddr/ip.js";

export interface LoopbackPort {
  readonly port: number;
  send(data: Uint8Array, port: number): void;
  close(): void;
  /** Set by the bridge: a datagram from 127.0.0.1:`fromPort`. */
  onMessage: (data: Uint8Array, fromPort: number) => void;
}

export interface BridgeDeps {
  openLoopback(): LoopbackPort;
  sendRelayed(peer: Uint8Array, data: Uint8Array): void;
  log(level: "debug" | "warn", msg: string): void;
}

/** What went through the bridge one way since the agent started. */
export interface BridgeFlow {
  packets: number;
  bytes: number;
  /** Of the packets, WireGuard transport data (message type 4): what a direct path must not leave here. */
  data: number;
}

export interface BridgeCounters {
  /** From DERP to the kernel. */
  readonly toKernel: BridgeFlow;
  /** From the kernel to DERP. */
  readonly fromKernel: BridgeFlow;
}

/**
 * The receive buffer of each bridge socket: the kernel hands WireGuard a
 * TCP burst as one GSO batch and sends its ~45 datagrams at once; the
 * default (~200 KB, some 90 datagrams) dropped them while the agent was
 * busy writing to the relay, and TCP through the relay halved its window
 * at every drop.
 */
export const BRIDGE_RECEIVE_BUFFER = 1 << 20;

const LOOPBACK = parseIp("127.0.0.1");
const WG_TRANSPORT_DATA = 4;

interface BridgePort {
  readonly key: Uint8Array;
  readonly port: LoopbackPort;
  /** The peer's kernel endpoint should be direct: traffic here is reported once, until pinned again. */
  pinned: boolean;
}

export class RelayBridge {
  /** Set by the user: the bridge carried a packet for a peer pinned direct (once per pin). */
  onRoamed: (peer: Uint8Array) => void = () => {};
  readonly counters: BridgeCounters = {
    toKernel: { packets: 0, bytes: 0, data: 0 },
    fromKernel: { packets: 0, bytes: 0, data: 0 },
  };
  private readonly ports = new Map<string, BridgePort>();

  constructor(
    private readonly deps: BridgeDeps,
    private wgPort: number,
  ) {}

  setWireGuardPort(port: number): void {
    this.wgPort = port;
  }

  /** The kernel endpoint that relays to `peer`; made on first use. */
  endpointFor(peer: Uint8Array): Endpoint {
    return { ip: LOOPBACK, port: this.portFor(peer).port.port };
  }

  /** True when `e` is one of the bridge's own loopback endpoints. */
  isBridgeEndpoint(e: Endpoint): boolean {
    if (e.ip.length !== 4 || e.ip[0] !== 127) return false;
    for (const { port } of this.ports.values()) if (port.port === e.port) return true;
    return false;
  }

  /**
   * Whether `peer`'s kernel endpoint was set direct (true) or to the relay.
   * Pinning direct again re-arms the report of the next packet carried here.
   */
  pin(peer: Uint8Array, direct: boolean): void {
    this.portFor(peer).pinned = direct;
  }

  /** A WireGuard packet that came over DERP from `peer`, for the kernel. */
  deliver(peer: Uint8Array, data: Uint8Array): void {
    const p = this.portFor(peer);
    const c = this.counters.toKernel;
    c.packets++;
    c.bytes += data.length;
    if (data[0] === WG_TRANSPORT_DATA) c.data++;
    p.port.send(data, this.wgPort);
    if (p.pinned) this.roamed(p);
  }

  /** Closes the sockets of peers that left the netmap. */
  retain(peers: Iterable<Uint8Array>): void {
    const keep = new Set<string>();
    for (const k of peers) keep.add(idOf(k));
    for (const [id, p] of this.ports) {
      if (!keep.has(id)) {
        p.port.close();
        this.ports.delete(id);
      }
    }
  }

  close(): void {
    this.retain([]);
  }

  private roamed(p: BridgePort): void {
    p.pinned = false;
    this.onRoamed(p.key);
  }

  private portFor(peer: Uint8Array): BridgePort {
    const id = idOf(peer);
    const have = this.ports.get(id);
    if (have) return have;
    const port = this.deps.openLoopback();
    const p: BridgePort = { key: peer.slice(), port, pinned: false };
    const c = this.counters.fromKernel;
    port.onMessage = (data, fromPort) => {
      // Only the kernel's own socket may use the bridge: anything else on the
      // router that finds the port must not reach the tailnet through it.
      if (fromPort !== this.wgPort) {
        this.deps.log("debug", `relay bridge on port ${port.port}: datagram from port ${fromPort} dropped`);
        return;
      }
      c.packets++;
      c.bytes += data.length;
      if (data[0] === WG_TRANSPORT_DATA) c.data++;
      this.deps.sendRelayed(p.key, data);
      if (p.pinned) this.roamed(p);
    };
    this.ports.set(id, p);
    return p;
  }
}

/**
 * The key's bytes as a string, a Map key: this runs for every relayed packet,
 * so the typed array goes to fromCharCode as it is, with no copy to an array.
 */
function idOf(key: Uint8Array): string {
  return String.fromCharCode.apply(null, key as unknown as number[]);
}
