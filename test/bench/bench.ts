// `make bench`: meshwrt side by side with bare kernel WireGuard and with
// tailscaled, in one run, in the VM with ONE virtual CPU (a router is small).
// Prints one table and writes it as JSON to build/bench/bench.json.
//
//   internet: control (Headscale), derp (derper),
//             k1, k2 (bare kernel WireGuard set up with `wg`; then again
//                     under fw4's conntrack and NAT hook, as on OpenWrt),
//             m1, m2 (meshwrt, kernel WireGuard), t1, t2 (tailscaled with TUN)
//
// Pairs talk over their own tunnel: iperf3 TCP 10 s each way and 20 pings,
// first direct, then with UDP between the pair blocked (relayed by derper);
// the kernel and meshwrt direct paths twice, alternated.
// Memory is read joined, with 10 peers and with 200 (Headscale registers
// nodes that never connect), and the control plane's cost for a 1,000-peer
// netmap is timed in the shipped runtime (build/out/netmapscale). Start to
// first ping is timed in the VM and, before it, natively on this x86 host
// (meshwrt on wireguard-go there: this kernel has no WireGuard module).
// Before the VM, each cross target's cost is measured under qemu-user and
// printed as its own table, labelled as emulated (test/bench/targets.ts).
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { waitFor } from "../net/exec.js";
import { type Host, type Topology, topology } from "../net/topology.js";
import { ensurePeers } from "../peers/bins.js";
import { type Derper, type Headscale, startDerper, startHeadscale, startTailscaled, type Tailscaled } from "../peers/index.js";
import { type Meshwrt, MESHWRT, startMeshwrt } from "../support/meshwrt.js";
import { Vm } from "../vm/vm.js";
import { costTable, targetCosts, type TargetCost } from "./targets.js";

interface Path {
  name: string;
  upMbit: number;
  downMbit: number;
  rttMs: number;
  rounds: number;
}

const rows: Path[] = [];
const began = Date.now();
/** A stage begins: said with the time since the start, so a stall shows where it was. */
const stage = (what: string) => console.log(`[${Math.round((Date.now() - began) / 1000)} s] ${what}`);
const facts: Record<string, number | string> = {};
/** The cost on each cross target's CPU, emulated (test/bench/targets.ts), and its table. */
let targets: { rows: TargetCost[]; wireguardGoMs: number } | undefined;

async function iperf(from: Host, to: Host, ip: string): Promise<[number, number]> {
  const out: number[] = [];
  for (const reverse of ["", "-R"]) {
    await to.run(`iperf3 -s -1 -D -B ${ip}`);
    await new Promise((r) => setTimeout(r, 500));
    const r = JSON.parse(await from.run(`iperf3 -c ${ip} -t 10 -J ${reverse}`));
    out.push(r.end.sum_received.bits_per_second / 1e6);
  }
  return [out[0]!, out[1]!];
}

async function rtt(from: Host, ip: string): Promise<number> {
  const out = await from.run(`ping -c 20 -i 0.2 -W 2 ${ip}`);
  return Number(/= [\d.]+\/([\d.]+)\//.exec(out)?.[1] ?? NaN);
}

/** One round of a path; a path measured again gets the mean of its rounds in the table. */
async function measure(name: string, from: Host, to: Host, ip: string): Promise<void> {
  const ms = await rtt(from, ip);
  const [up, down] = await iperf(from, to, ip);
  console.log(`${name}: ${up.toFixed(1)} / ${down.toFixed(1)} Mbit/s, ${ms} ms`);
  const r = rows.find((x) => x.name === name);
  if (!r) return void rows.push({ name, upMbit: up, downMbit: down, rttMs: ms, rounds: 1 });
  const mean = (a: number, b: number) => (a * r.rounds + b) / (r.rounds + 1);
  [r.upMbit, r.downMbit, r.rttMs, r.rounds] = [mean(r.upMbit, up), mean(r.downMbit, down), mean(r.rttMs, ms), r.rounds + 1];
}

/**
 * What fw4 has on every OpenWrt router: conntrack for stateful rules and a
 * NAT hook. meshwrt's own tables bring both into its namespaces; bare kernel
 * WireGuard is measured with and without them, so the ratio shows the agent's
 * cost apart from the firewall's.
 */
const FW4_LIKE = `table inet bench_fw4 {
  chain input { type filter hook input priority filter; policy accept; ct state established,related accept; }
  chain forward { type filter hook forward priority filter; policy accept; ct state established,related accept; }
  chain srcnat { type nat hook postrouting priority srcnat; policy accept; }
}
`;

/** Bare kernel WireGuard, then under fw4's stateful rules (the k hosts keep them only for this). */
async function measureKernel(k1: Host, k2: Host): Promise<void> {
  await measure("(a) kernel WireGuard (wg)", k1, k2, "10.77.0.2");
  for (const h of [k1, k2]) await h.run(`nft -f - <<'EOF'\n${FW4_LIKE}EOF`);
  await measure("(a') kernel WireGuard, fw4's conntrack", k1, k2, "10.77.0.2");
  for (const h of [k1, k2]) await h.run("nft delete table inet bench_fw4");
}

/** Resident memory (kB) and CPU seconds used so far of the process named `comm` in namespace host `h`. */
async function proc(h: Host, comm: string): Promise<{ rssKb: number; peakKb: number; cpuS: number }> {
  const pid = (await h.run(`pgrep -n -x ${comm} || true`)).trim();
  if (!pid) return { rssKb: NaN, peakKb: NaN, cpuS: NaN };
  const status = await h.run(`cat /proc/${pid}/status`);
  const stat = (await h.run(`cat /proc/${pid}/stat`)).split(") ")[1]!.split(" ");
  return { rssKb: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]), peakKb: Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]), cpuS: (Number(stat[11]) + Number(stat[12])) / 100 };
}

