// The netmap's peers by node ID, kept as a value: a delta makes a new map and
// leaves the one it came from as it was (the controller compares the two, the
// fuzz target applies deltas to one map again and again). A Map copied per
// delta made a record per peer (~460 KB at 5,000 peers in QuickJS) while the
// old map lived: a step in the process's resident memory on every presence
// change. This one copies an array of the nodes (16 bytes a peer) and shares
// its index of positions with the map it came from; nodes that join go to
// the end with a small index of their own, nodes that leave leave a hole,
// until enough of either make it worth building the index again.
import type { Node } from "./tailcfg.js";

/** More joins than this since the index was built, or more holes than this and an eighth of the map: build it again. */
const REBUILD = 256;

export class PeerMap implements ReadonlyMap<number, Node> {
  private constructor(
    /** The nodes in the order they came (a node's key is its ID), undefined where one left. */
    private readonly nodes: (Node | undefined)[],
    /** Where each node was when the index was built: shared between maps, never changed. */
    private readonly index: ReadonlyMap<number, number>,
    /** Where the nodes that came since are: this map's own. */
    private readonly joined: Map<number, number>,
    private count: number,
  ) {}

  static of(nodes: Iterable<Node>): PeerMap {
    const list: Node[] = [], index = new Map<number, number>();
    for (const n of nodes) {
      const at = index.get(n.ID);
      if (at === undefined) {
        index.set(n.ID, list.length);
        list.push(n);
      } else list[at] = n;
    }
    return new PeerMap(list, index, new Map(), list.length);
  }

  /** The same peers as a map that the caller may change (set, delete) before handing it out. */
  static edited(from: ReadonlyMap<number, Node>): PeerMap {
    if (!(from instanceof PeerMap)) return PeerMap.of(from.values());
    const holes = from.nodes.length - from.count;
    if (from.joined.size > REBUILD || (holes > REBUILD && holes > from.count / 8)) return PeerMap.of(from.values());
    return new PeerMap(from.nodes.slice(), from.index, new Map(from.joined), from.count);
  }

  /** Puts a node in by its ID: in place of the node it replaces, or at the end. */
  set(n: Node): void {
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
    this.nodes[at] = undefined;
    this.joined.delete(id);
    this.count--;
    return true;
  }

  /** A node's position, -1 when it is not here (a position is never reused: an index entry leads to its node or a hole). */
  private at(id: number): number {
    const j = this.joined.get(id);
    if (j !== undefined) return j;
    const i = this.index.get(id);
    return i !== undefined && this.nodes[i] !== undefined ? i : -1;
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
