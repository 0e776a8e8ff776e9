// The relay bridge: for each peer reached over DERP, a UDP socket on
// 127.0.0.1 that is that peer's endpoint in the kernel. What the kernel
// sends there goes out over DERP to the peer's node key; what DERP brings
// from the peer is sent from that socket to the kernel's WireGuard port, so
// the kernel sees one steady endpoint per relayed peer.
import { type Endpoint, parseIp } from "../netaddr/ip.js";
import { latin1 } from "../util/bytes.js";

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

const LOOPBACK = parseIp("127.0.0.1");

export class RelayBridge {
  private readonly ports = new Map<string, { key: Uint8Array; port: LoopbackPort }>();

  constructor(
    private readonly deps: BridgeDeps,
    private wgPort: number,
  ) {}

  setWireGuardPort(port: number): void {
    this.wgPort = port;
  }

  /** The kernel endpoint that relays to `peer`; made on first use. */
  endpointFor(peer: Uint8Array): Endpoint {
    return { ip: LOOPBACK, port: this.portFor(peer).port };
  }

  /** True when `e` is one of the bridge's own loopback endpoints. */
  isBridgeEndpoint(e: Endpoint): boolean {
    if (e.ip.length !== 4 || e.ip[0] !== 127) return false;
    for (const { port } of this.ports.values()) if (port.port === e.port) return true;
    return false;
  }

  /** A WireGuard packet that came over DERP from `peer`, for the kernel. */
  deliver(peer: Uint8Array, data: Uint8Array): void {
    this.portFor(peer).send(data, this.wgPort);
  }

  /** Closes the sockets of peers that left the netmap. */
  retain(peers: Iterable<Uint8Array>): void {
    const keep = new Set<string>();
    for (const k of peers) keep.add(latin1(k));
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

  // Keyed by the key's bytes as a string: this runs for every relayed packet.
  private portFor(peer: Uint8Array): LoopbackPort {
    const id = latin1(peer);
    const have = this.ports.get(id);
    if (have) return have.port;
    const port = this.deps.openLoopback();
    const key = peer.slice();
    port.onMessage = (data, fromPort) => {
      // Only the kernel's own socket may use the bridge: anything else on the
      // router that finds the port must not reach the tailnet through it.
      if (fromPort !== this.wgPort) {
        this.deps.log("debug", `relay bridge on port ${port.port}: datagram from port ${fromPort} dropped`);
        return;
      }
      this.deps.sendRelayed(key, data);
    };
    this.ports.set(id, { key, port });
    return port;
  }
}
