// The router's own CPU: meshwrt and tailscaled as a MIPS router runs them, against a phone.
//
// The x86 VM's instruction clock is not a router's: there tailscaled direct carried 48.9 Mbit/s
// where kernel WireGuard carried 36 (its Go crypto and GSO batching on a 64-bit CPU), while on a
// real MT7621 kernel WireGuard carries about 90 Mbit/s and tailscale about 20
// (tailscale/tailscale#10524). So the router here is qemu's MIPS 24Kc (mipsel, Debian's kernel for
// it) on an instruction clock (-icount shift=1: 500 million instructions a second), running the
// mipsel_24kc build of meshwrt and tailscaled built for it as OpenWrt builds it (GOARCH=mipsle
// GOMIPS=softfloat, the pinned release). Here meshwrt (kernel WireGuard) came out 5-8 times
// tailscaled direct, the field's order, where on x86 the instruction clock said 0.7 and the wall
// clock 9.4. Debian's 4Kc kernel has only the generic C ChaCha20 and Poly1305 (OpenWrt's 24Kc
// kernel has MIPS assembly for both): if anything, the kernel's side is dearer here than on the
// router.
//
// Only the router is in the VM. The phone (stock tailscaled), the DERP server and the control
// server run on this host in a namespace of their own, behind the VM's NIC: no router pays for
// them, and they answer faster than the emulated router sends. Both routers (m: meshwrt, t:
// tailscaled) run throughout, each idle in the other's rounds; iperf3 runs on the router and each
// figure is the router's own (the sender's going up, the receiver's coming down), on its clock.
// Direct rounds first, then with UDP between the phone and the routers dropped: relayed by DERP.
//
//   phone namespace (this host): 10.98.0.1 on the VM's tap; derper, Headscale, tailscaled (phone)
//   VM: inet 10.98.0.2 on eth0, routing to m (198.18.1.2) and t (198.18.2.2)
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hostExec, hostSpawn, inNs, run, sh, waitFor } from "../net/exec.js";
import { type Host, topology } from "../net/topology.js";
import { startDerper, startHeadscale, startTailscaled, type Tailscaled, versions } from "../peers/index.js";
import { startMeshwrt, type Meshwrt } from "../support/meshwrt.js";
import { Vm } from "../vm/vm.js";

const TARGET = "mipsel_24kc";
const PHONE_IP = "10.98.0.1";
const VM_IP = "10.98.0.2";
/** The malta board's memory: 256 MB, a mid-size router's. */
const MEMORY_MB = 256;
/**
 * Any command in the VM, in this host's time. A round takes 10-20 s; a VM that stalls (as qemu
 * 7.2's did: qemu.sh) is given up and the attempt made again in a fresh VM (ATTEMPTS).
 */
const COMMAND_MS = 150_000;
const ATTEMPTS = 3;

export interface MipsRound {
  name: string;
  relayed: boolean;
  cycle: number;
  upMbit: number;
  downMbit: number;
  /** Ten pings' mean round trip before the transfers, on the router's clock. */
  rttMs: number;
  /** The router's CPU busy over the round's transfers, in %. */
  busyPct: number;
}

/**
 * tailscaled for the VM's CPU as OpenWrt's package builds it: the pinned release from the Go module
 * cache, the CLI linked in (ts_include_cli; run as `tailscale` through a link), softfloat. One
 * binary, not two: the guest's root is in its 256 MB of memory.
 */
function tailscaleForMips(version: string, out: string): string {
  const bin = join(out, "tailscaled");
  if (existsSync(bin)) return bin;
  mkdirSync(out, { recursive: true });
  const env = { ...process.env, GOOS: "linux", GOARCH: "mipsle", GOMIPS: "softfloat", CGO_ENABLED: "0", GOFLAGS: "-buildvcs=false -mod=mod" };
  const src = JSON.parse(execFileSync("go", ["mod", "download", "-json", `tailscale.com@${version}`], { encoding: "utf8", cwd: out, env })).Dir as string;
  // To a temporary name first: a build cut short leaves no binary that looks finished.
  execFileSync("go", ["build", "-trimpath", "-tags", "ts_include_cli", "-ldflags=-s -w", "-o", `${bin}.tmp`, "./cmd/tailscaled"], { cwd: src, env, stdio: ["ignore", "ignore", "inherit"] });
  renameSync(`${bin}.tmp`, bin);
  return bin;
}

