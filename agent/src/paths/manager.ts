// Disco for all peers: who may talk to us (only netmap peers, by disco
// key), opening and sealing packets, and each peer's PeerPaths. Received
// packets in, sendable packets and kernel endpoint changes out.
import type { Node } from "../control/tailcfg.js";
import { boxSharedKey } from "../crypto/box.js";
import { keyFromHex, keyFromText } from "../crypto/keys.js";
import { openPacket, sealPacket, senderKey } from "../disco/message.js";
import type { Endpoint } from "../netaddr/ip.js";
import { toHex } from "../util/bytes.js";
import { type PathStatus, PeerPaths, type PathsDeps, type Received } from "./peer.js";

export type DiscoOut =
  | { readonly kind: "udp"; readonly to: Endpoint; readonly packet: Uint8Array }
  | { readonly kind: "derp"; readonly peer: Uint8Array; readonly region: number; readonly packet: Uint8Array }
  /** Set the kernel endpoint of `peer`: direct, or its relay bridge when undefined. */
  | { readonly kind: "endpoint"; readonly peer: Uint8Array; readonly endpoint?: Endpoint };

/**
 * A peer's path state, made when it first sees disco (a packet, a probe, traffic): most peers of
 * a big tailnet never carry any, and 5,000 peers' PeerPaths cost ~2 MB of a router's memory.
 */
interface PeerState {
  readonly paths: PeerPaths;
  /** Made when first used (see sharedKey), from the node's disco key. */
  shared?: Uint8Array;
}

