// meshwrt stopped soon after it started, as a test harness or a shell stops
// it: SIGTERM to its whole process group, so its children (wireguard-go, an
// nft in flight) get it too. Each time, the agent removes what it added: its
// nftables tables and the interface. No control server answers here (the
// agent keeps trying), so the stop meets the start's own work.
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Topology, topology } from "../net/topology.js";
import { startMeshwrt } from "../support/meshwrt.js";

let t: Topology;
// An interface name of its own: wireguard-go's UAPI sockets in /var/run/wireguard are shared
// with every namespace, so a meshwrt0 of another test running at the same time would clash.
const IFACE = `mwse${process.pid % 100000}`;

beforeAll(async () => {
  execFileSync("make", ["--no-print-directory", "build/out/meshwrt"], { stdio: "inherit" });
  t = await topology({ hosts: ["router"] });
}, 120_000);

afterAll(async () => {
  await t?.destroy();
}, 30_000);

describe("stop soon after start", () => {
  it("SIGTERM to the process group at 0.3 to 1.5 s after start: the tables and the interface are gone each time", async () => {
    const h = t.host("router");
    const left: string[] = [];
    for (const [i, ms] of [300, 600, 800, 1000, 1000, 1200, 1500].entries()) {
      const dir = `${t.dir}/stop${i}`;
      // Port 9 on loopback: refused, so the agent stays in its start and retry loop.
      const m = await startMeshwrt(h, { dir, loginServer: "http://127.0.0.1:9", authKey: "unused", hostname: "router", caFile: "/dev/null", interface: IFACE });
      await new Promise((r) => setTimeout(r, ms));
      await m.proc.stop(10_000);
      const tables = (await h.exec("nft list tables")).stdout.trim();
      const link = (await h.exec(`ip -br link show ${IFACE} 2>/dev/null`)).stdout.trim();
      const log = await m.log();
      console.log(`stopped after ${ms} ms: tables [${tables.replace(/\n/g, ", ")}], interface [${link}]`);
      if (tables || link) left.push(`after ${ms} ms: ${tables} ${link}\n${log}`);
      expect(log, `the agent's log, stopped after ${ms} ms`).toMatch(/\[info\] stopping/);
      expect(await m.proc.alive()).toBe(false);
      if (tables) await h.exec("nft flush ruleset");
      if (link) await h.exec(`ip link del ${IFACE}`);
    }
    expect(left).toEqual([]);
  }, 120_000);
});
