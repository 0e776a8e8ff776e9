// The CBOR that tailnet lock signs (RFC 8949 in the CTAP2 canonical form
// tailscale's tka package writes: shortest lengths, map keys in order):
// unsigned and negative integers, byte and text strings, arrays, maps,
// booleans and null. Enough to read node-key signatures and AUMs and to
// write signatures byte for byte as tailscale does.
import { utf8Decode, utf8Encode } from "../util/utf8.js";

export type Cbor = number | bigint | Uint8Array | string | boolean | null | Cbor[] | CborMap;
/** Map keys as CBOR has them: tailscale's are small integers, AUM metadata's are strings. */
export type CborMap = Map<number | string, Cbor>;

export class CborError extends Error {}

function head(major: number, n: number | bigint, out: number[]): void {
  const v = BigInt(n);
  const m = major << 5;
  if (v < 24n) out.push(m | Number(v));
  else if (v < 0x100n) out.push(m | 24, Number(v));
  else if (v < 0x10000n) out.push(m | 25, Number(v >> 8n), Number(v & 0xffn));
  else if (v < 0x100000000n) out.push(m | 26, ...[24n, 16n, 8n, 0n].map((s) => Number((v >> s) & 0xffn)));
  else out.push(m | 27, ...[56n, 48n, 40n, 32n, 24n, 16n, 8n, 0n].map((s) => Number((v >> s) & 0xffn)));
}

/** Map keys in the canonical order: by their encoded bytes, shorter first (CTAP2). */
function keyOrder(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

function enc(v: Cbor, out: number[]): void {
  if (v === null) return void out.push(0xf6);
  if (v === true || v === false) return void out.push(v ? 0xf5 : 0xf4);
  if (typeof v === "number" || typeof v === "bigint") {
    if (typeof v === "number" && !Number.isInteger(v)) throw new CborError(`cbor: ${v} is not an integer`);
    return BigInt(v) < 0n ? head(1, -1n - BigInt(v), out) : head(0, v, out);
  }
  if (v instanceof Uint8Array) {
    head(2, v.length, out);
    for (const b of v) out.push(b);
    return;
  }
  if (typeof v === "string") {
    const b = utf8Encode(v);
    head(3, b.length, out);
    for (const x of b) out.push(x);
    return;
  }
  if (Array.isArray(v)) {
    head(4, v.length, out);
    for (const x of v) enc(x, out);
    return;
  }
  const entries = [...v.entries()].map(([k, x]) => ({ k: encodeCbor(k), x })).sort((a, b) => keyOrder(a.k, b.k));
  head(5, entries.length, out);
  for (const e of entries) {
    for (const b of e.k) out.push(b);
    enc(e.x, out);
  }
}

export function encodeCbor(v: Cbor): Uint8Array {
  const out: number[] = [];
  enc(v, out);
  return Uint8Array.from(out);
}

const MAX_DEPTH = 32;

/** Decodes exactly one item filling `b`; throws CborError on anything else. */
export function decodeCbor(b: Uint8Array): Cbor {
  let off = 0;
  const need = (n: number) => {
    if (off + n > b.length) throw new CborError(`cbor: truncated at byte ${off}`);
  };
  const arg = (info: number): bigint => {
    if (info < 24) return BigInt(info);
    const len = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
    if (!len) throw new CborError(`cbor: indefinite or reserved length at byte ${off - 1}`);
    need(len);
    let v = 0n;
    for (let i = 0; i < len; i++) v = (v << 8n) | BigInt(b[off++]!);
    return v;
  };
  const small = (v: bigint): number | bigint => (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
  const length = (v: bigint): number => {
    if (v > BigInt(b.length - off)) throw new CborError(`cbor: length ${v} past the end at byte ${off}`);
    return Number(v);
  };
  const item = (depth: number): Cbor => {
    if (depth > MAX_DEPTH) throw new CborError("cbor: nested too deep");
    need(1);
    const ib = b[off++]!;
    const major = ib >> 5;
    const info = ib & 31;
    switch (major) {
      case 0: return small(arg(info));
      case 1: { const v = -1n - arg(info); return v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v; }
      case 2: { const n = length(arg(info)); off += n; return b.slice(off - n, off); }
      case 3: { const n = length(arg(info)); off += n; return utf8Decode(b.subarray(off - n, off)); }
      case 4: { const n = length(arg(info)); const a: Cbor[] = []; for (let i = 0; i < n; i++) a.push(item(depth + 1)); return a; }
      case 5: {
        const n = length(arg(info));
        const m: CborMap = new Map();
        for (let i = 0; i < n; i++) {
          const k = item(depth + 1);
          if (typeof k !== "number" && typeof k !== "string") throw new CborError(`cbor: map key of type ${typeof k} at byte ${off}`);
          m.set(k, item(depth + 1));
        }
        return m;
      }
      case 7:
        if (info === 20 || info === 21) return info === 21;
        if (info === 22) return null;
        throw new CborError(`cbor: simple value or float ${info} at byte ${off - 1}`);
      default:
        throw new CborError(`cbor: tag (major type 6) at byte ${off - 1}`);
    }
  };
  const v = item(0);
  if (off !== b.length) throw new CborError(`cbor: ${b.length - off} bytes after the item`);
  return v;
}
