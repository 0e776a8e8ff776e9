// Calls `ubus call OBJECT METHOD` (OpenWrt's own ubus CLI, through ubusd) for
// each OBJECT.METHOD given, in turn, GAP_MS apart, for SECONDS, timing each
// call from the CLI's start to its exit; run inside the router's namespaces,
// where ubusd's socket is /var/run/ubus/ubus.sock. A second object (procd's
// `system info`) beside meshwrt's tells the agent's delays from the machine's.
//   node ubus-latency.mjs SECONDS GAP_MS OBJECT.METHOD...
// Prints JSON {calls: [{call, at (ms since the epoch), ms, code, state}]}
// (state: the answer's "state" field, when it has one).
import { execFile } from "node:child_process";
import { performance } from "node:perf_hooks";

const [seconds, gap, ...targets] = process.argv.slice(2);
const call = (target) =>
  new Promise((resolve) => {
    const [object, method] = target.split(".");
    const at = Date.now();
    const t = performance.now();
    execFile("ubus", ["-t", "5", "call", object, method], { timeout: 10_000 }, (err, stdout) => {
      const ms = performance.now() - t;
      let state = "";
      try {
        state = JSON.parse(stdout).state ?? "";
      } catch {
        // An answer that is not JSON: code and state say so.
      }
      resolve({ call: target, at, ms: Math.round(ms * 10) / 10, code: err ? (typeof err.code === "number" ? err.code : -1) : 0, state });
    });
  });

const calls = [];
const end = performance.now() + Number(seconds) * 1000;
while (performance.now() < end) {
  for (const target of targets) {
    calls.push(await call(target));
    await new Promise((r) => setTimeout(r, Number(gap)));
  }
}
console.log(JSON.stringify({ calls }));
