// Tailnet lock as a node takes part in it (tailscale's tka package and
// controlclient): the router's own tailnet-lock key (NLKey, Ed25519), sent
// with every registration; the node-key signature the control server hands
// out for our node key (made by `tailscale lock sign` with a trusted key,
// naming our NLKey as the key allowed to rotate it); and at each node-key
// rotation a rotation signature over the new key, made with our NLKey and
// wrapping the previous one, as tka.ResignNKS makes it, byte for byte. Also
// the checks a node makes: a signature chain verified against the trusted
// keys of a genesis AUM.
import { ed25519 } from "@noble/curves/ed25519.js";
import { blake2s } from "@noble/hashes/blake2.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { type Cbor, type CborMap, decodeCbor, encodeCbor } from "./cbor.js";

// noble builds its base-point table on the first Ed25519 key, signature or check. At its default
// window (8) that took 127 ms on the event loop and 4.7 MB of peak RSS in the shipped runtime
// (a ubus call waited behind it in CI); at 4: 18 ms and under 0.3 MB, a signature 4.4 ms for 3.2.
ed25519.Point.BASE.precompute(4);

/** The router's tailnet-lock key: Ed25519, `private` as Go keeps it (seed and public key, 64 bytes). */
export interface NLKeyPair {
  readonly private: Uint8Array;
  readonly public: Uint8Array;
}

export function nlKeyFromSeed(seed: Uint8Array): NLKeyPair {
  if (seed.length !== 32) throw new Error(`tailnet-lock key seed: want 32 bytes, got ${seed.length}`);
  const pub = ed25519.getPublicKey(seed);
  const priv = new Uint8Array(64);
  priv.set(seed);
  priv.set(pub, 32);
  return { private: priv, public: pub };
}

export const nlPublicText = (k: Uint8Array): string => `nlpub:${bytesToHex(k)}`;
export const nlPrivateText = (k: NLKeyPair): string => `nlpriv:${bytesToHex(k.private)}`;

export function nlKeyFromText(text: string): NLKeyPair {
  const m = /^nlpriv:([0-9a-f]{128})$/.exec(text);
  if (!m) throw new Error("tailnet-lock key: want nlpriv: and 128 hex digits");
  const k = nlKeyFromSeed(hexToBytes(m[1]!).subarray(0, 32));
  if (bytesToHex(k.public) !== m[1]!.slice(64)) throw new Error("tailnet-lock key: its public half does not match its seed");
  return k;
}

export const SigKind = { Direct: 1, Rotation: 2, Credential: 3 } as const;
export type SigKind = (typeof SigKind)[keyof typeof SigKind];

/** tka.NodeKeySignature. */
export interface NodeKeySignature {
  readonly kind: SigKind;
  /** A node key as Go marshals it: "np" and the 32 bytes. */
  readonly pubkey?: Uint8Array;
  readonly keyId?: Uint8Array;
  readonly signature?: Uint8Array;
  readonly nested?: NodeKeySignature;
  readonly wrappingPubkey?: Uint8Array;
}

const NODE_KEY_PREFIX = [0x6e, 0x70]; // "np"
const MAX_PREV_KEYS = 15;

export function nodeKeyBinary(nodePublic: Uint8Array): Uint8Array {
  return Uint8Array.from([...NODE_KEY_PREFIX, ...nodePublic]);
}

function toCbor(s: NodeKeySignature): CborMap {
  const m: CborMap = new Map<number, Cbor>([[1, s.kind]]);
  // omitempty: absent and empty byte strings are left out.
  if (s.pubkey?.length) m.set(2, s.pubkey);
  if (s.keyId?.length) m.set(3, s.keyId);
  if (s.signature?.length) m.set(4, s.signature);
  if (s.nested) m.set(5, toCbor(s.nested));
  if (s.wrappingPubkey?.length) m.set(6, s.wrappingPubkey);
  return m;
}

export function serializeNKS(s: NodeKeySignature): Uint8Array {
  return encodeCbor(toCbor(s));
}

function fromCbor(v: Cbor, depth: number): NodeKeySignature {
  if (!(v instanceof Map)) throw new Error("node-key signature: not a CBOR map");
  if (depth > MAX_PREV_KEYS + 2) throw new Error("node-key signature: nested too deep");
  const bytes = (k: number) => {
    const x = v.get(k);
    if (x === undefined) return undefined;
    if (!(x instanceof Uint8Array)) throw new Error(`node-key signature: field ${k} is not bytes`);
    return x;
  };
  const kind = v.get(1);
  if (kind !== SigKind.Direct && kind !== SigKind.Rotation && kind !== SigKind.Credential) throw new Error(`node-key signature: unknown kind ${String(kind)}`);
  const nested = v.get(5);
  const [pubkey, keyId, signature, wrappingPubkey] = [bytes(2), bytes(3), bytes(4), bytes(6)];
  return {
    kind,
    ...(pubkey ? { pubkey } : {}),
    ...(keyId ? { keyId } : {}),
    ...(signature ? { signature } : {}),
    ...(nested !== undefined ? { nested: fromCbor(nested, depth + 1) } : {}),
    ...(wrappingPubkey ? { wrappingPubkey } : {}),
  };
}

export function parseNKS(b: Uint8Array): NodeKeySignature {
  return fromCbor(decodeCbor(b), 0);
}

