// The control server's side of a router's life, with the real Headscale: its
// PingRequests answered (its debug ping, and its HA-router prober that moves
// a subnet shared by two routers to the one that still answers), a key
// expiry warned about days ahead, `meshwrt login` on a running router
// re-registering with a new node key and a new auth key, and `meshwrt
// logout` leaving the node expired in Headscale. Two meshwrt routers on
// wireguard-go in namespaces of their own (no VM: the control plane is what
// is tested here); one Headscale, one derper.
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../net/exec.js";
import { type Topology, topology } from "../net/topology.js";
import { type Derper, type Headscale, type HeadscaleNode, startDerper, startHeadscale } from "../peers/index.js";
import { type Meshwrt, startMeshwrt } from "../support/meshwrt.js";

const SHARED = "10.77.0.0/24";
/** Headscale's HA prober: every 3 s, 2 s to answer (its defaults are 10 s and 5 s). */
const HA_CONFIG = `node:
  routes:
    ha:
      probe_interval: 3s
      probe_timeout: 2s
`;

let t: Topology;
let derp: Derper;
let hs: Headscale;
let authKey = "";
const routers = new Map<string, Meshwrt>();

const node = (name: string) => hs.node(name);
const status = async (name: string) => {
  const r = await routers.get(name)!.cli("status --json");
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { state: string; health: string[]; keyExpiry?: string; keyExpiresSoon?: boolean; nodeKey?: string; tailnetLockKey?: string };
};
/** Headscale's own debug page pings the node (a PingRequest in its map stream) and says whether it answered. */
const debugPing = async (name: string) => (await t.host("control").exec(`curl -s --max-time 20 'http://127.0.0.1:9090/debug/ping?node=${name}'`)).stdout;
const primaryOf = async (): Promise<string | undefined> => (await hs.nodes()).find((n) => ((n.subnet_routes as string[] | undefined) ?? []).includes(SHARED))?.name;

beforeAll(async () => {
  execFileSync("make", ["--no-print-directory", "build/out/meshwrt"], { stdio: "inherit" });
  t = await topology({ hosts: ["control", "derp", "r1", "r2"] });
  derp = await startDerper(t.host("derp"), { dir: `${t.dir}/derper` });
  hs = await startHeadscale(t.host("control"), { dir: `${t.dir}/headscale`, derpMapYaml: derp.derpMapYaml(), extraConfig: HA_CONFIG });
  authKey = await hs.preAuthKey(await hs.createUser("alice"), { reusable: true });
  for (const [i, name] of ["r1", "r2"].entries()) {
    // wireguard-go's UAPI sockets are shared across namespaces: each router its own interface name.
    routers.set(name, await startMeshwrt(t.host(name), {
      dir: `${t.dir}/${name}`, loginServer: hs.url, authKey, hostname: name, caFile: derp.certFile, interface: `mwcl${i}`, extra: `\tlist advertise_routes '${SHARED}'\n`,
    }));
    // One after the other: r1 is the first to offer the route, so Headscale's first primary.
    await waitFor(`${name} online in Headscale`, async () => ((await hs.nodes()).find((n) => n.name === name)?.online ? true : undefined), 60_000);
  }
  for (const name of ["r1", "r2"]) await hs.approveRoutes(await node(name), [SHARED]);
}, 180_000);

afterAll(async () => {
  for (const [name, r] of routers) console.log(`--- ${name}\n${(await r.log()).split("\n").filter((l) => /control|ping|logout|login/.test(l)).slice(-15).join("\n")}`);
  await t?.destroy();
});

