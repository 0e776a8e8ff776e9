// Every target's build (`make cross TARGET=<t>`) run on its own CPU: x86_64
// natively, the router CPUs under qemu-user (Debian's qemu-user-static),
// big-endian MIPS among them. `meshwrt --version`, the whole portable suite
// and the host check, with the same test code as test/unit/quickjs.test.ts
// and test/native/host.test.ts, each case its own test. The times printed
// are emulated ones: they say what CI spends, not what a router would; the
// budgets keep all five targets' runs within a few minutes of CI.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { describeHostcheck } from "../native/hostcheck-suite.js";
import { cases } from "../portable/all.js";
import type { Outcome } from "../portable/check.js";
import { withinBudget } from "../support/budget.js";

/** The OpenWrt target names and the qemu-user binary that runs each (none: this machine's CPU). */
const TARGETS: readonly (readonly [string, string | undefined])[] = [
  ["x86_64", undefined],
  ["aarch64_cortex-a53", "qemu-aarch64-static"],
  ["arm_cortex-a7_neon-vfpv4", "qemu-arm-static"],
  ["mipsel_24kc", "qemu-mipsel-static"],
  ["mips_24kc", "qemu-mips-static"],
];

/** Each target's portable suites, and its host check (emulated on a shared two-core machine: 3.6-5 s and 1 s measured). */
const SUITE_BUDGET_MS = 20_000;
const HOSTCHECK_BUDGET_MS = 10_000;

/** The installed qemu-user's major version ("qemu-mips version 7.2.22 (Debian ...)"). */
function qemuMajor(): number {
  const v = spawnSync("qemu-mips-static", ["--version"], { encoding: "utf8" });
  return Number(/version (\d+)\./.exec(v.stdout ?? "")?.[1] ?? 0);
}

for (const [target, qemu] of TARGETS) {
  const out = `build/out/${target}`;
  const how = qemu ? `under ${qemu}, emulated` : "natively";
  const command = (bin: string, ...args: string[]) => [...(qemu ? [qemu] : []), `${out}/${bin}`, ...args];
  const run = (cmd: readonly string[]) => {
    const started = performance.now();
    const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: "utf8", timeout: 300_000, maxBuffer: 16 << 20 });
    return { ...r, ms: performance.now() - started };
  };

  describe(`${target} (${how})`, () => {
    const build = spawnSync("make", ["--no-print-directory", "cross", `TARGET=${target}`], { stdio: "inherit" });
    it("builds with make cross", () => expect(build.status).toBe(0));
    if (build.status !== 0) return;

    it("meshwrt --version", () => {
      const v = run(command("meshwrt", "--version"));
      expect(v.stderr).toBe("");
      expect(v.stdout).toMatch(/^meshwrt \d+\.\d+\.\d+ \(QuickJS 2025-04-26\)\n$/);
    });

    describe("portable suites", () => {
      const p = run(command("portable"));
      let outcomes: Outcome[] = [];
      try {
        outcomes = JSON.parse(p.stdout) as Outcome[];
      } catch {
        // Reported by the first test below, with what the binary said.
      }
      it("ran every case", () => {
        expect(`exit ${p.status ?? p.signal} ${p.stderr}`.trim()).toBe("exit 0");
        expect(outcomes.length).toBe(cases.length);
      });
      it(`runs in ${SUITE_BUDGET_MS / 1000} s`, () => withinBudget(`${target}: the portable suites, ${outcomes.length} cases (${how})`, p.ms, SUITE_BUDGET_MS, { native: !qemu }));
      for (const o of outcomes) {
        it(`${o.suite}: ${o.name}`, () => expect(o.error ?? "").toBe(""));
      }
    });

    let hostcheckMs = 0;
    describeHostcheck("host check", command("hostcheck"), {
      soErrorUntranslated: qemu !== undefined && target.startsWith("mips") && qemuMajor() < 8,
      memInfoUntranslated: qemu !== undefined,
      rssOfEmulator: qemu !== undefined,
      onRun: (r) => (hostcheckMs = r.ms),
    });
    it(`the host check runs in ${HOSTCHECK_BUDGET_MS / 1000} s`, () => withinBudget(`${target}: the host check (${how})`, hostcheckMs, HOSTCHECK_BUDGET_MS, { native: !qemu }));
  });
}
