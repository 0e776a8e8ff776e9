// The agent's cost on each router CPU that `make cross` builds for, run
// under qemu-user on this x86_64 host (x86_64 itself natively, for
// reference). Emulated times say how the CPUs compare running the same
// code under TCG, not what a router's own CPU takes; the table says so.
//
// Measured per target:
// - the control plane's cost of a 1,000-peer netmap and then a 1-peer delta
//   (build/out/<t>/netmapscale: decoding, the netmap, the reconciler's plan,
//   the netlink messages, hosts file and nftables script; the kernel's apply
//   is not run and not counted: qemu-user does not translate generic netlink
//   and this host's kernel has no WireGuard);
// - `meshwrt run` from exec to the supervisor's "state: connecting" log line,
//   in a network namespace made here, with its login server a closed port on
//   the namespace's loopback. Without kernel WireGuard the agent starts
//   wireguard-go, which runs natively (an emulated process exec'ing an x86
//   program gets the host's CPU), as does the `nft` it runs; wireguard-go's own
//   start is timed alone, natively, so it can be told apart;
// - peak RSS: under qemu-user /proc/PID/status is the qemu process's, guest and
//   emulator together (qemu does not fake it for the guest), so each figure is
//   shown with what it adds over the same runtime idle: netmapscale's VmHWM read
//   by itself at its start, before any work.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";

/** The OpenWrt targets and the qemu-user binary that runs each (none: this machine's CPU). */
export const TARGETS: readonly (readonly [string, string | undefined])[] = [
  ["x86_64", undefined],
  ["aarch64_cortex-a53", "qemu-aarch64-static"],
  ["arm_cortex-a7_neon-vfpv4", "qemu-arm-static"],
  ["mipsel_24kc", "qemu-mipsel-static"],
  ["mips_24kc", "qemu-mips-static"],
];

export const EMULATED = "emulated (qemu-user on x86_64)";

export interface NetmapCost {
  peers: number;
  /** VmHWM (kB) as netmapscale started, before any work: the runtime idle (with qemu, under emulation). */
  idleKb: number;
  /** Medians of three runs. */
  fullMs: number;
  deltaMs: number;
  /** VmHWM (kB) after both steps, of the first run. */
  peakKb: number;
}

export interface StartCost {
  /** Exec to "state: connecting", state directory empty (keys made on the way). */
  firstMs: number;
  /** The same with the keys kept from the first start, as after a reboot: the median of three. */
  restartMs: number;
  /** VmHWM (kB) of the process at "connecting", the most of the restarts. */
  rssKb: number;
}

export interface TargetCost {
  target: string;
  how: "native" | typeof EMULATED;
  netmap?: NetmapCost;
  start?: StartCost;
  /** Why a measurement is missing: what the build or the binary said. */
  errors: string[];
}

export interface CostOptions {
  /** Peers in the full netmap (the bench uses 1,000). */
  peers: number;
  targets?: readonly string[];
  log?: (line: string) => void;
}

