// NaCl crypto_box (Curve25519, XSalsa20, Poly1305), as disco and DERP's
// ClientInfo use it: the X25519 secret is hashed with HSalsa20 into the
// XSalsa20-Poly1305 key, exactly like crypto_box_beforenm.
import { hsalsa, xsalsa20poly1305 } from "@noble/ciphers/salsa.js";
import { dh } from "./keys.js";

export const BOX_NONCE_LEN = 24;
export const BOX_OVERHEAD = 16;

// "expand 32-byte k" as little-endian words.
const SIGMA = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);

/** crypto_box_beforenm: the shared key of our secret and their public key. */
export function boxSharedKey(privateKey: Uint8Array, peerPublic: Uint8Array): Uint8Array {
  const out = new Uint32Array(8);
  hsalsa(SIGMA, leWords(dh(privateKey, peerPublic)), new Uint32Array(4), out);
  return leBytes(out);
}

export function boxSeal(sharedKey: Uint8Array, nonce: Uint8Array, message: Uint8Array): Uint8Array {
  if (nonce.length !== BOX_NONCE_LEN) throw new Error(`box: nonce must be ${BOX_NONCE_LEN} bytes, got ${nonce.length}`);
  return xsalsa20poly1305(sharedKey, nonce).encrypt(message);
}

/** Opens a sealed box; null when it is not authentic (callers drop it). */
export function boxOpen(sharedKey: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Uint8Array | null {
  if (nonce.length !== BOX_NONCE_LEN || sealed.length < BOX_OVERHEAD) return null;
  try {
    return xsalsa20poly1305(sharedKey, nonce).decrypt(sealed);
  } catch {
    return null;
  }
}

// Explicit little-endian conversions: routers may be big-endian MIPS, where a
// Uint32Array view over the bytes would read them the other way round.
function leWords(b: Uint8Array): Uint32Array {
  const w = new Uint32Array(b.length / 4);
  for (let i = 0; i < w.length; i++) w[i] = (b[4 * i]! | (b[4 * i + 1]! << 8) | (b[4 * i + 2]! << 16) | (b[4 * i + 3]! << 24)) >>> 0;
  return w;
}

function leBytes(w: Uint32Array): Uint8Array {
  const b = new Uint8Array(w.length * 4);
  for (let i = 0; i < w.length; i++) {
    const v = w[i]!;
    b[4 * i] = v & 0xff;
    b[4 * i + 1] = (v >>> 8) & 0xff;
    b[4 * i + 2] = (v >>> 16) & 0xff;
    b[4 * i + 3] = v >>> 24;
  }
  return b;
}
