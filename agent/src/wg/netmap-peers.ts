// The netmap's peers as WireGuard wants them, followed by difference: a
// node object the control client did not replace is not looked at again,
// so a delta costs what it changed, not what the tailnet holds. Also kept
// by difference: the routes the peers' allowed IPs ask for (the tailnet's
// IPv6 addresses by one route for their range), and each peer's home relay.
import { homeRegion } from "../control/netmap.js";
import { PeerMap } from "../control/peer-map.js";
import type { Node } from "../control/tailcfg.js";
import { formatPrefix, type IpBytes, maskPrefix, parsePrefix } from "../netaddr/ip.js";
import { peerId, type WantedPeer } from "./reconcile.js";
import { type NodePeer, packPrefixes, wantedPeer, type WantedOptions } from "./wanted.js";

export interface PeersDelta {
  /** The peers (key as hex) whose wanted state may have changed: the new state, or null to remove. */
  readonly peers: ReadonlyMap<string, WantedPeer | null>;
  /** A node came, went, or changed its name or addresses: the MagicDNS names need writing. */
  readonly names: boolean;
  /** A node came, went, or changed its key, disco key, endpoints or home relay: path discovery needs the new list. */
  readonly paths: boolean;
  /** The routes (by text) that came or went; undefined when more than TOUCHED_LIMIT did (compare them all). */
  readonly routes: ReadonlySet<string> | undefined;
}

export class NetmapPeers {
  /**
   * The nodes last followed: a netmap's peers are a value (control/peer-map.ts), so this is the
   * netmap's own map, no copy. Where a node was before is looked up here, not in a map of our own.
   */
  private last: ReadonlyMap<number, Node> = PeerMap.of([]);
  /**
   * The peer the kernel has for a key, by the key's hex (its id), with the node it is for: also
   * where a peer's home relay is looked up. A node that is no peer (expired, bad key) has none.
   */
  private readonly byKey = new Map<string, NodePeer>();
  /** The key region() was last asked for, and its hex: relayed packets come in runs to one peer. */
  private lastKey = "";
  private lastHex = "";
  /** By their text alone: the router parses one when it makes its request (prefix objects were ~2 MB at 5,000 peers). */
  private readonly routeSet = new Set<string>();
  /** How many routes have each length, by family (4 or 16) * 256 + bits: the lengths routesContain tries. */
  private readonly routeLengths = new Map<number, number>();
  /** Peers beyond the first that ask for a route (a subnet two routers serve): most routes have one, and no count. */
  private readonly routeExtra = new Map<string, number>();
  private touched: Set<string> | undefined = new Set<string>();

  constructor(private readonly o: WantedOptions) {}

  /**
   * Takes the netmap's peers; says what changed since the last call. A map a delta made from the
   * last one names the nodes it changed: only those are looked at (a 5,000-peer pass per delta was
   * ~3 ms natively), the nodes still there first, in the map's order, then those that left.
   */
  update(nodes: ReadonlyMap<number, Node>): PeersDelta {
    const prev = this.last;
    // A map of another kind may change under us: kept as a value of our own.
    const now = nodes instanceof PeerMap ? nodes : PeerMap.of(nodes.values());
    this.last = now;
    const changed = new Map<string, WantedPeer | null>();
    this.touched = new Set();
    // A response that changed no peer (DNS, the filter, a presence already known) left the map as it was.
    if (now === prev) return { peers: changed, names: false, paths: false, routes: this.touched };
    let names = false, paths = false;
    const visit = (n: Node, nid: number) => {
      const was = prev.get(nid);
      if (was === n) return;
      if (!was || was.Name !== n.Name || !sameList(was.Addresses, n.Addresses)) names = true;
      if (!was || was.Key !== n.Key || was.DiscoKey !== n.DiscoKey || !sameList(was.Endpoints, n.Endpoints) || homeRegion(was) !== homeRegion(n)) paths = true;
      if (was && sameWanted(was, n)) {
        // Online, last seen, endpoints, hostinfo: nothing WireGuard has.
        const p = this.peerOf(was);
        if (p) p.node = n;
        return;
      }
      if (was) this.drop(was, changed);
      this.add(n, changed);
    };
    const left = (was: Node) => {
      names = paths = true;
      this.drop(was, changed);
    };
    const since = now.changedSince(prev);
    if (since) {
      const stayed: Node[] = [];
      for (const nid of since) {
        const n = now.get(nid);
        if (n) stayed.push(n);
      }
      if (stayed.length > 1) now.sortByPosition(stayed);
      for (const n of stayed) visit(n, n.ID);
      for (const nid of since) {
        const was = now.has(nid) ? undefined : prev.get(nid);
        if (was) left(was);
      }
    } else {
      // forEach: QuickJS makes no [key, value] pair per entry, and this runs over every node.
      let came = 0;
      now.forEach((n, nid) => {
        if (!prev.has(nid)) came++;
        visit(n, nid);
      });
      // More nodes before and since than now: some left.
      if (prev.size + came > now.size) prev.forEach((was, nid) => {
        if (!now.has(nid)) left(was);
      });
    }
    return { peers: changed, names, paths, routes: this.touched };
  }

  *all(): IterableIterator<WantedPeer> {
    yield* this.byKey.values();
  }

  get size(): number {
    return this.byKey.size;
  }

  /** The routes the peers' allowed IPs ask for, by their text (masked). */
  routes(): ReadonlySet<string> {
    return this.routeSet;
  }

