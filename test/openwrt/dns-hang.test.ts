// A resolver that does not answer costs the agent nothing else: the login
// server is given by name, the router's resolver (dnsmasq, in a namespace of
// its own) has its port 53 silently dropped by nftables, and the agent's ubus
// object still answers `ubus call meshwrt status` (OpenWrt's ubus CLI and
// ubusd, built from their sources) within 100 ms, call after call; once the
// resolver answers again, the agent joins Headscale. The router's side is
// test/openwrt/luci-lab.ts: procd starts the agent from its init script;
// wireguard-go, as this kernel has no WireGuard.
//
// Before name lookups left the event loop (issue 16), getaddrinfo blocked the
// whole agent for as long as the resolver took: every ubus call waited behind it.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../net/exec.js";
import { type Topology, topology } from "../net/topology.js";
import { type Headscale, startDerper, startHeadscale } from "../peers/index.js";
import { withinBudget } from "../support/budget.js";
import { type LuciLab, startLuciLab } from "./luci-lab.js";

const ROOT = join(import.meta.dirname, "..", "..");
const LATENCY = fileURLToPath(new URL("ubus-latency.mjs", import.meta.url));
const LOGIN_NAME = "control.lan";
/** How long the resolver stays silent while the agent is timed. */
const HUNG_S = 30;

let t: Topology;
let hs: Headscale;
let lab: LuciLab;
/** A lookup of the login server's name at the resolver, from the router's namespace (node's resolver, one try of 1 s). */
let lookup = "";

const blackhole = (on: boolean) =>
  t.host("dns").run(on
    ? "nft add table inet meshwrt_blackhole && nft add chain inet meshwrt_blackhole in '{ type filter hook input priority 0; }' && nft add rule inet meshwrt_blackhole in meta l4proto '{ udp, tcp }' th dport 53 drop"
    : "nft delete table inet meshwrt_blackhole");

beforeAll(async () => {
  execFileSync("make", ["--no-print-directory", "build/out/meshwrt"], { stdio: "inherit" });
  t = await topology({ hosts: ["control", "derp", "dns"], nats: [{ name: "router", hosts: ["pc"] }] });
  const derp = await startDerper(t.host("derp"), { dir: `${t.dir}/derper` });
  hs = await startHeadscale(t.host("control"), { dir: `${t.dir}/headscale`, derpMapYaml: derp.derpMapYaml() });
  const authKey = await hs.preAuthKey(await hs.createUser("alice"), { reusable: true });
  const dns = t.host("dns");
  await dns.spawn(
    `exec dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces --listen-address=${dns.ip} --user=root ` +
      `--pid-file=${t.dir}/dnsmasq.pid --log-facility=- --log-queries --host-record=${LOGIN_NAME},${t.host("control").ip} ` +
      // As OpenWrt's dnsmasq: .lan is answered here alone (no AAAA for the name: an empty answer, not REFUSED).
      "--local=/lan/ --domain=lan",
    `${t.dir}/dnsmasq.log`,
  );
  lookup = `node -e 'const r = new (require("dns").promises.Resolver)({ timeout: 1000, tries: 1 }); r.setServers(["${dns.ip}"]); ` +
    `r.resolve4("${LOGIN_NAME}").then((a) => console.log(a.join()), (e) => { console.error(e.message); process.exit(1); })'`;
  await waitFor("dnsmasq answering", async () => ((await t.host("router").exec(lookup)).stdout.includes(t.host("control").ip) ? true : undefined), 10_000, 100);
  await blackhole(true);
  const url = hs.url.replace(t.host("control").ip, LOGIN_NAME);
  expect(url).toMatch(new RegExp(`^http://${LOGIN_NAME.replace(".", "\\.")}:\\d+$`));
  // The package's own configuration, turned on, with the login server by name.
  const config = readFileSync(join(ROOT, "openwrt-package", "meshwrt", "files", "meshwrt.config"), "utf8")
    .replace("option enabled '0'", "option enabled '1'")
    .replace("list lan_device 'br-lan'", "list lan_device 'lan'")
    .replace("option hostname ''", "option hostname 'router'")
    .replace("option log_level 'info'", "option log_level 'debug'")
    .replace(/option login_server '[^']*'/, `option login_server '${url}'`)
    .replace(/option auth_key '[^']*'/, `option auth_key '${authKey}'`);
  expect(config).toContain(`option login_server '${url}'`);
  expect(config).toContain(`option auth_key '${authKey}'`);
  lab = await startLuciLab({ netns: t.host("router").ns, meshwrtConfig: config, users: {}, boot: false });
  // The router's resolver: the lab's own /etc (an overlay), so this machine's is untouched.
  await lab.run(`rm -f /etc/resolv.conf && echo 'nameserver ${dns.ip}' > /etc/resolv.conf && cat /etc/resolv.conf`);
}, 300_000);

afterAll(async () => {
  if (lab) console.log((await lab.exec("/usr/sbin/logread -e meshwrt")).stdout.split("\n").slice(-30).join("\n"));
  if (t) console.log((await t.host("dns").exec(`tail -n 20 ${t.dir}/dnsmasq.log`)).stdout);
  await lab?.stop();
  await t?.destroy();
}, 60_000);

