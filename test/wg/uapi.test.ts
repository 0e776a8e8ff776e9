// The UAPI path against real wireguard-go (Debian's), on this host: a device
// configured only by meshwrt reads back identically through `wg show dump`,
// and a change touches only the peer that changed.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyPairFromSeed } from "../../agent/src/crypto/keys.js";
import { parseEndpoint, parsePrefix } from "../../agent/src/netaddr/ip.js";
import { planPeers } from "../../agent/src/wg/reconcile.js";
import { uapiSocketPath, UserspaceWireGuard } from "../../agent/src/wg/userspace.js";
import { connectStream } from "../support/node-stream.js";

const NAME = `mwu${process.pid % 10000}`;
let wggo: ChildProcess | undefined;

const connect = (path: string) => connectStream({ path });

const key = (n: number) => keyPairFromSeed(new Uint8Array(32).fill(n));
const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");

beforeAll(async () => {
  wggo = spawn("wireguard-go", ["-f", NAME], { stdio: "ignore", env: { ...process.env, WG_PROCESS_FOREGROUND: "1" } });
  for (let i = 0; i < 50 && !existsSync(uapiSocketPath(NAME)); i++) await new Promise((r) => setTimeout(r, 100));
  expect(existsSync(uapiSocketPath(NAME)), "wireguard-go made its UAPI socket").toBe(true);
});

afterAll(() => {
  wggo?.kill();
  try {
    execFileSync("ip", ["link", "del", NAME], { stdio: "ignore" });
  } catch {
    // wireguard-go removes its TUN device when it exits
  }
});

describe("wireguard-go through UAPI", () => {
  const wg = new UserspaceWireGuard(connect);
  it("a device configured by meshwrt reads back identically in wg show dump", async () => {
    await wg.set({
      name: NAME,
      privateKey: key(1).privateKey,
      listenPort: 51999,
      replacePeers: true,
      peers: [
        { publicKey: key(2).publicKey, endpoint: parseEndpoint("192.0.2.7:41641"), persistentKeepalive: 25, allowedIps: [parsePrefix("100.64.0.2/32"), parsePrefix("192.168.2.0/24")], replaceAllowedIps: true },
        { publicKey: key(3).publicKey, endpoint: parseEndpoint("[2001:db8::3]:51820"), allowedIps: [parsePrefix("fd7a:115c:a1e0::3/128")], replaceAllowedIps: true },
      ],
    });
    const dump = execFileSync("wg", ["show", NAME, "dump"], { encoding: "utf8" }).trim().split("\n").map((l) => l.split("\t"));
    expect(dump[0]!.slice(0, 3)).toEqual([b64(key(1).privateKey), b64(key(1).publicKey), "51999"]);
    const peers = new Map(dump.slice(1).map((p) => [p[0], p]));
    expect(peers.get(b64(key(2).publicKey))!.slice(2, 4)).toEqual(["192.0.2.7:41641", "100.64.0.2/32,192.168.2.0/24"]);
    expect(peers.get(b64(key(2).publicKey))![7]).toBe("25");
    expect(peers.get(b64(key(3).publicKey))!.slice(2, 4)).toEqual(["[2001:db8::3]:51820", "fd7a:115c:a1e0::3/128"]);
    const dev = await wg.get(NAME);
    expect(dev.listenPort).toBe(51999);
    expect(dev.peers.map((p) => p.allowedIps.length).sort()).toEqual([1, 2]);
  });
  it("the reconciler changes only the peer that changed", async () => {
    const before = await wg.get(NAME);
    const wanted = before.peers.map((p) => ({ publicKey: p.publicKey, allowedIps: p.allowedIps, persistentKeepalive: p.persistentKeepalive }));
    wanted[0] = { ...wanted[0]!, allowedIps: [...wanted[0]!.allowedIps, parsePrefix("10.9.0.0/16")] };
    const plan = planPeers(before, wanted);
    expect(plan).toHaveLength(1);
    await wg.set({ name: NAME, peers: plan });
    const after = await wg.get(NAME);
    expect(after.peers.find((p) => p.publicKey[31] === before.peers[0]!.publicKey[31])!.allowedIps).toHaveLength(before.peers[0]!.allowedIps.length + 1);
    expect(planPeers(after, wanted)).toHaveLength(0);
  });
  it("a missing device is a clear error", async () => {
    await expect(wg.get("mwnosuch0")).rejects.toThrow(/mwnosuch0/);
  });
});
