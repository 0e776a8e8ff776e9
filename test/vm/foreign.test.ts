// Kernel WireGuard through meshwrt's netlink on a router's CPU: the suite of
// netlink.test.ts, run by the binaries of `make cross` in a VM of that CPU
// with Debian's kernel for it (qemu-system-aarch64 and qemu-system-mipsel,
// TCG; see vm.ts and prepare-foreign.sh).
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { makeCross } from "./cross-build.js";
import { netlinkSuite } from "./netlink-suite.js";
import { Vm, type VmCpu } from "./vm.js";

/** Each VM CPU, the OpenWrt target whose binaries it runs, and what `uname -m` says there. */
const TARGETS: [VmCpu, string, string][] = [
  ["aarch64", "aarch64_cortex-a53", "aarch64"],
  ["mipsel", "mipsel_24kc", "mips"],
];

for (const [cpu, target, machine] of TARGETS) {
  netlinkSuite(async () => {
    await makeCross(target);
    const vm = await Vm.boot({ cpu, timeoutMs: 120_000 });
    console.log(`vm ${cpu}: ready in ${vm.bootMs} ms`);
    // Installed into the guest's own root, where any user may run them (the share is root's alone).
    mkdirSync(join(vm.share, "bin"));
    for (const b of ["wgcheck", "meshwrt"]) copyFileSync(join("build/out", target, b), join(vm.share, "bin", b));
    const r = await vm.exec(`install -m 755 ${vm.sharePath("bin")}/* /usr/local/bin/ && uname -m`);
    if (r.code !== 0 || r.stdout.trim() !== machine) throw new Error(`vm ${cpu}: installing the binaries: ${r.stdout}${r.stderr}`);
    return { vm, wgcheck: "/usr/local/bin/wgcheck", meshwrt: "/usr/local/bin/meshwrt", timeoutMs: 300_000 };
  }, ` on ${cpu} (${target})`);
}
