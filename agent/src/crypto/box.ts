// NaCl crypto_box (Curve25519, XSalsa20, Poly1305), as disco and DERP's
// ClientInfo use it: the X25519 secret is hashed with HSalsa20 into the
// XSalsa20-Poly1305 key, exactly like crypto_box_beforenm.
import { hsalsa, xsalsa20poly1305 } from "@noble/ciphers/salsa.js";
import { dh } from "./keys.js";

export const BOX_NONCE_LEN = 24;
export const BOX_OVERHEAD = 16;

// hsalsa takes and gives Uint32Array views over the little-endian bytes, and
// on a big-endian host swaps them itself (@noble/ciphers 2.4.0): words we
// decoded ourselves would be swapped twice there.
const SIGMA = wordsOver(Uint8Array.from("expand 32-byte k", (c) => c.charCodeAt(0)));

/** crypto_box_beforenm: the shared key of our secret and their public key. */
export function boxSharedKey(privateKey: Uint8Array, peerPublic: Uint8Array): Uint8Array {
  const out = new Uint32Array(8);
  hsalsa(SIGMA, wordsOver(dh(privateKey, peerPublic)), new Uint32Array(4), out);
  return new Uint8Array(out.buffer);
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

/** The bytes as a Uint32Array view, on a copy (a view needs 4-byte alignment). */
function wordsOver(b: Uint8Array): Uint32Array {
  return new Uint32Array(b.slice().buffer);
}
