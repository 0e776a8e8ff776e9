// Tailnet lock against tailscale's own tka package (the pinned module, built
// by test/peers/tka-vectors/vectors.sh): meshwrt's NLKey, node-key signatures,
// rotation signatures (tka.ResignNKS, byte for byte, the chain trimmed past 15
// keys as tailscale trims it) and a genesis AUM; meshwrt's own rotation
// signatures accepted by tailscale's Authority.
import { describe, expect, it } from "vitest";
import { decodeCbor, encodeCbor } from "../../agent/src/control/cbor.js";
import { aumHash, checkpointKeys, nksSigHash, nlKeyFromText, nlPublicText, parseNKS, resignNKS, serializeNKS, SigKind, verifyNKS } from "../../agent/src/control/tka.js";

import { tailscaleVerdict as verdict, tkaVectors } from "../peers/tka-vectors/vectors.js";

const v = tkaVectors().vectors;
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const tailscaleVerdict = (nodeKey: string, sig: Uint8Array) => verdict(nodeKey, toHex(sig));

describe("tailnet lock, checked against tailscale's tka package", () => {
  const router = nlKeyFromText(v.routerNLPrivate);
  const trusted = checkpointKeys(hex(v.genesisAUM));

  it("the NLKey's text forms and public key match tailscale's", () => {
    expect(nlPublicText(router.public)).toBe(v.routerNLPublic);
    expect(() => nlKeyFromText(v.routerNLPrivate.replace(/.$/, (c) => (c === "0" ? "1" : "0")))).toThrow(/public half does not match/);
  });

  it("a node-key signature made by `tailscale lock sign`: parsed, re-serialized to the same bytes, its hash the same, verified against the genesis AUM's keys", () => {
    const sig = parseNKS(hex(v.direct));
    expect(sig.kind).toBe(SigKind.Direct);
    expect(toHex(sig.wrappingPubkey!)).toBe(v.routerNLPublic.slice("nlpub:".length));
    expect(toHex(serializeNKS(sig))).toBe(v.direct);
    expect(toHex(nksSigHash(sig))).toBe(v.directSigHash);
    expect(trusted.map(toHex)).toEqual([v.lockPublic.slice("nlpub:".length)]);
    expect(verifyNKS(sig, hex(v.nodeKeys[0]!), trusted)).toBeUndefined();
    expect(verifyNKS(sig, hex(v.nodeKeys[1]!), trusted)).toBe("signature does not authorize nodeKey");
    const tampered = hex(v.direct);
    tampered[tampered.length - 40]! ^= 1;
    expect(verifyNKS(parseNKS(tampered), hex(v.nodeKeys[0]!), trusted)).toMatch(/invalid signature|key not found/);
  });

  it("rotations over 17 node keys: every signature the same bytes as tka.ResignNKS makes (the chain trimmed after 15), each verified", () => {
    let prev = hex(v.direct);
    v.rotations.forEach((want, i) => {
      const next = resignNKS(router, hex(v.nodeKeys[i + 1]!), prev);
      expect(toHex(next), `rotation ${i + 1}`).toBe(want);
      expect(verifyNKS(parseNKS(next), hex(v.nodeKeys[i + 1]!), trusted), `rotation ${i + 1}`).toBeUndefined();
      prev = next;
    });
    // The same key again: the same signature.
    expect(toHex(resignNKS(router, hex(v.nodeKeys[17]!), prev))).toBe(v.rotations[16]);
    console.log(`rotation signature sizes: ${v.rotations.map((r) => r.length / 2).join(", ")} bytes`);
  });

  it("tailscale's Authority accepts meshwrt's rotation signature, and refuses one made with another NLKey", () => {
    const ours = resignNKS(router, hex(v.nodeKeys[1]!), hex(v.direct));
    expect(tailscaleVerdict(v.nodeKeys[1]!, ours)).toBe("ok");
    const other = resignNKS(nlKeyFromText(v.otherNLPrivate), hex(v.nodeKeys[1]!), hex(v.direct));
    expect(tailscaleVerdict(v.nodeKeys[1]!, other)).toMatch(/invalid signature/);
    expect(verifyNKS(parseNKS(other), hex(v.nodeKeys[1]!), trusted)).toBe("invalid signature");
  });

  it("the genesis AUM: decoded and re-encoded to the same bytes (canonical CBOR), its hash as tailscale prints it", () => {
    expect(toHex(encodeCbor(decodeCbor(hex(v.genesisAUM))))).toBe(v.genesisAUM);
    expect(aumHash(hex(v.genesisAUM))).toBe(v.genesisAUMHash);
  });

  it("garbage signatures: a clear error, never a crash", () => {
    expect(() => parseNKS(hex("a1"))).toThrow(/cbor: length 1 past the end/);
    expect(() => parseNKS(hex("a10158"))).toThrow(/cbor: truncated/);
    expect(() => parseNKS(hex("a10109"))).toThrow(/unknown kind 9/);
    expect(() => parseNKS(hex("a2010102f5"))).toThrow(/field 2 is not bytes/);
    expect(() => decodeCbor(hex("5bffffffffffffffff"))).toThrow(/past the end/);
    let deep = "";
    for (let i = 0; i < 40; i++) deep += "a20102" + "05";
    expect(() => parseNKS(hex(`${deep}a10101`))).toThrow(/too deep/);
  });
});
