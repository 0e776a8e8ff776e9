// The direct-path glue on the monotonic clock: the wall clock stepping back
// 10 minutes (or forward 5 years) changes nothing in when STUN runs again or
// what a disco ping's round trip measures. The host is a double; the clocks
// are the point.
import { DirectPaths } from "../../agent/src/paths/direct.js";
import type { DERPMap } from "../../agent/src/control/tailcfg.js";
import { keyPairFromSeed } from "../../agent/src/crypto/keys.js";
import { eq, suite } from "./check.js";

const YEAR_MS = 365 * 24 * 3600_000;

/** DirectPaths on a host double whose timers run on a clock the test moves. */
async function harness(activity: { active: boolean }, wallStep = 0) {
  const c = { mono: 10_000, wall: Date.UTC(2026, 0, 1) };
  const timers: { at: number; fn: () => void }[] = [];
  const logs: string[] = [];
  const sent: string[] = [];
  let fired = 0;
  const host = {
    bindUdp: () => ({ port: 40000, send: (_p: Uint8Array, ip: string, port: number) => void sent.push(`${ip}:${port}`), close: () => {}, onMessage: () => {} }),
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
    sendDerp: () => {}, setKernelEndpoint: async () => {}, localAddresses: async () => [], peerActivity: () => ({ ...activity }), onEndpoints: () => {}, sharePort: async () => undefined,
  });
  await d.start();
  const derpMap: DERPMap = { Regions: { "900": { RegionID: 900, RegionCode: "lab", RegionName: "Lab", Nodes: [{ Name: "1", RegionID: 900, HostName: "derp", IPv4: "127.0.0.2" }] } } };
  d.setPeers([{ Key: `nodekey:${"22".repeat(32)}`, DiscoKey: `discokey:${"33".repeat(32)}`, Endpoints: ["127.0.0.3:41641"] } as never], derpMap, () => 900);
  const started = c.mono;
  let stepped = false;
  return {
    d, logs, sent,
    /** Timers fired so far. */
    fired: () => fired,
    /** Runs the timers due until `ms` past the start. */
    async until(ms: number) {
      for (;;) {
        timers.sort((a, b) => a.at - b.at);
        if (!timers.length || timers[0]!.at > started + ms) break;
        const t = timers.shift()!;
        c.wall += t.at - c.mono;
        c.mono = t.at;
        if (!stepped && wallStep && c.mono >= started + 5_000) (stepped = true), (c.wall += wallStep);
        fired++;
        t.fn();
        await Promise.resolve();
      }
      c.mono = started + ms;
    },
  };
}

async function stunRounds(step: number): Promise<string[]> {
  const h = await harness({ active: true }, step);
  await h.until(95_000);
  await h.d.stop();
  return stunLog(h.logs);
}

const stunLog = (logs: string[]) => logs.filter((l) => l.startsWith("debug stun: asking")).map((l) => /\(([^()]*)\)$/.exec(l)![1]!);

suite("direct paths on the monotonic clock", (check) => {
  check("STUN runs every 30 s although the wall clock went back 10 minutes", async () => {
    eq((await stunRounds(-600_000)).join(", "), "first netmap, periodic, periodic, periodic", "STUN rounds in 95 s");
  });
  check("STUN runs every 30 s, not at every tick, after the wall clock jumped 5 years", async () => {
    eq((await stunRounds(5 * YEAR_MS)).join(", "), "first netmap, periodic, periodic, periodic", "STUN rounds in 95 s");
  });
});

suite("the path tick while every peer is idle", (check) => {
  check("sleeps until the next STUN round: 95 s idle wake the agent for STUN, not every second", async () => {
    const h = await harness({ active: false });
    await h.until(95_000);
    eq(stunLog(h.logs).join(", "), "first netmap, periodic, periodic, periodic", "STUN rounds in 95 s");
    // The STUN rounds' own 3 s deadlines and the tick at each round: no per-second tick.
    eq(h.fired() <= 10, true, `timers fired in 95 s idle: ${h.fired()}`);
    eq(h.sent.filter((to) => to === "127.0.0.3:41641").length, 0, "disco pings to the idle peer");
    await h.d.stop();
  });
  check("a peer turned active is worked on at wake(), and every second while it stays active", async () => {
    const activity = { active: false };
    const h = await harness(activity);
    await h.until(10_000);
    activity.active = true;
    h.d.wake();
    eq(h.sent.filter((to) => to === "127.0.0.3:41641").length, 1, "a disco ping to the peer at once");
    const before = h.fired();
    await h.until(20_000);
    // Pings to a candidate at least 2.5 s apart (PING_INTERVAL_MS), on a 1 s tick: every 3 s, so 10 s give 3 more.
    eq(h.sent.filter((to) => to === "127.0.0.3:41641").length, 4, "pings to the active peer in 10 s");
    eq(h.fired() - before >= 10, true, `ticks in 10 s active: ${h.fired() - before}`);
    await h.d.stop();
  });
});