  /** Whether one of the routes covers `ip`: a lookup per route length in use, not a pass over the routes. */
  routesContain(ip: IpBytes): boolean {
    for (const lb of this.routeLengths.keys()) {
      if (lb >> 8 === ip.length && this.routeSet.has(formatPrefix(maskPrefix({ ip, bits: lb & 255 })))) return true;
    }
    return false;
  }

  /** A peer's home relay region (0: none known), by its key's bytes as a string. */
  region(keyLatin1: string): number {
    if (keyLatin1 !== this.lastKey) {
      this.lastHex = hexOf(keyLatin1);
      this.lastKey = keyLatin1;
    }
    const p = this.byKey.get(this.lastHex);
    return p ? homeRegion(p.node) : 0;
  }

  /** The peer `n` was made into, when it has one and no other node with its key took it since. */
  private peerOf(n: Node): NodePeer | undefined {
    // Only a node key's canonical text makes a peer (wanted.ts): its id is the text past "nodekey:".
    const p = this.byKey.get(n.Key.slice(8));
    return p && p.node === n ? p : undefined;
  }

  private add(n: Node, changed: Map<string, WantedPeer | null>): void {
    const w = wantedPeer(n, this.o);
    if (!w) return;
    const k = peerId(w);
    const had = this.byKey.get(k);
    if (had) this.countRoutes(packedOf(had), -1);
    this.byKey.set(k, w);
    this.countRoutes(packedOf(w), 1);
    changed.set(k, w);
  }

  private drop(n: Node, changed: Map<string, WantedPeer | null>): void {
    // Two nodes with one key: the other one's peer stays.
    const p = this.peerOf(n);
    if (!p) return;
    const k = peerId(p);
    this.byKey.delete(k);
    this.countRoutes(packedOf(p), -1);
    changed.set(k, null);
  }

  /** The routes of allowed IPs packed as wg/wanted.ts packs them, read from the packing (no prefix objects made). */
  private countRoutes(packed: string, by: 1 | -1): void {
    for (let i = 0; i < packed.length; i += 2 + packed.charCodeAt(i)) {
      const ula = packed.startsWith(ULA_HEAD, i);
      const k = ula ? ULA_TEXT : routeText(packed, i);
      const extra = this.routeExtra.get(k) ?? 0;
      if (by === 1 && this.routeSet.has(k)) this.routeExtra.set(k, extra + 1);
      else if (by === -1 && extra > 0) {
        if (extra > 1) this.routeExtra.set(k, extra - 1);
        else this.routeExtra.delete(k);
      } else {
        // The route comes or goes; the router keeps its prefix as long as it stays.
        const lb = ula ? ULA_LENGTH : packed.charCodeAt(i) * 256 + packed.charCodeAt(i + 1), had = this.routeLengths.get(lb) ?? 0;
        if (by === 1) this.routeSet.add(k);
        else this.routeSet.delete(k);
        if (had + by > 0) this.routeLengths.set(lb, had + by);
        else this.routeLengths.delete(lb);
        // A full netmap's 5,000 routes listed would be a second set as big as the routes (~0.4 MB).
        if (this.touched && this.touched.add(k).size > TOUCHED_LIMIT) this.touched = undefined;
      }
    }
  }
}

/** More routes than this come or go at once (a full netmap): the router compares them all. */
const TOUCHED_LIMIT = 256;

/** Tailscale's IPv6 range: a peer's own address in it goes by one route for the range, as tailscale's peerRoutes routes it. */
const ULA = parsePrefix("fd7a:115c:a1e0::/48");
const ULA_TEXT = formatPrefix(ULA);

/**
 * A packed tailnet IPv6 address (16 bytes, 128 bits, in ULA): it asks for the range's one route, as
 * tailscale's peerRoutes routes it (5,000 peers: one route, not 5,000).
 */
const ULA_HEAD = String.fromCharCode(16, 128, ...ULA.ip.subarray(0, ULA.bits / 8));
const ULA_LENGTH = 16 * 256 + ULA.bits;

/** The text of the (masked) prefix packed at `i` of `packed`: what formatPrefix makes of it. */
function routeText(packed: string, i: number): string {
  const len = packed.charCodeAt(i), bits = packed.charCodeAt(i + 1);
  if (len === 4) return `${packed.charCodeAt(i + 2)}.${packed.charCodeAt(i + 3)}.${packed.charCodeAt(i + 4)}.${packed.charCodeAt(i + 5)}/${bits}`;
  const ip = new Uint8Array(len);
  for (let k = 0; k < len; k++) ip[k] = packed.charCodeAt(i + 2 + k);
  return formatPrefix({ ip, bits });
}

/** A key's bytes as a string (latin1), in hex: a peer's id. */
function hexOf(keyLatin1: string): string {
  let h = "";
  for (let i = 0; i < keyLatin1.length; i++) h += HEX_PAIRS[keyLatin1.charCodeAt(i) & 255];
  return h;
}
const HEX_PAIRS = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

const packedOf = (w: WantedPeer): string => w.packedIps ?? packPrefixes(w.allowedIps);

/** The node fields wantedPeer reads (the endpoint is asked for separately, see refresh). */
function sameWanted(a: Node, b: Node): boolean {
  return a.Key === b.Key && !!a.Expired === !!b.Expired && sameList(a.Addresses, b.Addresses) && sameList(a.AllowedIPs, b.AllowedIPs);
}

function sameList(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
