// `make bench`: meshwrt side by side with bare kernel WireGuard and with
// tailscaled, in one run, in the VM with ONE virtual CPU (a router is small)
// whose clock counts instructions (CLOCK): a throughput is what the
// path costs in the guest's instructions, not what the host's speed allowed.
// Prints one table and writes it as JSON to build/bench/bench.json.
//
//   internet: control (Headscale), derp (derper),
//             k1, k2 (bare kernel WireGuard set up with `wg`; then again
//                     under fw4's conntrack and NAT hook, as on OpenWrt),
//             m1, m2 (meshwrt, kernel WireGuard), t1, t2 (tailscaled with TUN)
//
// Pairs talk over their own tunnel: iperf3 TCP 8 s each way and 10 pings a
// round, first direct, then with UDP between the pair blocked (relayed by
// derper). Like with like: every server and agent is started first, then the
// direct paths take their rounds in turn, BENCH_CYCLES (6) cycles of
// (a) (a') (b) (af) (af') (bf), the order reversed every other cycle, so
// whatever drifts falls on each side alike; a path's figure is the median
// of its rounds with their spread, and a ratio is the median of the ratios
// cycle by cycle, with their range. Forwarded: k2 and m2 each have a LAN
// (a veth to a namespace holding the printer, 192.168.7N.50), and k1 and m1
// reach it through the tunnel, as a phone reaches the printer at home; meshwrt
// then again with flow_offloading. The rules round loads meshwrt's own tables
// (from the agent's generators) on the bare kernel pair, one part left out or
// added at a time, so each part's cost is seen apart from the agent.
//
// BENCH_ROUNDS=a,b,f (default: all) runs only some rounds: targets (cost per
// cross target), native (start to first ping on this host), a (kernel), b
// (meshwrt direct), c (tailscaled direct), f (forwarded to a LAN), r (rules),
// d (both relayed), mips (a MIPS router and a phone, below), mem (RSS with 10 and
// 200 peers, CPU in the wind-down after traffic and then idle), netmap, perf (where
// the CPU goes, by perf's samples in the VM, on the direct paths, in the rules
// round and relayed: profile.ts).
// BENCH_CYCLES (default 6) and BENCH_SECONDS (iperf3's seconds each way, default 8)
// set the interleaved rounds' count and length.
// The table goes to build/bench/bench.json and a bar chart of the throughput
// per path to test/out/bench.png.
// Memory is read joined, with 10 peers and with 200 (Headscale registers
// nodes that never connect), and the control plane's cost for a 1,000-peer
// netmap is timed in the shipped runtime (build/out/netmapscale), natively and in
// a VM of its own on the wall clock (where issue 18 set its budgets), with the
// steady state at 1,000 peers against the real kernel (wgcheck steady). Start to
// first ping is timed in the VM and, before it, natively on this x86 host
// (meshwrt on wireguard-go there: this kernel has no WireGuard module).
// Before the VM, each cross target's cost is measured under qemu-user and
// printed as its own table, labelled as emulated (test/bench/targets.ts).
// The x86 VM's instruction clock is not a router's CPU (tailscaled direct
// outran kernel WireGuard there, 0.70), so the router-and-phone rounds run
// again on a MIPS 24Kc VM of its own, only the router in it (mips.ts): (bm)
// meshwrt and (cm) tailscaled direct, (dm) and (em) relayed.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { filterStatements } from "../../agent/src/gateway/filter.js";
import { rulesetScript } from "../../agent/src/gateway/ruleset.js";
import { parsePrefix } from "../../agent/src/netaddr/ip.js";
import { ACTIVE_MS } from "../../agent/src/wg/activity.js";
import { run, sh, waitFor } from "../net/exec.js";
import { type Host, type Topology, topology } from "../net/topology.js";
import { ensurePeers } from "../peers/bins.js";
import { type HeadscaleUser } from "../peers/headscale.js";
import { type Derper, type Headscale, startDerper, startHeadscale, startTailscaled, type Tailscaled } from "../peers/index.js";
import { type Meshwrt, MESHWRT, startMeshwrt } from "../support/meshwrt.js";
import { type BootOptions, Vm } from "../vm/vm.js";
import { median } from "./median.js";
import { mipsRounds } from "./mips.js";
import { barChart } from "./plot.js";
import { medianProfile, PARTS, parseProfile, type Profile, profileTable } from "./profile.js";
import { costTable, targetCosts, type TargetCost } from "./targets.js";

/** The rounds BENCH_ROUNDS selects (see above); all when it is unset. */
const KNOWN_ROUNDS = ["targets", "native", "a", "b", "c", "f", "r", "d", "mips", "mem", "netmap", "perf"];
const ROUNDS = new Set((process.env.BENCH_ROUNDS ?? KNOWN_ROUNDS.join(",")).split(",").map((x) => x.trim()));
const unknownRounds = [...ROUNDS].filter((x) => !KNOWN_ROUNDS.includes(x));
if (unknownRounds.length) throw new Error(`BENCH_ROUNDS: unknown round ${unknownRounds.join(", ")} (known: ${KNOWN_ROUNDS.join(", ")})`);
const want = (...r: string[]) => r.some((x) => ROUNDS.has(x));

