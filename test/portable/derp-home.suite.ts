// The home relay region by measured latency (derp/home.ts), with the rules
// of tailscale's netcheck: best of the last five minutes, region scores,
// stickiness of 10 ms and a third, and a home that stops answering lost
// unless its relay is still heard. Then the manager acting on it.
import type { DERPMap, DERPRegion } from "../../agent/src/control/tailcfg.js";
import { HEARD_RECENTLY_MS, HISTORY_MS, HomeChooser, KEEP_WITHOUT_REPORT_MS } from "../../agent/src/derp/home.js";
import { NODE_CONNECT_MS } from "../../agent/src/derp/connect.js";
import { HTTPS_EVERY_MS } from "../../agent/src/derp/https-latency.js";
import { DerpManager, FIRST_REPORT_WAIT_MS } from "../../agent/src/derp/manager.js";
import { ascii, latin1 } from "../../agent/src/util/bytes.js";
import type { ByteStream } from "../../agent/src/util/stream.js";
import { eq, suite } from "./check.js";

const region = (id: number, extra: Partial<DERPRegion> = {}): DERPRegion => ({
  RegionID: id, RegionCode: `r${id}`, RegionName: `Region ${id}`, Nodes: [{ Name: `${id}a`, RegionID: id, HostName: `derp${id}.test` }], ...extra,
});
const map = (regions: DERPRegion[], scores?: Record<string, number>): DERPMap => ({
  Regions: Object.fromEntries(regions.map((r) => [String(r.RegionID), r])),
  ...(scores ? { HomeParams: { RegionScore: scores } } : {}),
});
const three = map([region(1), region(2), region(3)]);
const never = () => -Infinity;
const ms = (o: Record<number, number>) => new Map(Object.entries(o).map(([k, v]) => [Number(k), v]));

/** A chooser fed reports 30 s apart (a router's netcheck rate); returns each report's choice. */
function rounds(c: HomeChooser, m: DERPMap, reports: Record<number, number>[], opts: { from?: number; heard?: (id: number) => number } = {}): number[] {
  let at = opts.from ?? 0;
  return reports.map((lat) => {
    at += 30_000;
    return c.report({ startedAt: at - 3_000, at, latencyMs: new Map(Object.entries(lat).map(([k, v]) => [Number(k), v])) }, m, opts.heard ?? never);
  });
}

