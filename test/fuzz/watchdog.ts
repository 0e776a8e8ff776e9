// A parser stuck in a loop never returns to the fuzz runner, so a worker
// thread watches the runner's heartbeat in shared memory. When an input has
// run for too long, it prints the target, seed and input, and kills the
// process: a hang must fail loudly with its input, not stall the test run.
import { Worker } from "node:worker_threads";

const MAX_INPUT = 64 << 10;
// Int32 slots: 0 heartbeat (iteration + 1, 0 when idle), 1 input length, 2 seed.
const header = new SharedArrayBuffer(16);
const bytes = new SharedArrayBuffer(MAX_INPUT);
const name = new SharedArrayBuffer(256);

const WATCHER = `
const { workerData } = require("node:worker_threads");
const fs = require("node:fs");
const h = new Int32Array(workerData.header), bytes = new Uint8Array(workerData.bytes), name = new Uint8Array(workerData.name);
let last = 0, since = Date.now();
setInterval(() => {
  const beat = Atomics.load(h, 0);
  if (beat !== last || beat === 0) { last = beat; since = Date.now(); return; }
  if (Date.now() - since < workerData.limitMs) return;
  const target = Buffer.from(name.subarray(0, name.indexOf(0))).toString();
  const input = Buffer.from(bytes.subarray(0, h[1])).toString();
  fs.writeSync(2, "fuzz " + target + ": seed " + h[2] + " iteration " + (beat - 1) + " HANGS (no answer in " + workerData.limitMs + " ms)\\ninput " + input + "\\n");
  process.kill(process.pid, "SIGKILL");
}, 250);
`;

let started = false;

/** Starts the watcher once per process. */
export function startWatchdog(limitMs = 10_000): void {
  if (started) return;
  started = true;
  new Worker(WATCHER, { eval: true, workerData: { header, bytes, name, limitMs } }).unref();
}

const h = new Int32Array(header);

/** Names what the next beats are about. */
export function watch(target: string, seed: number): void {
  const nb = new Uint8Array(name);
  nb.fill(0);
  nb.set(Buffer.from(target).subarray(0, 255));
  h[2] = seed;
}

/** Called before each input: its iteration number and bytes. */
export function beat(iteration: number, input: Uint8Array): void {
  const n = Math.min(input.length, MAX_INPUT);
  new Uint8Array(bytes).set(input.subarray(0, n));
  h[1] = n;
  Atomics.store(h, 0, iteration + 1);
}

export function idle(): void {
  Atomics.store(h, 0, 0);
}
