// DirectPaths when the WAN is gone: every datagram fails to leave
// (ENETUNREACH, as the kernel says with no route), and the agent must go on
// asking STUN servers and sending disco, not stop its periodic work.
import { describe, expect, it } from "vitest";
import { DirectPaths } from "../../agent/src/paths/direct.js";
import { keyPairFromSeed } from "../../agent/src/crypto/keys.js";
import type { DERPMap } from "../../agent/src/control/tailcfg.js";

describe("direct paths with the WAN down", () => {
  it("a send that fails is logged, not thrown, and the next rounds still run", async () => {
    let now = 0, attempts = 0;
    const timers: { at: number; fn: () => void }[] = [];
    const logs: string[] = [];
    const disco = keyPairFromSeed(new Uint8Array(32).fill(7));
    const host = {
      bindUdp: () => ({
        port: 40000,
        send: () => {
          attempts++;
          throw new Error("sendto 198.18.2.2:3478: ENETUNREACH (Network unreachable)");
        },
        close: () => {},
        onMessage: () => {},
      }),
      setTimer: (ms: number, fn: () => void) => {
        const t = { at: now + ms, fn };
        timers.push(t);
        return () => void timers.splice(timers.indexOf(t) >>> 0, 1);
      },
      monotonic: () => now,
      random: (n: number) => new Uint8Array(n).fill(1),
      log: (level: string, msg: string) => void logs.push(`${level} ${msg}`),
    };
    const d = new DirectPaths({
      host: host as never, wgPort: 41641, nodeKey: new Uint8Array(32).fill(1), discoPrivate: disco.privateKey, discoPublic: disco.publicKey,
      sendDerp: () => {}, setKernelEndpoint: async () => {}, localAddresses: async () => [], peerActivity: () => ({ active: true }), onEndpoints: () => {}, sharePort: async () => undefined,
    });
    expect(await d.start()).toBe(true);
    const derpMap: DERPMap = { Regions: { "900": { RegionID: 900, RegionCode: "lab", RegionName: "Lab", Nodes: [{ Name: "1", RegionID: 900, HostName: "derp", IPv4: "198.18.2.2" }] } } };
    // A peer with a direct endpoint to try: disco pings go out to it too.
    const peer = { Key: `nodekey:${"22".repeat(32)}`, DiscoKey: `discokey:${"33".repeat(32)}`, Endpoints: ["198.18.4.2:41641"] };
    expect(() => d.setPeers([peer as never], derpMap, () => 900)).not.toThrow();
    expect(() => d.rediscover("network changed")).not.toThrow();
    const first = attempts;
    expect(first).toBeGreaterThan(0);
    // 70 s of the loop's timers: the periodic STUN (every 30 s) keeps trying.
    while (now < 70_000) {
      timers.sort((a, b) => a.at - b.at);
      const t = timers.shift()!;
      now = t.at;
      t.fn();
    }
    expect(attempts).toBeGreaterThan(first);
    expect(logs.filter((l) => l.includes("ENETUNREACH")).every((l) => l.startsWith("debug direct paths: sendto"))).toBe(true);
    await d.stop();
  });
});