suite("derp home by latency", (check) => {
  check("the nearest region is chosen, whatever its ID", () => {
    eq(rounds(new HomeChooser(), three, [{ 1: 80, 2: 20, 3: 150 }]).join(), "2", "region 2 at 20 ms");
    eq(rounds(new HomeChooser(), three, [{ 1: 80, 3: 15 }]).join(), "3", "only answering regions count");
  });

  check("a slightly nearer region does not take the home (10 ms and a third)", () => {
    const c = new HomeChooser();
    // 2 is home at 20 ms; then 1 answers in 12 ms (8 ms better: under 10 ms).
    eq(rounds(c, three, [{ 1: 80, 2: 20 }, { 1: 12, 2: 20 }]).join(), "2,2", "8 ms better is not enough");
    // 2 at 100 ms, 1 at 75 ms: 25 ms better but above two thirds of 100.
    const d = new HomeChooser();
    eq(rounds(d, three, [{ 1: 120, 2: 100 }, { 1: 75, 2: 100 }]).join(), "2,2", "a quarter better is not enough");
  });

  check("a much nearer region wins at the next report", () => {
    const c = new HomeChooser();
    eq(rounds(c, three, [{ 1: 80, 2: 20, 3: 150 }, { 1: 80, 2: 150, 3: 5 }]).join(), "2,3", "3 at 5 ms against 150 ms");
    const d = new HomeChooser();
    eq(rounds(d, three, [{ 1: 120, 2: 100 }, { 1: 60, 2: 100 }]).join(), "2,1", "40 ms and 40 % better");
  });

  check("a region's best of the last five minutes counts, not only its latest", () => {
    const c = new HomeChooser();
    // 2 was at 20 ms; a burst makes it 150 ms while 1 is at 60: 2's best recent (20) still wins...
    eq(rounds(c, three, [{ 1: 60, 2: 20 }, { 1: 60, 2: 150 }]).join(), "2,2", "a bad round does not move the home");
    // ...until the good report is older than five minutes.
    const slow = Array.from({ length: HISTORY_MS / 30_000 }, () => ({ 1: 60, 2: 150 }));
    const picks = rounds(c, three, slow, { from: 60_000 });
    eq(picks[picks.length - 1], 1, `after five minutes of 150 ms the home moves (${picks.join()})`);
    eq(picks.indexOf(1) >= HISTORY_MS / 30_000 - 2, true, `not before (${picks.join()})`);
  });

  check("region scores multiply latencies", () => {
    eq(rounds(new HomeChooser(), map([region(1), region(2)], { "2": 3 }), [{ 1: 50, 2: 20 }]).join(), "1", "a score of 3 makes 20 ms weigh 60");
    eq(rounds(new HomeChooser(), map([region(1), region(2)], { "1": 0.2 }), [{ 1: 50, 2: 20 }]).join(), "1", "a score of 0.2 makes 50 ms weigh 10");
    eq(rounds(new HomeChooser(), map([region(1), region(2)], { "1": 0, "2": -1 }), [{ 1: 50, 2: 20 }]).join(), "2", "scores of 0 or below are ignored");
  });

  check("a home that stops answering loses it, unless its relay is still heard", () => {
    const c = new HomeChooser();
    eq(rounds(c, three, [{ 1: 80, 2: 20 }, { 1: 80 }]).join(), "2,1", "2 silent, its relay not heard: 1 takes over");
    const d = new HomeChooser();
    let now = 0;
    const heard = (id: number) => (id === 2 ? now - 1_000 : -Infinity);
    const first = rounds(d, three, [{ 1: 80, 2: 20 }], { heard });
    now = 60_000;
    eq([...first, ...rounds(d, three, [{ 1: 80 }], { from: 30_000, heard })].join(), "2,2", "STUN lost but a frame from its relay a second ago: kept");
    eq(rounds(d, three, [{ 1: 80 }], { from: 60_000, heard: (id) => (id === 2 ? 90_000 - HEARD_RECENTLY_MS - 4_000 : -Infinity) }).join(), "1", "last frame before the round and over 8 s ago: lost");
  });

  check("no answer at all keeps a home still heard, and gives none otherwise", () => {
    const c = new HomeChooser();
    eq(rounds(c, three, [{ 2: 20 }, {}], { heard: (id) => (id === 2 ? 60_000 - KEEP_WITHOUT_REPORT_MS + 1_000 : -Infinity) }).join(), "2,2", "UDP blocked, relay heard within two keep-alives");
    eq(rounds(new HomeChooser(), three, [{}]).join(), "0", "nothing to go by");
  });

  check("avoided, unmeasured and STUN-only regions are never chosen; an avoided home may stay", () => {
    const m = map([region(1, { Avoid: true }), region(2, { NoMeasureNoHome: true }), region(3, { Nodes: [{ Name: "3a", RegionID: 3, HostName: "s.test", STUNOnly: true }] }), region(4)]);
    eq(rounds(new HomeChooser(), m, [{ 1: 5, 2: 5, 3: 5, 4: 90 }]).join(), "4", "only region 4 may be home");
    const c = new HomeChooser();
    rounds(c, three, [{ 1: 10, 2: 90 }]);
    eq(rounds(c, map([region(1, { Avoid: true }), region(2)]), [{ 1: 10, 2: 90 }], { from: 30_000 }).join(), "1", "the home marked Avoid later stays while it is best");
  });

  check("NetInfo.DERPLatency as magicsock fills it: REGION-v4 and REGION-v6 in seconds, STUN's per family, from the latest report; none from HTTPS", () => {
    const c = new HomeChooser();
    c.report({ startedAt: 0, at: 3_000, latencyMs: ms({ 1: 80, 2: 20 }), v4Ms: ms({ 1: 80, 2: 20 }) }, three, never);
    c.report({ startedAt: 27_000, at: 30_000, latencyMs: ms({ 1: 41, 3: 7.5 }), v4Ms: ms({ 1: 81, 3: 7.5 }), v6Ms: ms({ 1: 41 }) }, three, never);
    eq(JSON.stringify(c.derpLatency()), '{"1-v4":0.081,"3-v4":0.0075,"1-v6":0.041}', "latest only, each family apart");
    c.report({ startedAt: 57_000, at: 60_000, latencyMs: ms({ 1: 90 }) }, three, never);
    eq(JSON.stringify(c.derpLatency()), "{}", "an HTTPS round: none (netcheck leaves RegionV4Latency and RegionV6Latency empty)");
  });

  check("the manager: waits for the first report, moves its home on a clearly nearer one, falls back to the lowest ID without", () => {
    let mono = 0;
    const timers: { at: number; fn: () => void }[] = [];
    const dials: string[] = [];
    const homes: number[] = [];
    const make = () => {
      const m = new DerpManager({
        dial: (n) => (dials.push(n.Name), new Promise(() => {})),
        random: (n) => new Uint8Array(n),
        setTimer: (ms, fn) => {
          const t = { at: mono + ms, fn };
          timers.push(t);
          return () => void (timers.includes(t) && timers.splice(timers.indexOf(t), 1));
        },
        monotonic: () => mono,
        log: () => {},
      }, new Uint8Array(32).fill(7));
      m.onHomeChange = (r) => homes.push(r);
      return m;
    };
    const m = make();
    m.setMap(three);
    eq(m.homeRegion, 0, "no home before the first report");
    m.netcheck({ startedAt: 0, at: 40, latencyMs: new Map([[1, 80], [2, 20], [3, 150]]) });
    eq(`${m.homeRegion} ${dials.join()} ${homes.join()}`, "2 2a 2", "the nearest region, dialled and told");
    mono = 30_000;
    m.netcheck({ startedAt: 27_000, at: 30_000, latencyMs: new Map([[1, 80], [2, 150], [3, 5]]), v4Ms: new Map([[1, 80], [2, 150], [3, 5]]) });
    eq(`${m.homeRegion} ${dials.join()} ${homes.join()}`, "3 2a,3a 2,3", "moved to region 3");
    eq(JSON.stringify(m.derpLatency()), '{"1-v4":0.08,"2-v4":0.15,"3-v4":0.005}', "latency for NetInfo");
    m.stop();
    const n = make();
    timers.length = 0;
    n.setMap(three);
    eq(timers.some((t) => t.at === mono + FIRST_REPORT_WAIT_MS), true, "a wait for the first report");
    timers.find((t) => t.at === mono + FIRST_REPORT_WAIT_MS)!.fn();
    eq(n.homeRegion, 1, "no report in time: the lowest region ID");
    n.stop();
  });

  check("no STUN answer from any region: each region measured over HTTPS (GET /derp/latency-check, its nodes in turn), the nearest is home", async () => {
    // Region 2's first node never connects; 3 answers through a proxy that refuses (403): not a latency.
    const rtt: Record<string, number> = { "1a": 80, "2b": 20, "3a": 150 };
    const k = fakeClock();
    const dials: string[] = [], requests: string[] = [], logs: string[] = [];
    const m = new DerpManager({
      dial: async (n, connectMs) => {
        dials.push(`${n.Name}${connectMs ? `/${connectMs}` : ""}`);
        if (n.Name === "2a") throw new Error("connect 198.18.0.1:443: no answer in 1.5 s");
        const s: ByteStream = {
          write: (b) => {
            const text = latin1(b);
            if (!text.startsWith("GET /derp/latency-check ")) return; // the DERP upgrade: left unanswered here
            requests.push(text.split("\r\n").slice(0, 2).join(" "));
            k.setTimer(rtt[n.Name]!, () => s.onData(ascii(n.Name === "3a" ? "HTTP/1.1 403 Forbidden\r\n\r\n" : "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")));
          },
          close: () => {},
          onData: () => {},
          onClose: () => {},
        };
        return s;
      },
      random: (n) => new Uint8Array(n),
      setTimer: k.setTimer,
      monotonic: () => k.now,
      log: (l, msg) => void logs.push(`${l} ${msg}`),
    }, new Uint8Array(32).fill(7));
    const twoNodes = map([region(1), region(2, { Nodes: [{ Name: "2a", RegionID: 2, HostName: "derp2a.test" }, { Name: "2b", RegionID: 2, HostName: "derp2b.test" }] }), region(3)]);
    m.setMap(twoNodes);
    m.netcheck({ startedAt: 0, at: 3_000, latencyMs: new Map(), v4Ms: new Map(), v6Ms: new Map() });
    await k.advance(FIRST_REPORT_WAIT_MS);
    eq(m.homeRegion, 2, `the nearest over HTTPS, not the lowest ID: ${logs.join(" | ")}`);
    eq(dials.slice(0, 4).join(" "), `1a 2a/${NODE_CONNECT_MS} 2b 3a`, "every region in turn, a dead node given the short connect deadline");
    eq(requests.includes("GET /derp/latency-check HTTP/1.1 Host: derp2b.test"), true, `the request: ${requests.join(" | ")}`);
    eq(JSON.stringify([...m.latencyMs]), "[[1,80],[2,20]]", "status: the latencies over HTTPS (403 is none)");
    eq(JSON.stringify(m.derpLatency()), "{}", "NetInfo.DERPLatency: none, as netcheck");
    // The next STUN round, still unanswered, 30 s on: no new HTTPS round yet; the home and the figures stay.
    const n = requests.length;
    await k.advance(27_000);
    m.netcheck({ startedAt: k.now - 3_000, at: k.now, latencyMs: new Map() });
    await k.advance(1_000);
    eq(`${requests.length} ${m.homeRegion} ${m.latencyMs.get(2)}`, `${n} 2 20`, "none before HTTPS_EVERY_MS");
    await k.advance(HTTPS_EVERY_MS);
    m.netcheck({ startedAt: k.now - 3_000, at: k.now, latencyMs: new Map() });
    await k.advance(1_000);
    eq(requests.length, 2 * n, "measured again after HTTPS_EVERY_MS");
    m.stop();
  });
});

/** Timers on a clock moved by hand; promises settle between them. */
function fakeClock() {
  const timers: { at: number; fn: () => void }[] = [];
  const k = {
    now: 0,
    setTimer: (ms: number, fn: () => void) => {
      const t = { at: k.now + ms, fn };
      timers.push(t);
      return () => void (timers.includes(t) && timers.splice(timers.indexOf(t), 1));
    },
    async advance(ms: number) {
      const end = k.now + ms;
      for (;;) {
        for (let i = 0; i < 20; i++) await Promise.resolve();
        timers.sort((a, b) => a.at - b.at);
        const t = timers[0];
        if (!t || t.at > end) break;
        timers.shift();
        k.now = t.at;
        t.fn();
      }
      k.now = end;
    },
  };
  return k;
}