/** CPU seconds used so far by every process named `comm` in the VM: both ends of a pair. */
async function cpuOf(h: Host, comm: string): Promise<number> {
  const out = await h.run(`for p in $(pgrep -x ${comm}); do awk '{ print $14 + $15 }' /proc/$p/stat; done`);
  return out.trim().split("\n").reduce((sum, x) => sum + Number(x), 0) / 100;
}

/** A round of a path, with the CPU its agents used meanwhile (the kernel's work is not theirs). */
async function measureWithCpu(name: string, comm: string, from: Host, to: Host, ip: string): Promise<void> {
  const before = await cpuOf(from, comm);
  await measure(name, from, to, ip);
  facts[`${comm}: CPU of both ends in a ${name.slice(0, 3)} round (s)`] = Number((await cpuOf(from, comm) - before).toFixed(2));
}

/** Peers each agent lists, until both list `want`. */
async function peersUntil(want: number, m: Meshwrt, ts: Tailscaled): Promise<void> {
  let said = Date.now();
  await waitFor(`${want} peers at meshwrt and tailscaled`, async () => {
    const mine = (JSON.parse((await m.cli("peers --json")).stdout).peers as unknown[]).length;
    const theirs = Object.keys((await ts.status()).Peer ?? {}).length;
    if (Date.now() - said >= 15_000) {
      said = Date.now();
      stage(`peers listed: meshwrt ${mine}, tailscaled ${theirs}`);
    }
    return mine >= want && theirs >= want ? true : undefined;
  }, 300_000, 1000);
}

/** A ping from `h` answered: every 100 ms until one is, so the time is told to a tenth of a second. */
async function firstPing(what: string, h: Host, ip: string): Promise<void> {
  await waitFor(what, async () => ((await h.exec(`ping -c 1 -i 0.1 -w 5 ${ip}`)).code === 0 ? true : undefined), 60_000, 0);
}

/** Where a pair joins: the hosts, the servers and what the timing is called. */
interface Join {
  readonly t: Topology;
  readonly hs: Headscale;
  readonly derp: Derper;
  readonly authKey: string;
  readonly where: string;
  /** How often an agent is asked for its address: each CLI call in the one-CPU VM takes CPU from the agents. */
  readonly pollMs: number;
}

/** meshwrt on m1 and m2, started at once; timed until m1's first ping to m2 is answered. */
async function joinMeshwrt(j: Join, interfaces?: readonly [string, string]): Promise<{ m: Meshwrt[]; ip: string }> {
  const startedAt = Date.now();
  const m: Meshwrt[] = [];
  for (const [i, name] of ["m1", "m2"].entries()) {
    const own = interfaces ? { interface: interfaces[i]! } : {};
    m.push(await startMeshwrt(j.t.host(name), { dir: `${j.t.dir}/${name}`, loginServer: j.hs.url, authKey: j.authKey, hostname: name, caFile: j.derp.certFile, ...own }));
  }
  const ip = await waitFor("m2's address", async () => (JSON.parse((await m[1]!.cli("status --json")).stdout).addresses as string[])[0], 60_000, j.pollMs);
  await firstPing(`m1 pinging m2, ${j.where}`, j.t.host("m1"), ip);
  facts[`meshwrt: start to first ping, ${j.where} (ms)`] = Date.now() - startedAt;
  return { m, ip };
}