/** A namespace on this host as a topology Host. */
function hostNamespace(name: string, ns: string, ip: string, dir: string): Host {
  let n = 0;
  const exec = (cmd: string) => hostExec(`${inNs(ns)}sh -c ${sh(cmd)}`);
  return {
    name, ns, ip, exec,
    run: (cmd) => run(exec, `${inNs(ns)}sh -c ${sh(cmd)}`, `[${name}]`),
    spawn: (cmd, logFile) => hostSpawn(ns, cmd, logFile ?? `${dir}/${name}-${++n}.log`),
  };
}

/** The router's CPU time so far, busy and all, in ticks of its clock (/proc/stat). */
async function cpuTicks(router: Host): Promise<{ busy: number; all: number }> {
  const f = (await router.run("head -n 1 /proc/stat")).trim().split(/\s+/).slice(1, 9).map(Number);
  const all = f.reduce((a, b) => a + b, 0);
  return { busy: all - f[3]! - f[4]!, all };
}

/**
 * iperf3 from the router to the phone, each way: the router's own figures, on its own clock, and
 * how busy its CPU was meanwhile (a figure is the router's cost only when that is near 100%).
 */
async function iperf(router: Host, phone: Host, ip: string, seconds: number): Promise<{ up: number; down: number; busyPct: number; rttMs: number }> {
  // After the other router's round a tunnel may be idle: its first packet waits for a handshake,
  // which tailscaled's userspace crypto takes seconds to make on this CPU. Both sides get it done
  // before the measured pings.
  await waitFor(`a ping from ${router.name} to the phone`, async () => ((await router.exec(`ping -c 1 -W 5 ${ip}`)).code === 0 ? true : undefined), 60_000, 500);
  const ping = await router.run(`ping -c 10 -i 0.2 -W 2 ${ip}`);
  const rttMs = Number(/= [\d.]+\/([\d.]+)\//.exec(ping)?.[1] ?? NaN);
  const out: number[] = [];
  let busy = 0, all = 0;
  for (const reverse of [false, true]) {
    await phone.run(`iperf3 -s -1 -D -B ${ip}`);
    await new Promise((r) => setTimeout(r, 500));
    const before = await cpuTicks(router);
    // iperf3 waits for its server's results without end when the tunnel died under it.
    const r = JSON.parse(await router.run(`timeout ${seconds * 10} iperf3 -c ${ip} -t ${seconds} -J ${reverse ? "-R" : ""}`));
    // iperf3 says what failed (the server unreachable, the control connection lost) in its JSON.
    if (r.error) throw new Error(`iperf3 ${reverse ? "down" : "up"}: ${r.error}`);
    const after = await cpuTicks(router);
    [busy, all] = [busy + after.busy - before.busy, all + after.all - before.all];
    out.push((reverse ? r.end.sum_received : r.end.sum_sent).bits_per_second / 1e6);
  }
  return { up: out[0]!, down: out[1]!, busyPct: (100 * busy) / all, rttMs };
}

interface RoundOptions {
  cycles: number;
  seconds: number;
  log: (s: string) => void;
}

/** The rounds, in a fresh VM each attempt: a stalled attempt (COMMAND_MS) is made again, up to ATTEMPTS. */
export async function mipsRounds(o: RoundOptions): Promise<MipsRound[]> {
  execFileSync("make", ["--no-print-directory", "cross", `TARGET=${TARGET}`], { stdio: ["ignore", "ignore", "inherit"] });
  const tailscaled = tailscaleForMips(versions.tailscale, join(process.env.HOME ?? "/root", ".cache/meshwrt", `tailscale-mipsle-${versions.tailscale}`));
  // Not Debian's qemu 7.2: on the instruction clock its MIPS guest stalled for good (qemu.sh).
  const qemu = execFileSync(join(import.meta.dirname, "../vm/qemu.sh"), ["mipsel"], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
  for (let attempt = 1; ; attempt++) {
    try {
      return await attemptRounds({ ...o, qemu }, tailscaled);
    } catch (e) {
      if (attempt === ATTEMPTS) throw e;
      o.log(`mips: attempt ${attempt} of ${ATTEMPTS} failed, again in a fresh VM: ${(e as Error).message}`);
    }
  }
}

async function attemptRounds(o: RoundOptions & { qemu: string }, tailscaled: string): Promise<MipsRound[]> {
  const dir = mkdtempSync(join(tmpdir(), "meshwrt-mips-"));
  const ns = `mw-${process.pid}-mipsphone`;
  execFileSync("ip", ["netns", "add", ns]);
  const cleanup: (() => Promise<unknown>)[] = [async () => execFileSync("ip", ["netns", "del", ns])];
  const rounds: MipsRound[] = [];
  try {
    await hostExec(`ip -n ${ns} link set lo up`);
    const vm = await Vm.boot({ cpu: "mipsel", cpus: 1, memoryMb: MEMORY_MB, icountShift: 1, timeoutMs: 300_000, nic: { netns: ns, tap: "vm0" }, qemu: o.qemu });
    cleanup.unshift(() => vm.shutdown());
    o.log(`mips: VM ready in ${vm.bootMs} ms`);
    const phone = hostNamespace("phone", ns, PHONE_IP, dir);
    await phone.run(`ip addr add ${PHONE_IP}/24 dev vm0 && ip link set vm0 up && ip route add 198.18.0.0/16 via ${VM_IP}`);

    const vexec = (c: string) => vm.exec(c, { timeoutMs: COMMAND_MS });
    const t = await topology({ hosts: ["m", "t"] }, { exec: vexec });
    cleanup.unshift(() => t.destroy());
    // The guest's NIC (virtio-net, a module of Debian's kernel) becomes the VM's internet core's uplink.
    await run(vexec, "modprobe virtio_net && modprobe tun && for i in $(seq 100); do [ -e /sys/class/net/eth0 ] && break; sleep 0.1; done", "the VM's NIC");
    await run(vexec, `ip link set eth0 netns ${t.internet.ns} && ip -n ${t.internet.ns} addr add ${VM_IP}/24 dev eth0 && ip -n ${t.internet.ns} link set eth0 up`, "the VM's NIC");
    const [m, tt] = [t.host("m"), t.host("t")];
    await waitFor("the phone namespace reaching the VM's routers", async () => ((await phone.exec(`ping -c 1 -W 1 ${m.ip} && ping -c 1 -W 1 ${tt.ip}`)).code === 0 ? true : undefined), 60_000, 500);

    // Processes on this host are not the VM's topology's: each is stopped on the way out.
    const derp = await startDerper(phone, { dir: `${dir}/derper` });
    cleanup.unshift(() => derp.stop());
    const hs = await startHeadscale(phone, { dir: `${dir}/headscale`, derpMapYaml: derp.derpMapYaml() });
    cleanup.unshift(() => hs.stop());
    const authKey = await hs.preAuthKey(await hs.createUser("mips"), { reusable: true });
    const phoneTs = await startTailscaled(phone, { dir: `${dir}/phone`, tun: "tailscale0" });
    cleanup.unshift(() => phoneTs.stop());
    await phoneTs.up({ loginServer: hs.url, authKey, hostname: "phone" });
    const phoneIp = (await phoneTs.status()).Self.TailscaleIPs!.find((a) => a.startsWith("100."))!;

    // Into the guest's own root (a binary on the share cannot run on mipsel: vm.ts).
    mkdirSync(join(vm.share, "bin"));
    copyFileSync(join("build/out", TARGET, "meshwrt"), join(vm.share, "bin", "meshwrt"));
    copyFileSync(tailscaled, join(vm.share, "bin", "tailscaled"));
    copyFileSync(derp.certFile, join(vm.share, "derp.crt"));
    await run(vexec, `install -m 755 ${vm.sharePath("bin")}/* /usr/local/bin/ && ln -s tailscaled /usr/local/bin/tailscale && install -m 644 ${vm.sharePath("derp.crt")} /etc/derp.crt`, "installing the router's binaries");

    const mesh: Meshwrt = await startMeshwrt(m, { dir: `${t.dir}/m`, loginServer: hs.url, authKey, hostname: "router-m", caFile: "/etc/derp.crt", bin: "/usr/local/bin/meshwrt" });
    const tsd: Tailscaled = await startTailscaled(tt, { dir: `${t.dir}/t`, tun: "tailscale0", bins: { tailscaled: "/usr/local/bin/tailscaled", tailscale: "/usr/local/bin/tailscale" }, startTimeoutMs: 180_000 });
    await tsd.up({ loginServer: hs.url, authKey, hostname: "router-t", timeoutSec: 180 });
    await phoneTs.waitForPeer("router-m", 180_000, (p) => p.Online);

    /** The phone's path to a router as its disco pong says it: "DERP(...)" or IP:port. */
    const via = async (name: string) => {
      const p = await phoneTs.waitForPeer(name, 60_000);
      const r = await phoneTs.ping(p.TailscaleIPs![0]!, { count: 3, untilDirect: false, timeout: "10s" });
      return r.pongs.at(-1)?.via ?? "";
    };
    const meshPath = async () => (JSON.parse((await mesh.cli("peers --json")).stdout).peers as { name: string; path: string }[]).find((p) => p.name === "phone")?.path ?? "";
    const ready = async (relayed: boolean) => {
      await waitFor(`meshwrt's path to the phone ${relayed ? "relayed" : "direct"}`, async () => {
        await m.exec(`ping -c 2 -i 0.5 -W 2 ${phoneIp}`);
        return (await meshPath()).startsWith(relayed ? "relay" : "direct") ? true : undefined;
      }, 180_000, 1000);
      await waitFor(`the phone's path to router-t ${relayed ? "relayed" : "direct"}`, async () => ((await via("router-t")).startsWith("DERP") === relayed ? true : undefined), 180_000, 1000);
    };
    for (const relayed of [false, true]) {
      if (relayed) for (const h of [m, tt]) await t.internet.blockUdp(PHONE_IP, h.ip);
      await ready(relayed);
      const kind = relayed ? "relayed" : "direct";
      const sides: [string, Host][] = [[`meshwrt ${kind}`, m], [`tailscaled ${kind}`, tt]];
      // The order reversed every other cycle, as bench.ts's interleaved rounds.
      for (let cycle = 1; cycle <= o.cycles; cycle++) {
        for (const [name, h] of cycle % 2 ? sides : [...sides].reverse()) {
          const r = await iperf(h, phone, phoneIp, o.seconds).catch(async (e: Error) => {
            // A stalled VM was stopped (vm.ts): nothing more can be asked of it.
            if (/timed out|qemu exited/.test(e.message)) throw new Error(`mips ${name} (cycle ${cycle}) stalled: ${e.message}`);
            // What the router was short of, if it was: its memory and what the kernel said last; and
            // whether its NIC still moves packets and takes interrupts (twice, 2 s apart).
            const nic = `ip -n ${t.internet.ns} -s link show eth0; grep -i virtio /proc/interrupts`;
            const state = await vexec(`free -m; dmesg | tail -n 8; ${nic}; sleep 2; ${nic}`).catch((x: Error) => ({ stdout: x.message }));
            const agent = h === m ? (await mesh.log()).split("\n").slice(-30).join("\n") : `${(await tsd.cli("status")).stdout}\n${await tsd.log(40)}`;
            throw new Error(`mips ${name} (cycle ${cycle}): ${e.message}\nthe router:\n${state.stdout}\nits agent:\n${agent}`);
          });
          rounds.push({ name, relayed, cycle, upMbit: r.up, downMbit: r.down, rttMs: r.rttMs, busyPct: r.busyPct });
          o.log(`mips ${name} (cycle ${cycle}): ${r.up.toFixed(2)} / ${r.down.toFixed(2)} Mbit/s, ${r.rttMs} ms, the router's CPU ${r.busyPct.toFixed(0)}% busy`);
        }
      }
    }
    await mesh.proc.stop();
    await tsd.stop();
    return rounds;
  } finally {
    for (const c of cleanup) await c().catch((e: Error) => o.log(`mips: teardown: ${e.message}`));
  }
}