/** Each target built (`make cross`) and measured; wireguard-go's own native start alongside. */
export async function targetCosts(o: CostOptions): Promise<{ rows: TargetCost[]; wireguardGoMs: number }> {
  const ns = `mw-${process.pid}-${randomBytes(2).toString("hex")}-bench`;
  const dir = mkdtempSync("/tmp/meshwrt-bench-");
  const rows: TargetCost[] = [];
  mustRun("ip", ["netns", "add", ns]);
  try {
    mustRun("ip", ["-n", ns, "link", "set", "lo", "up"]);
    const wireguardGoMs = wireguardGoStart(ns);
    for (const [target, qemu] of TARGETS) {
      if (o.targets && !o.targets.includes(target)) continue;
      o.log?.(`cost on ${target} (${qemu ? EMULATED : "native"})`);
      rows.push(await measureTarget(target, qemu, ns, `${dir}/${target}`, o.peers));
    }
    return { rows, wireguardGoMs };
  } finally {
    killAll(ns);
    spawnSync("ip", ["netns", "del", ns]);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measureTarget(target: string, qemu: string | undefined, ns: string, dir: string, peers: number): Promise<TargetCost> {
  const row: TargetCost = { target, how: qemu ? EMULATED : "native", errors: [] };
  const build = await runAsync(["make", "--no-print-directory", "cross", `TARGET=${target}`], 1_200_000);
  if (build.status !== 0) {
    const said = `${build.stdout}\n${build.stderr}`;
    row.errors.push(`make cross TARGET=${target}: exit ${build.status ?? build.signal}: ${said.split("\n").find((l) => /error/i.test(l)) ?? lastLines(said)}`);
    return row;
  }
  const cmd = (bin: string) => [...(qemu ? [qemu] : []), `build/out/${target}/${bin}`];
  // qemu's -d unimp names what it could not translate, on stderr, beside what the agent says.
  const agent = [...(qemu ? [qemu, "-d", "unimp"] : []), `build/out/${target}/meshwrt`];
  try {
    const scaled: NetmapScale[] = [];
    for (let i = 0; i < 3; i++) scaled.push(await netmapscale(cmd("netmapscale"), peers));
    row.netmap = { peers, idleKb: scaled[0]!.startKb, fullMs: median(scaled.map((r) => r.full.ms)), deltaMs: median(scaled.map((r) => r.delta.ms)), peakKb: scaled[0]!.delta.peakKb };
  } catch (e) {
    row.errors.push((e as Error).message);
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    `${dir}/meshwrt.uci`,
    // Port 9 (discard) on the namespace's own loopback: nothing listens, so each try is refused at once.
    `config meshwrt 'main'\n\toption enabled '1'\n\toption login_server 'http://127.0.0.1:9'\n\toption hostname 'bench'\n\toption state_dir '${dir}/state'\n\toption log_level 'debug'\n`,
    { mode: 0o600 },
  );
  try {
    const first = await startToConnecting(agent, ns, dir);
    const again: { ms: number; rssKb: number }[] = [];
    for (let i = 0; i < 3; i++) again.push(await startToConnecting(agent, ns, dir));
    row.start = { firstMs: first.ms, restartMs: median(again.map((r) => r.ms)), rssKb: Math.max(...again.map((r) => r.rssKb)) };
  } catch (e) {
    row.errors.push((e as Error).message);
  }
  return row;
}

interface NetmapScale {
  startKb: number;
  full: { ms: number };
  delta: { ms: number; peakKb: number };
}

/** One run of netmapscale (see test/bench/netmap-scale.ts): its JSON line. */
async function netmapscale(cmd: readonly string[], peers: number): Promise<NetmapScale> {
  const r = await runAsync([...cmd, String(peers)], 300_000);
  try {
    return JSON.parse(r.stdout) as NetmapScale;
  } catch {
    throw new Error(`${cmd.join(" ")} ${peers}: exit ${r.status ?? r.signal}: ${lastLines(r.stderr || r.stdout)}`);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

let agentRuns = 0;

/** `meshwrt run` in `ns` from exec until it logs "state: connecting"; stopped after. */
async function startToConnecting(cmd: readonly string[], ns: string, dir: string): Promise<{ ms: number; rssKb: number }> {
  // A name per run: wireguard-go's UAPI sockets share /var/run/wireguard with every namespace.
  const iface = `mwb${process.pid % 100000}x${agentRuns++}`;
  const argv = ["netns", "exec", ns, ...cmd, "run", "--config", `${dir}/meshwrt.uci`, "--socket", `${dir}/meshwrt.sock`, "--ubus", `${dir}/no-ubusd`, "--interface", iface];
  const started = performance.now();
  // `ip netns exec` execs the command: this pid is the agent's (or its qemu's).
  const child = spawn("ip", argv, { stdio: ["ignore", "pipe", "pipe"] });
  let said = "";
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${cmd.join(" ")} run: no "state: connecting" in 60 s; it said:\n${lastLines(said)}`)), 60_000);
      const seen = (d: Buffer) => {
        said += d.toString("utf8");
        if (/\[debug\] state: connecting/.test(said)) {
          const ms = performance.now() - started;
          clearTimeout(timer);
          resolve({ ms, rssKb: vmHwmKb(child.pid!) });
        } else if (/\[debug\] state: stopped/.test(said)) {
          clearTimeout(timer);
          reject(new Error(`${cmd.join(" ")} run stopped before connecting: ${/\[error\] .*/.exec(said)?.[0] ?? lastLines(said)}${untranslated(said)}`));
        }
      };
      child.stdout.on("data", seen);
      child.stderr.on("data", seen);
      child.on("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${cmd.join(" ")} run exited (${code ?? signal}) before connecting:\n${lastLines(said)}`));
      });
    });
  } finally {
    child.removeAllListeners("exit");
    child.kill("SIGTERM");
    await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.once("exit", r)));
    // wireguard-go, which the agent started, lives on in the namespace: ended here, with its link.
    killAll(ns);
    spawnSync("ip", ["-n", ns, "link", "del", iface]);
  }
}

