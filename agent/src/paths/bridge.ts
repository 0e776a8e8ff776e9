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
// points the kernel back at the direct endpoint: a packet delivered to the
// kernel may move it (the kernel decides once it has decrypted it); a packet
// the kernel sends here shows that it has moved.
//
// Per packet the bridge makes no address, no string and no copy of its own:
// a socket is connected to the kernel's WireGuard port (the kernel drops
// datagrams from anywhere else), and what the kernel sends is read straight
// into a batch buffer behind room for the DERP frame's head, framed in place
// and sent to the relay a batch (up to one TLS record) at a time.
import { putSendPacketHead, SEND_PACKET_HEAD } from "../derp/frame.js";
import type { LoopbackUdp } from "../host/host.js";
import { type Endpoint, parseIp } from "../netaddr/ip.js";

/** A relayed peer's socket on 127.0.0.1, connected to the kernel's WireGuard port (host.ts LoopbackUdp). */
export type LoopbackPort = LoopbackUdp;

export interface BridgeDeps {
  /** A socket on 127.0.0.1 connected to 127.0.0.1:`wgPort`. */
  openLoopback(wgPort: number): LoopbackPort;
  /**
   * `packets` packets from the kernel for `peer`, already DERP SendPacket
   * frames (derp/frame.ts) in `frames`; `id` is the key's bytes as a string
   * (one character a byte), made once per peer, not per batch. `frames` is a
   * view of the bridge's batch buffer, read again once this returns: written
   * out at once or copied.
   */
  sendRelayed(peer: Uint8Array, id: string, frames: Uint8Array, packets: number): void;
  log(level: "debug" | "warn", msg: string): void;
}

/** What went through the bridge one way since the agent started. */
export interface BridgeFlow {
  packets: number;
  bytes: number;
  /** Of the packets, WireGuard transport data (message type 4): what a direct path must not leave here. */
  data: number;
  /**
   * Packets lost on the way: to the kernel, those the socket did not take (its
   * buffer full, or an error); from the kernel, those it dropped at a full
   * bridge socket (not among the packets, which count what was read).
   */
  dropped: number;
}

export interface BridgeCounters {
  /** From DERP to the kernel. */
  readonly toKernel: BridgeFlow;
  /** From the kernel to DERP. */
  readonly fromKernel: BridgeFlow;
}

/**
 * The receive buffer asked for each bridge socket (the kernel doubles it for
 * its own overhead: ~110 full-size datagrams, two GSO bursts of ~45). It is
 * the relay's queue from the kernel: at the ~150-300 packets/s a slow router
 * relays, the 1 MB it was made relayed latency reach seconds under load;
 * tailscaled drops past 32 packets queued for a peer. Drops are counted
 * (counters.fromKernel.dropped) and TCP in the tunnel backs off.
 */
export const BRIDGE_RECEIVE_BUFFER = 128 << 10;

/** One TLS record's worth of plaintext: a batch from the kernel goes to the relay before it would pass this. */
const RECORD_BYTES = 16 << 10;
/** A full-size frame (a 1,500-byte datagram and its head): the batch leaves once another may not fit in its record. */
const FULL_FRAME = SEND_PACKET_HEAD + 1500;
/** The largest datagram: a read always has room for one. */
const MAX_DATAGRAM = 65535;
/** Datagrams read from one socket a turn, so one busy peer cannot starve the rest. */
const READS_PER_TURN = 64;

const LOOPBACK = parseIp("127.0.0.1");
const WG_TRANSPORT_DATA = 4;

/**
 * Where a peer's kernel endpoint stands, as far as the bridge knows:
 * - relay: the bridge is its endpoint;
 * - direct: pinned direct, nothing through the bridge since;
 * - delivered: pinned direct, and a packet from DERP went to the kernel, which may move the endpoint here;
 * - roamed: pinned direct, and the kernel sent here: it has moved. Nothing more is said until pinned again.
 */
type PinState = "relay" | "direct" | "delivered" | "roamed";

/** How a peer pinned direct may have left it: "delivered" (a packet from DERP went to the kernel) or "kernel" (the kernel sent one here). */
export type RoamEvidence = "delivered" | "kernel";

interface BridgePort {
  readonly key: Uint8Array;
  /** The key's bytes as a string: the bridge's map key, and the netmap's. */
  readonly id: string;
  readonly port: LoopbackPort;
  pin: PinState;
}

