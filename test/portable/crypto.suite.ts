// Known-answer tests of every primitive the agent uses.
import { aeadOpen, aeadSeal, blake2s, hmac, sha256 } from "../../agent/src/crypto/aead.js";
import { boxOpen, boxSeal, boxSharedKey } from "../../agent/src/crypto/box.js";
import { dh, keyFromHex, keyFromText, keyPairFromSeed, keyToText, publicKeyOf } from "../../agent/src/crypto/keys.js";
import { eq, eqBytes, hex, suite, throws } from "./check.js";

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

suite("x25519 (RFC 7748)", (check) => {
  check("5.2 first test vector", () => {
    const k = hex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4");
    const u = hex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c");
    eqBytes(dh(k, u), "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552", "X25519(k, u)");
  });
  check("5.2 second test vector", () => {
    const k = hex("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d");
    const u = hex("e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493");
    eqBytes(dh(k, u), "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957", "X25519(k, u)");
  });
  check("6.1 Diffie-Hellman", () => {
    const alice = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    const bob = hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    eqBytes(publicKeyOf(alice), "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", "Alice's public key");
    eqBytes(publicKeyOf(bob), "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", "Bob's public key");
    const k = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
    eqBytes(dh(alice, publicKeyOf(bob)), k, "shared secret (Alice)");
    eqBytes(dh(bob, publicKeyOf(alice)), k, "shared secret (Bob)");
  });
  check("seed is clamped", () => {
    const kp = keyPairFromSeed(new Uint8Array(32).fill(0xff));
    eq(kp.privateKey[0], 248, "first byte");
    eq(kp.privateKey[31], 127, "last byte");
  });
  check("low-order public key is refused", () => {
    throws(() => dh(hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"), new Uint8Array(32)), /./, "all-zero key");
  });
});

suite("key text forms", (check) => {
  const key = hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  check("round trip", () => {
    const t = keyToText("nodekey", key);
    eq(t, "nodekey:de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", "text");
    eqBytes(keyFromText("nodekey", t), key, "parsed");
  });
  check("wrong prefix and bad hex are refused", () => {
    throws(() => keyFromText("discokey", keyToText("nodekey", key)), /discokey: missing "discokey:" prefix/, "prefix");
    throws(() => keyFromText("mkey", "mkey:zz"), /mkey: want 64 lowercase hex digits/, "hex");
  });
  check("a key's hex decoded 8 digits at a time: every byte value, and text that is no key refused", () => {
    const all = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0")).join("");
    for (let i = 0; i < all.length; i += 64) eqBytes(keyFromHex(all.slice(i, i + 64)), all.slice(i, i + 64), `bytes ${i / 2}-${i / 2 + 31}`);
    throws(() => keyFromHex("A".repeat(64), "peer key"), /^peer key: want 64 lowercase hex digits, got 64 characters$/, "uppercase");
    throws(() => keyFromHex("0".repeat(62)), /want 64 lowercase hex digits, got 62/, "short");
    throws(() => keyFromHex(`${"0".repeat(63)}g`), /want 64 lowercase hex digits/, "not hex");
  });
});

suite("ChaCha20-Poly1305 (RFC 8439)", (check) => {
  const key = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
  const nonce = hex("070000004041424344454647");
  const ad = hex("50515253c0c1c2c3c4c5c6c7");
  const plaintext = ascii(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  );
  const sealed =
    "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116" +
    "1ae10b594f09e26a7e902ecbd0600691";
  check("2.8.2 seal", () => eqBytes(aeadSeal(key, nonce, plaintext, ad), sealed, "ciphertext and tag"));
  check("2.8.2 open", () => eqBytes(aeadOpen(key, nonce, hex(sealed), ad), plaintext, "plaintext"));
  check("a flipped bit fails to open", () => {
    const bad = hex(sealed);
    bad[5]! ^= 1;
    eq(aeadOpen(key, nonce, bad, ad), null, "tampered ciphertext");
    eq(aeadOpen(key, nonce, hex(sealed), new Uint8Array(0)), null, "wrong associated data");
    eq(aeadOpen(key, nonce, new Uint8Array(3), ad), null, "shorter than a tag");
  });
});

suite("NaCl box (crypto_box test vectors)", (check) => {
  const alicesk = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  const bobsk = hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
  const nonce = hex("69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37");
  const m = hex(`
    be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffce5ecbaaf33bd751a1ac728d45e6c61296cdc3c01233561f41db66cce314adb31
    0e3be8250c46f06dceea3a7fa1348057e2f6556ad6b1318a024a838f21af1fde048977eb48f59ffd4924ca1c60902e52f0a089bc76897040e082f93776384864
    5e0705`);
  const c = `
    f3ffc7703f9400e52a7dfb4b3d3305d98e993b9f48681273c29650ba32fc76ce48332ea7164d96a4476fb8c531a1186ac0dfc17c98dce87b4da7f011ec48c972
    71d2c20f9b928fe2270d6fb863d51738b48eeee314a7cc8ab932164548e526ae90224368517acfeabd6bb3732bc0e9da99832b61ca01b6de56244a9e88d5f9b3
    7973f622a43d14a6599b1f654cb45a74e355a5`;
  check("beforenm (firstkey)", () => {
    eqBytes(boxSharedKey(alicesk, publicKeyOf(bobsk)), "1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389", "shared key");
  });
  check("box (box3)", () => eqBytes(boxSeal(boxSharedKey(alicesk, publicKeyOf(bobsk)), nonce, m), c, "sealed"));
  check("box_open (box4)", () => eqBytes(boxOpen(boxSharedKey(bobsk, publicKeyOf(alicesk)), nonce, hex(c)), m, "opened"));
  check("a forged box does not open", () => {
    const bad = hex(c);
    bad[bad.length - 1]! ^= 0x80;
    eq(boxOpen(boxSharedKey(bobsk, publicKeyOf(alicesk)), nonce, bad), null, "forged");
    eq(boxOpen(boxSharedKey(bobsk, publicKeyOf(alicesk)), nonce.subarray(1), hex(c)), null, "short nonce");
  });
});

suite("BLAKE2s (RFC 7693, blake2s-kat)", (check) => {
  check("RFC 7693 B.2 'abc'", () => {
    eqBytes(blake2s(ascii("abc")), "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982", "BLAKE2s-256");
  });
  check("keyed, empty input", () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i);
    eqBytes(blake2s(new Uint8Array(0), { key }), "48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49", "keyed BLAKE2s");
  });
  check("empty input", () => {
    eqBytes(blake2s(new Uint8Array(0)), "69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9", "BLAKE2s-256");
  });
});

suite("SHA-256 (FIPS 180-4)", (check) => {
  check("'abc'", () => eqBytes(sha256(ascii("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "SHA-256"));
  check("two blocks", () => {
    eqBytes(
      sha256(ascii("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
      "SHA-256",
    );
  });
});

// Noise's HKDF is HMAC-BLAKE2s; DERP and the rest use no other HMAC.
suite("HMAC", (check) => {
  check("HMAC-SHA-256 (RFC 4231 test case 2)", () => {
    eqBytes(hmac(sha256, ascii("Jefe"), ascii("what do ya want for nothing?")), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", "HMAC-SHA-256");
  });
  check("HMAC-BLAKE2s (OpenSSL's output)", () => {
    eqBytes(hmac(blake2s, ascii("key"), ascii("The quick brown fox jumps over the lazy dog")), "f93215bb90d4af4c3061cd932fb169fb8bb8a91d0b4022baea1271e1323cd9a0", "HMAC-BLAKE2s");
  });
});
