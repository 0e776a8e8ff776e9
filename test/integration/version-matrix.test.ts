// The version matrix (issue 17): meshwrt on the router against stock Tailscale clients of three
// releases at once, in one VM lab: the oldest Headscale accepts (1.80.x, on the laptop), the
// pinned one (the lab's phone) and the newest that builds here (on bob), all three in the cafe.
// Against the pinned Headscale each joins, pings the router over the relay (UDP between the
// houses blocked), then directly, then uses it as exit node; then the router and three fresh
// clients join the newest Headscale the Go proxy serves and ping. Versions: test/peers/versions.env.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../net/exec.js";
import type { Host } from "../net/topology.js";
import { type Tailscaled, startHeadscale, startTailscaled, versions } from "../peers/index.js";
import { ensureMatrixPeers } from "../peers/bins.js";
import { type Lab, startLab } from "../support/lab.js";
import { startMeshwrt } from "../support/meshwrt.js";

interface Client {
  version: string;
  hostName: string;
  ts: Tailscaled;
}

const CHECKS = ["join", "relayed ping", "direct path", "exit node", "join (newest hs)", "ping (newest hs)"] as const;
type Check = (typeof CHECKS)[number];
/** version -> check -> "ok 2.1 s" or "FAIL: why": the table printed at the end. */
const matrix = new Map<string, Map<Check, string>>();

let lab: Lab;
let clients: Client[] = [];
let routerIp: string;

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Runs one check for every client at once, records each outcome in the matrix, and fails the test if any failed. */
async function forEachClient(check: Check, list: Client[], body: (c: Client) => Promise<string | void>): Promise<void> {
  const outcomes = await Promise.allSettled(list.map(async (c) => {
    const t0 = Date.now();
    const note = await body(c);
    return `ok ${secs(Date.now() - t0)}${note ? ` (${note})` : ""}`;
  }));
  const failed: string[] = [];
  for (const [i, o] of outcomes.entries()) {
    const v = list[i]!.version;
    if (!matrix.has(v)) matrix.set(v, new Map());
    const cell = o.status === "fulfilled" ? o.value : `FAIL: ${String((o.reason as Error)?.message ?? o.reason).split("\n")[0]!.slice(0, 160)}`;
    matrix.get(v)!.set(check, cell);
    if (o.status === "rejected") failed.push(`tailscale ${v}: ${(o.reason as Error)?.message ?? o.reason}`);
  }
  // The first line names each failure: a CI summary keeps only that line of the message.
  if (failed.length) {
    throw new Error(`${check} failed: ${failed.map((f) => f.split("\n")[0]!.slice(0, 300)).join("; ")}\n\n${failed.join("\n\n")}`);
  }
}

/** What the internet host's banner server says to a TCP connection from this host ("" when the connect fails). */
async function banner(h: Host, ip: string, seconds = 5): Promise<string> {
  const r = await h.exec(`timeout ${seconds} bash -c 'exec 3<>/dev/tcp/${ip}/8080 && head -n 1 <&3'`);
  return r.code === 0 ? r.stdout.trim() : "";
}

/** meshwrt's own view of a peer's path ("derp ...", "direct IP:PORT"). */
async function meshwrtPath(cli: Lab["cli"], name: string): Promise<string | undefined> {
  return (JSON.parse((await cli("peers --json")).stdout).peers as { name: string; path: string }[]).find((p) => p.name === name)?.path;
}

async function assertVersion(c: Client): Promise<void> {
  // "1.98.8-ERR-BuildInfo" when built by `go install` from the module proxy (no VCS stamp).
  const v = (await c.ts.cli("version")).stdout.split("\n")[0]!.trim().split("-")[0];
  expect(`v${v}`, `the ${c.hostName}'s tailscale is the release the matrix names`).toBe(c.version);
}

beforeAll(async () => {
  ensureMatrixPeers();
  const [oldest, newest] = [versions.tailscaleMatrix[0]!, versions.tailscaleMatrix.at(-1)!];
  // UDP between the houses blocked from the start: the relayed phase comes first.
  // The gateway layout (meshwrt on the home's NAT router), where gateway.test.ts's exit-node check passes;
  // behind the home's NAT the exit-node traffic did not come out for any client (first runs).
  lab = await startLab({ gateway: true, blockUdp: true, agentConfig: "\toption advertise_exit_node '1'\n" });
  const { t } = lab;
  routerIp = (await lab.phone.waitForPeer("router")).TailscaleIPs!.find((a) => a.startsWith("100."))!;
  const [laptop, bob] = await Promise.all([
    startTailscaled(t.host("laptop"), { dir: `${t.dir}/laptop`, tun: "tailscale0", version: oldest }),
    startTailscaled(t.host("bob"), { dir: `${t.dir}/bob`, tun: "tailscale0", version: newest }),
  ]);
  clients = [
    { version: oldest, hostName: "laptop", ts: laptop },
    { version: versions.tailscale, hostName: "phone", ts: lab.phone },
    { version: newest, hostName: "bob", ts: bob },
  ];
  // The banner server the exit-node check reaches.
  await t.internet.spawn(
    `exec node -e 'require("net").createServer(s=>{s.on("error",()=>{});s.end("internet from "+s.remoteAddress.replace(/^::ffff:/,"")+"\\n")}).listen(8080)'`,
    `${t.dir}/internet-8080.log`,
  );
}, 420_000);