export class RelayBridge {
  /** Set by the user: the bridge carried a packet for a peer pinned direct, said once for each kind of evidence per pin. */
  onRoamed: (peer: Uint8Array, evidence: RoamEvidence) => void = () => {};
  private readonly flows: BridgeCounters = {
    toKernel: { packets: 0, bytes: 0, data: 0, dropped: 0 },
    fromKernel: { packets: 0, bytes: 0, data: 0, dropped: 0 },
  };
  /** What the kernel dropped at sockets since closed. */
  private closedDrops = 0;
  private readonly ports = new Map<string, BridgePort>();
  /** Datagrams from the kernel are read here, each behind room for its frame's head; a batch leaves as a view, written out at once. */
  private readonly batch = new Uint8Array(RECORD_BYTES + SEND_PACKET_HEAD + MAX_DATAGRAM);

  constructor(
    private readonly deps: BridgeDeps,
    private wgPort: number,
  ) {}

  /** The kernel's WireGuard port moved: every socket is pointed at the new one. */
  get counters(): BridgeCounters {
    let dropped = this.closedDrops;
    for (const p of this.ports.values()) dropped += p.port.drops();
    this.flows.fromKernel.dropped = dropped;
    return this.flows;
  }

  setWireGuardPort(port: number): void {
    if (port === this.wgPort) return;
    this.wgPort = port;
    for (const p of this.ports.values()) {
      try {
        p.port.connect(port);
      } catch (e) {
        this.deps.log("warn", `relay bridge on port ${p.port.port}: ${(e as Error).message}`);
      }
    }
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
    this.portFor(peer).pin = direct ? "direct" : "relay";
  }

  /** A WireGuard packet that came over DERP from `peer`, for the kernel. */
  deliver(peer: Uint8Array, data: Uint8Array): void {
    const p = this.portFor(peer);
    const c = this.flows.toKernel;
    c.packets++;
    c.bytes += data.length;
    if (data[0] === WG_TRANSPORT_DATA) c.data++;
    try {
      if (!p.port.send(data)) c.dropped++;
    } catch (e) {
      // Refused (the kernel's port closed for a moment): WireGuard retransmits.
      c.dropped++;
      this.deps.log("debug", `relay bridge on port ${p.port.port}: ${(e as Error).message}`);
    }
    if (p.pin === "direct") {
      p.pin = "delivered";
      this.onRoamed(p.key, "delivered");
    }
  }

  /** Closes the sockets of peers that left the netmap. */
  retain(peers: Iterable<Uint8Array>): void {
    const keep = new Set<string>();
    for (const k of peers) keep.add(idOf(k));
    for (const [id, p] of this.ports) {
      if (!keep.has(id)) {
        this.closedDrops += p.port.drops();
        p.port.close();
        this.ports.delete(id);
      }
    }
  }

  close(): void {
    this.retain([]);
  }

  /** What the kernel sent to `p`'s socket, read into the batch buffer and framed there, to the relay. */
  private fromKernel(p: BridgePort): void {
    const b = this.batch;
    const c = this.flows.fromKernel;
    let fill = 0, packets = 0, any = false;
    for (let i = 0; i < READS_PER_TURN; i++) {
      let n: number | null;
      try {
        n = p.port.readInto(b, fill + SEND_PACKET_HEAD);
      } catch (e) {
        // An ICMP error the kernel queued on the socket (its port closed for a moment): read once, then gone.
        this.deps.log("debug", `relay bridge on port ${p.port.port}: ${(e as Error).message}`);
        continue;
      }
      if (n === null) break;
      c.packets++;
      c.bytes += n;
      if (n && b[fill + SEND_PACKET_HEAD] === WG_TRANSPORT_DATA) c.data++;
      putSendPacketHead(b, fill, p.key, n);
      fill += SEND_PACKET_HEAD + n;
      packets++;
      any = true;
      // A batch past one record would go as a full record and a scrap of one.
      if (fill > RECORD_BYTES - FULL_FRAME) {
        this.deps.sendRelayed(p.key, p.id, b.subarray(0, fill), packets);
        fill = packets = 0;
      }
    }
    if (packets) this.deps.sendRelayed(p.key, p.id, b.subarray(0, fill), packets);
    if (any && (p.pin === "direct" || p.pin === "delivered")) {
      p.pin = "roamed";
      this.onRoamed(p.key, "kernel");
    }
  }

  private portFor(peer: Uint8Array): BridgePort {
    const id = idOf(peer);
    const have = this.ports.get(id);
    if (have) return have;
    const port = this.deps.openLoopback(this.wgPort);
    const p: BridgePort = { key: peer.slice(), id, port, pin: "relay" };
    port.onReadable = () => this.fromKernel(p);
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
