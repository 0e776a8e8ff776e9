// A qemu VM with Debian's kernel, for the tests that need kernel WireGuard
// (this machine's kernel has none, and KVM is not usable here: TCG). The
// guest's root is this machine's root, read-only over virtio-9p under a
// tmpfs overlay, so the built binary, node, ip, nft, wg and the Go peers run
// inside at the same paths. Commands go through a shared directory: the
// host writes cmd-N.sh, the guest leaves out-N, err-N and rc-N.
//
//   const vm = await Vm.boot();
//   const r = await vm.exec("wg show");     // { stdout, stderr, code }
//   await vm.shutdown();
//
// `Vm.boot({ cpu: "aarch64" })` (or "mipsel") boots Debian's kernel for that
// CPU instead, with a root of Debian's packages for it (prepare-foreign.sh)
// in place of this machine's root; the share and the commands work alike.
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createConnection } from "node:net";
import { join } from "node:path";

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** The CPUs a test VM can have; x86_64 shares this machine's root. */
export type VmCpu = "x86_64" | "aarch64" | "mipsel";

export interface BootOptions {
  cpu?: VmCpu;
  cpus?: 1 | 2;
  memoryMb?: number;
  /** Boot to ready within this (ms). */
  timeoutMs?: number;
  /**
   * The guest's clock counts instructions, 2^shift ns each (qemu's -icount), not the host's time: a
   * CPU-bound figure measured in the guest then holds whatever else loads this host. Idle time
   * still passes at the wall clock's pace (sleep=on), so timers set by the host's tests keep theirs.
   */
  icountShift?: number;
  /** A virtio NIC on a tap device of this name in this network namespace (where qemu then runs). */
  nic?: { netns: string; tap: string };
  /** This qemu-system binary in place of Debian's (test/vm/qemu.sh builds a newer one). */
  qemu?: string;
}

/** How qemu emulates each CPU: a board with PCI (for virtio-9p) and a serial console. */
const MACHINES: Record<VmCpu, { qemu: string; args: string[]; append: string; memoryMb: number; rootImage?: true }> = {
  // no_timer_check: on a loaded host (two test lanes, each with a VM) TCG may not deliver the
  // timer interrupt within the kernel's boot-time IO-APIC check, which then panics.
  x86_64: { qemu: "qemu-system-x86_64", args: ["-M", "pc", "-cpu", "qemu64,+rdrand"], append: "console=ttyS0 pci=noacpi no_timer_check", memoryMb: 512 },
  aarch64: { qemu: "qemu-system-aarch64", args: ["-M", "virt", "-cpu", "cortex-a53"], append: "console=ttyAMA0", memoryMb: 512 },
  // Malta's 32-bit kernel sees 256 MB of low memory.
  // Its root is a disk image, not 9p (why: prepare-foreign.sh).
  mipsel: { qemu: "qemu-system-mipsel", args: ["-M", "malta", "-cpu", "24Kc"], append: "console=ttyS0", memoryMb: 256, rootImage: true },
};

/**
 * Runs a prepare script and gives its output; its progress goes to our stderr.
 * Not execFileSync: a first foreign prepare downloads for a minute, and vitest's worker must stay responsive.
 */
function prepareVm(script: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(join(import.meta.dirname, script), args, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    p.stdout!.on("data", (d) => (out += d));
    p.on("error", reject);
    p.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`vm: ${script} ${args.join(" ")} failed (exit ${code})`))));
  });
}

const live = new Set<Vm>();

/** Boots of one VM, when qemu itself faults before the guest is ready. */
const BOOT_ATTEMPTS = 2;

/** The signals of a fault in qemu itself: its own assertion (SIGABRT), a bad access (SIGSEGV, SIGBUS). */
const QEMU_FAULTS = new Set(["SIGABRT", "SIGSEGV", "SIGBUS"]);

/** qemu died of a fault of its own before the guest was ready. */
class QemuFaulted extends Error {}

/** Kills VMs left by test processes that are gone (killed before their exit hook ran). */
function sweepStale(): void {
  const ps = spawnSync("pgrep", ["-af", "qemu-system-"], { encoding: "utf8" }).stdout;
  for (const line of ps.split("\n")) {
    const m = /^(\d+) .*meshwrt-vm-(\d+)-/.exec(line);
    if (!m) continue;
    try {
      process.kill(Number(m[2]), 0);
    } catch {
      process.kill(Number(m[1]), "SIGKILL");
    }
  }
}
process.on("exit", () => {
  for (const vm of live) vm.kill();
});

