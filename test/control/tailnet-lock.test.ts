// The controller in a locked tailnet, as tailscale's client behaves there: its
// NLKey in every registration and kept in the keys file; the node-key
// signature the map gives for its key kept; at a node-key rotation (the key
// expired, or the server hands back a signature to re-sign) the new key
// registered with a rotation signature that tailscale's own Authority (the
// pinned tka package, test/peers/tka-vectors) accepts. Headscale cannot lock
// a tailnet, so a control session double answers register and the map poll.
import { describe, expect, it, vi } from "vitest";
import { keyFromText } from "../../agent/src/crypto/keys.js";
import { decodeKeys, encodeKeys, newKeys } from "../../agent/src/control/keys.js";
import { nlKeyFromText, nodeKeyBinary, serializeNKS, SigKind, nksSigHash } from "../../agent/src/control/tka.js";
import type { ByteStream } from "../../agent/src/util/stream.js";
import { resetSession, sessionDouble } from "./session-double.js";
import { ed25519 } from "@noble/curves/ed25519.js";
import { tailscaleVerdict, tkaVectors } from "../peers/tka-vectors/vectors.js";

vi.mock("../../agent/src/control/server.js", async (orig) => (await import("./session-double.js")).serverModule(await orig<object>()));
vi.mock("../../agent/src/control/ts2021.js", async () => (await import("./session-double.js")).ts2021Module);
vi.mock("../../agent/src/control/session.js", async () => (await import("./session-double.js")).sessionModule);

const { Controller } = await import("../../agent/src/control/controller.js");

const v = tkaVectors().vectors;
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
let seed = 0x60;
const random = (n: number) => new Uint8Array(n).fill(seed++ & 0xff);

/** `tailscale lock sign NODEKEY ROUTER-NLKEY` with the tailnet's trusted lock key (the vectors' genesis trusts it). */
function lockSign(nodeKeyText: string): Uint8Array {
  const lock = nlKeyFromText(v.lockPrivate);
  const unsigned = { kind: SigKind.Direct, keyId: lock.public, pubkey: nodeKeyBinary(keyFromText("nodekey", nodeKeyText)), wrappingPubkey: nlKeyFromText(v.routerNLPrivate).public };
  return serializeNKS({ ...unsigned, signature: ed25519.sign(nksSigHash(unsigned), lock.private.subarray(0, 32)) });
}

function router(keysFile: { text: string | null }) {
  const logs: string[] = [];
  const c = new Controller(
    {
      dial: async () => ({ close() {} }) as unknown as ByteStream,
      random,
      now: () => Date.now(),
      setTimer: (ms: number, fn: () => void) => {
        if (ms >= 20_000) return () => {};
        const t = setTimeout(fn, 5);
        return () => clearTimeout(t);
      },
      log: (l: string, m: string) => void logs.push(`${l} ${m}`),
      loadKeys: () => keysFile.text,
      saveKeys: async (t: string) => void (keysFile.text = t),
    },
    { loginServer: "http://127.0.0.1:9", authKey: "tskey-auth-first", hostinfo: { OS: "linux", Hostname: "r" } },
  );
  return { c, logs };
}