interface Call { call: string; at: number; ms: number; code: number; state: string }

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const summary = (cs: Call[]) => {
  const ms = cs.map((c) => c.ms);
  return `${cs.length} calls, median ${percentile(ms, 50)} ms, p99 ${percentile(ms, 99)} ms, max ${Math.max(...ms)} ms`;
};
const clock = (at: number) => new Date(at).toISOString().slice(11, 23);

describe("the login server by name, the resolver silent", () => {
  it("ubus call meshwrt status answers within 100 ms throughout, and the agent joins once the resolver answers", async () => {
    await lab.run("/etc/init.d/meshwrt enable && /etc/init.d/meshwrt start");
    await waitFor("the object meshwrt on ubus", async () => ((await lab.exec("ubus -t 1 list meshwrt")).code === 0 ? true : undefined), 20_000, 100);
    // Timed from the agent's first moments, through the silence and the join after it (the
    // backoff may have grown to 16-32 s by then); procd's `system info` beside it, for comparison.
    const timing = lab.exec(`node ${LATENCY} ${HUNG_S + 45} 50 meshwrt.status system.info`);
    const startedAt = Date.now();
    await new Promise((r) => setTimeout(r, HUNG_S * 1000));
    const hungLog = (await lab.exec("/usr/sbin/logread -e meshwrt")).stdout;
    const hungStatus = JSON.parse(await lab.run("ubus call meshwrt status")) as { state: string; health: string[] };
    await blackhole(false);
    const answeredAt = Date.now();
    const check = await t.host("router").exec(lookup);
    console.log(`the resolver again: ${check.stdout.trim()}${check.stderr.trim()} (router), ${(await lab.exec(`nslookup ${LOGIN_NAME}`)).stdout.replace(/\n+/g, " ")} (the lab's busybox)`);
    const r = await timing;
    expect(r.code, r.stderr).toBe(0);
    const all = (JSON.parse(r.stdout) as { calls: Call[] }).calls;
    const calls = all.filter((c) => c.call === "meshwrt.status");
    const system = all.filter((c) => c.call === "system.info");
    const hung = calls.filter((c) => c.at < answeredAt);
    const joined = calls.find((c) => c.at >= answeredAt && c.state === "running");
    console.log(`over ${Math.round((all.at(-1)!.at - startedAt) / 1000)} s, the resolver silent for the first ${Math.round((answeredAt - startedAt) / 1000)} s:`);
    console.log(`  ubus call meshwrt status: ${summary(calls)}; while silent: ${summary(hung)}; states ${[...new Set(calls.map((c) => c.state))].join(" -> ")}`);
    console.log(`  ubus call system info (procd, for comparison): ${summary(system)}`);
    for (const c of all.filter((c) => c.ms > 100)) console.log(`  slow: ${clock(c.at)} ${c.call} ${c.ms} ms`);
    console.log(`while silent: ${hungStatus.state}, health ${JSON.stringify(hungStatus.health)}`);
    console.log(hungLog.split("\n").filter((l) => /resolve|control: [a-z]+ /.test(l)).slice(-6).join("\n"));
    // The agent tried the name and failed on it, bounded, more than once while the resolver was silent.
    expect(hungLog.match(new RegExp(`resolve ${LOGIN_NAME.replace(".", "\\.")}: `, "g"))?.length ?? 0).toBeGreaterThanOrEqual(2);
    expect(hungStatus.state).toBe("connecting");
    expect(hungStatus.health.join(" ")).toContain(`resolve ${LOGIN_NAME}`);
    expect(hung.filter((c) => c.state === "running")).toEqual([]);
    expect(calls.filter((c) => c.code !== 0)).toEqual([]);
    // Call after call: at least one a second however busy the machine (some 10 a second when it is not).
    expect(hung.length).toBeGreaterThan(HUNG_S);
    // 100 ms, natively, on a machine that answers. When procd's own `system info` was slow in the
    // same run (a machine shared with other work), meshwrt is held to twice procd's worst call
    // (a single call's worst is chance). A loop blocked on the resolver stalls meshwrt for the
    // resolver's 5 s timeouts while procd answers at once: that fails either way.
    const machineMs = Math.max(...system.map((c) => c.ms));
    const budgetMs = Math.max(100, Math.ceil(2 * machineMs));
    if (budgetMs > 100) console.log(`the machine was slow: procd's system info took up to ${machineMs} ms, so meshwrt is held to ${budgetMs} ms instead of 100 ms`);
    withinBudget("the slowest `ubus call meshwrt status` while the resolver was silent", Math.max(...hung.map((c) => c.ms)), budgetMs, { native: true });
    // Through the join after it: printed (the join's own cost is not this test's subject).
    console.log(`the slowest \`ubus call meshwrt status\` through the whole run, the join included: ${Math.max(...calls.map((c) => c.ms))} ms`);
    expect(joined, "the agent running after the resolver answered").toBeDefined();
    console.log(`joined ${joined!.at - answeredAt} ms after the resolver answered again`);
  }, 180_000);
});
