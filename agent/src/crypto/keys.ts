// Curve25519 keys as Tailscale uses them: the machine key (Noise static),
// the node key (= WireGuard public key, also the DERP identity) and the disco
// key, with their text forms ("nodekey:" + 64 hex digits).
import { x25519 } from "@noble/curves/ed25519.js";
import { bytesToHex } from "@noble/hashes/utils.js";

export const KEY_LEN = 32;

export type KeyKind = "mkey" | "nodekey" | "discokey" | "privkey";

export interface KeyPair {
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

/** A key pair from 32 random bytes; the secret is clamped as RFC 7748 says. */
export function keyPairFromSeed(seed: Uint8Array): KeyPair {
  if (seed.length !== KEY_LEN) throw new Error(`key seed: want ${KEY_LEN} bytes, got ${seed.length}`);
  const privateKey = clamp(seed);
  return { privateKey, publicKey: x25519.getPublicKey(privateKey) };
}

export function publicKeyOf(privateKey: Uint8Array): Uint8Array {
  return x25519.getPublicKey(privateKey);
}

/** X25519 Diffie-Hellman; throws on a low-order peer key (all-zero result). */
export function dh(privateKey: Uint8Array, peerPublic: Uint8Array): Uint8Array {
  return x25519.getSharedSecret(privateKey, peerPublic);
}

export function clamp(seed: Uint8Array): Uint8Array {
  const k = seed.slice();
  k[0]! &= 248;
  k[31]! &= 127;
  k[31]! |= 64;
  return k;
}

export function keyToText(kind: KeyKind, key: Uint8Array): string {
  if (key.length !== KEY_LEN) throw new Error(`${kind}: want ${KEY_LEN} bytes, got ${key.length}`);
  return `${kind}:${bytesToHex(key)}`;
}

export function keyFromText(kind: KeyKind, text: string): Uint8Array {
  const prefix = `${kind}:`;
  if (!text.startsWith(prefix)) throw new Error(`${kind}: missing "${prefix}" prefix in ${JSON.stringify(text.slice(0, 16))}`);
  return keyFromHex(text.slice(prefix.length), kind);
}

const HEX_KEY = /^[0-9a-f]{64}$/;

/**
 * A key's 64 lowercase hex digits as its bytes, or an error naming `what`: 8 digits a parseInt
 * (noble's hexToBytes, a byte a step, was ~16 us a key in QuickJS, and the agent decodes keys it keeps as hex).
 */
export function keyFromHex(hex: string, what = "key"): Uint8Array {
  if (!HEX_KEY.test(hex)) throw new Error(`${what}: want 64 lowercase hex digits, got ${hex.length} characters`);
  const b = new Uint8Array(KEY_LEN);
  for (let i = 0, o = 0; i < 64; i += 8, o += 4) {
    const v = parseInt(hex.slice(i, i + 8), 16);
    b[o] = v >>> 24;
    b[o + 1] = v >>> 16;
    b[o + 2] = v >>> 8;
    b[o + 3] = v;
  }
  return b;
}

export function keysEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}
