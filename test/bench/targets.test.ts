// `make bench`'s cost per target (test/bench/targets.ts), run small: a
// 50-peer netmap, on x86_64 natively and on one router CPU under qemu-user,
// so a change that breaks the measuring shows here and not only in a bench.
// The time allowed is mostly for `make cross` when the sources changed.
import { describe, expect, it } from "vitest";
import { costTable, EMULATED, targetCosts, type TargetCost } from "./targets.js";

describe("cost per target", () => {
  let rows: TargetCost[] = [];
  let table = "";

  it("measures x86_64 natively and mipsel_24kc under qemu-user", async () => {
    const r = await targetCosts({ peers: 50, targets: ["x86_64", "mipsel_24kc"] });
    rows = r.rows;
    table = costTable(r.rows, r.wireguardGoMs);
    console.log(table);
    expect(rows.map((x) => [x.target, x.how, x.errors])).toEqual([
      ["x86_64", "native", []],
      ["mipsel_24kc", EMULATED, []],
    ]);
    expect(r.wireguardGoMs).toBeGreaterThan(0);
  }, 600_000);

  it("times the 50-peer netmap, the 1-peer delta and the start to connecting on each", () => {
    for (const x of rows) {
      expect(x.netmap?.peers).toBe(50);
      expect(x.netmap?.fullMs).toBeGreaterThan(0);
      expect(x.netmap?.deltaMs).toBeGreaterThan(0);
      expect(x.start?.firstMs).toBeGreaterThan(0);
      expect(x.start?.restartMs).toBeGreaterThan(0);
    }
  });

  it("reads peak RSS above the idle runtime's", () => {
    for (const x of rows) {
      expect(x.netmap!.peakKb).toBeGreaterThan(x.netmap!.idleKb);
      expect(x.start!.rssKb).toBeGreaterThan(x.netmap!.idleKb);
    }
  });

  it("prints a row per target in a table labelled as emulated", () => {
    expect(table).toContain(`Cost per target, ${EMULATED}`);
    expect(table).toMatch(/^x86_64\s+native\s+\d+\s+\d+\s+\d+ \(\+\d+\)\s+\d+\s+\d+\s+\d+ \(\+\d+\)$/m);
    expect(table).toMatch(/^mipsel_24kc\s+emulated\s+\d+\s+\d+\s+\d+ \(\+\d+\)\s+\d+\s+\d+\s+\d+ \(\+\d+\)$/m);
    expect(table).not.toContain("not measured");
  });

  it("says why a figure is missing", () => {
    const t = costTable([{ target: "mips_24kc", how: EMULATED, errors: ["meshwrt run stopped before connecting: [error] link 1: bad"] }], 10);
    expect(t).toMatch(/^mips_24kc\s+emulated\s+n\/a\s+n\/a\s+n\/a\s+n\/a\s+n\/a\s+n\/a$/m);
    expect(t).toContain("not measured: mips_24kc: meshwrt run stopped before connecting: [error] link 1: bad");
  });
});
