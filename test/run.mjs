// Runs every vitest test file and closes with one line that CI reads:
// "N passed, N failed, N skipped".
//
//   node test/run.mjs              every file, in TEST_LANES (default 2) vitest processes side
//                                  by side, each one file at a time (test/lanes.mjs splits them)
//   node test/run.mjs ARGS...      one vitest run with these files or filters, as `vitest run`
//
// Most long files boot a VM or a lab and then wait on deadlines and the network, so two lanes
// take about half the time of one on two cores. Each lane's lines come prefixed "[lane N]" (and
// go to test/out/lane-N.log as vitest wrote them); the lanes' JSON reports are merged into
// test/out/vitest.json, the per-file times printed lane by lane and kept in test/lanes.json.
import { spawn, spawnSync } from "node:child_process";
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { allTestFiles, planLanes, readTable, refreshTable } from "./lanes.mjs";

const OUT = "test/out";
const report = `${OUT}/vitest.json`;
mkdirSync(OUT, { recursive: true });
const args = process.argv.slice(2);
const vitest = (reportFile, extra) => ["vitest", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${reportFile}`, ...extra];

/** Counts a vitest JSON report; a file that failed to load has no test results but must still count. */
function count(r) {
  return {
    passed: r.numPassedTests,
    failed: r.numFailedTests + r.testResults.filter((f) => f.status === "failed" && f.assertionResults.length === 0).length,
    skipped: r.numPendingTests + r.numTodoTests,
  };
}

function firstLine(message) {
  const line = String(message ?? "(no message)").split("\n").find((l) => l.trim() !== "") ?? "";
  return line.length > 300 ? `${line.slice(0, 300)}...` : line;
}

/** The failed tests of a report, a line each with the first line of why. */
function failures(r) {
  const cwd = `${process.cwd()}/`;
  return r.testResults.flatMap((f) => {
    const file = f.name.replace(cwd, "");
    const tests = f.assertionResults.filter((a) => a.status === "failed");
    if (tests.length === 0) return f.status === "failed" ? [`${file}: ${firstLine(f.message)}`] : [];
    return tests.map((a) => `${file} > ${a.fullName}: ${firstLine(a.failureMessages?.[0])}`);
  });
}

// The failures come last but one, so that the tail CI keeps names what failed and why.
function finish(c, ok, r) {
  const failed = r ? failures(r) : [];
  if (failed.length > 0) console.log(`\nfailed:\n${failed.map((l) => `  ${l}`).join("\n")}`);
  console.log(`${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped`);
  process.exit(ok && c.failed === 0 ? 0 : 1);
}

if (args.length > 0) {
  const run = spawnSync("npx", vitest(report, args), { stdio: "inherit" });
  let c = { passed: 0, failed: 0, skipped: 0 };
  let r;
  try {
    r = JSON.parse(readFileSync(report, "utf8"));
    c = count(r);
  } catch (e) {
    console.error(`test/run: no report from vitest (${e.message})`);
    c.failed += 1;
  }
  finish(c, run.status === 0, r);
}

// The binaries most files make for themselves, made once before the lanes start: two lanes
// must never link the same file at once (a no-op after `make all`).
const pre = spawnSync("make", ["--no-print-directory", ...["meshwrt", "portable", "wgcheck", "hostcheck", "netmapscale"].map((b) => `build/out/${b}`)], { stdio: "inherit" });
if (pre.status !== 0) {
  console.error("test/run: building the binaries the tests run failed");
  finish({ passed: 0, failed: 1, skipped: 0 }, false);
}

const files = allTestFiles();
const n = Math.max(1, Number(process.env.TEST_LANES ?? 2));
const planned = readTable();
const lanes = planLanes(files, n, planned);
// vitest takes file arguments as substrings of paths: each must name only itself.
for (const f of files) {
  const also = files.filter((g) => g !== f && g.includes(f));
  if (also.length) throw new Error(`test/run: ${f} would also select ${also.join(", ")}`);
}

const children = new Set();
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => {
  for (const c of children) c.kill(sig);
  process.exit(1);
});

const env = { ...process.env };
delete env.FORCE_COLOR;

/** Runs one lane; its lines to our output with a prefix and to its log as they are. */
function runLane(lane, i) {
  const tag = `[lane ${i + 1}] `;
  const log = createWriteStream(`${OUT}/lane-${i + 1}.log`);
  const started = Date.now();
  console.log(`${tag}${lane.files.length} files, about ${lane.seconds} s by the table`);
  const child = spawn("npx", vitest(`${OUT}/vitest-lane-${i + 1}.json`, lane.files), {
    stdio: ["ignore", "pipe", "pipe"],
    // Plain text, as vitest writes to a pipe (colours need FORCE_COLOR merely set, even to 0).
    env: { ...env, MESHWRT_LANE: String(i + 1) },
  });
  children.add(child);
  const relay = (stream, to) => {
    let rest = "";
    stream.on("data", (d) => {
      log.write(d);
      const lines = (rest + d).split("\n");
      rest = lines.pop();
      for (const l of lines) to.write(`${tag}${l}\n`);
    });
    stream.on("end", () => rest && to.write(`${tag}${rest}\n`));
  };
  relay(child.stdout, process.stdout);
  relay(child.stderr, process.stderr);
  return new Promise((resolve) => child.on("close", (code) => {
    children.delete(child);
    log.end();
    resolve({ ...lane, index: i, code, seconds: Math.round((Date.now() - started) / 1000) });
  }));
}

const done = await Promise.all(lanes.map(runLane));


const c = { passed: 0, failed: 0, skipped: 0 };
const merged = { testResults: [] };
const results = new Map();
const cwd = `${process.cwd()}/`;
for (const lane of done) {
  const tag = `lane ${lane.index + 1}`;
  let r;
  try {
    r = JSON.parse(readFileSync(`${OUT}/vitest-lane-${lane.index + 1}.json`, "utf8"));
  } catch (e) {
    console.error(`test/run: no report from ${tag} (${e.message})`);
    c.failed += 1;
    continue;
  }
  const k = count(r);
  c.passed += k.passed;
  c.failed += k.failed;
  c.skipped += k.skipped;
  for (const [key, v] of Object.entries(r)) if (key.startsWith("num")) merged[key] = (merged[key] ?? 0) + v;
  merged.startTime = Math.min(merged.startTime ?? Infinity, r.startTime);
  merged.testResults.push(...r.testResults);
  for (const f of r.testResults) results.set(f.name.replace(cwd, ""), { seconds: (f.endTime - f.startTime) / 1000, passed: f.status === "passed" });
  // A file the lane never reported on (vitest died on the way) counts as failed too.
  for (const f of lane.files) {
    if (results.has(f)) continue;
    console.error(`test/run: ${tag} has no result for ${f}`);
    c.failed += 1;
  }
}
merged.success = c.failed === 0 && done.every((l) => l.code === 0);
writeFileSync(report, JSON.stringify(merged));

console.log("\nper-file seconds, lane by lane (table's figure in brackets):");
for (const lane of done) {
  console.log(`lane ${lane.index + 1}: ${lane.seconds} s for ${lane.files.length} files (exit ${lane.code})`);
  const rows = lane.files.map((f) => [f, results.get(f)]).sort((a, b) => (b[1]?.seconds ?? 0) - (a[1]?.seconds ?? 0));
  for (const [f, r] of rows) console.log(`  ${r ? String(Math.round(r.seconds)).padStart(5) : "    -"} s [${planned[f] ?? "new"}] ${f}${r && !r.passed ? " FAILED" : ""}`);
}
refreshTable(files, results);
finish(c, done.every((l) => l.code === 0), merged);