export class Vm {
  private n = 0;

  private constructor(
    private readonly proc: ChildProcess,
    readonly share: string,
    readonly bootMs: number,
  ) {}

  /**
   * Boots a VM. qemu 7.2 under TCG now and then dies of a fault of its own while the guest kernel
   * probes PCI: an assertion in msix.c's msix_table_mmio_read (SIGABRT), or a segfault 3.4 s into
   * the boot (SIGSEGV, CI: derp-home.test.ts). That is before the guest is ready, so before any
   * test ran in it: such a boot is made again, once, and said. A boot that times out is not.
   */
  static async boot(o: BootOptions = {}): Promise<Vm> {
    const cpu = o.cpu ?? "x86_64";
    const prepare = cpu === "x86_64" ? ["prepare.sh"] : ["prepare-foreign.sh", cpu];
    const dir = (await prepareVm(prepare[0]!, prepare.slice(1))).trim().split("\n").pop()!;
    for (let attempt = 1; ; attempt++) {
      try {
        return await Vm.start(cpu, dir, o);
      } catch (e) {
        if (!(e instanceof QemuFaulted) || attempt === BOOT_ATTEMPTS) throw e;
        console.warn(`${e.message.split("\n")[0]}; booting again`);
      }
    }
  }

  private static async start(cpu: VmCpu, dir: string, o: BootOptions): Promise<Vm> {
    sweepStale();
    // The share's name carries our pid, so a later run can tell a VM whose test process died.
    const share = mkdtempSync(join(tmpdir(), `meshwrt-vm-${process.pid}-`));
    copyFileSync(join(import.meta.dirname, "guest.sh"), join(share, "guest.sh"));
    const started = Date.now();
    const machine = MACHINES[cpu];
    const nic = o.nic ? ["-netdev", `tap,id=nic,ifname=${o.nic.tap},script=no,downscript=no`, "-device", "virtio-net-pci,netdev=nic,romfile="] : [];
    const qemu = o.qemu ?? machine.qemu;
    const proc = spawn(
      o.nic ? "ip" : qemu,
      [
        ...(o.nic ? ["netns", "exec", o.nic.netns, qemu] : []),
        ...nic,
        ...machine.args, ...(o.icountShift !== undefined ? ["-icount", `shift=${o.icountShift},sleep=on`] : []), "-accel", "tcg", "-smp", String(o.cpus ?? 1), "-m", String(o.memoryMb ?? machine.memoryMb),
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-kernel", join(dir, "vmlinuz"), "-initrd", join(dir, "initrd.gz"),
        "-append", `${machine.append} panic=-1 quiet loglevel=3`,
        "-serial", `file:${join(share, "console.log")}`,
        "-monitor", `unix:${join(share, "monitor.sock")},server=on,wait=off`,
        ...(machine.rootImage
          ? ["-drive", `file=${join(dir, "root.img")},if=none,id=root,format=raw,readonly=on`, "-device", "virtio-blk-pci,drive=root"]
          : ["-fsdev", `local,id=root,path=${cpu === "x86_64" ? "/" : join(dir, "root")},security_model=none,readonly=on,multidevs=remap`, "-device", "virtio-9p-pci,fsdev=root,mount_tag=hostroot"]),
        "-fsdev", `local,id=share,path=${share},security_model=none`, "-device", "virtio-9p-pci,fsdev=share,mount_tag=share",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let qemuErr = "";
    proc.stderr!.on("data", (d) => (qemuErr += d));
    const vm = new Vm(proc, share, 0);
    live.add(vm);
    const limit = o.timeoutMs ?? 60_000;
    while (!existsSync(join(share, "ready"))) {
      if (!vm.running || Date.now() - started > limit) {
        const console = existsSync(join(share, "console.log")) ? readFileSync(join(share, "console.log"), "utf8").slice(-2000) : "";
        vm.kill();
        rmSync(share, { recursive: true, force: true });
        const why = `vm: not ready after ${Date.now() - started} ms (qemu ${proc.exitCode ?? proc.signalCode ?? "running"}): ${qemuErr}\n${console}`;
        throw proc.signalCode !== null && QEMU_FAULTS.has(proc.signalCode) ? new QemuFaulted(why) : new Error(why);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const ready = new Vm(proc, share, Date.now() - started);
    live.delete(vm);
    live.add(ready);
    if (!existsSync(join(share, "wireguard"))) {
      const why = readFileSync(join(share, "modprobe.err"), "utf8");
      await ready.shutdown();
      throw new Error(`vm: modprobe wireguard failed: ${why}`);
    }
    return ready;
  }

  /** Runs a shell command in the guest; a command that outlives `timeoutMs` kills the VM. */
  async exec(cmd: string, opts: { timeoutMs?: number } = {}): Promise<ExecResult> {
    const n = ++this.n;
    writeFileSync(join(this.share, `cmd-${n}.sh.tmp`), `${cmd}\n`);
    execFileSync("mv", [join(this.share, `cmd-${n}.sh.tmp`), join(this.share, `cmd-${n}.sh`)]);
    const started = Date.now();
    const limit = opts.timeoutMs ?? 60_000;
    const rc = join(this.share, `rc-${n}`);
    while (!existsSync(rc)) {
      if (!this.running) throw new Error(`vm: qemu exited (${this.proc.exitCode ?? this.proc.signalCode}) during: ${cmd}`);
      if (Date.now() - started > limit) {
        const cpu = await this.cpuState();
        this.kill();
        throw new Error(`vm: command timed out after ${limit} ms, VM stopped: ${cmd}\n${cpu}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    return {
      stdout: readFileSync(join(this.share, `out-${n}`), "utf8"),
      stderr: readFileSync(join(this.share, `err-${n}`), "utf8"),
      code: Number(readFileSync(rc, "utf8").trim()),
    };
  }

  /**
   * qemu has not ended. A process killed by a signal (a command that timed out, kill()) keeps
   * exitCode null and sets signalCode: by exitCode alone it looked alive, and each later command
   * waited out its whole timeout, and shutdown() for an exit already gone.
   */
  private get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /**
   * Where the guest's CPU is, asked of qemu's monitor twice a second apart: whether a stalled guest
   * still runs (its PC moves) or spins on one instruction.
   */
  private async cpuState(): Promise<string> {
    // The lines with the program counter, RIP= (x86_64), PC= (aarch64), pc= (mips), and mips's
    // CP0 status (in an exception handler or not).
    const ask = async () => (await this.monitor("info registers")).split("\n").filter((l) => /\b(RIP|PC|pc)=|CP0 Status/.test(l)).map((l) => l.trim()).join("\n") || "(no PC)";
    try {
      const first = await ask();
      await new Promise((r) => setTimeout(r, 1000));
      return `the guest's CPU, 1 s apart:\n${first}\n${await ask()}`;
    } catch (e) {
      return `qemu's monitor did not answer: ${(e as Error).message}`;
    }
  }

  /** One command to qemu's human monitor; its answer, without the prompt. */
  private monitor(cmd: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const c = createConnection(join(this.share, "monitor.sock"));
      let out = "";
      let sent = false;
      const timer = setTimeout(() => (c.destroy(), reject(new Error(`no answer to ${cmd} in 5 s`))), 5000);
      c.on("error", (e) => (clearTimeout(timer), reject(e)));
      c.on("data", (d) => {
        out += d;
        if (!out.endsWith("(qemu) ")) return;
        if (!sent) {
          [sent, out] = [true, ""];
          c.write(`${cmd}\n`);
          return;
        }
        clearTimeout(timer);
        c.end();
        // The monitor echoes the command, with terminal escapes, before its answer.
        resolve(out.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "").replace(/\r/g, "").split("\n").slice(1, -1).join("\n"));
      });
    });
  }

  /** A shell path in the guest for a file in the share. */
  sharePath(name: string): string {
    return `/mnt/vmshare/${name}`;
  }

  kill(): void {
    if (this.running) this.proc.kill("SIGKILL");
    live.delete(this);
  }

  async shutdown(): Promise<void> {
    this.kill();
    if (this.running) await new Promise((r) => this.proc.once("exit", r));
    rmSync(this.share, { recursive: true, force: true });
  }
}
