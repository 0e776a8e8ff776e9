// Path discovery for one peer, as a pure state machine over disco: ping
// candidate endpoints, answer the peer's pings, trade CallMeMaybe over DERP
// so both NATs open at once, and pick the best confirmed direct path. The
// kernel carries the data; this only decides which endpoint it should use.
// Time comes in as `now` (milliseconds); actions come out.
import type { DiscoMessage } from "../disco/message.js";
import { type Endpoint, formatEndpoint, ipEqual, parseEndpoint } from "../netaddr/ip.js";

/** How long a pong keeps a direct path trusted (Tailscale's trustUDPAddrDuration). */
export const TRUST_MS = 6_500;
/**
 * Pings to one candidate endpoint are at least this far apart: an active peer
 * on the relay probes this often, so a path that opens (UDP unblocked) goes
 * direct within 5 s, with a round trip and a tick to spare.
 */
export const PING_INTERVAL_MS = 2_500;
/**
 * While the peer is active and the path is direct, it is re-confirmed this
 * often: a heartbeat in every 2 s plus an answer awaited 1.5 s puts a dead
 * path back on the relay within 5 s at one tick a second.
 */
export const HEARTBEAT_MS = 2_000;
/** A CallMeMaybe over DERP at most this often. */
export const CALL_ME_MAYBE_INTERVAL_MS = 5_000;
/** A ping unanswered after this long counts as lost. */
const PING_TIMEOUT_MS = 5_000;
/**
 * A heartbeat unanswered this long (far beyond a round trip), with nothing
 * received over the path either, sends the peer back to the relay at once, without waiting out the last pong's trust as
 * tailscaled does: a router's data path should not sit dark for 6.5 s. A pong
 * lost by chance costs a few seconds on the relay; the next one brings the
 * path back, and the peer's own packets move the kernel's endpoint anyway.
 */
export const UNANSWERED_MS = 1_500;
/**
 * The kernel saw the peer's packets arrive from the direct endpoint this
 * recently: the path is alive, however late its pong. A router whose one CPU
 * is busy carrying traffic answers disco late, and must not send that very
 * traffic to the relay for it.
 */
export const RECEIVED_FRESH_MS = 2_500;

/** What the kernel last said of a peer: when its received bytes last grew, and from where. */
export interface Received {
  readonly at: number;
  readonly from: Endpoint | undefined;
  /**
   * When the relay bridge last carried a packet of the peer's while it was
   * pinned direct. The endpoint read with the bytes is where the kernel
   * pointed at the read, and a re-pin points it back direct 100 ms after
   * each packet through the bridge: bytes that came over the relay would
   * read as received direct, and a dead direct path would live for ever.
   */
  readonly relayedAt?: number;
}

export type PathAction =
  | { readonly kind: "udp"; readonly to: Endpoint; readonly message: DiscoMessage }
  | { readonly kind: "derp"; readonly message: DiscoMessage }
  /** Point the kernel peer at this direct endpoint, or back at the relay when undefined. */
  | { readonly kind: "endpoint"; readonly endpoint?: Endpoint };

export type PathStatus =
  | { readonly kind: "direct"; readonly endpoint: Endpoint; readonly latencyMs: number }
  | { readonly kind: "relay" };

interface Candidate {
  readonly ep: Endpoint;
  lastPing: number;
  lastPong: number;
  latencyMs: number;
  /** The first ping since the last pong, while one is unanswered. */
  unansweredSince?: number;
}

interface SentPing {
  readonly to: Endpoint;
  readonly at: number;
}

export interface PathsDeps {
  readonly txid: () => Uint8Array;
  readonly ourNodeKey: Uint8Array;
  /** Our endpoints, for CallMeMaybe. */
  readonly ourEndpoints: () => readonly Endpoint[];
}

const key = (e: Endpoint) => formatEndpoint(e);
const txKey = (t: Uint8Array) => Array.from(t).join(",");

export class PeerPaths {
  /** A few per peer: a list, not a Map with a text key each (a thousand peers hold two thousand). */
  private readonly candidates: Candidate[] = [];
  /** Known endpoints not yet made candidates: parsed when first needed, as most peers of a big tailnet never carry traffic. */
  private known: readonly (string | Endpoint)[] = [];
  /** Made at the first ping: most of a thousand peers are never pinged. */
  private pings: Map<string, SentPing> | undefined;
  private best: Candidate | undefined;
  private lastCallMeMaybe = -Infinity;

  constructor(private readonly deps: PathsDeps) {}

  get status(): PathStatus {
    return this.best ? { kind: "direct", endpoint: this.best.ep, latencyMs: this.best.latencyMs } : { kind: "relay" };
  }

  /** Endpoints the control server knows for the peer, as it sent them (a malformed one is skipped) or parsed. */
  setKnownEndpoints(eps: readonly (string | Endpoint)[]): void {
    this.takeKnown();
    this.known = eps;
  }

  private takeKnown(): void {
    const eps = this.known;
    if (!eps.length) return;
    this.known = [];
    for (const ep of eps) {
      try {
        this.candidate(typeof ep === "string" ? parseEndpoint(ep) : ep);
      } catch {
        // a malformed endpoint from the server is skipped; the others still help
      }
    }
  }