/** tailscaled with TUN on t1 and t2, each brought up; timed until t1's first ping to t2 is answered. */
async function joinTailscaled(j: Join): Promise<{ ts: Tailscaled[]; ip: string }> {
  const startedAt = Date.now();
  const ts: Tailscaled[] = [];
  for (const name of ["t1", "t2"]) {
    const d = await startTailscaled(j.t.host(name), { dir: `${j.t.dir}/${name}`, tun: "tailscale0" });
    await d.up({ loginServer: j.hs.url, authKey: j.authKey, hostname: name, timeoutSec: 90 });
    ts.push(d);
  }
  const ip = (await ts[1]!.status()).Self.TailscaleIPs!.find((a) => a.startsWith("100."))!;
  await firstPing(`t1 pinging t2, ${j.where}`, j.t.host("t1"), ip);
  facts[`tailscaled: start to first ping, ${j.where} (ms)`] = Date.now() - startedAt;
  return { ts, ip };
}

/** A Headscale and a derper on the topology's `control` and `derp` hosts. */
async function servers(t: Topology, user: string, where: string, pollMs: number): Promise<Join> {
  const derp = await startDerper(t.host("derp"), { dir: `${t.dir}/derper` });
  const hs = await startHeadscale(t.host("control"), { dir: `${t.dir}/headscale`, derpMapYaml: derp.derpMapYaml() });
  return { t, hs, derp, authKey: await hs.preAuthKey(await hs.createUser(user), { reusable: true }), where, pollMs };
}

/**
 * Start to first ping with both agents running natively on this x86 host, no emulation, the
 * nearest to a router's own CPU here. This kernel has no WireGuard module, so meshwrt uses
 * wireguard-go (its own fallback, named per agent: their UAPI sockets share /var/run).
 */
async function nativeStartToPing(): Promise<void> {
  const t = await topology({ hosts: ["control", "derp", "m1", "m2", "t1", "t2"] });
  try {
    const j = await servers(t, "native", "x86 host", 50);
    for (const x of (await joinMeshwrt(j, ["mwbench0", "mwbench1"])).m) await x.proc.stop();
    await joinTailscaled(j);
  } finally {
    await t.destroy();
  }
}

async function netmapScale(where: string, run: (cmd: string) => Promise<string>): Promise<void> {
  const r = JSON.parse(await run(`${process.cwd()}/build/out/netmapscale 1000`)) as { full: { ms: number; peakKb: number }; delta: { ms: number; peakKb: number } };
  facts[`1,000-peer netmap applied, ${where} (ms)`] = Math.round(r.full.ms);
  facts[`then a 1-peer delta, ${where} (ms)`] = Math.round(r.delta.ms);
  facts[`peak RSS of both, ${where} (kB)`] = r.delta.peakKb;
}