/** What the signature's signer signs: BLAKE2s-256 of the signature serialized without its Signature. */
export function nksSigHash(s: NodeKeySignature): Uint8Array {
  const { signature: _s, ...rest } = s;
  return blake2s(serializeNKS(rest));
}

/** The key that must sign a signature wrapping this one (tka's wrappingPublic). */
export function wrappingPublic(s: NodeKeySignature): Uint8Array | undefined {
  if (s.wrappingPubkey?.length) return s.wrappingPubkey;
  return s.kind === SigKind.Rotation && s.nested ? wrappingPublic(s.nested) : undefined;
}

const sameBytes = (a: Uint8Array | undefined, b: Uint8Array | undefined) => !!a && !!b && a.length === b.length && a.every((x, i) => x === b[i]);

function sign(nl: NLKeyPair, s: NodeKeySignature): NodeKeySignature {
  return { ...s, signature: ed25519.sign(nksSigHash(s), nl.private.subarray(0, 32)) };
}

/** A long rotation chain cut to the last 15 node keys, each re-signed (tka's maybeTrimRotationSignatureChain). */
function trimChain(sig: NodeKeySignature, nl: NLKeyPair): NodeKeySignature {
  if (sig.kind !== SigKind.Rotation) return sig;
  const prev: Uint8Array[] = [sig.pubkey ?? new Uint8Array(0)];
  let nested = sig.nested;
  while (nested) {
    if (nested.pubkey?.length) prev.push(nested.pubkey);
    if (nested.kind !== SigKind.Rotation) break;
    nested = nested.nested;
  }
  if (prev.length <= MAX_PREV_KEYS || !nested) return sig;
  let result: NodeKeySignature = nested;
  for (let i = MAX_PREV_KEYS - 2; i >= 0; i--) result = sign(nl, { kind: SigKind.Rotation, pubkey: prev[i]!, nested: result });
  return result;
}

/**
 * The signature for a new node key, made with our NLKey over the old signature (tka.ResignNKS):
 * the same signature when the key did not change.
 */
export function resignNKS(nl: NLKeyPair, newNodePublic: Uint8Array, oldNKS: Uint8Array): Uint8Array {
  const old = parseNKS(oldNKS);
  const nk = nodeKeyBinary(newNodePublic);
  if (sameBytes(nk, old.pubkey)) return oldNKS;
  return serializeNKS(sign(nl, { kind: SigKind.Rotation, pubkey: nk, nested: trimChain(old, nl) }));
}

/**
 * Checks that the signature authorizes this node key, signed in the end by one of the trusted
 * keys (Ed25519 public keys, which are also their key IDs), as tka's verifySignature does.
 * Returns why not, or undefined when it does.
 */
export function verifyNKS(s: NodeKeySignature, nodePublic: Uint8Array | undefined, trusted: readonly Uint8Array[]): string | undefined {
  if (s.kind !== SigKind.Credential && (!nodePublic || !sameBytes(nodeKeyBinary(nodePublic), s.pubkey))) return "signature does not authorize nodeKey";
  const hash = nksSigHash(s);
  const ok = (pub: Uint8Array) => !!s.signature && s.signature.length === 64 && ed25519.verify(s.signature, hash, pub);
  if (s.kind === SigKind.Rotation) {
    if (!s.nested) return "nested signatures must nest a signature";
    const rot = wrappingPublic(s.nested);
    if (!rot) return "missing rotation key";
    if (rot.length !== 32) return `bad rotation key length: ${rot.length}`;
    if (!ok(rot)) return "invalid signature";
    const inner = s.nested.kind === SigKind.Credential ? undefined : s.nested.pubkey?.subarray(2);
    const why = verifyNKS(s.nested, inner, trusted);
    return why && `nested: ${why}`;
  }
  if (s.nested) return `invalid signature: signatures of type ${s.kind} cannot nest another signature`;
  const key = trusted.find((k) => sameBytes(k, s.keyId));
  if (!key) return "key not found";
  return ok(key) ? undefined : "invalid signature";
}

/** An AUM's hash as tailscale writes it: base32 (RFC 4648, no padding) of BLAKE2s-256 of the AUM. */
export function aumHash(aum: Uint8Array): string {
  const h = blake2s(aum);
  const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0, acc = 0, out = "";
  for (const b of h) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) out += abc[(acc >> (bits -= 5)) & 31];
    acc &= (1 << bits) - 1;
  }
  return bits ? out + abc[(acc << (5 - bits)) & 31] : out;
}

const AUM_CHECKPOINT = 5;
const KEY_25519 = 1;

/** The trusted Ed25519 keys a checkpoint AUM (the genesis) sets up. */
export function checkpointKeys(aum: Uint8Array): Uint8Array[] {
  const v = decodeCbor(aum);
  if (!(v instanceof Map) || v.get(1) !== AUM_CHECKPOINT) throw new Error("AUM: not a checkpoint");
  const state = v.get(5);
  const keys = state instanceof Map ? state.get(3) : undefined;
  if (!Array.isArray(keys)) throw new Error("AUM: checkpoint without keys");
  return keys.flatMap((k) => (k instanceof Map && k.get(1) === KEY_25519 && k.get(3) instanceof Uint8Array ? [k.get(3) as Uint8Array] : []));
}
