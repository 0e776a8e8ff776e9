// The netmap's peers by node ID, kept as a value: a delta makes a new map and
// leaves the one it came from as it was (the controller compares the two, the
// fuzz target applies deltas to one map again and again). A Map copied per
// delta made a record per peer (~460 KB at 5,000 peers in QuickJS) while the
// old map lived: a step in the process's resident memory on every presence
// change. This one copies an array of the nodes (16 bytes a peer) and shares
// its index of positions with the map it came from; nodes that join go to
// the end with a small index of their own, nodes that leave leave a hole,
// until enough of either make it worth building the index again. A map made
// by a delta also says which IDs the delta set or removed, so a follower
// looks at those and not at every peer.
import type { Node } from "./tailcfg.js";

/** More joins than this since the index was built, or more holes than this and an eighth of the map: build it again. */
const REBUILD = 256;

/** More IDs than this set or removed by one delta: not listed (a follower compares every peer). */
const TOUCHED_LIMIT = 256;

/**
 * Node IDs sorted, each with its node's position: 12 bytes a peer, where a Map<number, number>
 * cost ~94 in QuickJS (~470 KB at 5,000 peers). Built once, never changed, shared between maps.
 */
class PositionIndex {
  constructor(
    private readonly ids: Float64Array,
    private readonly positions: Int32Array,
  ) {}