const until = async (cond: () => boolean) => {
  for (let i = 0; i < 300 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
};

/** A keys file whose NLKey is the vectors' router key (so the lock key's signature names it). */
function keysWithRouterNL(): { text: string | null } {
  return { text: encodeKeys({ ...newKeys(random), nl: nlKeyFromText(v.routerNLPrivate) }) };
}

describe("a router in a locked tailnet (a control session double; tailscale's tka judges the signatures)", () => {
  it("sends its NLKey; a keys file from before tailnet lock gets one, kept across restarts", async () => {
    resetSession();
    sessionDouble.answer = () => ({ MachineAuthorized: true });
    const old = newKeys(random);
    const { nl: _none, ...withoutNl } = old;
    const keys = { text: encodeKeys(withoutNl) as string | null };
    expect(JSON.parse(keys.text!).nl).toBeUndefined();
    const r = router(keys);
    r.c.start();
    await until(() => sessionDouble.polls.length === 1);
    r.c.stop();
    const nl = JSON.parse(keys.text!).nl as string;
    expect(nl).toMatch(/^nlpriv:[0-9a-f]{128}$/);
    expect(sessionDouble.registers[0]!.NLKey).toBe(`nlpub:${nl.slice(-64)}`);
    const again = router(keys);
    again.c.start();
    await until(() => sessionDouble.polls.length === 2);
    again.c.stop();
    expect(sessionDouble.registers[1]!.NLKey).toBe(sessionDouble.registers[0]!.NLKey);
    expect(again.c.tailnetLock()).toMatchObject({ nlKey: sessionDouble.registers[0]!.NLKey, signed: false });
  });

  it("the map's signature for its key is kept; when the key expires, the new key goes with a rotation signature tailscale accepts", async () => {
    resetSession();
    sessionDouble.answer = () => ({ MachineAuthorized: true });
    const keys = keysWithRouterNL();
    const r = router(keys);
    r.c.start();
    await until(() => sessionDouble.polls.length === 1);
    const first = sessionDouble.registers[0]!;
    expect(first.NLKey).toBe(v.routerNLPublic);
    expect(first.NodeKeySignature).toBeUndefined();
    const signed = lockSign(first.NodeKey);
    sessionDouble.polls[0]!.onMessage({ Node: { ID: 1, StableID: "1", Name: "r.tailnet.", User: 1, Key: first.NodeKey, Addresses: ["100.64.0.1/32"], AllowedIPs: [], KeySignature: b64(signed) } });
    expect(decodeKeys(keys.text!).nodeKeySignature).toEqual(signed);
    expect(r.c.tailnetLock().signed).toBe(true);
    expect(r.logs).toContain("info control: the node key is signed for tailnet lock");
    expect(tailscaleVerdict(hex(keyFromText("nodekey", first.NodeKey)), hex(signed))).toBe("ok");
    r.c.stop();

    // Months later: the server says the key expired; the router rotates.
    sessionDouble.answer = (req) => (req.NodeKey === first.NodeKey ? { NodeKeyExpired: true, MachineAuthorized: true } : { MachineAuthorized: true });
    const later = router(keys);
    later.c.start();
    await until(() => sessionDouble.polls.length === 2);
    later.c.stop();
    const rotated = sessionDouble.registers.at(-1)!;
    expect(rotated.OldNodeKey).toBe(first.NodeKey);
    expect(rotated.NodeKey).not.toBe(first.NodeKey);
    const sig = Buffer.from(rotated.NodeKeySignature!, "base64");
    const verdict = tailscaleVerdict(hex(keyFromText("nodekey", rotated.NodeKey)), sig.toString("hex"));
    console.log(`tailscale's Authority on meshwrt's rotation signature (${sig.length} bytes): ${verdict}`);
    expect(verdict).toBe("ok");
    // The old key's signature does not authorize the new key: the rotation is what makes it valid.
    expect(tailscaleVerdict(hex(keyFromText("nodekey", rotated.NodeKey)), hex(signed))).toMatch(/does not authorize/);
  });

  it("a server that hands back the signature to re-sign (tailscale's NodeKeySignature in RegisterResponse): one rotation, accepted by tailscale", async () => {
    resetSession();
    const keys = keysWithRouterNL();
    let signed: Uint8Array | undefined;
    sessionDouble.answer = (req) => {
      if (sessionDouble.registers.length > 1) return { MachineAuthorized: true };
      signed = lockSign(req.NodeKey);
      return { MachineAuthorized: true, NodeKeySignature: b64(signed) };
    };
    const r = router(keys);
    r.c.start();
    await until(() => sessionDouble.polls.length === 1);
    r.c.stop();
    expect(sessionDouble.registers).toHaveLength(2);
    const [first, second] = sessionDouble.registers;
    expect(second!.OldNodeKey).toBe(first!.NodeKey);
    expect(tailscaleVerdict(hex(keyFromText("nodekey", second!.NodeKey)), Buffer.from(second!.NodeKeySignature!, "base64").toString("hex"))).toBe("ok");
    expect(signed).toBeDefined();
  });

  it("a signature for another key or one that is garbage is not kept; the agent keeps running", async () => {
    resetSession();
    sessionDouble.answer = () => ({ MachineAuthorized: true });
    const keys = keysWithRouterNL();
    const r = router(keys);
    r.c.start();
    await until(() => sessionDouble.polls.length === 1);
    const me = sessionDouble.registers[0]!.NodeKey;
    const node = { ID: 1, StableID: "1", Name: "r.tailnet.", User: 1, Key: me, Addresses: ["100.64.0.1/32"], AllowedIPs: [] };
    sessionDouble.polls[0]!.onMessage({ Node: { ...node, KeySignature: b64(lockSign(`nodekey:${"ab".repeat(32)}`)) } });
    sessionDouble.polls[0]!.onMessage({ Node: { ...node, KeySignature: b64(Uint8Array.from([0xa1, 0x01])) } });
    expect(decodeKeys(keys.text!).nodeKeySignature).toBeUndefined();
    expect(r.logs.some((l) => /warn control: the server's node-key signature for this router is unreadable \(cbor:/.test(l))).toBe(true);
    expect(r.c.current.kind).toBe("running");
    r.c.stop();
  });
});
