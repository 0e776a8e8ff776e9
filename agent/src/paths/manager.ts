// Disco for all peers: who may talk to us (only netmap peers, by disco
// key), opening and sealing packets, and each peer's PeerPaths. Received
// packets in, sendable packets and kernel endpoint changes out.
import { hexToBytes } from "@noble/hashes/utils.js";
import type { Node } from "../control/tailcfg.js";
import { boxSharedKey } from "../crypto/box.js";
import { keyFromText } from "../crypto/keys.js";
import { openPacket, sealPacket, senderKey } from "../disco/message.js";
import type { Endpoint } from "../netaddr/ip.js";
import { toHex } from "../util/bytes.js";
import { type PathStatus, PeerPaths, type PathsDeps, type Received } from "./peer.js";

export type DiscoOut =
  | { readonly kind: "udp"; readonly to: Endpoint; readonly packet: Uint8Array }
  | { readonly kind: "derp"; readonly peer: Uint8Array; readonly region: number; readonly packet: Uint8Array }
  /** Set the kernel endpoint of `peer`: direct, or its relay bridge when undefined. */
  | { readonly kind: "endpoint"; readonly peer: Uint8Array; readonly endpoint?: Endpoint };

interface PeerEntry {
  /** The node key as hex (the byNode key itself); its bytes are made only for a packet out. */
  nodeHex: string;
  discoHex: string;
  /** Made when first used (see sharedKey): no closure per peer, the disco key read back from discoHex. */
  shared?: Uint8Array;
  region: number;
  paths: PeerPaths;
}

/** A peer's traffic as the kernel counts it. */
export interface PeerActivity {
  /** It carried traffic lately: worth heartbeats. */
  readonly active: boolean;
  readonly received?: Received;
}

export interface DiscoDeps {
  readonly random: (n: number) => Uint8Array;
  readonly ourNodeKey: Uint8Array;
  readonly ourDiscoPrivate: Uint8Array;
  readonly ourDiscoPublic: Uint8Array;
  readonly ourEndpoints: () => readonly Endpoint[];
}

/** Where a disco packet came from. */
export type DiscoVia = { readonly from: Endpoint } | { readonly derpRegion: number; readonly derpSrc: Uint8Array };

export class DiscoManager {
  /** Every pong from a netmap peer, before path discovery looks at it (for pings of our own). */
  onPong: (txid: Uint8Array, via: DiscoVia) => void = () => {};
  /** By disco key (hex), and by node key (hex). */
  private readonly byDisco = new Map<string, PeerEntry>();
  private readonly byNode = new Map<string, PeerEntry>();
  /** Node objects already taken in, with their key (hex): an unchanged node is not parsed again. */
  private readonly taken = new WeakMap<Node, string>();

  /** One for every peer's PeerPaths: a closure per peer costs memory at a thousand peers. */
  private readonly pathsDeps: PathsDeps;

  constructor(private readonly deps: DiscoDeps) {
    this.pathsDeps = { txid: () => deps.random(12), ourNodeKey: deps.ourNodeKey, ourEndpoints: deps.ourEndpoints };
  }

  /** Follows the netmap: new peers, changed disco keys, home regions, known endpoints. */
  setPeers(nodes: Iterable<Node>, regionOf: (n: Node) => number): DiscoOut[] {
    const out: DiscoOut[] = [];
    const seen = new Set<string>();
    for (const n of nodes) {
      const known = this.taken.get(n);
      if (known !== undefined && this.byNode.has(known)) {
        seen.add(known);
        continue;
      }
      if (!n.DiscoKey) continue;
      let nodeKey: Uint8Array, disco: Uint8Array;
      try {
        nodeKey = keyFromText("nodekey", n.Key);
        disco = keyFromText("discokey", n.DiscoKey);
      } catch {
        continue;
      }
      const nodeHex = toHex(nodeKey), discoHex = toHex(disco);
      seen.add(nodeHex);
      let e = this.byNode.get(nodeHex);
      if (e && e.discoHex !== discoHex) {
        // A new disco key: the peer restarted, what we knew of its paths is stale.
        this.byDisco.delete(e.discoHex);
        for (const a of e.paths.reset()) if (a.kind === "endpoint") out.push({ kind: "endpoint", peer: nodeKey });
        e = undefined;
      }
      if (!e) {
        // The shared key when first used: X25519 for each of a thousand peers at the first netmap costs seconds on a router.
        e = { nodeHex, discoHex, region: 0, paths: new PeerPaths(this.pathsDeps) };
        this.byNode.set(nodeHex, e);
        this.byDisco.set(discoHex, e);
      }
      e.region = regionOf(n);
      e.paths.setKnownEndpoints(n.Endpoints ?? []);
      this.taken.set(n, nodeHex);
    }
    if (seen.size !== this.byNode.size) for (const [id, e] of this.byNode) {
      if (!seen.has(id)) {
        this.byNode.delete(id);
        this.byDisco.delete(e.discoHex);
      }
    }
    return out;
  }