  /** The position of `id` when it was indexed, -1 when it was not. */
  get(id: number): number {
    const ids = this.ids;
    let lo = 0, hi = ids.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1, v = ids[mid]!;
      if (v === id) return this.positions[mid]!;
      if (v < id) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /**
   * The nodes with one node per ID (a later one takes an earlier one's place, as Map.set would)
   * and their index. NaN is no ID a response can carry (the schema wants a finite number).
   */
  static build(from: Iterable<Node>): { list: Node[]; index: PositionIndex } {
    const all: Node[] = [];
    for (const n of from) all.push(n);
    const inOrder = new Float64Array(all.length);
    let ascending = true;
    for (let i = 0; i < all.length; i++) {
      inOrder[i] = all[i]!.ID;
      if (i && !(inOrder[i]! > inOrder[i - 1]!)) ascending = false;
    }
    // Servers mostly send the peers by ID (headscale sorts them so; tailscale's client keeps them so): nothing to sort or look up then.
    if (ascending) {
      const positions = new Int32Array(all.length);
      for (let i = 0; i < positions.length; i++) positions[i] = i;
      return { list: all, index: new PositionIndex(inOrder, positions) };
    }
    // Numeric and native: no comparator called per pair.
    const sorted = inOrder.slice().sort();
    const slotPositions = new Int32Array(sorted.length).fill(-1);
    const list: Node[] = [];
    for (let i = 0; i < all.length; i++) {
      const slot = firstSlot(sorted, inOrder[i]!);
      const at = slotPositions[slot]!;
      if (at < 0) {
        slotPositions[slot] = list.length;
        list.push(all[i]!);
      } else list[at] = all[i]!;
    }
    // A repeated ID holds a slot past its first one that no node took: left out.
    if (list.length === sorted.length) return { list, index: new PositionIndex(sorted, slotPositions) };
    const ids = new Float64Array(list.length), positions = new Int32Array(list.length);
    for (let s = 0, k = 0; s < sorted.length; s++) {
      if (slotPositions[s]! < 0) continue;
      ids[k] = sorted[s]!;
      positions[k++] = slotPositions[s]!;
    }
    return { list, index: new PositionIndex(ids, positions) };
  }
}

/** The first slot of `sorted` that holds `id` (which it holds). */
function firstSlot(sorted: Float64Array, id: number): number {
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Each map's own number: a map edited from another names it by this, without holding on to it. */
let serials = 0;

export class PeerMap implements ReadonlyMap<number, Node> {
  private readonly serial = ++serials;

  private constructor(
    /** The nodes in the order they came (a node's key is its ID), undefined where one left. */
    private readonly nodes: (Node | undefined)[],
    /** Where each node was when the index was built: shared between maps, never changed. */
    private readonly index: PositionIndex,
    /** Where the nodes that came since are: this map's own. */
    private readonly joined: Map<number, number>,
    private count: number,
    /** The serial of the map this one was edited from (0: made whole), and the IDs set or removed since (undefined: too many). */
    private readonly base: number,
    private touched: Set<number> | undefined,
  ) {}

  static of(nodes: Iterable<Node>): PeerMap {
    const { list, index } = PositionIndex.build(nodes);
    return new PeerMap(list, index, new Map(), list.length, 0, undefined);
  }

  /** The same peers as a map that the caller may change (set, delete) before handing it out. */
  static edited(from: ReadonlyMap<number, Node>): PeerMap {
    if (!(from instanceof PeerMap)) return PeerMap.of(from.values());
    const holes = from.nodes.length - from.count;
    if (from.joined.size > REBUILD || (holes > REBUILD && holes > from.count / 8)) {
      const { list, index } = PositionIndex.build(from.values());
      return new PeerMap(list, index, new Map(), list.length, from.serial, new Set());
    }
    return new PeerMap(from.nodes.slice(), from.index, new Map(from.joined), from.count, from.serial, new Set());
  }

  /**
   * The IDs whose node this map set or removed since it was made from `prev` (a node set may be the
   * one that was there), when it was made from `prev` by edited() and they were few; else undefined.
   */
  changedSince(prev: ReadonlyMap<number, Node>): ReadonlySet<number> | undefined {
    return prev instanceof PeerMap && prev.serial === this.base ? this.touched : undefined;
  }

  /** Puts `nodes` (this map's own) in this map's order. */
  sortByPosition(nodes: Node[]): void {
    nodes.sort((a, b) => this.at(a.ID) - this.at(b.ID));
  }

  /** Puts a node in by its ID: in place of the node it replaces, or at the end. */
  set(n: Node): void {
    this.touch(n.ID);
    const at = this.at(n.ID);
    if (at >= 0) {
      this.nodes[at] = n;
      return;
    }
    this.joined.set(n.ID, this.nodes.length);
    this.nodes.push(n);
    this.count++;
  }

  delete(id: number): boolean {
    const at = this.at(id);
    if (at < 0) return false;
    this.touch(id);
    this.nodes[at] = undefined;
    this.joined.delete(id);
    this.count--;
    return true;
  }

  private touch(id: number): void {
    if (this.touched && this.touched.add(id).size > TOUCHED_LIMIT) this.touched = undefined;
  }

  /** A node's position, -1 when it is not here (a position is never reused: an index entry leads to its node or a hole). */
  private at(id: number): number {
    const j = this.joined.get(id);
    if (j !== undefined) return j;
    const i = this.index.get(id);
    return i >= 0 && this.nodes[i] !== undefined ? i : -1;
  }

  get size(): number {
    return this.count;
  }

  get(id: number): Node | undefined {
    const at = this.at(id);
    return at < 0 ? undefined : this.nodes[at];
  }

  has(id: number): boolean {
    return this.at(id) >= 0;
  }

  forEach(fn: (n: Node, id: number, map: ReadonlyMap<number, Node>) => void, thisArg?: unknown): void {
    const nodes = this.nodes;
    for (let i = 0; i < nodes.length; i++) {
      const n = nodes[i];
      if (n !== undefined) fn.call(thisArg, n, n.ID, this);
    }
  }

  *values(): MapIterator<Node> {
    for (const n of this.nodes) if (n !== undefined) yield n;
  }

  *keys(): MapIterator<number> {
    for (const n of this.nodes) if (n !== undefined) yield n.ID;
  }

  *entries(): MapIterator<[number, Node]> {
    for (const n of this.nodes) if (n !== undefined) yield [n.ID, n];
  }

  [Symbol.iterator](): MapIterator<[number, Node]> {
    return this.entries();
  }
}
