// The runtime that ships to the router: the static binary's size, its
// idle memory, its command line, and every host call exercised by the
// hostcheck entry (same runtime), whose tests hostcheck-suite.ts holds.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import dgram from "node:dgram";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { withinBudget } from "../support/budget.js";
import { describeHostcheck } from "./hostcheck-suite.js";

const BIN = "build/out/meshwrt";
const CHECK = "build/out/hostcheck";
const SCALE = "build/out/netmapscale";
const dir = mkdtempSync(join(tmpdir(), "meshwrt-host-"));

// Built before any test collects: the hostcheck run below starts while the file is collected.
execFileSync("make", ["--no-print-directory", BIN, CHECK, SCALE], { stdio: "inherit" });

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the static runtime", () => {
  it("is a static binary under 1 MB", () => {
    const size = statSync(BIN).size;
    console.log(`meshwrt binary: ${size} bytes`);
    expect(size).toBeLessThanOrEqual(1_000_000);
    expect(execFileSync("file", [BIN], { encoding: "utf8" })).toMatch(/statically linked/);
  });
  it("prints its version, and refuses an unknown command with usage and exit 2", () => {
    expect(execFileSync(BIN, ["--version"], { encoding: "utf8" })).toMatch(/^meshwrt \d+\.\d+\.\d+ \(QuickJS 2025-04-26\)\n$/);
    const bad = spawnSync(BIN, ["frobnicate"], { encoding: "utf8" });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^meshwrt: unknown command "frobnicate"\nusage: meshwrt COMMAND /);
  });
  it("says so and exits when it cannot make its signal pipe (no descriptor left), instead of losing every signal", () => {
    const r = spawnSync("sh", ["-c", `ulimit -n 3 && exec ${BIN} --version`], { encoding: "utf8" });
    expect(r.stderr).toMatch(/^\[error\] meshwrt: signals: pipe: EMFILE \(.+\); cannot run without them\n$/);
    expect(r.status).toBe(71);
  });
  it("idles under 4 MB resident and exits 0 on SIGTERM", async () => {
    const p = spawn(BIN, ["run", "--config", join(dir, "none"), "--socket", join(dir, "api.sock"), "--ubus", join(dir, "no-ubusd")], { stdio: ["ignore", "ignore", "pipe"] });
    await new Promise((r) => setTimeout(r, 1000));
    const rss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p.pid}/status`, "utf8"))![1]);
    console.log(`idle RSS: ${rss} kB`);
    expect(rss).toBeLessThan(4096);
    p.kill("SIGTERM");
    const code = await new Promise((r) => p.on("exit", r));
    expect(code).toBe(0);
  });
  it("takes a 1,000-peer netmap from the server's bytes to kernel messages in under 0.5 s of CPU, and a 1-peer delta after it, in under 4 MB", () => {
    const r = JSON.parse(execFileSync(SCALE, ["1000"], { encoding: "utf8" })) as Scale;
    console.log(`1,000-peer netmap: ${r.full.messages} netlink messages, ${r.full.cpuMs} ms CPU; peak RSS ${r.delta.peakKb} kB`);
    expect(r.full.changes).toBe(1000);
    expect(r.delta.changes).toBe(1);
    // CPU time: on a machine others share, the wall clock counts their work too.
    // 0.13 s of CPU now (0.42 s before the parse and the peers' follow were made lean): 0.5 s leaves room for a loaded machine.
    withinBudget("a 1,000-peer netmap to kernel messages (CPU)", r.full.cpuMs, 500, { native: true });
    withinBudget("a 1-peer delta after it", r.delta.ms, 1000, { native: true });
    // 7.4 MB before the netmap was parsed a node at a time and the peers kept lean (4.9-5.1 MB after; 4.1 MB with routes kept as text;
    // 4.0 MB with the peers map no longer copied per delta; 3.7-3.8 MB with no map by node in the follow and the IDs' index in typed arrays).
    expect(r.delta.peakKb).toBeLessThan(4_096);
  });
  it("takes a 5,000-peer netmap (issue 18): its time and memory, and one delta a second after it", () => {
    const r = JSON.parse(execFileSync(SCALE, ["5000", "20"], { encoding: "utf8" })) as Scale;
    console.log(
      `5,000-peer netmap (${(r.mapBytes / 1e6).toFixed(1)} MB): ${Math.round(r.full.ms)} ms (${r.full.cpuMs} ms CPU), a 1-peer delta ${r.delta.ms.toFixed(1)} ms, ` +
        `one delta a second ${r.steady.cpuPercentAtOnePerSecond.toFixed(2)}% CPU; RSS ${r.rssKb} kB after, peak ${r.peakKb} kB (issue 18's budget: RSS 16,384 kB)`,
    );
    expect(r.full.changes).toBe(5000);
    // The 10 s is for the 1-vCPU VM, where TCG runs this code ~15x slower than natively: ~0.66 s here. Measured 0.57-0.7 s
    // of CPU (was 2.1 s before the parse and the peers' follow were made lean); 2 s leaves room for a loaded machine.
    withinBudget("a 5,000-peer netmap to kernel messages (CPU, native; the issue's 10 s is for the 1-vCPU VM)", r.full.cpuMs, 2_000, { native: true });
    // Held at this session's level, so a regression shows (before: RSS 30.2 MB, peak 33.5 MB; then 19.6 and 21.2; then 17.2 and 17.6,
    // routes kept as text, messages and plans made one at a time, the hosts file without a set of its lines; then 15.9 and 16.3, the
    // peers map no longer copied per delta; now 14.1 and 14.5-14.7, the follow with no map by node and no entry object a peer, the
    // IDs' index in typed arrays, the bench holding only the latest netmap): the peak within 15 MB, under the issue's 16 MB.
    expect(r.peakKb, "peak RSS with 5,000 peers (kB)").toBeLessThan(15_360);
    expect(r.rssKb, "RSS after, with 5,000 peers (kB)").toBeLessThan(14_848);
    expect(r.steady.cpuPercentAtOnePerSecond, "one delta a second, % CPU (the kernel's side apart)").toBeLessThan(5);
  });
});

