// Which WireGuard peers the netmap asks for: one per node key, its allowed
// IPs being its own addresses plus, when the router accepts routes, the
// subnets it is the primary router for. Exit routes (/0) are never taken:
// the router is an exit node, it does not use one.
import type { Node } from "../control/tailcfg.js";
import { keyFromHex, keyFromText } from "../crypto/keys.js";
import { type Endpoint, maskPrefix, parsePrefix, type Prefix } from "../netaddr/ip.js";
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
    let p: Prefix;
    try {
      p = parsePrefix(text);
    } catch (e) {
      o.log(`peer ${n.Name || n.ID}: allowed IP ${JSON.stringify(text)}: ${(e as Error).message}; skipped`);
      continue;
    }
    const whole = p.bits === p.ip.length * 8;
    if (!whole) p = maskPrefix(p);
    if ((whole && (allOwn || isOwn(n.Addresses, text))) || (o.acceptRoutes && p.bits > 0)) packed += packPrefix(p);
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
