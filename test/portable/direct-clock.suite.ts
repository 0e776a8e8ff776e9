// The direct-path glue on the monotonic clock: the wall clock stepping back
// 10 minutes (or forward 5 years) changes nothing in when STUN runs again or
// what a disco ping's round trip measures. The host is a double; the clocks
// are the point.
import { DirectPaths } from "../../agent/src/paths/direct.js";
import type { DERPMap } from "../../agent/src/control/tailcfg.js";
import { keyPairFromSeed } from "../../agent/src/crypto/keys.js";
import { eq, suite } from "./check.js";

const YEAR_MS = 365 * 24 * 3600_000;

async function stunRounds(step: number): Promise<string[]> {
  const c = { mono: 10_000, wall: Date.UTC(2026, 0, 1) };
  const timers: { at: number; fn: () => void }[] = [];
  const logs: string[] = [];
  const host = {
    bindUdp: () => ({ port: 40000, send: () => {}, close: () => {}, onMessage: () => {} }),
    setTimer: (ms: number, fn: () => void) => {
      const t = { at: c.mono + ms, fn };
      timers.push(t);
      return () => void (timers.includes(t) && timers.splice(timers.indexOf(t), 1));
    },
    monotonic: () => c.mono,
    // The old clock, stepping: code still reading it would misbehave here.
    now: () => c.wall,
    random: (n: number) => new Uint8Array(n).fill(1),
    log: (level: string, msg: string) => void logs.push(`${level} ${msg}`),
  };
  const disco = keyPairFromSeed(new Uint8Array(32).fill(7));
  const d = new DirectPaths({
    host: host as never, wgPort: 41641, nodeKey: new Uint8Array(32).fill(1), discoPrivate: disco.privateKey, discoPublic: disco.publicKey,
    sendDerp: () => {}, setKernelEndpoint: async () => {}, localAddresses: async () => [], peerActivity: () => ({ active: true }), onEndpoints: () => {}, sharePort: async () => undefined,
  });
  await d.start();
  const derpMap: DERPMap = { Regions: { "900": { RegionID: 900, RegionCode: "lab", RegionName: "Lab", Nodes: [{ Name: "1", RegionID: 900, HostName: "derp", IPv4: "127.0.0.2" }] } } };
  d.setPeers([{ Key: `nodekey:${"22".repeat(32)}`, DiscoKey: `discokey:${"33".repeat(32)}`, Endpoints: ["127.0.0.3:41641"] } as never], derpMap, () => 900);
  const started = c.mono;
  let stepped = false;
  while (c.mono < started + 95_000) {
    timers.sort((a, b) => a.at - b.at);
    const t = timers.shift()!;
    c.wall += t.at - c.mono;
    c.mono = t.at;
    if (!stepped && c.mono >= started + 5_000) (stepped = true), (c.wall += step);
    t.fn();
    await Promise.resolve();
  }
  await d.stop();
  return logs.filter((l) => l.startsWith("debug stun: asking")).map((l) => /\(([^()]*)\)$/.exec(l)![1]!);
}

suite("direct paths on the monotonic clock", (check) => {
  check("STUN runs every 30 s although the wall clock went back 10 minutes", async () => {
    eq((await stunRounds(-600_000)).join(", "), "first netmap, periodic, periodic, periodic", "STUN rounds in 95 s");
  });
  check("STUN runs every 30 s, not at every tick, after the wall clock jumped 5 years", async () => {
    eq((await stunRounds(5 * YEAR_MS)).join(", "), "first netmap, periodic, periodic, periodic", "STUN rounds in 95 s");
  });
});
