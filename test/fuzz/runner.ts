// The fuzz loop: mutated seeds into a parser, and a verdict on each answer.
// A parser may return anything or throw its own Error naming the fault; a
// TypeError or RangeError from the engine, a message that does not name the
// layer, an input that takes over 200 ms, or one that makes the process
// hold far more buffer memory (a length trusted before it was checked) is a
// crash. A crash reports the seed, the iteration and the input (hex or JSON).
import { mutate as mutateBytes } from "./mutate.js";
import { prng, type Rnd } from "./prng.js";
import { beat, idle, startWatchdog, watch } from "./watchdog.js";

export const SLOW_MS = 200;
const MEMORY_LIMIT = 64 << 20;
const NATIVE = [TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError];

export interface FuzzOptions<T> {
  readonly iterations: number;
  readonly seed: number;
  /** What a clean rejection's message looks like; null when the parser must never throw. */
  readonly clean: RegExp | null;
  readonly mutate?: (rnd: Rnd, seed: T, seeds: readonly T[]) => T;
  /** The input as text for the report and the watchdog: hex for bytes, JSON for values. */
  readonly show?: (input: T) => string;
}

/** Errors a harness sees in callbacks (a rejected promise, an onError) go to `report`: judged, not counted as rejections. */
export type Parse<T> = (input: T, report: (e: unknown) => void) => unknown;

export interface FuzzStats {
  readonly name: string;
  readonly iterations: number;
  readonly rejected: number;
  readonly ms: number;
}

export function verdict(e: unknown, clean: RegExp | null): string | null {
  if (!(e instanceof Error)) return `threw a non-Error: ${String(e)}`;
  if (NATIVE.some((T) => e instanceof T)) return `${e.name} from the engine: ${e.message}\n${e.stack ?? ""}`;
  if (clean === null) return `threw, and must not: ${e.message}`;
  if (!clean.test(e.message)) return `message does not match ${clean}: ${e.message}`;
  return null;
}

const defaultShow = (v: unknown): string => (v instanceof Uint8Array ? Buffer.from(v).toString("hex") : JSON.stringify(v));

/**
 * Runs one input; the first fault found, or null. A slow input runs up to
 * twice more and is a fault only if every run is slow: a busy machine or a
 * GC pause is not the parser's doing, and a slow parser is slow every time.
 */
export async function runOne<T>(input: T, parse: Parse<T>, clean: RegExp | null): Promise<{ fault: string | null; rejected: boolean }> {
  let r = await runOnce(input, parse, clean);
  for (let retry = 0; retry < 2 && r.fault?.startsWith("took "); retry++) r = await runOnce(input, parse, clean);
  return r;
}

async function runOnce<T>(input: T, parse: Parse<T>, clean: RegExp | null): Promise<{ fault: string | null; rejected: boolean }> {
  const errors: unknown[] = [];
  let threw = false;
  const before = process.memoryUsage().arrayBuffers;
  const t0 = performance.now();
  try {
    const r = parse(input, (e) => errors.push(e));
    if (r instanceof Promise) await r;
  } catch (e) {
    threw = true;
    errors.push(e);
  }
  const ms = performance.now() - t0;
  if (ms > SLOW_MS) return { fault: `took ${ms.toFixed(0)} ms (limit ${SLOW_MS})`, rejected: false };
  const grown = process.memoryUsage().arrayBuffers - before;
  if (grown > MEMORY_LIMIT) return { fault: `buffers grew by ${grown >> 20} MB`, rejected: false };
  for (const e of errors) {
    const v = verdict(e, clean);
    if (v) return { fault: v, rejected: true };
  }
  return { fault: null, rejected: threw };
}

/** Seeds first (at least one must be accepted), then `iterations` mutants; throws on the first crash. */
export async function fuzzParser<T>(name: string, seeds: readonly T[], parse: Parse<T>, o: FuzzOptions<T>): Promise<FuzzStats> {
  const mutate = o.mutate ?? ((rnd: Rnd, s: T, all: readonly T[]) => mutateBytes(rnd, s as Uint8Array, all as unknown as readonly Uint8Array[]) as T);
  const show = o.show ?? defaultShow;
  startWatchdog();
  watch(name, o.seed);
  const rnd = prng(o.seed);
  const t0 = performance.now();
  let rejected = 0;
  let yielded = t0;
  try {
    for (let i = -seeds.length; i < o.iterations; i++) {
      // Lets the test runner's own messages through during a long run.
      if (performance.now() - yielded > 100) {
        await new Promise((r) => setImmediate(r));
        yielded = performance.now();
      }
      const input = i < 0 ? seeds[seeds.length + i]! : mutate(rnd, seeds[Math.floor(rnd() * seeds.length)]!, seeds);
      beat(i, Buffer.from(show(input)));
      const r = await runOne(input, parse, o.clean);
      if (r.fault) {
        const what = i < 0 ? `seed input ${seeds.length + i}` : `seed ${o.seed} iteration ${i}`;
        throw new Error(`fuzz ${name}: ${what}: ${r.fault}\ninput ${show(input)}`);
      }
      if (r.rejected) rejected++;
      if (i === -1 && rejected === seeds.length) throw new Error(`fuzz ${name}: every seed input is rejected: the corpus is broken`);
    }
  } finally {
    idle();
  }
  return { name, iterations: o.iterations, rejected, ms: performance.now() - t0 };
}

/** One parser's corpus and harness; `weight` scales the iteration count of a costly one. */
export interface Target<T = Uint8Array> extends Omit<FuzzOptions<T>, "iterations" | "seed"> {
  readonly name: string;
  readonly seeds: readonly T[];
  readonly parse: Parse<T>;
  readonly weight?: number;
}
