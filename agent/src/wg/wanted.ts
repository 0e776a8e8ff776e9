// Which WireGuard peers the netmap asks for: one per node key, its allowed
// IPs being its own addresses plus, when the router accepts routes, the
// subnets it is the primary router for. Exit routes (/0) are never taken:
// the router is an exit node, it does not use one.
import type { Node } from "../control/tailcfg.js";
import { keyFromHex, keyFromText } from "../crypto/keys.js";
import { type Endpoint, maskPrefix, matchPrefix4, parsePrefix, type Prefix, prefixLength, readIp6 } from "../netaddr/ip.js";
import type { WantedPeer } from "./reconcile.js";

export interface WantedOptions {
  readonly acceptRoutes: boolean;
  /** The kernel endpoint for a peer: its direct path, or its relay bridge socket. */
  readonly endpointFor: (node: Node) => Endpoint | undefined;
  readonly log: (msg: string) => void;
}

export function wantedPeers(peers: Iterable<Node>, o: WantedOptions): WantedPeer[] {
  const out: WantedPeer[] = [];
  for (const n of peers) {
    const w = wantedPeer(n, o);
    if (w) out.push(w);
  }
  return out;
}

/** A node key's text as keyFromText takes it (checked by the regex alone: decoding it to bytes cost ~20 us in QuickJS). */
const NODE_KEY = /^nodekey:[0-9a-f]{64}$/;

/** One node as a WireGuard peer; undefined when it is expired or its key is bad (said in the log). */
export function wantedPeer(n: Node, o: WantedOptions): NodePeer | undefined {
  if (n.Expired) return undefined;
  if (!NODE_KEY.test(n.Key)) {
    try {
      keyFromText("nodekey", n.Key);
    } catch (e) {
      o.log(`peer ${n.Name || n.ID}: ${(e as Error).message}; skipped`);
      return undefined;
    }
  }
  // Most nodes' allowed IPs are their addresses (the very list, netmap.ts keptPeer): each is their own.
  const texts = n.AllowedIPs?.length ? n.AllowedIPs : n.Addresses, allOwn = texts === n.Addresses;
  let packed = "";
  for (let i = 0; i < texts.length; i++) {
    const text = texts[i]!;
    let p: string;
    try {
      p = packPrefixText(text);
    } catch (e) {
      o.log(`peer ${n.Name || n.ID}: allowed IP ${JSON.stringify(text)}: ${(e as Error).message}; skipped`);
      continue;
    }
    const bits = p.charCodeAt(1), whole = bits === p.charCodeAt(0) * 8;
    if ((whole && (allOwn || isOwn(n.Addresses, text))) || (o.acceptRoutes && bits > 0)) packed += p;
  }
  // The key checked: its text is "nodekey:" and the lowercase hex.
  return new NodePeer(n.Key.slice(8), packed, o.endpointFor(n), n);
}

/** Whether the address of `text` (a prefix's, before any "/") is one of `addresses`' own. */
function isOwn(addresses: readonly string[], text: string): boolean {
  const a = addressOf(text);
  for (let i = 0; i < addresses.length; i++) if (addressOf(addresses[i]!) === a) return true;
  return false;
}

const addressOf = (text: string) => {
  const slash = text.indexOf("/");
  return slash < 0 ? text : text.slice(0, slash);
};

/**
 * A wanted peer as the agent keeps one for every node: its key as hex (the string the peer maps
 * are keyed by, shared with them) and its allowed IPs packed in a string, made into bytes when
 * read. In QuickJS a key and two prefixes as Uint8Arrays and objects cost ~1 KB a peer; this ~250 bytes.
 */
class PackedPeer implements WantedPeer {
  constructor(
    readonly id: string,
    private readonly ips: string,
    readonly endpoint: Endpoint | undefined,
  ) {}

  get publicKey(): Uint8Array {
    return keyFromHex(this.id, "peer key");
  }

  get allowedIps(): Prefix[] {
    return unpackPrefixes(this.ips);
  }

  get packedIps(): string {
    return this.ips;
  }

  at(endpoint: Endpoint): WantedPeer {
    return new PackedPeer(this.id, this.ips, endpoint);
  }
}

/**
 * A wanted peer with the node it was made from: the netmap's follower keeps it as its record of the
 * node (wg/netmap-peers.ts), and moves `node` to a newer node object that changes nothing WireGuard has.
 * A copy at another endpoint (at()) is a plain PackedPeer: it holds no node.
 */
export class NodePeer extends PackedPeer {
  constructor(id: string, ips: string, endpoint: Endpoint | undefined, public node: Node) {
    super(id, ips, endpoint);
  }
}

/** Each prefix as its address length, its bits and its address bytes, a character each. */
export function packPrefixes(prefixes: readonly Prefix[]): string {
  let s = "";
  for (const p of prefixes) s += packPrefix(p);
  return s;
}

/**
 * A prefix's text packed as packPrefixes packs it (masked), or throws as parsePrefix does. The usual
 * forms go from text to characters with no Prefix made: a full netmap packs two allowed IPs a node,
 * and through parsePrefix's bytes and object that was ~70% of making a peer in QuickJS.
 */
export function packPrefixText(s: string): string {
  const m = matchPrefix4(s);
  if (m) {
    const bits = m[5] === undefined ? 32 : +m[5];
    const v = ((+m[1]! << 24) | (+m[2]! << 16) | (+m[3]! << 8) | +m[4]!) & (bits ? -1 << (32 - bits) : 0);
    return String.fromCharCode(4, bits, v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
  }
  const slash = s.indexOf("/"), bits = slash < 0 ? -1 : prefixLength(s, slash + 1, 128);
  const g = bits < 0 ? null : readIp6(s, 0, slash);
  // Anything else (no length, an embedded IPv4 address, a bad one) as parsePrefix takes it, or refuses it.
  if (!g) return packPrefix(maskPrefix(parsePrefix(s)));
  for (let k = 0; k < 8; k++) {
    const keep = bits - 16 * k;
    if (keep < 16) g[k]! &= keep > 0 ? (0xffff << (16 - keep)) & 0xffff : 0;
  }
  return String.fromCharCode(16, bits, g[0]! >> 8, g[0]! & 255, g[1]! >> 8, g[1]! & 255, g[2]! >> 8, g[2]! & 255, g[3]! >> 8, g[3]! & 255,
    g[4]! >> 8, g[4]! & 255, g[5]! >> 8, g[5]! & 255, g[6]! >> 8, g[6]! & 255, g[7]! >> 8, g[7]! & 255);
}

function packPrefix(p: Prefix): string {
  const ip = p.ip;
  // Spelled out: a spread of the bytes goes through an iterator in QuickJS.
  return ip.length === 4
    ? String.fromCharCode(4, p.bits, ip[0]!, ip[1]!, ip[2]!, ip[3]!)
    : String.fromCharCode(16, p.bits, ip[0]!, ip[1]!, ip[2]!, ip[3]!, ip[4]!, ip[5]!, ip[6]!, ip[7]!, ip[8]!, ip[9]!, ip[10]!, ip[11]!, ip[12]!, ip[13]!, ip[14]!, ip[15]!);
}

export function unpackPrefixes(s: string): Prefix[] {
  const out: Prefix[] = [];
  for (let i = 0; i < s.length; ) {
    const len = s.charCodeAt(i), bits = s.charCodeAt(i + 1);
    const ip = new Uint8Array(len);
    for (let k = 0; k < len; k++) ip[k] = s.charCodeAt(i + 2 + k);
    out.push({ ip, bits });
    i += 2 + len;
  }
  return out;
}