  status(nodeKeyHex: string): PathStatus | undefined {
    return this.byNode.get(nodeKeyHex)?.paths.status;
  }

  /**
   * A disco packet from UDP (`from`) or DERP (`derpRegion`). Packets from a
   * key outside the netmap, or that do not open, are dropped without a word.
   */
  receive(packet: Uint8Array, via: DiscoVia, now: number): DiscoOut[] {
    const sender = senderKey(packet);
    const e = sender && this.byDisco.get(toHex(sender));
    if (!e) return [];
    if ("derpRegion" in via && toHex(via.derpSrc) !== e.nodeHex) return [];
    const m = openPacket(packet, this.sharedKey(e));
    if (!m) return [];
    if (m.type === "pong") this.onPong(m.txid, via);
    let acts;
    if (m.type === "ping") acts = e.paths.onPing(m, "from" in via ? via.from : { derpRegion: via.derpRegion }, now);
    else if (m.type === "pong") acts = "from" in via ? e.paths.onPong(m, via.from, now) : [];
    else acts = e.paths.onCallMeMaybe(m.endpoints, now);
    return this.seal(e, acts);
  }

  /** A ping of our own (meshwrt ping): over the peer's direct path if it has one, else over the relay. */
  probe(nodeKeyHex: string, txid: Uint8Array): DiscoOut | undefined {
    const e = this.byNode.get(nodeKeyHex);
    if (!e) return undefined;
    const st = e.paths.status;
    const packet = sealPacket(this.deps.ourDiscoPublic, this.sharedKey(e), this.deps.random(24), { type: "ping", txid, nodeKey: this.deps.ourNodeKey });
    return st.kind === "direct" ? { kind: "udp", to: st.endpoint, packet } : { kind: "derp", peer: hexToBytes(e.nodeHex), region: e.region, packet };
  }

  /** Periodic work; `activity(nodeKeyHex)` says which peers carried traffic lately and what the kernel received. */
  tick(now: number, activity: (nodeKeyHex: string) => PeerActivity): DiscoOut[] {
    const out: DiscoOut[] = [];
    for (const [id, e] of this.byNode) {
      const a = activity(id);
      out.push(...this.seal(e, e.paths.tick(now, a.active, a.received)));
    }
    return out;
  }

  private sharedKey(e: PeerEntry): Uint8Array {
    return (e.shared ??= boxSharedKey(this.deps.ourDiscoPrivate, hexToBytes(e.discoHex)));
  }

  private seal(e: PeerEntry, acts: ReturnType<PeerPaths["tick"]>): DiscoOut[] {
    return acts.map((a): DiscoOut => {
      const peer = hexToBytes(e.nodeHex);
      if (a.kind === "endpoint") return a.endpoint ? { kind: "endpoint", peer, endpoint: a.endpoint } : { kind: "endpoint", peer };
      const packet = sealPacket(this.deps.ourDiscoPublic, this.sharedKey(e), this.deps.random(24), a.message);
      return a.kind === "udp" ? { kind: "udp", to: a.to, packet } : { kind: "derp", peer, region: e.region, packet };
    });
  }
}
