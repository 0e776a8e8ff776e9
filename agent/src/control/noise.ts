// The ts2021 control transport: Noise_IK_25519_ChaChaPoly_BLAKE2s with the
// machine key as the initiator's static key, then framed records. Pure: keys
// and random bytes in, message bytes out.
//
// Wire format (Tailscale's control/controlbase):
//   initiation: version u16 BE, type 1, length u16 BE, e (32), enc(s) (48), tag (16)
//   response:   type 2, length u16 BE, e (32), tag (16)
//   error:      type 3, length u16 BE, reason text
//   record:     type 4, length u16 BE, ciphertext (at most 4096 bytes a frame)
// Transport nonces are the counter written big-endian in the last 8 bytes,
// unlike the Noise spec's little-endian.
import { aeadOpen, aeadSeal, blake2s, hmac } from "../crypto/aead.js";
import { dh, publicKeyOf } from "../crypto/keys.js";
import { ascii, concat, latin1 } from "../util/bytes.js";

const PROTOCOL_NAME = "Noise_IK_25519_ChaChaPoly_BLAKE2s";
const PROLOGUE_PREFIX = "Tailscale Control Protocol v";

export const MSG_INITIATION = 1;
export const MSG_RESPONSE = 2;
export const MSG_ERROR = 3;
export const MSG_RECORD = 4;

export const INITIATION_LEN = 101;
export const RESPONSE_LEN = 51;
export const MAX_FRAME = 4096;
const HEADER_LEN = 3;
const TAG_LEN = 16;
export const MAX_PLAINTEXT = MAX_FRAME - HEADER_LEN - TAG_LEN;


export class NoiseError extends Error {}

class SymmetricState {
  h: Uint8Array;
  ck: Uint8Array;

  constructor() {
    // The name is 33 bytes, longer than a hash, so h starts as its hash.
    this.h = blake2s(ascii(PROTOCOL_NAME));
    this.ck = this.h;
  }

  mixHash(data: Uint8Array): void {
    this.h = blake2s(concat(this.h, data));
  }

  /** Mixes a DH result into the chaining key; returns the key for one message. */
  mixDH(priv: Uint8Array, pub: Uint8Array): Uint8Array {
    let shared: Uint8Array;
    try {
      shared = dh(priv, pub);
    } catch {
      throw new NoiseError("noise: peer key is a low-order point");
    }
    const [ck, k] = hkdf(this.ck, shared);
    this.ck = ck;
    return k;
  }

  encryptAndHash(key: Uint8Array, plaintext: Uint8Array): Uint8Array {
    const c = aeadSeal(key, new Uint8Array(12), plaintext, this.h);
    this.mixHash(c);
    return c;
  }

  decryptAndHash(key: Uint8Array, ciphertext: Uint8Array, what: string): Uint8Array {
    const p = aeadOpen(key, new Uint8Array(12), ciphertext, this.h);
    if (!p) throw new NoiseError(`noise: ${what} does not authenticate`);
    this.mixHash(ciphertext);
    return p;
  }
}

function hkdf(ck: Uint8Array, ikm: Uint8Array): [Uint8Array, Uint8Array] {
  const temp = hmac(blake2s, ck, ikm);
  const out1 = hmac(blake2s, temp, Uint8Array.of(1));
  const out2 = hmac(blake2s, temp, concat(out1, Uint8Array.of(2)));
  return [out1, out2];
}

export interface Handshake {
  /** The 101-byte initiation, sent base64 in X-Tailscale-Handshake. */
  readonly initiation: Uint8Array;
  /** Completes the handshake with the server's response; throws NoiseError. */
  finish(response: Uint8Array): NoiseSession;
}

/**
 * Starts a handshake as the client. `ephemeralSeed` is 32 random bytes from
 * the host; `version` is the capability version the client claims.
 */
