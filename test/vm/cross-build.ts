// `make cross TARGET=<t>` for the VM tests of other CPUs, without blocking
// the test worker: a build after a source change takes minutes, and vitest's
// worker must stay responsive meanwhile.
import { spawn } from "node:child_process";

/** Builds build/out/<target>/ (meshwrt, wgcheck, ...); its errors go to our stderr. */
export function makeCross(target: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn("make", ["--no-print-directory", "cross", `TARGET=${target}`], { stdio: ["ignore", "ignore", "inherit"] });
    p.on("error", reject);
    p.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`make cross TARGET=${target} failed (exit ${code})`))));
  });
}