describe("a router and the real Headscale over time", () => {
  it("Headscale's debug ping (a PingRequest in the map stream) is answered", async () => {
    const page = await debugPing("r1");
    const m = /Node (\d+) responded in ([\d.]+m?s)/.exec(page);
    console.log(`headscale debug ping of r1: ${m?.[0] ?? page.slice(0, 300)}`);
    expect(m, page.slice(0, 500)).not.toBeNull();
  }, 30_000);

  it("two routers share a subnet: one is primary; the other takes over when the first stops answering", async () => {
    const first = await waitFor("a primary router for the shared subnet", primaryOf, 30_000);
    console.log(`primary for ${SHARED}: ${first}`);
    expect(["r1", "r2"]).toContain(first);
    const other = first === "r1" ? "r2" : "r1";
    // Let the prober see both sessions answer (it defers a fresh session's first timeout).
    await new Promise((r) => setTimeout(r, 7_000));
    expect(await primaryOf()).toBe(first);
    // The primary freezes with its map stream open: only the prober's unanswered pings can tell.
    const pid = routers.get(first!)!.proc.pid;
    execFileSync("kill", ["-STOP", String(pid)]);
    const started = Date.now();
    try {
      const now = await waitFor(`${other} primary`, async () => ((await primaryOf()) === other ? other : undefined), 30_000);
      console.log(`failover to ${now} ${Date.now() - started} ms after ${first} stopped answering`);
    } finally {
      execFileSync("kill", ["-CONT", String(pid)]);
    }
    expect(await primaryOf()).toBe(other);
  }, 90_000);

  it("a key expiring in two days: status warns; `meshwrt login` with a new auth key re-registers the same node with a new node key", async () => {
    const before = await node("r1");
    const expiry = new Date(Date.now() + 2 * 86_400_000 + 3_600_000).toISOString().replace(/\.\d+Z$/, "Z");
    await hs.cli(`nodes expire --identifier ${before.id} --expiry ${expiry}`);
    const warned = await waitFor("the expiry warning in r1's status", async () => {
      const s = await status("r1");
      return s.keyExpiresSoon ? s : undefined;
    }, 20_000);
    console.log(`r1 status: keyExpiry ${warned.keyExpiry}; ${warned.health.join(" | ")}`);
    expect(Date.parse(warned.keyExpiry!)).toBe(Date.parse(expiry));
    expect(warned.health.some((h) => /^The router's key expires in 2 days/.test(h))).toBe(true);
    const text = (await routers.get("r1")!.cli("status")).stdout;
    expect(text).toMatch(/key expiry\s+\S+ \(soon: log in again\)/);

    const newKey = await hs.preAuthKey(1, { reusable: false });
    const r = await routers.get("r1")!.cli(`login --auth-key ${newKey}`);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const after = await waitFor("r1 re-registered with a new node key", async () => {
      const n = await node("r1");
      return n.node_key !== before.node_key && n.online ? n : undefined;
    }, 60_000);
    expect(after.id).toBe(before.id);
    expect((await hs.nodes()).filter((n) => n.name.startsWith("r1"))).toHaveLength(1);
    const s = await waitFor("r1 running without the warning", async () => {
      const x = await status("r1");
      return x.state === "running" && !x.keyExpiresSoon ? x : undefined;
    }, 30_000);
    console.log(`r1 after login: ${s.state}, keyExpiry ${s.keyExpiry ?? "none"}; Headscale expiry ${JSON.stringify(after.expiry)}`);
    // What an admin of a locked tailnet signs (`tailscale lock sign NODEKEY NLKEY`): the node key Headscale has, and the router's NLKey.
    expect(s.nodeKey).toBe(after.node_key);
    expect(s.tailnetLockKey).toMatch(/^nlpub:[0-9a-f]{64}$/);
  }, 120_000);

  it("`meshwrt logout`: Headscale lists the node as expired, and the router's keys are gone", async () => {
    const r = await routers.get("r2")!.cli("logout");
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const n: HeadscaleNode = await node("r2");
    const exp = n.expiry as { seconds?: number | string } | string | undefined;
    const ms = typeof exp === "string" ? Date.parse(exp) : Number(exp?.seconds ?? NaN) * 1000;
    console.log(`r2 in Headscale after logout: expiry ${JSON.stringify(n.expiry)}, online ${n.online}`);
    expect(ms).toBeLessThanOrEqual(Date.now());
    expect((await t.host("r2").exec(`ls ${t.dir}/r2/state/keys.json`)).code).not.toBe(0);
  }, 60_000);
});