export function startHandshake(machinePrivate: Uint8Array, serverPublic: Uint8Array, ephemeralSeed: Uint8Array, version: number): Handshake {
  const s = new SymmetricState();
  s.mixHash(ascii(PROLOGUE_PREFIX + String(version)));
  s.mixHash(serverPublic);
  const ePriv = ephemeralSeed.slice();
  const ePub = publicKeyOf(ePriv);
  s.mixHash(ePub);
  const encStatic = s.encryptAndHash(s.mixDH(ePriv, serverPublic), publicKeyOf(machinePrivate));
  const tag = s.encryptAndHash(s.mixDH(machinePrivate, serverPublic), new Uint8Array(0));
  const init = new Uint8Array(INITIATION_LEN);
  const v = new DataView(init.buffer);
  v.setUint16(0, version, false);
  init[2] = MSG_INITIATION;
  v.setUint16(3, INITIATION_LEN - 5, false);
  init.set(ePub, 5);
  init.set(encStatic, 37);
  init.set(tag, 85);
  return {
    initiation: init,
    finish(response: Uint8Array): NoiseSession {
      if (response.length >= HEADER_LEN && response[0] === MSG_ERROR) {
        const n = new DataView(response.buffer, response.byteOffset).getUint16(1, false);
        const reason = latin1(response.subarray(HEADER_LEN, HEADER_LEN + n));
        throw new NoiseError(`noise: server refused the handshake: ${reason}`);
      }
      if (response.length !== RESPONSE_LEN) throw new NoiseError(`noise: response of ${response.length} bytes, want ${RESPONSE_LEN}`);
      const rv = new DataView(response.buffer, response.byteOffset, response.byteLength);
      if (response[0] !== MSG_RESPONSE || rv.getUint16(1, false) !== RESPONSE_LEN - HEADER_LEN) {
        throw new NoiseError(`noise: response header ${Array.from(response.subarray(0, 3)).join(",")} is not type 2 with length 48`);
      }
      const re = response.slice(3, 35);
      s.mixHash(re);
      s.mixDH(ePriv, re);
      const k = s.mixDH(machinePrivate, re);
      s.decryptAndHash(k, response.subarray(35, 51), "handshake response");
      const [tx, rx] = hkdf(s.ck, new Uint8Array(0));
      return new NoiseSession(tx, rx);
    },
  };
}

function nonceBE(n: number): Uint8Array {
  const b = new Uint8Array(12);
  const v = new DataView(b.buffer);
  v.setUint32(4, Math.floor(n / 0x100000000), false);
  v.setUint32(8, n >>> 0, false);
  return b;
}

/** The transport after the handshake: seals outgoing and opens incoming records. */
export class NoiseSession {
  private txNonce = 0;
  private rxNonce = 0;
  private pending: Uint8Array = new Uint8Array(0);

  constructor(
    private readonly txKey: Uint8Array,
    private readonly rxKey: Uint8Array,
  ) {}

  /** Frames plaintext of any length into records of at most 4096 bytes. */
  seal(plaintext: Uint8Array): Uint8Array {
    const frames: Uint8Array[] = [];
    for (let off = 0; off < plaintext.length || frames.length === 0; off += MAX_PLAINTEXT) {
      const chunk = plaintext.subarray(off, off + MAX_PLAINTEXT);
      const c = aeadSeal(this.txKey, nonceBE(this.txNonce++), chunk);
      const f = new Uint8Array(HEADER_LEN + c.length);
      f[0] = MSG_RECORD;
      new DataView(f.buffer).setUint16(1, c.length, false);
      f.set(c, HEADER_LEN);
      frames.push(f);
      if (chunk.length === 0) break;
    }
    return concat(...frames);
  }

  /** Feeds received bytes; returns the plaintext of every whole record so far. */
  open(received: Uint8Array): Uint8Array {
    this.pending = this.pending.length ? concat(this.pending, received) : received.slice();
    const out: Uint8Array[] = [];
    let off = 0;
    while (this.pending.length - off >= HEADER_LEN) {
      const type = this.pending[off]!;
      const len = (this.pending[off + 1]! << 8) | this.pending[off + 2]!;
      if (type !== MSG_RECORD) throw new NoiseError(`noise: record of type ${type}, want ${MSG_RECORD}`);
      if (len > MAX_FRAME - HEADER_LEN || len < TAG_LEN) throw new NoiseError(`noise: record of ${len} bytes`);
      if (this.pending.length - off < HEADER_LEN + len) break;
      const p = aeadOpen(this.rxKey, nonceBE(this.rxNonce), this.pending.subarray(off + HEADER_LEN, off + HEADER_LEN + len));
      if (!p) throw new NoiseError(`noise: record ${this.rxNonce} does not authenticate`);
      this.rxNonce++;
      out.push(p);
      off += HEADER_LEN + len;
    }
    this.pending = this.pending.subarray(off);
    return concat(...out);
  }
}

/** The server's optional first bytes: "\xff\xff\xffTS", a u32 BE length, then JSON. */
export const EARLY_PAYLOAD_MAGIC = Uint8Array.of(0xff, 0xff, 0xff, 0x54, 0x53);