/**
 * What qemu-user said it passed to the guest untranslated (with `-d unimp`): route netlink
 * attributes newer than it knows stay in the host's byte order, which a big-endian guest misreads.
 */
function untranslated(said: string): string {
  const types = [...new Set([...said.matchAll(/Unknown host (\S+) type: (\d+)/g)].map((m) => `${m[1]} ${Number(m[2]) & 0x3fff}${Number(m[2]) & 0x8000 ? " (nested)" : ""}`))];
  return types.length ? ` (qemu-user passed these netlink attributes through in the host's byte order: ${types.join(", ")})` : "";
}

/** wireguard-go started natively in `ns` until its parent returns (its device and UAPI socket are up then); the median of three. */
function wireguardGoStart(ns: string): number {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const iface = `mwb${process.pid % 100000}g${i}`;
    const t0 = performance.now();
    mustRun("ip", ["netns", "exec", ns, "wireguard-go", iface]);
    times.push(performance.now() - t0);
    spawnSync("ip", ["-n", ns, "link", "del", iface]);
    killAll(ns);
  }
  return median(times);
}

function vmHwmKb(pid: number): number {
  return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN);
}

/** Every process left in the namespace this module made (only its own children run there). */
function killAll(ns: string): void {
  const pids = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8" }).stdout ?? "";
  for (const p of pids.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(p), "SIGKILL");
    } catch {
      /* gone */
    }
  }
}

/** A command run to its end without holding up the event loop (vitest's worker talks over it meanwhile). */
function runAsync(argv: readonly string[], timeoutMs: number): Promise<{ status: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

function mustRun(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: exit ${r.status ?? r.signal}: ${r.stderr.trim()}`);
}

function lastLines(text: string, n = 6): string {
  return text.trim().split("\n").slice(-n).join("\n");
}

/** The table `make bench` prints: one row per target, what each figure is said under it. */
export function costTable(rows: readonly TargetCost[], wireguardGoMs: number): string {
  const peers = rows.find((r) => r.netmap)?.netmap?.peers ?? 0;
  const kb = (x: number, idle: number | undefined) => (idle === undefined ? `${x}` : `${x} (+${x - idle})`);
  const n = (x: number | undefined) => (x === undefined ? "n/a" : String(Math.round(x)));
  const head = ["target", "run", `${peers}-peer map ms`, "1-peer delta ms", "map peak RSS kB (+over idle)", "start to connecting ms", "restart ms", "RSS at connecting kB (+over idle)"];
  const body = rows.map((r) => [
    r.target,
    r.how === "native" ? "native" : "emulated",
    n(r.netmap?.fullMs),
    n(r.netmap?.deltaMs),
    r.netmap ? kb(r.netmap.peakKb, r.netmap.idleKb) : "n/a",
    n(r.start?.firstMs),
    n(r.start?.restartMs),
    r.start ? kb(r.start.rssKb, r.netmap?.idleKb) : "n/a",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  const notes = rows.flatMap((r) => r.errors.map((e) => `${r.target}: ${e.split("\n")[0]}`));
  return [
    `Cost per target, ${EMULATED}: emulated times compare CPUs under TCG, they are not a router's own`,
    line(head),
    ...body.map(line),
    `map: ${peers}-peer netmap then a 1-peer delta taken through decoding, netmap, reconcile plan, netlink messages,`,
    `  hosts file and nftables script (netmapscale); the kernel's apply is not run (no WireGuard under qemu-user).`,
    `start: exec to "state: connecting", login server a closed loopback port, first with an empty state directory,`,
    `  then with its keys kept. No kernel WireGuard: the agent starts wireguard-go and nft, which run natively`,
    `  (not emulated); wireguard-go alone starts in ${Math.round(wireguardGoMs)} ms here.`,
    `RSS: VmHWM; emulated it is qemu's with the guest's; (+over idle) is above netmapscale's own VmHWM at its start.`,
    ...notes.map((x) => `not measured: ${x}`),
  ].join("\n");
}
