// A tiny test API for pure modules, so the same cases run under Node (vitest)
// and inside QuickJS (quickjs-emscripten and our own runtime): engine
// differences show up in CI, not on a router.
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";

export interface Case {
  readonly suite: string;
  readonly name: string;
  readonly run: () => void | Promise<void>;
}

export const cases: Case[] = [];

export function suite(name: string, body: (check: (caseName: string, run: () => void | Promise<void>) => void) => void): void {
  body((caseName, run) => cases.push({ suite: name, name: caseName, run }));
}

export function hex(s: string): Uint8Array {
  return hexToBytes(s.replace(/\s+/g, ""));
}

/**
 * The machine's byte order, found here rather than taken from the code under
 * test. Kernel structures (netlink headers and attributes, sockaddr families)
 * are in this order: big-endian on ath79's MIPS, little on x86 and ARM.
 */
export const HOST_LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(0x11223344).buffer)[0] === 0x44;

/** A 16-bit number as hex in the host's byte order, for kernel-structure vectors. */
export function host16(n: number): string {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, n, HOST_LITTLE_ENDIAN);
  return bytesToHex(b);
}

/** A 32-bit number as hex in the host's byte order, for kernel-structure vectors. */
export function host32(n: number): string {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, HOST_LITTLE_ENDIAN);
  return bytesToHex(b);
}

/** A 64-bit number as hex in the host's byte order, for kernel-structure vectors. */
export function host64(n: bigint): string {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n, HOST_LITTLE_ENDIAN);
  return bytesToHex(b);
}

export function eqBytes(actual: Uint8Array | null, expected: Uint8Array | string, what: string): void {
  const want = typeof expected === "string" ? expected.replace(/\s+/g, "") : bytesToHex(expected);
  const got = actual === null ? "null" : bytesToHex(actual);
  if (got !== want) throw new Error(`${what}: got ${got}, want ${want}`);
}

export function eq<T>(actual: T, expected: T, what: string): void {
  if (actual !== expected) throw new Error(`${what}: got ${String(actual)}, want ${String(expected)}`);
}

export function throws(fn: () => unknown, match: RegExp, what: string): void {
  try {
    fn();
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (!match.test(msg)) throw new Error(`${what}: threw "${msg}", want ${match}`);
    return;
  }
  throw new Error(`${what}: did not throw`);
}

export interface Outcome {
  suite: string;
  name: string;
  ok: boolean;
  error?: string;
}

export async function runAll(): Promise<Outcome[]> {
  const out: Outcome[] = [];
  for (const c of cases) {
    try {
      await c.run();
      out.push({ suite: c.suite, name: c.name, ok: true });
    } catch (e) {
      out.push({ suite: c.suite, name: c.name, ok: false, error: e instanceof Error ? e.message : String(e) });
    }
  }
  return out;
}