/** A positive whole number from the environment, or `fallback`; anything else is refused by name. */
function envCount(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === "") return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}: ${JSON.stringify(text)} is not a positive whole number`);
  return n;
}
/**
 * Cycles of the interleaved rounds (see above). Six: a round's figure moves by 10-20% under
 * emulation, and with four the median of bf/af ranged 0.91-1.02 over the last six runs.
 */
const CYCLES = envCount("BENCH_CYCLES", 6);
/** iperf3's seconds each way in a round. */
const SECONDS = envCount("BENCH_SECONDS", 8);
/**
 * The throughput VM's clock counts instructions, 2 ns each (qemu's -icount shift=1): a CPU of
 * 500 million instructions a second of its own time, which this host's load cannot speed or slow.
 * On the wall clock under TCG, a round's throughput moved 10-20% with the host's speed, and a
 * ratio's cycles ranged 0.84-1.25 around a cost of 3-7%; counted in instructions, a path's rounds
 * agree within 0.3%. The host's speed sets only how long a round takes. BENCH_WALLCLOCK=1 boots
 * it on the wall clock instead, as before: a flat count weighs every instruction alike, where TCG
 * makes a memory access dearer than arithmetic, and a path of other code (the relay: QuickJS, Go)
 * compares otherwise under each.
 */
const CLOCK: Pick<BootOptions, "icountShift"> = process.env.BENCH_WALLCLOCK === "1" ? {} : { icountShift: 1 };

/**
 * Where a path's packets end: at the far tunnel end itself, forwarded to a host on its LAN,
 * relayed, or the kernel pair under one variant of meshwrt's tables. The table and the
 * plot show one section per group; other benches add their own rows and facts.
 */
type Group = "to the router" | "forwarded to a LAN host" | "relayed" | "meshwrt's rules on the kernel pair" | "a MIPS router (24Kc) and a phone";

/** One round of a path. */
interface Sample {
  upMbit: number;
  downMbit: number;
  rttMs: number;
  /** The cycle of interleaved rounds it belongs to ("direct 2"): a ratio pairs the rounds of one cycle. */
  cycle?: string;
  /** CPU seconds the agents (both ends) used during the round, when they were running. */
  agentCpuS?: number;
}

interface Path {
  group: Group;
  name: string;
  /** The median of its rounds. */
  upMbit: number;
  downMbit: number;
  rttMs: number;
  rounds: number;
  /** Half the range of up + down over its rounds, in % of their median: how far one round strays. */
  spreadPct: number;
  /** The agent whose CPU agentCpuS counts. */
  agent?: string;
  samples: Sample[];
}

const total = (s: Sample) => s.upMbit + s.downMbit;
/** Half the range of xs in % of their median. */
const spread = (xs: readonly number[]) => ((Math.max(...xs) - Math.min(...xs)) / 2 / median(xs)) * 100;

const rows: Path[] = [];
const began = Date.now();
/** This host's load average over 1, 5 and 15 minutes: other work on the machine slows the VM. */
const load = () => loadavg().map((x) => x.toFixed(1)).join(", ");
/** A stage begins: said with the time since the start and the host's load, so a stall shows where it was. */
const stage = (what: string) => console.log(`[${Math.round((Date.now() - began) / 1000)} s, load ${load()}] ${what}`);
const facts: Record<string, number | string> = { "host load average at the start (1, 5, 15 min)": load() };
/** The cost on each cross target's CPU, emulated (test/bench/targets.ts), and its table. */
let targets: { rows: TargetCost[]; wireguardGoMs: number } | undefined;
/** perf in the VM (Profiler), once the VM is up and perf is among the rounds. */
let profiler: Profiler | undefined;

/** iperf3 each way: Mbit/s up and down. */
async function iperf(from: Host, to: Target, ip: string): Promise<{ up: number; down: number }> {
  const out: number[] = [];
  for (const reverse of ["", "-R"]) {
    await to.run(`iperf3 -s -1 -D -B ${ip}`);
    await new Promise((r) => setTimeout(r, 500));
    const r = JSON.parse(await from.run(`iperf3 -c ${ip} -t ${SECONDS} -J ${reverse}`));
    out.push(r.end.sum_received.bits_per_second / 1e6);
  }
  return { up: out[0]!, down: out[1]! };
}

async function rtt(from: Host, ip: string): Promise<number> {
  const out = await from.run(`ping -c 10 -i 0.2 -W 2 ${ip}`);
  return Number(/= [\d.]+\/([\d.]+)\//.exec(out)?.[1] ?? NaN);
}

/** What iperf3's server needs of the far end: a host of the topology, or a LAN host of lanBehind(). */
type Target = Pick<Host, "run">;

/** The cycle the rounds now taken belong to (set by interleaved()). */
let cycle: string | undefined;

/**
 * One round of a path; a path measured again gets the median of its rounds in the table. With
 * `agent`, the CPU every process of that name in the VM (both ends) used meanwhile is kept too:
 * the kernel's work is not theirs, and in a kernel round it is what the agents cost idle.
 */
async function measure(name: string, from: Host, to: Target, ip: string, group: Group = "to the router", agent?: string): Promise<void> {
  const cpuBefore = agent ? await cpuOf(from, agent) : 0;
  const ms = await rtt(from, ip);
  const { up, down } = await iperf(from, to, ip);
  const sample: Sample = { upMbit: up, downMbit: down, rttMs: ms, ...(cycle ? { cycle } : {}), ...(agent ? { agentCpuS: await cpuOf(from, agent) - cpuBefore } : {}) };
  console.log(
    `${name}: ${up.toFixed(1)} / ${down.toFixed(1)} Mbit/s, ${ms} ms${cycle ? ` (${cycle})` : ""}` +
      `${sample.agentCpuS !== undefined ? `, ${agent} ${sample.agentCpuS.toFixed(2)} s CPU` : ""}, load ${load()}`,
  );
  record(name, group, sample, agent);
}

/** A round's figures into its path's row: the median of its rounds so far, and their spread. */
function record(name: string, group: Group, sample: Sample, agent?: string): void {
  let r = rows.find((x) => x.name === name);
  if (!r) rows.push((r = { group, name, upMbit: 0, downMbit: 0, rttMs: 0, rounds: 0, spreadPct: 0, ...(agent ? { agent } : {}), samples: [] }));
  const s = r.samples;
  s.push(sample);
  [r.upMbit, r.downMbit, r.rttMs, r.rounds] = [median(s.map((x) => x.upMbit)), median(s.map((x) => x.downMbit)), median(s.map((x) => x.rttMs)), s.length];
  r.spreadPct = spread(s.map(total));
}

/**
 * Rounds of several sides in turn, `cycles` times, the order reversed every other cycle (a b c,
 * c b a, a b c, ...): what still drifts within a run (the agents' own work, a path's state) meets
 * each side alike. Each round is tagged with its cycle; ratios() pairs the rounds of a cycle.
 */
async function interleaved(block: string, cycles: number, sides: readonly (() => Promise<void>)[]): Promise<void> {
  try {
    for (let i = 0; i < cycles; i++) {
      stage(`${block}: cycle ${i + 1} of ${cycles}`);
      cycle = `${block} ${i + 1}`;
      for (const side of i % 2 ? [...sides].reverse() : sides) await side();
    }
  } finally {
    cycle = undefined;
  }
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

/** `round` with fw4's stateful rules on k1 and k2 (the k hosts have them only for it). */
async function underFw4(k: readonly Host[], round: () => Promise<void>): Promise<void> {
  for (const h of k) await h.run(`nft -f - <<'EOF'\n${FW4_LIKE}EOF`);
  try {
    await round();
  } finally {
    for (const h of k) await h.run("nft delete table inet bench_fw4");
  }
}

/** The printers on k2's and m2's LANs. */
const KERNEL_PRINTER = "192.168.71.50";
const MESHWRT_PRINTER = "192.168.72.50";

/**
 * A LAN behind `router`, as br-lan is on OpenWrt: a veth "lan0" (192.168.N.1/24) to a namespace
 * of its own holding the printer at 192.168.N.50; the router forwards (a router does).
 */
async function lanBehind(t: Topology, router: Host, name: string, octet: number): Promise<Target> {
  const ns = `${t.prefix}${name}`;
  const root = (c: string) => run(t.runner.exec, c, `LAN ${name}`);
  await root(
    [
      `ip netns add ${ns}`,
      `ip -n ${ns} link set lo up`,
      `ip -n ${router.ns} link add lan0 type veth peer name eth0 netns ${ns}`,
      `ip -n ${router.ns} addr add 192.168.${octet}.1/24 dev lan0`,
      `ip -n ${router.ns} link set lan0 up`,
      `ip -n ${ns} addr add 192.168.${octet}.50/24 dev eth0`,
      `ip -n ${ns} link set eth0 up`,
      `ip -n ${ns} route add default via 192.168.${octet}.1`,
      `ip netns exec ${router.ns} sysctl -qw net.ipv4.ip_forward=1`,
    ].join(" && "),
  );
  t.onDestroy(async () => void (await t.runner.exec(`ip netns del ${ns}`)));
  return { run: (c) => root(`ip netns exec ${ns} sh -c ${sh(c)}`) };
}

/** Headscale's allow-all policy as the agent turns it into nft statements, both sides. */
const ALLOW_ALL_RULES = [{ SrcIPs: ["*"], DstPorts: [{ IP: "*", Ports: { First: 0, Last: 65535 } }] }];
const ALLOW_ALL = filterStatements(ALLOW_ALL_RULES, () => {});
const ALLOW_ALL_ANSWERS = filterStatements(ALLOW_ALL_RULES, () => {}, "answer");

/**
 * Not what the agent loads: no conntrack at all on the tunnel's own UDP, both ways, handshakes and
 * samples too (the agent leaves the data it receives untracked where fw4 accepts the port, and the
 * data it sends but for a sample a peer every 20 s, which keeps the flow open for a stateful WAN).
 */
type Notrack = "none" | "outer";

const NOTRACK: Record<Exclude<Notrack, "none">, [string, string]> = {
  outer: ["udp dport 51820 notrack", "udp sport 51820 notrack"],
};

/** The same table the agent loads on m1 and m2 (no fw4 there: its own flows and the WireGuard data untracked), for the kernel pair: its tunnel wg0, its LAN lan0 on k2. */
function meshwrtTables(k2: boolean, o: { snat: boolean; portShare: boolean; notrack: Notrack; offload: boolean; stateless: boolean; dataIn: boolean }): string {
  const stateless = o.stateless ? { stateless: { self: [parsePrefix(`10.77.0.${k2 ? 2 : 1}/32`)], answers: ALLOW_ALL_ANSWERS } } : {};
  const dataIn = o.dataIn ? { untrackedWireGuardPort: 51820 } : {};
  // By tproxy, as the agent shares the port where the kernel has it (the VM's does).
  const portShare = o.portShare ? { portShare: { wgPort: 51820, agentPort: 51821, tproxy: true } } : {};
  const parts = [rulesetScript({ iface: "wg0", routes: [parsePrefix("192.168.71.0/24")], exitNode: false, snat: o.snat, filter: ALLOW_ALL, ...stateless, ...dataIn, ...portShare, ...(o.offload && k2 ? { offload: ["lan0"] } : {}) })];
  if (o.notrack !== "none") {
    const [pre, out] = NOTRACK[o.notrack];
    parts.push(`table inet bench_notrack {\n  chain pre { type filter hook prerouting priority raw; ${pre}${pre && ";"} }\n  chain out { type filter hook output priority raw; ${out}; }\n}\n`);
  }
  return parts.join("");
}

/**
 * Round r: meshwrt's tables on the kernel pair (both ends, as both run meshwrt in (b)), whole
 * and with one part left out or added, to k2 and to its printer: what each part costs.
 */
async function measureRules(k1: Host, k2: Host, printer: Target): Promise<void> {
  const whole = { snat: true, portShare: true, notrack: "none" as Notrack, offload: false, stateless: true, dataIn: true };
  const variants: [string, typeof whole | undefined][] = [
    // The baseline again, among the variants: each ratio pairs rounds of one cycle.
    ["no tables (bare kernel WireGuard)", undefined],
    ["meshwrt's tables", whole],
    ["without the port sharing", { ...whole, portShare: false }],
    ["without source NAT (no NAT chain)", { ...whole, snat: false }],
    ["with notrack for the WireGuard port", { ...whole, notrack: "outer" }],
    ["with the host's own flows tracked", { ...whole, stateless: false }],
    ["with the WireGuard data tracked (sent: one sample a peer every 20 s)", { ...whole, dataIn: false }],
    ["with flow offloading", { ...whole, offload: true }],
  ];
  const group: Group = "meshwrt's rules on the kernel pair";
  // Each variant's tables on both ends, for the round.
  const under = (o: typeof whole | undefined, round: () => Promise<void>) => async () => {
    if (o) for (const [i, h] of [k1, k2].entries()) await h.run(`nft -f - <<'EOF'\n${meshwrtTables(i === 1, o)}EOF`);
    try {
      await round();
    } finally {
      for (const h of [k1, k2]) await h.run("nft delete table inet meshwrt; nft delete table inet bench_notrack 2>/dev/null; true");
    }
  };
  // Interleaved, two cycles (the second in reverse): each row is the median of rounds minutes apart,
  // and its ratio to the bare pair is taken cycle by cycle (ratios()).
  await interleaved("rules", Math.min(CYCLES, 2), variants.map(([what, o]) => under(o, async () => {
    // Flow offloading acts on forwarded flows only: the router's own figure would repeat the whole table's.
    if (!o?.offload) await measure(`(r) ${what}, to k2`, k1, k2, "10.77.0.2", group);
    await measure(`(r) ${what}, to k2's printer`, k1, printer, KERNEL_PRINTER, group);
  })));
  if (!profiler) return;
  // Then each variant profiled, in rounds of their own (perf's sampling would lower the throughput
  // above): where in the kernel each part's cost goes.
  const p = profiler;
  await interleaved("rules, profiled", 1, variants.map(([what, o]) => under(o, async () => {
    if (!o?.offload) await p.around(`(r) ${what}, to k2`, () => iperf(k1, k2, "10.77.0.2"));
    await p.around(`(r) ${what}, to k2's printer`, () => iperf(k1, printer, KERNEL_PRINTER));
  })));
}

