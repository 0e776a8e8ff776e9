// How test/run.mjs splits the test files into lanes (vitest processes side by side, each
// running its files one at a time): by the seconds each file took last time
// (test/lanes.json, rewritten by a whole run), longest first, each to the lane that ends
// earliest so far; the short unit files so fill whichever lane would finish first.
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const TABLE = "test/lanes.json";

/**
 * Files that must share a lane (run one after the other), and why. Anything a file writes
 * outside its own temporary directories and namespaces is shared by both lanes.
 */
export const TOGETHER = [
  // Each runs `make package` or `make cross TARGET=...`: both write build/out/<target>/ and
  // `make package` rewrites build/out/packages/ while the other files read it.
  [
    "test/package/package.test.ts", "test/package/install.test.ts", "test/cross/qemu-user.test.ts",
    "test/vm/foreign.test.ts", "test/vm/foreign-lab.test.ts", "test/bench/targets.test.ts",
  ],
];

/** What a file not in the table is guessed to take: a lab or a VM boot, or a unit test. */
function guessSeconds(file) {
  const text = readFileSync(file, "utf8");
  return /Vm\.boot|startLab|startLuciLab|topology\(/.test(text) ? 90 : 3;
}

/** Every test file vitest's include (test/**\/*.test.ts) names, as relative paths. */
export function allTestFiles(dir = "test") {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...allTestFiles(p));
    else if (e.name.endsWith(".test.ts")) out.push(p);
  }
  return out.sort();
}

export function readTable() {
  try {
    return JSON.parse(readFileSync(TABLE, "utf8")).seconds ?? {};
  } catch {
    return {};
  }
}

/** Splits files into n lanes: [{ files, seconds }]. */
export function planLanes(files, n, seconds = readTable()) {
  const cost = (f) => seconds[f] ?? guessSeconds(f);
  const units = [];
  const placed = new Set();
  for (const group of TOGETHER) {
    const members = group.filter((f) => files.includes(f));
    if (members.length === 0) continue;
    members.forEach((f) => placed.add(f));
    units.push(members);
  }
  for (const f of files) if (!placed.has(f)) units.push([f]);
  const unitCost = (u) => u.reduce((s, f) => s + cost(f), 0);
  units.sort((a, b) => unitCost(b) - unitCost(a) || a[0].localeCompare(b[0]));
  const lanes = Array.from({ length: n }, () => ({ files: [], seconds: 0 }));
  for (const u of units) {
    const lane = lanes.reduce((a, b) => (b.seconds < a.seconds ? b : a));
    lane.files.push(...u);
    lane.seconds += unitCost(u);
  }
  return lanes.filter((l) => l.files.length > 0);
}

/**
 * Rewrites the table from a whole run's results: a passed file's seconds as measured; a
 * failed one keeps the larger of old and new (a file that failed early says little of its
 * length); files that no longer exist go.
 */
export function refreshTable(files, results) {
  const old = readTable();
  const seconds = {};
  for (const f of files) {
    const r = results.get(f);
    const s = r ? Math.max(1, Math.round(r.seconds)) : undefined;
    if (s === undefined) {
      if (old[f] !== undefined) seconds[f] = old[f];
    } else seconds[f] = r.passed ? s : Math.max(s, old[f] ?? 0);
  }
  const note = "Seconds each test file took in the last whole run (node test/run.mjs), for test/lanes.mjs; rewritten by every whole run.";
  writeFileSync(TABLE, `${JSON.stringify({ note, seconds }, null, 2)}\n`);
}
