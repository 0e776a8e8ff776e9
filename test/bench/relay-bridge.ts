// The relayed rounds of `make bench` alone, (d) meshwrt and (e) tailscaled,
// by the same procedure (one-vCPU VM, derper, iperf3 TCP 10 s each way with
// UDP between the pair blocked), plus the packets per second through
// meshwrt's relay bridge, read from its own counters (status --json
// relayBridge) on both ends over the (d) round.
//
//   npx vite-node test/bench/relay-bridge.ts [--rounds N] [--meshwrt-only] [--profile] [--direct-first] [--lan]
//
// --direct-first: as bench.ts does, the pairs start with UDP open, go
// direct, and only then lose it (a home whose direct path dies); the round
// starts once both ends of the pair say relay. Without it UDP is blocked
// from the start.
//
// --lan: as in bench.ts, m2 shares a LAN (192.168.72.0/24 on lan0) and m1
// accepts the route: m2's LAN address is one of its endpoints, reachable
// only through the tunnel itself.
//
// Each round prints where the VM's one CPU went meanwhile (/proc: idle, and
// CPU time by command). --profile: one more 10 s upload with `strace -c -f`
// on m1's agent (the syscalls per relayed packet) and the drop counters of
// the agents, the namespaces' UDP and TCP, and derper.
//
// Each round also says megabits carried per CPU second qemu used (host side),
// and the result d/e per qemu CPU s: other work on this host takes CPU from
// qemu and so wall-clock throughput, while what a packet costs stays what it
// is; two builds run side by side compare by it.
//
// MESHWRT_BIN (test/support/meshwrt.ts) runs another build, so a before and
// an after can be measured with the same procedure. Writes
// build/bench/relay-bridge.json.
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { waitFor } from "../net/exec.js";
import { type Host, topology } from "../net/topology.js";
import { ensurePeers } from "../peers/bins.js";
import { startDerper, startHeadscale, startTailscaled, type Tailscaled } from "../peers/index.js";
import { type Meshwrt, MESHWRT, startMeshwrt } from "../support/meshwrt.js";
import { Vm } from "../vm/vm.js";

interface BridgeCounters {
  readonly toKernel: { packets: number; bytes: number };
  readonly fromKernel: { packets: number; bytes: number };
}

const args = process.argv.slice(2);
const ROUNDS = Number(args[args.indexOf("--rounds") + 1] || 1) || 1;
const MESHWRT_ONLY = args.includes("--meshwrt-only");
const PROFILE = args.includes("--profile");
const DIRECT_FIRST = args.includes("--direct-first");
const LAN = args.includes("--lan");

/**
 * qemu's CPU seconds so far (user + system, host side). Megabits per qemu CPU second is what a
 * path costs apart from what else loads this host: other helpers' work takes CPU from qemu, and
 * so wall-clock throughput, while each packet's CPU stays what it is.
 */
function qemuCpu(share: string): () => number {
  const pid = readdirSync("/proc").find((d) => {
    try {
      return /^\d+$/.test(d) && readFileSync(`/proc/${d}/comm`, "utf8").startsWith("qemu") && readFileSync(`/proc/${d}/cmdline`, "utf8").includes(share);
    } catch {
      return false;
    }
  });
  if (!pid) throw new Error(`relay-bridge: no qemu process with ${share} on its command line`);
  return () => {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  };
}
let qemuCpuS = () => 0;
const load = () => loadavg().map((x) => x.toFixed(1)).join(", ");

/** Mbit/s up and down, and megabits carried per qemu CPU second over both. */
async function iperf(from: Host, to: Host, ip: string): Promise<[number, number, number]> {
  const out: number[] = [];
  let [mbit, cpuS] = [0, 0];
  for (const reverse of ["", "-R"]) {
    await to.run(`iperf3 -s -1 -D -B ${ip}`);
    await new Promise((r) => setTimeout(r, 500));
    const cpu = qemuCpuS();
    const r = JSON.parse(await from.run(`iperf3 -c ${ip} -t 10 -J ${reverse}`));
    cpuS += qemuCpuS() - cpu;
    mbit += (r.end.sum_received.bytes * 8) / 1e6;
    out.push(r.end.sum_received.bits_per_second / 1e6);
  }
  return [out[0]!, out[1]!, mbit / cpuS];
}

/** The bridge's packets both ways, summed over both agents; undefined on a build without the counters. */
async function bridgePackets(m: Meshwrt[]): Promise<number | undefined> {
  let sum = 0;
  for (const a of m) {
    const c = (JSON.parse((await a.cli("status --json")).stdout) as { relayBridge?: BridgeCounters }).relayBridge;
    if (!c) return undefined;
    sum += c.toKernel.packets + c.fromKernel.packets;
  }
  return sum;
}