/**
 * Resident memory (kB) and CPU seconds used so far of the process named `comm` in namespace host
 * `h`: found among the namespace's own processes (pgrep would see every namespace's, m2's for m1).
 */
async function proc(h: Host, comm: string): Promise<{ rssKb: number; peakKb: number; cpuS: number }> {
  const pid = (await h.run(`for p in $(ip netns pids ${h.ns}); do [ "$(cat /proc/$p/comm 2>/dev/null)" = ${comm} ] && echo $p; done; true`)).trim().split("\n")[0];
  if (!pid) return { rssKb: NaN, peakKb: NaN, cpuS: NaN };
  const status = await h.run(`cat /proc/${pid}/status`);
  // The scheduler's own account of every thread (ns): utime and stime are sampled at the timer
  // tick, too coarse for the tenths of a second an idle minute costs.
  const ranNs = (await h.run(`cat /proc/${pid}/task/*/schedstat`)).trim().split("\n").reduce((sum, l) => sum + Number(l.split(" ")[0]), 0);
  return { rssKb: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]), peakKb: Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]), cpuS: ranNs / 1e9 };
}

/** CPU seconds used so far by every process named `comm` in the VM: both ends of a pair. */
async function cpuOf(h: Host, comm: string): Promise<number> {
  const out = await h.run(`for p in $(pgrep -x ${comm}); do awk '{ print $14 + $15 }' /proc/$p/stat; done`);
  return out.trim().split("\n").reduce((sum, x) => sum + Number(x), 0) / 100;
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

/**
 * What the agents trust: this machine's bundle (OpenWrt's ca-bundle is the same Mozilla set)
 * with derper's certificate after it, so their memory counts a real router's trust anchors.
 */
async function routerBundle(j: Join): Promise<string> {
  const f = `${j.t.dir}/router-ca-bundle.pem`;
  await j.t.host("m1").run(`cat /etc/ssl/certs/ca-certificates.crt ${j.derp.certFile} > ${f}`);
  return f;
}

/** meshwrt on m1 and m2, started at once; timed until m1's first ping to m2 is answered. */
async function joinMeshwrt(j: Join, o: { interfaces?: readonly [string, string]; extra?: readonly [string, string] } = {}): Promise<{ m: Meshwrt[]; ip: string }> {
  const startedAt = Date.now();
  const m: Meshwrt[] = [];
  const caFile = await routerBundle(j);
  for (const [i, name] of ["m1", "m2"].entries()) {
    const own = { ...(o.interfaces ? { interface: o.interfaces[i]! } : {}), ...(o.extra ? { extra: o.extra[i]! } : {}) };
    m.push(await startMeshwrt(j.t.host(name), { dir: `${j.t.dir}/${name}`, loginServer: j.hs.url, authKey: j.authKey, hostname: name, caFile, ...own }));
  }
  const ip = await waitFor("m2's address", async () => (JSON.parse((await m[1]!.cli("status --json")).stdout).addresses as string[])[0], 60_000, j.pollMs);
  await firstPing(`m1 pinging m2, ${j.where}`, j.t.host("m1"), ip);
  facts[`meshwrt: start to first ping, ${j.where} (ms)`] = Date.now() - startedAt;
  return { m, ip };
}

/**
 * tailscaled with TUN on t1 and t2, started and brought up at once, as the meshwrt pair starts
 * (neither waits for the other to join); timed until t1's first ping to t2 is answered.
 */
async function joinTailscaled(j: Join): Promise<{ ts: Tailscaled[]; ip: string }> {
  const startedAt = Date.now();
  const ts = await Promise.all(["t1", "t2"].map(async (name) => {
    const d = await startTailscaled(j.t.host(name), { dir: `${j.t.dir}/${name}`, tun: "tailscale0" });
    await d.up({ loginServer: j.hs.url, authKey: j.authKey, hostname: name, timeoutSec: 90 });
    return d;
  }));
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
    for (const x of (await joinMeshwrt(j, { interfaces: ["mwbench0", "mwbench1"] })).m) await x.proc.stop();
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
  // Issue 18's budgets: at 1,000 peers a delta <= 100 ms and a delta a second <= 5% CPU; at 5,000, the full map <= 10 s and RSS <= 16 MB.
  for (const peers of [1000, 5000]) {
    const s = JSON.parse(await run(`${process.cwd()}/build/out/netmapscale ${peers}`)) as { full: { ms: number; cpuMs: number }; delta: { ms: number }; online: { ms: number }; steady: { cpuPercentAtOnePerSecond: number }; rssKb: number; peakKb: number };
    const n = peers.toLocaleString("en");
    facts[`${n} peers, ${where}: full netmap (ms, CPU ms)`] = `${Math.round(s.full.ms)}, ${s.full.cpuMs}`;
    facts[`${n} peers, ${where}: 1-peer delta, presence-only delta (ms)`] = `${Math.round(s.delta.ms)}, ${Math.round(s.online.ms)}`;
    facts[`${n} peers, ${where}: CPU at one delta a second (%)`] = s.steady.cpuPercentAtOnePerSecond;
    facts[`${n} peers, ${where}: RSS, peak (kB)`] = `${s.rssKb}, ${s.peakKb}`;
  }
}

/**
 * Issue 18's steady state against the real kernel (test/vm/wgcheck.ts steady): 1,000 peers, one
 * netmap delta a second, and the activity's reads of the device at the wait it sets after reads of
 * that cost; a read's CPU in place (as the agent reads), decoded into objects (as before) and the
 * raw dump alone, measured in one process so a loaded host inflates them alike.
 */
async function steadyState(where: string, run: (cmd: string) => Promise<string>): Promise<void> {
  const s = JSON.parse(await run(`${process.cwd()}/build/out/wgcheck steady mwsteady 1000 20`)) as { deltaCpuMsPerSecond: number; readCpuMs: number; decodedReadCpuMs: number; dumpCpuMs: number; waitMs: number; cadenceCpuMsPerSecond: number };
  await run("ip link del mwsteady");
  facts[`1,000 peers, ${where}: steady state, one delta a second and the activity's reads (% CPU; budget 5)`] = (s.cadenceCpuMsPerSecond / 10).toFixed(1);
  facts[`1,000 peers, ${where}: of which the deltas, the reads every ${(s.waitMs / 1000).toFixed(0)} s (% CPU)`] = `${(s.deltaCpuMsPerSecond / 10).toFixed(1)}, ${((s.cadenceCpuMsPerSecond - s.deltaCpuMsPerSecond) / 10).toFixed(1)}`;
  facts[`1,000 peers, ${where}: a read of the device in place, decoded as before, the dump alone (CPU ms)`] = `${s.readCpuMs}, ${s.decodedReadCpuMs}, ${s.dumpCpuMs}`;
}

/** Waits until m1's path to m2 is `kind` (direct or relay), m1 pinging m2 meanwhile. */
async function pathIs(kind: "direct" | "relay", m1: Meshwrt, h: Host, ip: string): Promise<void> {
  await waitFor(`a ${kind} path m1-m2`, async () => {
    await h.exec(`ping -c 2 -i 0.2 -W 1 ${ip}`);
    const p = (JSON.parse((await m1.cli("peers --json")).stdout).peers as { name: string; path: string }[]).find((x) => x.name === "m2");
    return p?.path.startsWith(kind) ? true : undefined;
  }, 120_000, 500);
}

/**
 * Waits until both ends are on the relay, m1 pinging m2 meanwhile: an end still direct (its
 * pongs late, or a path that only the tunnel itself reached) would send into the blocked UDP.
 */
async function bothRelayed(m: Meshwrt[], h: Host, ip: string): Promise<void> {
  await waitFor("the relay path m1-m2, both ends", async () => {
    await h.exec(`ping -c 2 -i 0.2 -W 1 ${ip}`);
    for (const [i, a] of m.entries()) {
      const p = (JSON.parse((await a.cli("peers --json")).stdout).peers as { name: string; path: string }[]).find((x) => x.name === `m${2 - i}`);
      if (!p?.path.startsWith("relay")) return undefined;
    }
    return true;
  }, 120_000, 500);
}

/**
 * A round of meshwrt on its direct path: waited for before (like with like: a relayed round
 * would say nothing of the packet path), and checked after, with what m1 logged if it moved.
 */
/** m2's public address, set once the topology is up. */
let m2Public = "";

/** m1's kernel endpoint for m2 ("none" without one): m2's public address when direct in the kernel. */
async function kernelEndpoint(m1: Host): Promise<string> {
  const out = await m1.run("wg show meshwrt0 endpoints");
  return out.trim().split(/\s+/)[1] ?? "none";
}

/** What the relay bridges of both agents counted so far (status --json relayBridge), each way: all packets or WireGuard data. */
async function bridgeCount(m: readonly Meshwrt[], what: "packets" | "data"): Promise<number> {
  let n = 0;
  for (const a of m) for (const f of Object.values(JSON.parse((await a.cli("status --json")).stdout).relayBridge ?? {}) as Record<typeof what, number>[]) n += f[what];
  return n;
}

/** Waits until m1's kernel endpoint for m2 is m2's address; throws after 60 s. */
const kernelAtM2 = (m1: Host) =>
  waitFor("m1's kernel endpoint for m2 at m2's address", async () => ((await kernelEndpoint(m1)).startsWith(`${m2Public}:`) ? true : undefined), 60_000, 1000);

/**
 * A round of meshwrt on its direct path. Like with like: the agent must say direct and the
 * kernel's endpoint for m2 must be m2's address (not the relay bridge's loopback port, where
 * WireGuard's roaming can leave it); waited for before, checked after. A round the kernel
 * carried elsewhere gets a row of its own, named by the endpoint, with what m1 logged.
 */
async function measureDirect(name: string, m: Meshwrt[], from: Host, to: Target, ip: string, m2ip: string, group?: Group): Promise<void> {
  await pathIs("direct", m[0]!, from, m2ip);
  const inKernel = await kernelAtM2(from).then(() => true, () => false);
  const before = await kernelEndpoint(from);
  const relayedBefore = await bridgeCount(m, "data");
  await measure(inKernel ? name : `${name} [kernel endpoint ${before}]`, from, to, ip, group, "meshwrt");
  // A direct round carries nothing over the relay: WireGuard data through the bridge means an end was not direct for a while.
  const relayed = (await bridgeCount(m, "data")) - relayedBefore;
  const key = `${name}: WireGuard data packets through the relay bridge in its rounds (both ends)`;
  facts[key] = Number(facts[key] ?? 0) + relayed;
  if (relayed) console.log(`${name}: ${relayed} WireGuard data packets went through the relay bridge in this round`);
  const after = await kernelEndpoint(from);
  if (!inKernel || !after.startsWith(`${m2Public}:`)) {
    const said = (await m[0]!.log()).split("\n").filter((l) => /path|disco|endpoint|roam/i.test(l)).slice(-12).join("\n");
    console.log(`${name}: m1's kernel endpoint for m2 was ${before} before the round and ${after} after (m2 is ${m2Public}); m1 said:\n${said}`);
    facts[`${name}: kernel endpoint before/after a round`] = `${before} / ${after}`;
  }
}

/** perf's sampling period, in ns of CPU time (perf record -c). */
const PERF_PERIOD_NS = 2_000_000;
/**
 * Fewer samples than this in a profiled round say perf did not record it whole: three quarters of
 * a round's two transfers and the 3 s around them (at 8 s each way, 9,500 samples; rounds kept
 * 9,260-9,640).
 */
const MIN_SAMPLES = Math.round(0.75 * (2 * SECONDS + 3) * (1e9 / PERF_PERIOD_NS));

/**
 * perf recording the whole VM around a round (profile.ts): where the CPU went, kept by the
 * round's name; a name profiled again gets the median of its rounds in the table.
 */
class Profiler {
  private readonly found = new Map<string, Profile[]>();
  private prepared = false;

  constructor(private readonly vm: Vm) {}

  private async run(cmd: string): Promise<string> {
    const r = await this.vm.exec(cmd, { timeoutMs: 300_000 });
    if (r.code !== 0) throw new Error(`bench: ${cmd.split(" ").slice(0, 3).join(" ")} in the VM failed (${r.code}): ${r.stderr.slice(-500)}`);
    return r.stdout;
  }

  async around<T>(name: string, round: () => Promise<T>): Promise<T> {
    if (!this.prepared) {
      // The kernel lowers perf's rate when its interrupts take long, as under emulation they do, and a
      // round then kept a single sample: no throttling (the profiled rounds are apart from the measured).
      await this.run("sysctl -qw kernel.perf_cpu_time_max_percent=0");
      mkdirSync("build/bench/perf", { recursive: true });
      this.prepared = true;
    }
    // A fixed period of CPU time (2 ms), not perf's -F: under emulation its period, tuned to the
    // frequency asked, drifted until a round kept one sample. perf's own reading of its buffers is
    // a process like iperf3's, and the VM's one CPU is busy throughout a round: at real-time
    // priority it is not starved, and it counts from when it says so (started disabled, enabled
    // through its control fifo, the round waits for its ack), not from a start still reading
    // every process's maps while the round runs.
    await this.run(
      "rm -f /tmp/bench-perf.ctl /tmp/bench-perf.ack && mkfifo /tmp/bench-perf.ctl /tmp/bench-perf.ack && " +
        `{ chrt -f 10 perf record -a -e cpu-clock -c ${PERF_PERIOD_NS} -m 1024 -D -1 --control fifo:/tmp/bench-perf.ctl,/tmp/bench-perf.ack ` +
        "-o /tmp/bench-perf.data >/tmp/bench-perf.log 2>&1 & echo $! > /tmp/bench-perf.pid; } && " +
        "exec 3<>/tmp/bench-perf.ctl 4<>/tmp/bench-perf.ack && echo enable >&3 && read -r -t 120 ack <&4 && [ \"$ack\" = ack ]",
    );
    const result = await round();
    const stopped = await this.run("pid=$(cat /tmp/bench-perf.pid); kill -INT $pid; while kill -0 $pid 2>/dev/null; do sleep 0.2; done; cat /tmp/bench-perf.log");
    const text = await this.run("perf report -i /tmp/bench-perf.data --stdio --no-children -g none -n --sort comm,sym -t '|' 2>/dev/null");
    const kept = this.found.get(name) ?? [];
    writeFileSync(`build/bench/perf/${name.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "")}-${kept.length}.txt`, text);
    const profile = parseProfile(text);
    if (profile.samples < MIN_SAMPLES) {
      const kernel = (await this.run("dmesg | grep -i perf | tail -2")).trim();
      console.log(`${name}: perf kept only ${profile.samples} samples (it said: ${stopped.trim().split("\n").pop()}; the kernel: ${kernel}); the round is not in the CPU table`);
    } else {
      console.log(`${name}, profiled: ${profile.samples} samples, ${PARTS.map((x) => `${x} ${profile.share[x].toFixed(1)}%`).join(", ")}`);
      this.found.set(name, [...kept, profile]);
    }
    return result;
  }

  /** Each name profiled whole at least once, with the median of its rounds. */
  profiles(): { name: string; rounds: number; profile: Profile }[] {
    return [...this.found].map(([name, ps]) => ({ name, rounds: ps.length, profile: medianProfile(ps) }));
  }
}

/** A path profiled: iperf3 from `from` to `ip` on `to`, after `before` (waits for the path), inside `within` (fw4's rules). */
interface Profiled {
  name: string;
  from: Host;
  to: Target;
  ip: string;
  before?: () => Promise<void>;
  within?: (round: () => Promise<void>) => Promise<void>;
}

/**
 * Where each direct path's CPU goes: a round of each, two cycles in turn (the second in
 * reverse), perf recording through both iperf3 transfers. Apart from the interleaved rounds,
 * whose throughput perf's sampling would lower.
 */
async function profilePaths(p: Profiler, paths: readonly Profiled[]): Promise<void> {
  await interleaved("perf", 2, paths.map((x) => async () => {
    await x.before?.();
    const round = async () => {
      const t = await p.around(x.name, () => iperf(x.from, x.to, x.ip));
      console.log(`${x.name}, profiled: ${t.up.toFixed(1)} / ${t.down.toFixed(1)} Mbit/s`);
    };
    await (x.within ? x.within(round) : round());
  }));
}

/**
 * The control plane's budgets (issue 18) in a VM of their own, on the emulated CPU's own speed
 * as they were set: a 1,000- and 5,000-peer netmap, and the steady state against the real kernel.
 */
async function inPlainVm(): Promise<void> {
  stage("1,000-peer netmap in a 1-vCPU VM");
  const vm = await Vm.boot({ cpus: 1, memoryMb: 1536 });
  try {
    const inVm = (c: string) => run((x) => vm.exec(x, { timeoutMs: 300_000 }), c, "the netmap VM");
    await netmapScale("1-vCPU VM", inVm);
    await steadyState("1-vCPU VM", inVm);
  } finally {
    await vm.shutdown();
  }
}

/**
 * The router's own CPU (mips.ts): meshwrt and tailscaled on an emulated MIPS router, direct and
 * relayed, against a phone on this host; (bm)/(cm) and (dm)/(em) pair their rounds by cycle.
 */
async function onMips(): Promise<void> {
  stage("a MIPS router (24Kc VM, instruction clock) and a phone");
  const group: Group = "a MIPS router (24Kc) and a phone";
  const label: Record<string, string> = {
    "meshwrt direct": "(bm) meshwrt direct",
    "tailscaled direct": "(cm) tailscaled direct (TUN)",
    "meshwrt relayed": "(dm) meshwrt relayed",
    "tailscaled relayed": "(em) tailscaled relayed",
  };
  // Three cycles at most: each tailscaled round there is a chance of a stalled attempt (mips.ts).
  const rounds = await mipsRounds({ cycles: Math.min(CYCLES, 3), seconds: SECONDS, log: stage });
  for (const r of rounds) {
    record(label[r.name]!, group, { upMbit: r.upMbit, downMbit: r.downMbit, rttMs: r.rttMs, cycle: `mips ${r.relayed ? "relayed" : "direct"} ${r.cycle}` });
  }
  // A round measures the router's cost only while its CPU is what holds the transfer back.
  facts["a MIPS router: its CPU busy in a round, the least (%)"] = Math.round(Math.min(...rounds.map((r) => r.busyPct)));
}

async function main(): Promise<void> {
  execFileSync("make", ["--no-print-directory", "build/out/meshwrt", "build/out/netmapscale", "build/out/wgcheck"], { stdio: "inherit" });
  if (want("netmap")) await netmapScale("x86 host", async (c) => execFileSync("sh", ["-c", c], { encoding: "utf8" }));
  if (want("targets")) {
    stage("cost per target, emulated");
    targets = await targetCosts({ peers: 1000, log: stage });
    console.log(costTable(targets.rows, targets.wireguardGoMs));
  }
  if (want("native")) {
    stage("start to first ping, natively");
    await nativeStartToPing();
  }
  if (want("targets")) {
    // The .ipk's installed size, as `make package` prints it (the LuCI package may not be there to build).
    const pkg = spawnSync("make", ["--no-print-directory", "package"], { encoding: "utf8" }).stdout;
    const installed = /meshwrt_\S+\.ipk: installed size ([\d,]+) bytes/.exec(pkg)?.[1];
    if (installed) facts["meshwrt .ipk installed size (bytes)"] = Number(installed.replace(/,/g, ""));
  }
  const bins = ensurePeers();
  facts["meshwrt binary (bytes)"] = statSync(MESHWRT).size;
  facts["tailscaled binary (bytes)"] = statSync(bins.tailscaled).size;
  if (want("netmap")) await inPlainVm();
  if (want("mips")) {
    // Said, and the rest measured: the x86 VM's rounds do not depend on it.
    await onMips().catch((e: Error) => {
      console.error(`bench: the MIPS router's rounds failed: ${e.message}`);
      facts["a MIPS router"] = `failed: ${e.message.split("\n")[0]}`;
      process.exitCode = 1;
    });
  }
  if (!want("a", "b", "c", "f", "r", "d", "mem", "perf")) return report();
  const vm = await Vm.boot({ cpus: 1, memoryMb: 1536, ...CLOCK });
  if (want("perf")) profiler = new Profiler(vm);
  const t = await topology({ hosts: ["control", "derp", "k1", "k2", "m1", "m2", "t1", "t2"] }, { exec: (c) => vm.exec(c, { timeoutMs: 120_000 }) });
  let failed: Error | undefined;
  try {
    await vm.exec("modprobe tun");
    const [k1, k2, m1h, m2h] = [t.host("k1"), t.host("k2"), t.host("m1"), t.host("m2")];
    m2Public = m2h.ip;
    const kernelPrinter = want("f", "r", "perf") ? await lanBehind(t, k2, "kp", 71) : undefined;
    const meshwrtPrinter = want("f", "perf") ? await lanBehind(t, m2h, "mp", 72) : undefined;
    const fwd = want("f") ? kernelPrinter : undefined;
    // (a) bare kernel WireGuard, configured with wg; k1 reaches k2's LAN through it.
    const keys = await Promise.all([k1, k2].map(async (h) => (await h.run("wg genkey")).trim()));
    const pubs = await Promise.all([k1, k2].map(async (h, i) => (await h.run(`echo ${keys[i]} | wg pubkey`)).trim()));
    for (const [i, h] of [k1, k2].entries()) {
      const peer = [k1, k2][1 - i]!;
      const lan = i === 0 ? ",192.168.71.0/24" : "";
      await h.run(`ip link add wg0 type wireguard && echo ${keys[i]} > /tmp/bench-k${i} && wg set wg0 private-key /tmp/bench-k${i} listen-port 51820 ` +
        `peer ${pubs[1 - i]} endpoint ${peer.ip}:51820 allowed-ips 10.77.0.${2 - i}/32${lan} && ip addr add 10.77.0.${i + 1}/32 dev wg0 && ip link set wg0 up mtu 1280 && ip route add 10.77.0.${2 - i}/32 dev wg0` +
        (lan ? " && ip route add 192.168.71.0/24 dev wg0" : ""));
    }
    const j = await servers(t, "bench", "1-vCPU VM", 200);
    const hs = j.hs;
    const meshwrtRounds = want("b", "f", "d", "mem", "perf");
    const tailscaledRounds = want("c", "d", "mem");

    // (b) meshwrt, both ends; m2 shares its LAN, m1 takes the route.
    let m: Meshwrt[] = [];
    let m2ip = "";
    // m1's peak RSS (VmHWM) as it stood after each stage: the stage that raised it is the one to look at.
    const peaks: string[] = [];
    const peakAfter = async (what: string) => {
      if (!m.length) return;
      peaks.push(`${what} ${(await proc(m1h, "meshwrt")).peakKb}`);
      facts["meshwrt: peak RSS after each stage (kB)"] = peaks.join("; ");
    };
    if (meshwrtRounds) {
      stage("(b) meshwrt");
      ({ m, ip: m2ip } = await joinMeshwrt(j, { extra: ["\toption accept_routes '1'\n", "\tlist lan_device 'lan0'\n"] }));
      facts["meshwrt: RSS joined (kB)"] = (await proc(m1h, "meshwrt")).rssKb;
      await peakAfter("joined");
    }
    if (meshwrtPrinter) {
      const node = await waitFor("m2 advertising its LAN", async () => {
        const n = await hs.node("m2").catch(() => undefined);
        return ((n?.available_routes as string[] | undefined) ?? []).includes("192.168.72.0/24") ? n : undefined;
      }, 60_000, 500);
      await hs.approveRoutes(node, ["192.168.72.0/24"]);
      await firstPing("m1 pinging m2's printer", m1h, MESHWRT_PRINTER);
    }

    // (c) tailscaled with TUN, both ends.
    let ts: Tailscaled[] = [];
    let t2ip = "";
    const tailscaledRound = () => measure("(c) tailscaled direct (TUN)", t.host("t1"), t.host("t2"), t2ip, "to the router", "tailscaled");
    if (tailscaledRounds) {
      stage("(c) tailscaled");
      ({ ts, ip: t2ip } = await joinTailscaled(j));
      facts["tailscaled: RSS joined (kB)"] = (await proc(t.host("t1"), "tailscaled")).rssKb;
      await ts[0]!.ping(t2ip, { count: 10, untilDirect: true });
      if (want("c")) await tailscaledRound();
    }

    // Every agent is running now, the same for each side: the direct paths in turn.
    // Kernel rounds also count meshwrt's CPU meanwhile: what the agents cost without traffic.
    const idle = m.length ? "meshwrt" : undefined;
    const forwarded: Group = "forwarded to a LAN host";
    const kernelTo = () => measure("(a) kernel WireGuard (wg)", k1, k2, "10.77.0.2", "to the router", idle);
    const kernelFwd = () => measure("(af) kernel WireGuard", k1, fwd!, KERNEL_PRINTER, forwarded, idle);
    const sides: (() => Promise<void>)[] = [];
    if (want("a")) sides.push(kernelTo, () => underFw4([k1, k2], () => measure("(a') kernel WireGuard, fw4's conntrack", k1, k2, "10.77.0.2", "to the router", idle)));
    if (want("b")) sides.push(() => measureDirect("(b) meshwrt direct", m, m1h, m2h, m2ip, m2ip));
    if (fwd) sides.push(kernelFwd, () => underFw4([k1, k2], () => measure("(af') kernel WireGuard, fw4's conntrack", k1, fwd, KERNEL_PRINTER, forwarded, idle)));
    if (meshwrtPrinter && want("f")) sides.push(() => measureDirect("(bf) meshwrt direct", m, m1h, meshwrtPrinter, MESHWRT_PRINTER, m2ip, forwarded));
    if (sides.length) {
      stage(`(a), (a'), (b) and forwarded, interleaved`);
      await interleaved("direct", CYCLES, sides);
      await peakAfter("direct rounds");
    }
    if (want("c")) await tailscaledRound();
    // A profiled meshwrt round waits for what measureDirect waits for.
    const direct = async () => {
      await pathIs("direct", m[0]!, m1h, m2ip);
      await kernelAtM2(m1h);
    };
    if (profiler && kernelPrinter && meshwrtPrinter) {
      // Still direct, before flow_offloading: the same paths as the interleaved rounds, profiled.
      stage("where the CPU goes: perf in the VM");
      await profilePaths(profiler, [
        { name: "(a) kernel WireGuard (wg)", from: k1, to: k2, ip: "10.77.0.2" },
        { name: "(a') kernel WireGuard, fw4's conntrack", from: k1, to: k2, ip: "10.77.0.2", within: (round) => underFw4([k1, k2], round) },
        { name: "(b) meshwrt direct", from: m1h, to: m2h, ip: m2ip, before: direct },
        { name: "(af) kernel WireGuard, to a LAN host", from: k1, to: kernelPrinter, ip: KERNEL_PRINTER },
        { name: "(bf) meshwrt direct, to a LAN host", from: m1h, to: meshwrtPrinter, ip: MESHWRT_PRINTER, before: direct },
      ]);
      await peakAfter("perf, direct");
    }
    if (meshwrtPrinter && fwd) {
      // flow_offloading on m2 (where the flows are forwarded): the agent restarts to apply it.
      stage("(bo) meshwrt forwarded, flow_offloading on");
      const set = await m[1]!.cli("set flow_offloading 1");
      if (set.code !== 0) throw new Error(`meshwrt set flow_offloading 1: ${set.stderr || set.stdout}`);
      await waitFor("m2's flowtable", async () => ((await m2h.exec("nft list flowtables")).stdout.includes("flowtable ft") ? true : undefined), 60_000, 500);
      await pathIs("direct", m[0]!, m1h, m2ip);
      await firstPing("m1 pinging m2's printer", m1h, MESHWRT_PRINTER);
      await interleaved("offload", CYCLES, [kernelFwd, () => measureDirect("(bo) meshwrt direct, flow_offloading", m, m1h, meshwrtPrinter, MESHWRT_PRINTER, m2ip, forwarded)]);
      if (profiler) {
        // What the flowtable saves: its flows skip every chain and conntrack after their first packets.
        await profilePaths(profiler, [
          { name: "(af) kernel WireGuard, to a LAN host", from: k1, to: fwd, ip: KERNEL_PRINTER },
          { name: "(bo) meshwrt direct, to a LAN host, flow_offloading", from: m1h, to: meshwrtPrinter, ip: MESHWRT_PRINTER, before: direct },
        ]);
      }
      await peakAfter("flow_offloading");
    }
    if (want("r") && kernelPrinter) {
      stage("(r) meshwrt's rules on the kernel pair");
      await measureRules(k1, k2, kernelPrinter);
    }

    let offline: HeadscaleUser | undefined;
    if (want("mem")) {
      stage("10 peers");
      // 10 peers: m1 sees m2, t1, t2 and seven nodes that never connect.
      offline = await hs.createUser("offline");
      await hs.addOfflineNodes(offline, "off", 1, 7);
      await peersUntil(10, m[0]!, ts[0]!);
      facts["meshwrt: RSS with 10 peers (kB)"] = (await proc(m1h, "meshwrt")).rssKb;
      facts["tailscaled: RSS with 10 peers (kB)"] = (await proc(t.host("t1"), "tailscaled")).rssKb;

      // After traffic both agents still treat the peer that carried it as active for 45 s
      // (tailscale's sessionActiveTimeout, wg/activity.ts's ACTIVE_MS): heartbeats, reads every
      // second. That wind-down is its own figure, after the same 2 s of pings on both pairs at
      // once; idle is the minute after it. Measured as one, the idle figure was set by how long
      // ago each side's last round had ended.
      const cpuOver = async (what: string, ms: number) => {
        const [mi, ti] = [await proc(m1h, "meshwrt"), await proc(t.host("t1"), "tailscaled")];
        await new Promise((r) => setTimeout(r, ms));
        const [mo, to] = [await proc(m1h, "meshwrt"), await proc(t.host("t1"), "tailscaled")];
        facts[`meshwrt: CPU in ${what} (s)`] = Number((mo.cpuS - mi.cpuS).toFixed(3));
        facts[`tailscaled: CPU in ${what} (s)`] = Number((to.cpuS - ti.cpuS).toFixed(3));
      };
      stage("the 45 s after traffic");
      await Promise.all([m1h.exec(`ping -c 10 -i 0.2 ${m2ip}`), t.host("t1").exec(`ping -c 10 -i 0.2 ${t2ip}`)]);
      await cpuOver("the 45 s after traffic", ACTIVE_MS);
      stage("60 s idle");
      await cpuOver("60 s idle", 60_000);
      await peakAfter("10 peers, idle");
    }

    if (want("d")) {
      stage("(d), (e) relayed");
      // (d), (e): the same pairs with UDP between them blocked: through derper.
      await t.internet.blockUdp(m1h.ip, m2h.ip);
      await t.internet.blockUdp(t.host("t1").ip, t.host("t2").ip);
      await bothRelayed(m, m1h, m2ip);
      await waitFor("t1-t2 relayed", async () => (((await ts[0]!.ping(t2ip, { count: 1, untilDirect: false })).pongs[0]?.via ?? "").startsWith("DERP") ? true : undefined), 60_000, 500);
      // Packets through the relay bridge, both agents' counters (status --json relayBridge): each packet is counted at both ends.
      const bridged = () => bridgeCount(m, "packets");
      const pps: number[] = [];
      // Two cycles, (d) (e) then (e) (d): d/e is the median of the pairs, not one round each.
      await interleaved("relayed", Math.min(CYCLES, 2), [
        async () => {
          const [before, at] = [await bridged(), Date.now()];
          await measure("(d) meshwrt relayed", m1h, m2h, m2ip, "relayed");
          pps.push((await bridged() - before) / 2 / ((Date.now() - at) / 1000));
        },
        () => measure("(e) tailscaled relayed", t.host("t1"), t.host("t2"), t2ip, "relayed"),
      ]);
      facts["meshwrt: packets/s through the relay bridge in a (d) round (median)"] = Math.round(median(pps));
      await peakAfter("relayed rounds");
      if (profiler) {
        // Where a relayed byte's CPU goes: the agents at both ends (their TLS, the bridge, and for
        // tailscaled its WireGuard), the DERP server between them, and the kernel's WireGuard.
        stage("where the CPU goes, relayed: perf in the VM");
        await profilePaths(profiler, [
          { name: "(d) meshwrt relayed", from: m1h, to: m2h, ip: m2ip, before: () => bothRelayed(m, m1h, m2ip) },
          { name: "(e) tailscaled relayed", from: t.host("t1"), to: t.host("t2"), ip: t2ip },
        ]);
        await peakAfter("perf, relayed");
      }
    }

    if (offline) {
      stage("200 peers");
      // 200 peers: 190 more registered nodes, ten at a time: Headscale slows as its nodes grow
      // (38 took 100 s past 120 nodes), and one VM command may take 120 s.
      for (let i = 8; i <= 197; i += 10) {
        await hs.addOfflineNodes(offline, "off", i, Math.min(i + 9, 197));
        stage(`${Math.min(i + 9, 197) + 3} nodes registered`);
      }
      await peersUntil(200, m[0]!, ts[0]!);
      for (const [name, h, comm] of [["meshwrt", "m1", "meshwrt"], ["tailscaled", "t1", "tailscaled"]] as const) {
        const p = await proc(t.host(h), comm);
        facts[`${name}: RSS with 200 peers (kB)`] = p.rssKb;
        facts[`${name}: peak RSS (kB)`] = p.peakKb;
      }
      await peakAfter("200 peers");
    }
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

/**
 * Throughput of row x over row y, (up + down) over (up + down): the median of the ratios of
 * their rounds cycle by cycle, with the range and the number of cycles; the ratio of their
 * medians where they share no cycle; "n/a" when a side was not measured.
 */
function ratioOf(x: Path | undefined, y: Path | undefined): string {
  if (!x || !y) return "n/a";
  const paired = x.samples.flatMap((s) => {
    const t = s.cycle === undefined ? undefined : y.samples.find((u) => u.cycle === s.cycle);
    return t ? [total(s) / total(t)] : [];
  });
  if (!paired.length) return (median(x.samples.map(total)) / median(y.samples.map(total))).toFixed(2);
  if (paired.length === 1) return paired[0]!.toFixed(2);
  return `${median(paired).toFixed(2)} (${Math.min(...paired).toFixed(2)}-${Math.max(...paired).toFixed(2)}, ${paired.length} cycles)`;
}

/** The ratios the issue's goals are read from, and each rules variant over the bare pair in the same cycles. */
function ratios(): Record<string, string> {
  const by = (p: string) => rows.find((r) => r.name.startsWith(p));
  const out: Record<string, string> = {};
  const pairs: [string, string][] = [["b", "a"], ["b", "a'"], ["bf", "af"], ["bf", "af'"], ["bo", "af"], ["b", "c"], ["d", "e"], ["bm", "cm"], ["dm", "em"]];
  for (const [x, y] of pairs) out[`${x}/${y}`] = ratioOf(by(`(${x})`), by(`(${y})`));
  for (const r of rows.filter((x) => x.name.startsWith("(r) ") && !x.name.startsWith("(r) no tables"))) {
    const to = r.name.slice(r.name.lastIndexOf(", to ") + 2);
    const bare = rows.find((x) => x.name.startsWith("(r) no tables") && x.name.endsWith(to));
    out[`${r.name.slice(4)} / bare`] = ratioOf(r, bare);
  }
  return out;
}

/** The agents' CPU in a round of each path where it was counted (the median of its rounds). */
function agentCpu(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of rows) {
    const cpu = r.samples.flatMap((s) => (s.agentCpuS === undefined ? [] : [s.agentCpuS]));
    if (r.agent && cpu.length) out[`${r.agent}: CPU of both ends in a ${/^\([^)]*\)/.exec(r.name)?.[0] ?? r.name} round (s, median)`] = median(cpu).toFixed(2);
  }
  return out;
}

function report(): void {
  const profiles = profiler?.profiles() ?? [];
  facts["host load average at the end (1, 5, 15 min)"] = load();
  const r = ratios();
  const cpu = agentCpu();
  const groups = [...new Set(rows.map((x) => x.group))];
  const lines = [
    "path (the median of its rounds; spread: half their range)                up Mbit/s  down Mbit/s  rtt ms  rounds  spread",
    ...groups.flatMap((g) => [
      `${g}:`,
      ...rows.filter((x) => x.group === g).map((x) =>
        `  ${x.name.padEnd(70)}${x.upMbit.toFixed(1).padStart(9)}  ${x.downMbit.toFixed(1).padStart(11)}  ${x.rttMs.toFixed(2).padStart(6)}  ${String(x.rounds).padStart(6)}  ${`±${x.spreadPct.toFixed(0)}%`.padStart(6)}`),
    ]),
    "",
    "ratios (paired cycle by cycle: median (range, cycles)):",
    ...Object.entries(r).map(([k, v]) => `  ${k.padEnd(68)} ${v}`),
    "",
    ...Object.entries({ ...facts, ...cpu }).map(([k, v]) => `${k.padEnd(52)} ${v}`),
    ...(profiles.length ? ["", "where the CPU goes (% of perf's samples in the 1-vCPU VM, through the round):", profileTable(profiles)] : []),
    ...(targets ? ["", costTable(targets.rows, targets.wireguardGoMs)] : []),
  ];
  console.log(`\n${lines.join("\n")}`);
  mkdirSync("build/bench", { recursive: true });
  writeFileSync("build/bench/bench.json", JSON.stringify({ at: new Date().toISOString(), rounds: [...ROUNDS], cycles: CYCLES, seconds: SECONDS, paths: rows, ratios: r, facts: { ...facts, ...cpu }, profiles, targets }, null, 2));
  if (rows.length) {
    mkdirSync("test/out", { recursive: true });
    writeFileSync(
      "test/out/bench.png",
      barChart({
        title: "MESHWRT BENCH: MBIT/S, UP AND DOWN, 1-VCPU VM",
        groups: groups.map((g) => ({ name: g, bars: rows.filter((x) => x.group === g).map((x) => ({ label: x.name, values: [x.upMbit, x.downMbit] })) })),
        series: ["up", "down"],
      }),
    );
    console.log("plot: test/out/bench.png");
  }
}

main().catch((e: Error) => {
  console.error(`bench: ${e.stack ?? e.message}`);
  process.exit(1);
});