async function main(): Promise<void> {
  execFileSync("make", ["--no-print-directory", "build/out/meshwrt", "build/out/netmapscale"], { stdio: "inherit" });
  await netmapScale("x86 host", async (c) => execFileSync("sh", ["-c", c], { encoding: "utf8" }));
  stage("cost per target, emulated");
  targets = await targetCosts({ peers: 1000, log: stage });
  console.log(costTable(targets.rows, targets.wireguardGoMs));
  stage("start to first ping, natively");
  await nativeStartToPing();
  // The .ipk's installed size, as `make package` prints it (the LuCI package may not be there to build).
  const pkg = spawnSync("make", ["--no-print-directory", "package"], { encoding: "utf8" }).stdout;
  const installed = /meshwrt_\S+\.ipk: installed size ([\d,]+) bytes/.exec(pkg)?.[1];
  if (installed) facts["meshwrt .ipk installed size (bytes)"] = Number(installed.replace(/,/g, ""));
  const bins = ensurePeers();
  facts["meshwrt binary (bytes)"] = statSync(MESHWRT).size;
  facts["tailscaled binary (bytes)"] = statSync(bins.tailscaled).size;
  const vm = await Vm.boot({ cpus: 1, memoryMb: 1536 });
  const t = await topology({ hosts: ["control", "derp", "k1", "k2", "m1", "m2", "t1", "t2"] }, { exec: (c) => vm.exec(c, { timeoutMs: 120_000 }) });
  let failed: Error | undefined;
  try {
    await vm.exec("modprobe tun");
    const [k1, k2] = [t.host("k1"), t.host("k2")];
    // (a) bare kernel WireGuard, configured with wg.
    const keys = await Promise.all([k1, k2].map(async (h) => (await h.run("wg genkey")).trim()));
    const pubs = await Promise.all([k1, k2].map(async (h, i) => (await h.run(`echo ${keys[i]} | wg pubkey`)).trim()));
    for (const [i, h] of [k1, k2].entries()) {
      const peer = [k1, k2][1 - i]!;
      await h.run(`ip link add wg0 type wireguard && echo ${keys[i]} > /tmp/bench-k${i} && wg set wg0 private-key /tmp/bench-k${i} listen-port 51820 ` +
        `peer ${pubs[1 - i]} endpoint ${peer.ip}:51820 allowed-ips 10.77.0.${2 - i}/32 && ip addr add 10.77.0.${i + 1}/32 dev wg0 && ip link set wg0 up mtu 1280 && ip route add 10.77.0.${2 - i}/32 dev wg0`);
    }
    stage("(a) kernel WireGuard");
    await measureKernel(k1, k2);

    const j = await servers(t, "bench", "1-vCPU VM", 200);
    const hs = j.hs;

    // (b) meshwrt, both ends.
    stage("(b) meshwrt");
    const { m, ip: m2ip } = await joinMeshwrt(j);
    facts["meshwrt: RSS joined (kB)"] = (await proc(t.host("m1"), "meshwrt")).rssKb;
    await waitFor("a direct path m1-m2", async () => {
      await t.host("m1").exec(`ping -c 2 -i 0.2 -W 1 ${m2ip}`);
      const p = (JSON.parse((await m[0]!.cli("peers --json")).stdout).peers as { name: string; path: string }[]).find((x) => x.name === "m2");
      return p?.path.startsWith("direct") ? true : undefined;
    }, 60_000, 500);
    await measure("(b) meshwrt direct", t.host("m1"), t.host("m2"), m2ip);
    // A second round of (a), (a') and (b), alternated: the emulated CPU's speed drifts within a run.
    stage("(a), (a'), (b) again");
    await measureKernel(k1, k2);
    await measureWithCpu("(b) meshwrt direct", "meshwrt", t.host("m1"), t.host("m2"), m2ip);

    // (c) tailscaled with TUN, both ends.
    stage("(c) tailscaled");
    const { ts, ip: t2ip } = await joinTailscaled(j);
    facts["tailscaled: RSS joined (kB)"] = (await proc(t.host("t1"), "tailscaled")).rssKb;
    await ts[0]!.ping(t2ip, { count: 10, untilDirect: true });
    await measureWithCpu("(c) tailscaled direct (TUN)", "tailscaled", t.host("t1"), t.host("t2"), t2ip);

    stage("10 peers");
    // 10 peers: m1 sees m2, t1, t2 and seven nodes that never connect.
    const user = await hs.createUser("offline");
    await hs.addOfflineNodes(user, "off", 1, 7);
    await peersUntil(10, m[0]!, ts[0]!);
    facts["meshwrt: RSS with 10 peers (kB)"] = (await proc(t.host("m1"), "meshwrt")).rssKb;
    facts["tailscaled: RSS with 10 peers (kB)"] = (await proc(t.host("t1"), "tailscaled")).rssKb;

    stage("60 s idle");
    // Idle: 60 s with nothing to carry, 10 peers.
    const [mi, ti] = [await proc(t.host("m1"), "meshwrt"), await proc(t.host("t1"), "tailscaled")];
    await new Promise((r) => setTimeout(r, 60_000));
    const [mo, to] = [await proc(t.host("m1"), "meshwrt"), await proc(t.host("t1"), "tailscaled")];
    facts["meshwrt: CPU in 60 s idle (s)"] = Number((mo.cpuS - mi.cpuS).toFixed(2));
    facts["tailscaled: CPU in 60 s idle (s)"] = Number((to.cpuS - ti.cpuS).toFixed(2));

    stage("(d), (e) relayed");
    // (d), (e): the same pairs with UDP between them blocked: through derper.
    await t.internet.blockUdp(t.host("m1").ip, t.host("m2").ip);
    await t.internet.blockUdp(t.host("t1").ip, t.host("t2").ip);
    await waitFor("m1-m2 relayed", async () => {
      await t.host("m1").exec(`ping -c 2 -i 0.2 -W 1 ${m2ip}`);
      const p = (JSON.parse((await m[0]!.cli("peers --json")).stdout).peers as { name: string; path: string }[]).find((x) => x.name === "m2");
      return p?.path.startsWith("relay") ? true : undefined;
    }, 60_000, 500);
    await measure("(d) meshwrt relayed", t.host("m1"), t.host("m2"), m2ip);
    await waitFor("t1-t2 relayed", async () => (((await ts[0]!.ping(t2ip, { count: 1, untilDirect: false })).pongs[0]?.via ?? "").startsWith("DERP") ? true : undefined), 60_000, 500);
    await measure("(e) tailscaled relayed", t.host("t1"), t.host("t2"), t2ip);

    stage("200 peers");
    // 200 peers: 190 more registered nodes, ten at a time: Headscale slows as its nodes grow
    // (38 took 100 s past 120 nodes), and one VM command may take 120 s.
    for (let i = 8; i <= 197; i += 10) {
      await hs.addOfflineNodes(user, "off", i, Math.min(i + 9, 197));
      stage(`${Math.min(i + 9, 197) + 3} nodes registered`);
    }
    await peersUntil(200, m[0]!, ts[0]!);
    for (const [name, h, comm] of [["meshwrt", "m1", "meshwrt"], ["tailscaled", "t1", "tailscaled"]] as const) {
      const p = await proc(t.host(h), comm);
      facts[`${name}: RSS with 200 peers (kB)`] = p.rssKb;
      facts[`${name}: peak RSS (kB)`] = p.peakKb;
    }
    stage("1,000-peer netmap in the VM");
    await netmapScale("1-vCPU VM", (c) => t.host("m1").run(c));
    for (const x of m) await x.proc.stop();
  } catch (e) {
    failed = e as Error;
    // The VM's state at the failure: what was busy, and whether memory ran out.
    const snap = await vm.exec("uptime; free -m; top -b -n 1 -o %CPU | head -n 15; dmesg | tail -n 5", { timeoutMs: 20_000 }).catch((x: Error) => ({ stdout: x.message }));
    console.error(`bench: failed: ${failed.message}\n${snap.stdout}`);
  }
  // What was measured is shown even when a later stage failed, and the stage's own error is the
  // one said: a teardown that fails after it (the VM may be wedged) is only noted.
  report();
  // Said before the teardown: a VM that a timed-out command stopped can leave nothing to wait on,
  // and Node then ends quietly, with this code.
  if (failed) process.exitCode = 1;
  for (const [what, step] of [["topology teardown", () => t.destroy()], ["VM shutdown", () => vm.shutdown()]] as const) {
    await step().catch((e: Error) => console.error(`bench: ${what}: ${e.message}`));
  }
  if (failed) throw failed;
}

