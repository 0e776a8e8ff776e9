// meshwrt's netlink code against the real kernel WireGuard in the x86_64 VM
// (the checks themselves are in netlink-suite.ts, shared with the other CPUs).
import { execFileSync } from "node:child_process";
import { netlinkSuite } from "./netlink-suite.js";
import { Vm } from "./vm.js";

netlinkSuite(async () => {
  execFileSync("make", ["--no-print-directory", "build/out/wgcheck"], { stdio: "inherit" });
  return { vm: await Vm.boot({ timeoutMs: 180_000 }), wgcheck: `${process.cwd()}/build/out/wgcheck`, meshwrt: `${process.cwd()}/build/out/meshwrt` };
});