const RELAY: PathStatus = { kind: "relay" };

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
  /**
   * The netmap's nodes by their key texts ("nodekey:" and "discokey:" with lowercase hex), the
   * node's own strings: no copy of a key per peer, and an unchanged node object is not parsed again.
   */
  private readonly byNode = new Map<string, Node>();
  private readonly byDisco = new Map<string, Node>();
  /** By node key text: only the peers that saw disco. */
  private readonly state = new Map<string, PeerState>();
  private regionOf: (n: Node) => number = () => 0;

  /** One for every peer's PeerPaths: a closure per peer costs memory at a thousand peers. */
  private readonly pathsDeps: PathsDeps;

  constructor(private readonly deps: DiscoDeps) {
    this.pathsDeps = { txid: () => deps.random(12), ourNodeKey: deps.ourNodeKey, ourEndpoints: deps.ourEndpoints };
  }

  /** Follows the netmap: new peers, changed disco keys, home regions, known endpoints. */
  setPeers(nodes: Iterable<Node>, regionOf: (n: Node) => number): DiscoOut[] {
    this.regionOf = regionOf;
    const out: DiscoOut[] = [];
    const seen = new Set<string>();
    for (const n of nodes) {
      // A node object already taken in was checked then.
      const had = this.byNode.get(n.Key);
      if (had === n) {
        seen.add(n.Key);
        continue;
      }
      // nk is n.Key itself when it is a key: `had` is what the map holds for it.
      const nk = keyText("nodekey", n.Key), dk = n.DiscoKey ? keyText("discokey", n.DiscoKey) : undefined;
      if (!nk || !dk) continue;
      seen.add(nk);
      const hadDisco = had && keyText("discokey", had.DiscoKey ?? "");
      if (hadDisco !== undefined && hadDisco !== dk) {
        // A new disco key: the peer restarted, what we knew of its paths is stale.
        this.byDisco.delete(hadDisco);
        const s = this.state.get(nk);
        this.state.delete(nk);
        if (s) for (const a of s.paths.reset()) if (a.kind === "endpoint") out.push({ kind: "endpoint", peer: keyFromHex(nk.slice(8)) });
      }
      this.byNode.set(nk, n);
      this.byDisco.set(dk, n);
      // Most peers never saw disco (no state): no lookup for them while none did.
      if (this.state.size) this.state.get(nk)?.paths.setKnownEndpoints(n.Endpoints ?? []);
    }
    if (seen.size !== this.byNode.size) for (const [nk, n] of this.byNode) {
      if (seen.has(nk)) continue;
      this.byNode.delete(nk);
      this.state.delete(nk);
      const dk = keyText("discokey", n.DiscoKey ?? "");
      if (dk && this.byDisco.get(dk) === n) this.byDisco.delete(dk);
    }
    return out;
  }

  status(nodeKeyHex: string): PathStatus | undefined {
    const nk = `nodekey:${nodeKeyHex}`;
    if (!this.byNode.has(nk)) return undefined;
    return this.state.get(nk)?.paths.status ?? RELAY;
  }

  /**
   * A disco packet from UDP (`from`) or DERP (`derpRegion`). Packets from a
   * key outside the netmap, or that do not open, are dropped without a word.
   */
  receive(packet: Uint8Array, via: DiscoVia, now: number): DiscoOut[] {
    const sender = senderKey(packet);
    const n = sender && this.byDisco.get(`discokey:${toHex(sender)}`);
    if (!n) return [];
    const nk = keyText("nodekey", n.Key)!;
    if ("derpRegion" in via && `nodekey:${toHex(via.derpSrc)}` !== nk) return [];
    const e = this.stateOf(nk, n);
    const m = openPacket(packet, this.sharedKey(e, n));
    if (!m) return [];
    if (m.type === "pong") this.onPong(m.txid, via);
    let acts;
    if (m.type === "ping") acts = e.paths.onPing(m, "from" in via ? via.from : { derpRegion: via.derpRegion }, now);
    else if (m.type === "pong") acts = "from" in via ? e.paths.onPong(m, via.from, now) : [];
    else acts = e.paths.onCallMeMaybe(m.endpoints, now);
    return this.seal(nk, n, e, acts);
  }

  /** A ping of our own (meshwrt ping): over the peer's direct path if it has one, else over the relay. */
  probe(nodeKeyHex: string, txid: Uint8Array): DiscoOut | undefined {
    const nk = `nodekey:${nodeKeyHex}`;
    const n = this.byNode.get(nk);
    if (!n) return undefined;
    const e = this.stateOf(nk, n);
    const st = e.paths.status;
    const packet = sealPacket(this.deps.ourDiscoPublic, this.sharedKey(e, n), this.deps.random(24), { type: "ping", txid, nodeKey: this.deps.ourNodeKey });
    return st.kind === "direct" ? { kind: "udp", to: st.endpoint, packet } : { kind: "derp", peer: keyFromHex(nodeKeyHex), region: this.regionOf(n), packet };
  }

  /** Periodic work; `activity(nodeKeyHex)` says which peers carried traffic lately and what the kernel received. */
  tick(now: number, activity: (nodeKeyHex: string) => PeerActivity): DiscoOut[] {
    const out: DiscoOut[] = [];
    for (const [nk, n] of this.byNode) {
      const a = activity(nk.slice(8));
      let e = this.state.get(nk);
      // A peer without path state that carries no traffic has nothing to do (PeerPaths.tick would say so).
      if (!e && !a.active) continue;
      e ??= this.stateOf(nk, n);
      out.push(...this.seal(nk, n, e, e.paths.tick(now, a.active, a.received)));
    }
    return out;
  }

  private stateOf(nk: string, n: Node): PeerState {
    let e = this.state.get(nk);
    if (!e) {
      e = { paths: new PeerPaths(this.pathsDeps) };
      e.paths.setKnownEndpoints(n.Endpoints ?? []);
      this.state.set(nk, e);
    }
    return e;
  }

  /** The shared key when first used: X25519 for each of a thousand peers at the first netmap costs seconds on a router. */
  private sharedKey(e: PeerState, n: Node): Uint8Array {
    return (e.shared ??= boxSharedKey(this.deps.ourDiscoPrivate, keyFromText("discokey", n.DiscoKey!)));
  }

  private seal(nk: string, n: Node, e: PeerState, acts: ReturnType<PeerPaths["tick"]>): DiscoOut[] {
    return acts.map((a): DiscoOut => {
      const peer = keyFromHex(nk.slice(8));
      if (a.kind === "endpoint") return a.endpoint ? { kind: "endpoint", peer, endpoint: a.endpoint } : { kind: "endpoint", peer };
      const packet = sealPacket(this.deps.ourDiscoPublic, this.sharedKey(e, n), this.deps.random(24), a.message);
      return a.kind === "udp" ? { kind: "udp", to: a.to, packet } : { kind: "derp", peer, region: this.regionOf(n), packet };
    });
  }
}

/** A key's canonical text, checked as keyFromText checks it, without decoding the bytes (10,000 decodes were ~200 ms of a 5,000-peer netmap in QuickJS). */
const KEY_TEXT = { nodekey: /^nodekey:[0-9a-f]{64}$/, discokey: /^discokey:[0-9a-f]{64}$/ };

/**
 * A key's text as the maps hold it: the node's own string when it is canonical ("nodekey:" and
 * 64 lowercase hex digits, as servers send it), undefined when it is no key.
 */
function keyText(kind: "nodekey" | "discokey", text: string): string | undefined {
  return KEY_TEXT[kind].test(text) ? text : undefined;
}
