// The portable suites inside QuickJS: quickjs-emscripten's default variant
// (Bellard's QuickJS 2025-09-13, as OpenWrt packages it) and meshwrt's own
// runtime (2025-04-26, what the binary ships), bundled exactly as the agent
// is: same esbuild target, same minifier. A case that passes under Node but not here is an
// engine difference that would otherwise first show on a router.
import { execFileSync } from "node:child_process";
import { build } from "esbuild";
import { getQuickJS } from "quickjs-emscripten";
import { describe, expect, it } from "vitest";
import type { Outcome } from "../portable/check.js";
import { cases } from "../portable/all.js";

async function outcomesInQuickJS(): Promise<Outcome[]> {
  const out = await build({
    entryPoints: ["test/portable/qjs-entry.ts"],
    bundle: true,
    write: false,
    minify: true,
    format: "iife",
    platform: "neutral",
    mainFields: ["module", "main"],
    target: "es2022",
    logLevel: "error",
  });
  const qjs = await getQuickJS();
  const vm = qjs.newContext();
  try {
    const run = vm.evalCode(out.outputFiles[0]!.text, "portable.js");
    if (run.error) throw new Error(`QuickJS: ${JSON.stringify(vm.dump(run.error))}`);
    run.value.dispose();
    vm.runtime.executePendingJobs(-1);
    const res = vm.unwrapResult(vm.evalCode("globalThis.__outcomes"));
    const json = vm.getString(res);
    res.dispose();
    return JSON.parse(json) as Outcome[];
  } finally {
    vm.dispose();
  }
}

describe("portable suites under QuickJS (quickjs-emscripten)", async () => {
  const outcomes = await outcomesInQuickJS();
  it("ran every case", () => expect(outcomes.length).toBe(cases.length));
  for (const o of outcomes) {
    it(`${o.suite}: ${o.name}`, () => expect(o.error ?? "").toBe(""));
  }
});

describe("portable suites in the meshwrt runtime (its own QuickJS 2025-04-26 build)", () => {
  execFileSync("make", ["--no-print-directory", "build/out/portable"], { stdio: "inherit" });
  const outcomes = JSON.parse(execFileSync("build/out/portable", { encoding: "utf8" })) as Outcome[];
  it("ran every case", () => expect(outcomes.length).toBe(cases.length));
  for (const o of outcomes) {
    it(`${o.suite}: ${o.name}`, () => expect(o.error ?? "").toBe(""));
  }
});
