// The server's side of the ts2021 Noise IK handshake, written from the Noise
// spec for the tests: it makes the valid responses and sealed records that
// the fuzz corpora start from.
import { aeadOpen, aeadSeal, blake2s, hmac } from "../../agent/src/crypto/aead.js";
import { dh, publicKeyOf } from "../../agent/src/crypto/keys.js";
import { NoiseSession } from "../../agent/src/control/noise.js";
import { ascii, concat } from "../../agent/src/util/bytes.js";

const zeroNonce = new Uint8Array(12);

function hkdf2(ck: Uint8Array, ikm: Uint8Array): [Uint8Array, Uint8Array] {
  const prk = hmac(blake2s, ck, ikm);
  const a = hmac(blake2s, prk, Uint8Array.of(1));
  return [a, hmac(blake2s, prk, concat(a, Uint8Array.of(2)))];
}

export interface Answer {
  readonly response: Uint8Array;
  /** A fresh server transport: record nonces from zero. */
  server(): NoiseSession;
  /** A fresh client transport, as the client's finish() makes it. */
  client(): NoiseSession;
}

/** Answers an initiation with the 51-byte response. */
export function respond(initiation: Uint8Array, serverPrivate: Uint8Array, ephemeralPrivate: Uint8Array, capver: number): Answer {
  let h = blake2s(ascii("Noise_IK_25519_ChaChaPoly_BLAKE2s"));
  let ck = h;
  const mix = (d: Uint8Array) => (h = blake2s(concat(h, d)));
  const mixDH = (priv: Uint8Array, pub: Uint8Array) => {
    const [next, k] = hkdf2(ck, dh(priv, pub));
    ck = next;
    return k;
  };
  mix(ascii(`Tailscale Control Protocol v${capver}`));
  mix(publicKeyOf(serverPrivate));
  const re = initiation.slice(5, 37);
  mix(re);
  const encStatic = initiation.subarray(37, 85);
  const machine = aeadOpen(mixDH(serverPrivate, re), zeroNonce, encStatic, h);
  if (!machine) throw new Error("responder: initiation does not open");
  mix(encStatic);
  const tag1 = initiation.subarray(85, 101);
  if (!aeadOpen(mixDH(serverPrivate, machine), zeroNonce, tag1, h)) throw new Error("responder: initiation tag");
  mix(tag1);
  const ePub = publicKeyOf(ephemeralPrivate);
  mix(ePub);
  mixDH(ephemeralPrivate, re);
  const tag = aeadSeal(mixDH(ephemeralPrivate, machine), zeroNonce, new Uint8Array(0), h);
  const [clientTx, clientRx] = hkdf2(ck, new Uint8Array(0));
  return {
    response: concat(Uint8Array.of(2, 0, 48), ePub, tag),
    server: () => new NoiseSession(clientRx, clientTx),
    client: () => new NoiseSession(clientTx, clientRx),
  };
}