function report(): void {
  const by = (p: string) => rows.find((r) => r.name.startsWith(p));
  const ratio = (x: string, y: string) => {
    const a = by(x), b = by(y);
    return a && b ? `${((a.upMbit + a.downMbit) / (b.upMbit + b.downMbit)).toFixed(2)}` : "n/a";
  };
  const lines = [
    "path                                    up Mbit/s  down Mbit/s  rtt ms  rounds",
    ...rows.map((r) => `${r.name.padEnd(40)}${r.upMbit.toFixed(1).padStart(9)}  ${r.downMbit.toFixed(1).padStart(11)}  ${r.rttMs.toFixed(2).padStart(6)}  ${String(r.rounds).padStart(6)}`),
    "",
    `b/a ${ratio("(b)", "(a)")}   b/a' ${ratio("(b)", "(a')")}   b/c ${ratio("(b)", "(c)")}   d/e ${ratio("(d)", "(e)")}`,
    "",
    ...Object.entries(facts).map(([k, v]) => `${k.padEnd(52)}${v}`),
    ...(targets ? ["", costTable(targets.rows, targets.wireguardGoMs)] : []),
  ];
  console.log(`\n${lines.join("\n")}`);
  mkdirSync("build/bench", { recursive: true });
  writeFileSync("build/bench/bench.json", JSON.stringify({ at: new Date().toISOString(), paths: rows, ratios: { "b/a": ratio("(b)", "(a)"), "b/a'": ratio("(b)", "(a')"), "b/c": ratio("(b)", "(c)"), "d/e": ratio("(d)", "(e)") }, facts, targets }, null, 2));
}

main().catch((e: Error) => {
  console.error(`bench: ${e.stack ?? e.message}`);
  process.exit(1);
});
