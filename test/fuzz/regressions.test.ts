// The fuzz suite's regressions: each input through its target, every run.
import { describe, expect, it } from "vitest";
import { regressions } from "./regressions/cases.js";
import { runOne } from "./runner.js";
import { targets } from "./targets/index.js";

describe("fuzz regressions", () => {
  for (const c of regressions) {
    it(`${c.target}: ${c.why}`, async () => {
      const t = targets.find((x) => x.name === c.target);
      if (!t) throw new Error(`no fuzz target ${c.target}`);
      expect((await runOne(structuredClone(c.input), t.parse, t.clean)).fault).toBeNull();
      const errors: string[] = [];
      const note = (e: unknown) => void errors.push(e instanceof Error ? e.message : String(e));
      try {
        await t.parse(structuredClone(c.input), note);
      } catch (e) {
        note(e);
      }
      if (c.expect) expect(errors.join("\n")).toMatch(c.expect);
      else expect(errors).toEqual([]);
      if (c.maxMs) {
        // This process's CPU time, the fastest of three runs: the wall clock counted the other
        // lane's VMs (68 ms for a 40 ms bound at load 18), the old fault cost the CPU itself.
        const times: number[] = [];
        for (let i = 0; i < 3; i++) {
          const t0 = process.cpuUsage();
          await Promise.resolve(t.parse(structuredClone(c.input), () => {})).catch(() => {});
          const d = process.cpuUsage(t0);
          times.push((d.user + d.system) / 1000);
        }
        expect(Math.min(...times)).toBeLessThan(c.maxMs);
      }
    });
  }
});