/**
 * CPU ticks by command name, and the whole VM's busy and idle ticks, from /proc; a command's
 * system ticks (its syscalls and the kernel's network work done in them) apart as "COMM (sys)".
 */
async function cpuSnapshot(h: Host): Promise<{ byComm: Map<string, number>; busy: number; idle: number }> {
  const out = await h.run(
    `head -n 1 /proc/stat; for f in /proc/[0-9]*/stat; do cat $f 2>/dev/null; echo; done | awk 'NF { match($0, /\\(.*\\)/); c = substr($0, RSTART + 1, RLENGTH - 2); split(substr($0, RSTART + RLENGTH + 1), a, " "); t[c] += a[12] + a[13]; k[c] += a[13] } END { for (c in t) { print "P", t[c], c; print "P", k[c], c " (sys)" } }'`,
  );
  const lines = out.trim().split("\n");
  const cpu = lines[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = cpu[3]! + cpu[4]!;
  const busy = cpu.slice(0, 8).reduce((a, b) => a + b, 0) - idle;
  const byComm = new Map<string, number>();
  for (const l of lines.slice(1)) {
    const m = /^P (\d+) (.*)$/.exec(l);
    if (m) byComm.set(m[2]!.replace(/\/\d+$/, "/N"), (byComm.get(m[2]!.replace(/\/\d+$/, "/N")) ?? 0) + Number(m[1]));
  }
  return { byComm, busy, idle };
}

function cpuReport(a: Awaited<ReturnType<typeof cpuSnapshot>>, b: Awaited<ReturnType<typeof cpuSnapshot>>): string {
  const total = b.busy - a.busy + (b.idle - a.idle);
  const rows = [...b.byComm].map(([c, v]) => [c, v - (a.byComm.get(c) ?? 0)] as const).filter(([, v]) => v > 0).sort((x, y) => y[1] - x[1]).slice(0, 12);
  return `VM CPU busy ${Math.round((100 * (b.busy - a.busy)) / total)}%; by command: ${rows.map(([c, v]) => `${c} ${Math.round((100 * v) / total)}%`).join(", ")}`;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function main(): Promise<void> {
  if (!process.env.MESHWRT_BIN) execFileSync("make", ["--no-print-directory", "build/out/meshwrt"], { stdio: "inherit" });
  console.log(`meshwrt: ${MESHWRT}`);
  ensurePeers();
  const vm = await Vm.boot({ cpus: 1, memoryMb: 1536 });
  qemuCpuS = qemuCpu(vm.share);
  const t = await topology({ hosts: ["control", "derp", "m1", "m2", "t1", "t2"] }, { exec: (c) => vm.exec(c, { timeoutMs: 120_000 }) });
  const result: Record<string, unknown> = { at: new Date().toISOString(), meshwrt: MESHWRT, rounds: ROUNDS };
  try {
    await vm.exec("modprobe tun");
    const derp = await startDerper(t.host("derp"), { dir: `${t.dir}/derper` });
    const hs = await startHeadscale(t.host("control"), { dir: `${t.dir}/headscale`, derpMapYaml: derp.derpMapYaml() });
    const authKey = await hs.preAuthKey(await hs.createUser("bench"), { reusable: true });
    // UDP between each pair blocked: relayed by derper, as in bench.ts's (d) and (e); from the start, or once direct.
    const block = async () => {
      await t.internet.blockUdp(t.host("m1").ip, t.host("m2").ip);
      await t.internet.blockUdp(t.host("t1").ip, t.host("t2").ip);
    };
    if (!DIRECT_FIRST) await block();

    const m: Meshwrt[] = [];
    if (LAN) await t.host("m2").run("ip link add lan0 type dummy && ip addr add 192.168.72.1/24 dev lan0 && ip link set lan0 up");
    const extra = LAN ? "\toption accept_routes '1'\n\tlist lan_device 'lan0'\n" : "";
    for (const name of ["m1", "m2"]) m.push(await startMeshwrt(t.host(name), { dir: `${t.dir}/${name}`, loginServer: hs.url, authKey, hostname: name, caFile: derp.certFile, extra }));
    const m2ip = await waitFor("m2's address", async () => (JSON.parse((await m[1]!.cli("status --json")).stdout).addresses as string[])[0], 60_000, 200);
    if (LAN) {
      const node = await waitFor("m2 advertising its LAN", async () => {
        const n = await hs.node("m2").catch(() => undefined);
        return ((n?.available_routes as string[] | undefined) ?? []).includes("192.168.72.0/24") ? n : undefined;
      }, 60_000, 500);
      await hs.approveRoutes(node, ["192.168.72.0/24"]);
      await waitFor("m1 routing m2's LAN", async () => ((await t.host("m1").exec("ip route get 192.168.72.1")).stdout.includes("meshwrt0") ? true : undefined), 60_000, 500);
    }
    /** Each end's path to the other, m1's view first. */
    const paths = async () => {
      const out: string[] = [];
      for (const [i, a] of m.entries()) out.push((JSON.parse((await a.cli("peers --json")).stdout).peers as { name: string; path: string }[]).find((x) => x.name === `m${2 - i}`)?.path ?? "none");
      return out;
    };
    const both = (kind: string) => async () => {
      await t.host("m1").exec(`ping -c 2 -i 0.2 -W 1 ${m2ip}`);
      return (await paths()).every((p) => p.startsWith(kind)) && (await t.host("m1").exec(`ping -c 1 -W 2 ${m2ip}`)).code === 0 ? true : undefined;
    };
    if (DIRECT_FIRST) {
      await waitFor("m1-m2 direct, both ends", both("direct"), 120_000, 500);
      await block();
      const blockedAt = Date.now();
      // An end stuck direct is said, with its kernel endpoint, and measured as it is: that is what a user would get.
      const ok = await waitFor("m1-m2 relayed, both ends", both("relay"), 60_000, 500).catch(() => false);
      const eps = [];
      for (const h of ["m1", "m2"]) eps.push(`${h}: ${(await t.host(h).run("wg show meshwrt0 endpoints")).trim()}`);
      console.log(`${ok ? "both ends on the relay" : "NOT both on the relay"} ${((Date.now() - blockedAt) / 1000).toFixed(1)} s after UDP was blocked; paths m1->m2, m2->m1: ${(await paths()).join(", ")}; kernel endpoints ${eps.join("; ")}`);
    } else await waitFor("m1-m2 relayed, both ends", both("relay"), 120_000, 500);
    const d: [number, number, number][] = [];
    const pps: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const before = await bridgePackets(m);
      const started = Date.now();
      const cpu0 = await cpuSnapshot(t.host("m1"));
      d.push(await iperf(t.host("m1"), t.host("m2"), m2ip));
      console.log(cpuReport(cpu0, await cpuSnapshot(t.host("m1"))));
      const after = await bridgePackets(m);
      const secs = (Date.now() - started) / 1000;
      // Both agents' bridges each count a packet once per direction: a packet through the relay is two counts (one per end).
      if (before !== undefined && after !== undefined) pps.push((after - before) / 2 / secs);
      console.log(`(d) meshwrt relayed: ${d.at(-1)![0].toFixed(2)} / ${d.at(-1)![1].toFixed(2)} Mbit/s, ${d.at(-1)![2].toFixed(2)} Mbit per qemu CPU s, host load ${load()}${pps.length ? `, ${Math.round(pps.at(-1)!)} packets/s through the relay (bridge counters, both ends, over ${secs.toFixed(1)} s incl. iperf3 start-up)` : ""}`);
    }
    if (DIRECT_FIRST) console.log(`after the rounds: paths m1->m2, m2->m1: ${(await paths()).join(", ")}`);
    if (PROFILE) {
      const m1 = t.host("m1");
      await t.host("m2").run(`iperf3 -s -1 -D -B ${m2ip}`);
      await new Promise((r) => setTimeout(r, 500));
      const pid = (await m1.run(`pgrep -f "run --config ${t.dir}/m1/meshwrt.uci"`)).trim().split("\n")[0];
      const before = await bridgePackets(m);
      const client = m1.run(`iperf3 -c ${m2ip} -t 10`);
      await new Promise((r) => setTimeout(r, 1000));
      // strace alongside the ping, well inside the upload (it once began as the upload ended: 68 syscalls in 6 s).
      const tracing = m1.run(`timeout -s INT 6 strace -c -f -p ${pid} 2>&1 | head -n 25 || true`);
      console.log(`ping through the relay under load: ${(await m1.exec(`ping -c 10 -i 0.2 ${m2ip} | tail -n 2`)).stdout}`);
      const strace = await tracing;
      await client;
      const after = await bridgePackets(m);
      // Where packets were lost, if they were: the agents' own drops, UDP receive buffers, derper's TCP.
      for (const [i, a] of m.entries()) {
        const st = JSON.parse((await a.cli("status --json")).stdout) as { relayDrops: unknown; relayBridge?: { toKernel: { dropped?: number }; fromKernel: { dropped?: number } } };
        console.log(`m${i + 1} relayDrops ${JSON.stringify(st.relayDrops)}, bridge drops to the kernel ${st.relayBridge?.toKernel.dropped ?? "-"}, at its full sockets ${st.relayBridge?.fromKernel.dropped ?? "-"}`);
      }
      for (const h of ["m1", "m2"]) console.log(`${h}: ${(await t.host(h).exec("nstat -az UdpRcvbufErrors UdpSndbufErrors UdpInErrors TcpRetransSegs 2>&1 | tail -n 4 | tr -s ' ' | tr '\\n' ';'")).stdout}\n${(await t.host(h).exec(`ss -tin 'dport = :443' 2>&1 | tail -n 2`)).stdout}`);
      console.log(`derper drops: ${(await t.host("derp").exec("curl -sk https://127.0.0.1/debug/varz | grep -E '^derp_(packets_dropped|packets_dropped_reason|queue)' | grep -v ' 0$'")).stdout}`);
      console.log(`derp: ${(await t.host("derp").exec("nstat -az TcpRetransSegs TcpExtTCPLostRetransmit 2>&1 | tail -n 2 | tr -s ' ' | tr '\\n' ';'")).stdout}`);
      console.log(`m1's agent syscalls over 6 s (strace -c -f):\n${strace}`);
      if (before !== undefined && after !== undefined) console.log(`bridge packets both ends over the upload: ${after - before}`);
    }
    result.d = { upMbit: mean(d.map((x) => x[0])), downMbit: mean(d.map((x) => x[1])), mbitPerQemuCpuS: mean(d.map((x) => x[2])) };
    if (pps.length) result.bridgePacketsPerSecond = Math.round(mean(pps));
    // What the agents said about their relays meanwhile: a reconnect costs a round its throughput.
    for (const [i, a] of m.entries()) console.log(`m${i + 1} log:\n${(await a.log()).split("\n").filter((l) => /derp|relay|warn|error/.test(l)).slice(-12).join("\n")}`);
    for (const a of m) await a.proc.stop();

    if (!MESHWRT_ONLY) {
      const ts: Tailscaled[] = [];
      for (const name of ["t1", "t2"]) {
        const x = await startTailscaled(t.host(name), { dir: `${t.dir}/${name}`, tun: "tailscale0" });
        await x.up({ loginServer: hs.url, authKey, hostname: name, timeoutSec: 90 });
        ts.push(x);
      }
      const t2ip = (await ts[1]!.status()).Self.TailscaleIPs!.find((a) => a.startsWith("100."))!;
      await waitFor("t1-t2 relayed", async () => (((await ts[0]!.ping(t2ip, { count: 1, untilDirect: false })).pongs[0]?.via ?? "").startsWith("DERP") ? true : undefined), 120_000, 500);
      const e: [number, number, number][] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const cpu0 = await cpuSnapshot(t.host("t1"));
        e.push(await iperf(t.host("t1"), t.host("t2"), t2ip));
        console.log(cpuReport(cpu0, await cpuSnapshot(t.host("t1"))));
        console.log(`(e) tailscaled relayed: ${e.at(-1)![0].toFixed(2)} / ${e.at(-1)![1].toFixed(2)} Mbit/s, ${e.at(-1)![2].toFixed(2)} Mbit per qemu CPU s, host load ${load()}`);
      }
      result.e = { upMbit: mean(e.map((x) => x[0])), downMbit: mean(e.map((x) => x[1])), mbitPerQemuCpuS: mean(e.map((x) => x[2])) };
      type Round = { upMbit: number; downMbit: number; mbitPerQemuCpuS: number };
      const dd = result.d as Round, ee = result.e as Round;
      result["d/e"] = Number(((dd.upMbit + dd.downMbit) / (ee.upMbit + ee.downMbit)).toFixed(2));
      // The same ratio per qemu CPU second: what each costs, whatever else ran on the host meanwhile.
      result["d/e per qemu CPU s"] = Number((dd.mbitPerQemuCpuS / ee.mbitPerQemuCpuS).toFixed(2));
    }
  } finally {
    console.log(JSON.stringify(result, null, 2));
    mkdirSync("build/bench", { recursive: true });
    writeFileSync("build/bench/relay-bridge.json", JSON.stringify(result, null, 2));
    await t.destroy().catch((e: Error) => console.error(`relay-bridge: teardown: ${e.message}`));
    await vm.shutdown().catch((e: Error) => console.error(`relay-bridge: VM shutdown: ${e.message}`));
  }
}

main().catch((e: Error) => {
  console.error(`relay-bridge: ${e.stack ?? e.message}`);
  process.exit(1);
});
