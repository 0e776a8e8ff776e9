// Seeded fuzzing of every parser (issue 9). `make test` runs a short pass;
// `make soak` sets FUZZ_ITERATIONS high. FUZZ_SEED repeats another run.
import { describe, expect, it } from "vitest";
import { fuzzParser } from "./runner.js";
import { targets } from "./targets/index.js";

const iterations = Number(process.env.FUZZ_ITERATIONS ?? 2000);
const seed = Number(process.env.FUZZ_SEED ?? 0x5eed);
// A soak run takes as long as it takes.
const timeout = process.env.FUZZ_ITERATIONS ? 0 : 60_000;

describe(`fuzz (${iterations} iterations, seed ${seed})`, () => {
  for (const t of targets) {
    const n = Math.max(1, Math.round(iterations * (t.weight ?? 1)));
    it(`${t.name}: ${n} mutants decode or fail cleanly`, async () => {
      const stats = await fuzzParser(t.name, t.seeds, t.parse, { ...t, iterations: n, seed });
      console.log(`fuzz ${t.name}: ${n} inputs, ${stats.rejected} rejected, ${stats.ms.toFixed(0)} ms`);
      expect(stats.iterations).toBe(n);
    }, timeout);
  }
});