interface Scale {
  mapBytes: number;
  full: { ms: number; cpuMs: number; changes: number; messages: number };
  delta: { ms: number; changes: number; peakKb: number };
  steady: { cpuPercentAtOnePerSecond: number };
  rssKb: number;
  peakKb: number;
}

describe("a resolver that never answers", () => {
  it("holds only the lookup: timers keep their time and the dial fails at its deadline, naming the step", async () => {
    // A mount namespace whose /etc/resolv.conf names a server on loopback that takes queries and never answers.
    const dns = dgram.createSocket("udp4");
    let queries = 0;
    dns.on("message", () => queries++);
    await new Promise<void>((r) => dns.bind(53, "127.0.0.77", r));
    const conf = join(dir, "resolv.conf");
    writeFileSync(conf, "nameserver 127.0.0.77\noptions timeout:5 attempts:2\n");
    try {
      const out = await new Promise<string>((resolve) => {
        const p = spawn("unshare", ["-m", "sh", "-c", `mount --bind ${conf} /etc/resolv.conf && exec ${CHECK} '{"resolveHung":"control.meshwrt.invalid"}'`]);
        let o = "";
        p.stdout.on("data", (d) => (o += d));
        p.stderr.on("data", (d) => process.stderr.write(d));
        p.on("exit", () => resolve(o));
      });
      const r = JSON.parse(out) as { resolveHung: string };
      console.log(`hung resolver: ${r.resolveHung}; ${queries} queries reached it`);
      expect(queries).toBeGreaterThan(0);
      expect(r.resolveHung).toBe("resolve control.meshwrt.invalid: no answer in 1.5 s | longest timer gap under 500 ms | after under 2.5 s");
    } finally {
      dns.close();
    }
  });
});

describeHostcheck("host calls (hostcheck)", [CHECK]);