  /** Forget everything (the peer's disco key changed: it restarted). */
  reset(): PathAction[] {
    const had = this.best;
    this.candidates.length = 0;
    this.known = [];
    this.pings = undefined;
    this.best = undefined;
    return had ? [{ kind: "endpoint" }] : [];
  }

  onPing(m: Extract<DiscoMessage, { type: "ping" }>, via: Endpoint | { readonly derpRegion: number }, now: number): PathAction[] {
    if ("derpRegion" in via) return [{ kind: "derp", message: { type: "pong", txid: m.txid, src: { ip: DERP_MAGIC_IP, port: via.derpRegion } } }];
    const acts: PathAction[] = [{ kind: "udp", to: via, message: { type: "pong", txid: m.txid, src: via } }];
    // The peer reached us from there: ping back, so our NAT opens toward it too.
    const c = this.candidate(via);
    if (now - c.lastPing >= PING_INTERVAL_MS && this.best?.ep !== c.ep) acts.push(this.ping(c, now));
    return acts;
  }

  onPong(m: Extract<DiscoMessage, { type: "pong" }>, from: Endpoint, now: number): PathAction[] {
    const sent = this.pings?.get(txKey(m.txid));
    if (!sent || key(sent.to) !== key(from)) return [];
    this.pings!.delete(txKey(m.txid));
    const c = this.candidate(from);
    c.lastPong = now;
    c.unansweredSince = undefined;
    c.latencyMs = now - sent.at;
    return this.choose(now);
  }

  onCallMeMaybe(eps: readonly Endpoint[], now: number): PathAction[] {
    const acts: PathAction[] = [];
    for (const ep of eps) {
      const c = this.candidate(ep);
      if (now - c.lastPing >= 1_000) acts.push(this.ping(c, now));
    }
    return acts;
  }

  /**
   * Periodic work. `active` says whether the peer carried traffic lately:
   * an idle peer gets no pings at all, so an idle router sleeps.
   */
  tick(now: number, active: boolean, received?: Received): PathAction[] {
    if (this.pings) for (const [id, p] of this.pings) if (now - p.at > PING_TIMEOUT_MS) this.pings.delete(id);
    const acts: PathAction[] = [];
    const b = this.best;
    if (!active) {
      // An idle peer keeps its direct path untested: nothing is lost on it, and the next heartbeat tells.
      if (b) b.unansweredSince = undefined;
      return acts;
    }
    const relayedLately = received?.relayedAt !== undefined && now - received.relayedAt < RECEIVED_FRESH_MS;
    const alive = b && received?.from && key(received.from) === key(b.ep) && now - received.at < RECEIVED_FRESH_MS && !relayedLately;
    if (b && !alive && b.unansweredSince !== undefined && now - b.unansweredSince >= UNANSWERED_MS) {
      // Heartbeats to the direct path go unanswered: back to the relay, and keep looking.
      this.best = undefined;
      acts.push({ kind: "endpoint" });
    }
    if (this.best) {
      if (now - this.best.lastPing >= HEARTBEAT_MS) acts.push(this.ping(this.best, now));
      return acts;
    }
    this.takeKnown();
    for (const c of this.candidates) if (now - c.lastPing >= PING_INTERVAL_MS) acts.push(this.ping(c, now));
    if (now - this.lastCallMeMaybe >= CALL_ME_MAYBE_INTERVAL_MS) {
      const mine = this.deps.ourEndpoints();
      if (mine.length) {
        this.lastCallMeMaybe = now;
        acts.push({ kind: "derp", message: { type: "call-me-maybe", endpoints: mine } });
      }
    }
    return acts;
  }

  private candidate(ep: Endpoint): Candidate {
    this.takeKnown();
    let c = this.candidates.find((k) => k.ep.port === ep.port && ipEqual(k.ep.ip, ep.ip));
    if (!c) {
      c = { ep, lastPing: -Infinity, lastPong: -Infinity, latencyMs: Infinity };
      this.candidates.push(c);
    }
    return c;
  }

  private ping(c: Candidate, now: number): PathAction {
    const txid = this.deps.txid();
    c.lastPing = now;
    c.unansweredSince ??= now;
    (this.pings ??= new Map()).set(txKey(txid), { to: c.ep, at: now });
    return { kind: "udp", to: c.ep, message: { type: "ping", txid, nodeKey: this.deps.ourNodeKey } };
  }

  /** The confirmed candidate with the lowest latency; IPv6 wins a near tie, as it needs no NAT. */
  private choose(now: number): PathAction[] {
    let pick: Candidate | undefined;
    for (const c of this.candidates) {
      if (now - c.lastPong > TRUST_MS) continue;
      if (!pick || score(c) < score(pick)) pick = c;
    }
    if (!pick || pick === this.best) return [];
    this.best = pick;
    return [{ kind: "endpoint", endpoint: pick.ep }];
  }
}

const score = (c: Candidate) => c.latencyMs * (c.ep.ip.length === 16 ? 0.9 : 1);

/** A pong sent over DERP names the relay as 127.3.3.40:REGION, as Tailscale does. */
export const DERP_MAGIC_IP = Uint8Array.of(127, 3, 3, 40);
