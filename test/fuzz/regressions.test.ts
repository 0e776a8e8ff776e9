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
        // The fastest of three runs: a busy machine slows some, the old fault slowed all.
        const times: number[] = [];
        for (let i = 0; i < 3; i++) {
          const t0 = performance.now();
          await Promise.resolve(t.parse(structuredClone(c.input), () => {})).catch(() => {});
          times.push(performance.now() - t0);
        }
        expect(Math.min(...times)).toBeLessThan(c.maxMs);
      }
    });
  }
});
