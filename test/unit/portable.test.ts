// The portable suites (pure modules) under Node.
import { describe, it } from "vitest";
import { cases } from "../portable/all.js";

const bySuite = new Map<string, typeof cases>();
for (const c of cases) bySuite.set(c.suite, [...(bySuite.get(c.suite) ?? []), c]);
for (const [name, list] of bySuite) {
  describe(name, () => {
    for (const c of list) it(c.name, c.run);
  });
}
