// Runs every vitest test file and closes with one line that CI reads:
// "N passed, N failed, N skipped".
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";

const report = "test/out/vitest.json";
mkdirSync("test/out", { recursive: true });
const args = ["vitest", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...process.argv.slice(2)];
const run = spawnSync("npx", args, { stdio: "inherit" });

let passed = 0, failed = 0, skipped = 0;
try {
  const r = JSON.parse(readFileSync(report, "utf8"));
  passed = r.numPassedTests;
  failed = r.numFailedTests;
  skipped = r.numPendingTests + r.numTodoTests;
  // A file that failed to load has no test results but must still count.
  failed += r.testResults.filter((f) => f.status === "failed" && f.assertionResults.length === 0).length;
} catch (e) {
  console.error(`test/run: no report from vitest (${e.message})`);
  failed += 1;
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(run.status === 0 && failed === 0 ? 0 : 1);