afterAll(async () => {
  const rows = [...matrix.entries()];
  if (rows.length) {
    const w = Math.max(...rows.flatMap(([, m]) => [...m.values()].map((x) => x.length)), 12);
    const lines = [
      `version matrix: meshwrt against tailscale clients (Headscale ${versions.headscale}; newest hs: ${versions.headscaleNewest}; derper ${versions.tailscale})`,
      ["check".padEnd(18), ...rows.map(([v]) => `tailscale ${v}`.padEnd(w))].join(" | "),
      ...CHECKS.map((c) => [c.padEnd(18), ...rows.map(([, m]) => (m.get(c) ?? "not run").padEnd(w))].join(" | ")),
    ];
    console.log(lines.join("\n"));
  }
  if (lab) console.log((await lab.agentLog()).split("\n").slice(-15).join("\n"));
  await lab?.stop();
}, 60_000);

describe("version matrix: tailscale 1.80 (oldest Headscale accepts), pinned, newest buildable, against meshwrt", () => {
  it("each client joins the pinned Headscale and sees the router; the router sees each", async () => {
    // The phone joined inside startLab; its time there is not this check's.
    await forEachClient("join", clients, async (c) => {
      await assertVersion(c);
      if (c.hostName !== "phone") {
        await c.ts.up({ loginServer: lab.hs.url, authKey: lab.authKey, hostname: c.hostName, timeoutSec: 120 });
      }
      await c.ts.waitForPeer("router", 60_000, (p) => p.Online);
      await waitFor(`meshwrt listing ${c.hostName}`, async () => ((await meshwrtPath(lab.cli, c.hostName)) !== undefined ? true : undefined), 60_000, 500);
      return c.hostName === "phone" ? "joined in startLab" : undefined;
    });
  }, 240_000);

  it("with UDP between the houses blocked, each pings the router through the relay: disco pongs via DERP and ICMP through the tunnel", async () => {
    await forEachClient("relayed ping", clients, async (c) => {
      const r = await c.ts.ping(routerIp, { count: 3, untilDirect: false, timeout: "10s" });
      expect(r.pongs.length, `${c.hostName}: tailscale ping output:\n${r.output}`).toBeGreaterThan(0);
      expect(r.pongs.every((p) => p.via.startsWith("DERP(")), r.output).toBe(true);
      const icmp = await c.ts.host.exec(`ping -c 3 -W 10 ${routerIp}`);
      expect(icmp.code, `${c.hostName}: ICMP ping over the relay:\n${icmp.stdout}${icmp.stderr}`).toBe(0);
      return r.pongs[0]!.via;
    });
  }, 180_000);

  it("with UDP open, each finds a direct path: tailscale ping says IP:PORT and meshwrt's peers say direct", async () => {
    await lab.t.internet.unblockUdp();
    await forEachClient("direct path", clients, async (c) => {
      const via = await waitFor(`${c.hostName}: a direct pong from the router`, async () => {
        const r = await c.ts.ping(routerIp, { count: 10, untilDirect: true, timeout: "5s" });
        const last = r.pongs.at(-1);
        return last && /^\d+\.\d+\.\d+\.\d+:\d+$/.test(last.via) ? last.via : undefined;
      }, 90_000, 1000);
      const path = await waitFor(`meshwrt's path to ${c.hostName} direct`, async () => {
        await c.ts.host.exec(`ping -c 2 -i 0.2 -W 1 ${routerIp}`);
        const p = await meshwrtPath(lab.cli, c.hostName);
        return p?.startsWith("direct") ? p : undefined;
      }, 60_000, 500);
      const cur = (await c.ts.waitForPeer("router", 10_000, (p) => p.CurAddr !== "")).CurAddr;
      expect(cur, "tailscale status --json: the router's current address").toBe(via);
      return `${via}; meshwrt: ${path}`;
    });
  }, 240_000);

  it("each uses the router as exit node: the internet host sees the home's address, without it the cafe's", async () => {
    const { t } = lab;
    await lab.approveRoutes(["0.0.0.0/0", "::/0"]);
    const home = t.nat("router").publicIp, cafe = t.nat("cafe").publicIp;
    await waitFor("the internet host listening", async () => ((await banner(t.host("phone"), t.internet.ip, 2)) ? true : undefined), 20_000, 250);
    // One client at a time: the check is what each sees, not a race between them. Every
    // client is tried, so one failing does not hide how the others fare.
    const failed: string[] = [];
    for (const c of clients) {
      await forEachClient("exit node", [c], async () => {
        const h = c.ts.host;
        expect(await banner(h, t.internet.ip)).toBe(`internet from ${cafe}`);
        await c.ts.waitForPeer("router", 60_000, (p) => p.ExitNodeOption === true);
        const set = await c.ts.cli(`set --exit-node=${routerIp}`);
        expect(set.code, set.stderr).toBe(0);
        try {
          const got = await waitFor(`${c.hostName}'s traffic through the exit node`, async () => {
            const b = await banner(h, t.internet.ip, 3);
            return b.endsWith(home) ? b : undefined;
          }, 45_000, 250);
          expect(got).toBe(`internet from ${home}`);
        } finally {
          await c.ts.cli("set --exit-node=");
        }
        await waitFor(`${c.hostName} back on the cafe's uplink`, async () => ((await banner(h, t.internet.ip, 3)).endsWith(cafe) ? true : undefined), 30_000, 250);
      }).catch(async (e: Error) => {
        const route = (await c.ts.host.exec(`ip route get ${t.internet.ip}; ip rule; ip route show table 52`)).stdout;
        failed.push(`${e.message}\n${c.hostName}'s routing:\n${route}`);
      });
    }
    if (failed.length) throw new Error(`${failed.map((f) => f.split("\n")[0]).join("; ")}\n\n${failed.join("\n\n")}`);
  }, 420_000);

  it(`the newest Headscale the proxy serves (${versions.headscaleNewest}): the router and each client join and ping`, async () => {
    const { t } = lab;
    const bins = ensureMatrixPeers();
    // On the derper's host: the control host's Headscale keeps its ports.
    const hs2 = await startHeadscale(t.host("derp"), { dir: `${t.dir}/headscale-newest`, derpMapYaml: lab.derp.derpMapYaml(), bin: bins.headscaleNewest });
    // (Its `headscale version` says "dev" when built from the module: the cache path names the release.)
    const key = await hs2.preAuthKey(await hs2.createUser("alice"), { reusable: true });
    await lab.stopAgent();
    const router = await startMeshwrt(t.host("router"), { dir: `${t.dir}/router-newest`, loginServer: hs2.url, authKey: key, hostname: "router", caFile: lab.derp.certFile,
      extra: `\toption dns_hosts_file '${t.dir}/hosts/meshwrt-newest'\n` });
    try {
      for (const c of clients) await c.ts.stop();
      const fresh = await Promise.all(clients.map(async (c) => ({
        ...c,
        ts: await startTailscaled(t.host(c.hostName), { dir: `${t.dir}/${c.hostName}-newest`, tun: "tailscale1", version: c.version }),
      })));
      let ip2 = "";
      await forEachClient("join (newest hs)", fresh, async (c) => {
        await c.ts.up({ loginServer: hs2.url, authKey: key, hostname: c.hostName, timeoutSec: 120 });
        const peer = await c.ts.waitForPeer("router", 90_000, (p) => p.Online);
        ip2 = peer.TailscaleIPs!.find((a) => a.startsWith("100."))!;
        await waitFor(`meshwrt listing ${c.hostName}`, async () => ((await meshwrtPath(router.cli, c.hostName)) !== undefined ? true : undefined), 60_000, 500);
      });
      await forEachClient("ping (newest hs)", fresh, async (c) => {
        const r = await c.ts.ping(ip2, { count: 5, untilDirect: true, timeout: "10s" });
        expect(r.pongs.length, `${c.hostName}: tailscale ping output:\n${r.output}`).toBeGreaterThan(0);
        const icmp = await c.ts.host.exec(`ping -c 3 -W 10 ${ip2}`);
        expect(icmp.code, `${c.hostName}: ICMP ping:\n${icmp.stdout}${icmp.stderr}`).toBe(0);
        return r.pongs.at(-1)!.via;
      });
    } finally {
      await router.proc.stop();
      await hs2.stop();
    }
  }, 300_000);
});
