// ChaCha20-Poly1305 (RFC 8439) with the 96-bit nonce that Noise builds from a
// 64-bit counter, and the hashes the control protocol needs. Control messages
// and pings only: bulk packets are the kernel's.
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { blake2s } from "@noble/hashes/blake2.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";

export const AEAD_TAG_LEN = 16;

export function aeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad?: Uint8Array): Uint8Array {
  return chacha20poly1305(key, nonce, ad).encrypt(plaintext);
}

/** Null when the ciphertext or its associated data is not authentic. */
export function aeadOpen(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, ad?: Uint8Array): Uint8Array | null {
  if (ciphertext.length < AEAD_TAG_LEN) return null;
  try {
    return chacha20poly1305(key, nonce, ad).decrypt(ciphertext);
  } catch {
    return null;
  }
}

export { blake2s, hmac, sha256 };
