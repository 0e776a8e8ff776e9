// Byte mutations for the fuzz loops: the shapes of damage a parser meets on
// the wire. Length blowups write values that cross the usual bounds into
// every field width, so that a length trusted before it is checked shows up.
import { below, pick, type Rnd } from "./prng.js";

const INTERESTING = [0, 1, 2, 3, 4, 7, 8, 15, 16, 0x7f, 0x80, 0xff, 0x100, 0x3fff, 0x4000, 0x7fff, 0x8000, 0xffff, 0x10000, 0xffffff, 0x7fffffff, 0x80000000, 0xffffffff];

function setUint(b: Uint8Array, at: number, width: number, v: number, le: boolean): void {
  for (let k = 0; k < width && at + k < b.length; k++) {
    const byte = Math.floor(v / 2 ** (8 * k)) & 0xff;
    b[le ? at + k : at + width - 1 - k] = byte;
  }
}

const randomBytes = (rnd: Rnd, n: number) => Uint8Array.from({ length: n }, () => below(rnd, 256));

function once(rnd: Rnd, src: Uint8Array, others: readonly Uint8Array[]): Uint8Array {
  const b = Uint8Array.from(src);
  const at = () => below(rnd, b.length);
  switch (below(rnd, 9)) {
    case 0: // flip bits
      for (let k = 1 + below(rnd, 4); k > 0 && b.length; k--) b[at()]! ^= 1 << below(rnd, 8);
      return b;
    case 1: // overwrite bytes
      for (let k = 1 + below(rnd, 4); k > 0 && b.length; k--) b[at()] = below(rnd, 256);
      return b;
    case 2: // truncate
      return b.subarray(0, below(rnd, b.length + 1));
    case 3: { // a length field blown up, or set to the input's own size plus or minus one
      if (!b.length) return b;
      const width = pick(rnd, [1, 2, 3, 4]);
      const v = rnd() < 0.7 ? pick(rnd, INTERESTING) : b.length + below(rnd, 3) - 1;
      setUint(b, at(), width, v, rnd() < 0.5);
      return b;
    }
    case 4: { // splice: our head, another seed's tail
      const o = pick(rnd, others.length ? others : [src]);
      const cut = below(rnd, b.length + 1);
      const out = new Uint8Array(cut + o.length - Math.min(cut, o.length));
      out.set(b.subarray(0, cut));
      out.set(o.subarray(Math.min(cut, o.length)), cut);
      return out;
    }
    case 5: { // insert random bytes or a copy of a slice
      const pos = below(rnd, b.length + 1);
      const from = below(rnd, b.length + 1);
      const ins = rnd() < 0.5 ? randomBytes(rnd, 1 + below(rnd, 16)) : b.slice(from, from + 1 + below(rnd, 64));
      const out = new Uint8Array(b.length + ins.length);
      out.set(b.subarray(0, pos));
      out.set(ins, pos);
      out.set(b.subarray(pos), pos + ins.length);
      return out;
    }
    case 6: { // delete a slice
      const pos = below(rnd, b.length + 1);
      const n = 1 + below(rnd, 16);
      const out = new Uint8Array(b.length - Math.min(n, b.length - pos));
      out.set(b.subarray(0, pos));
      out.set(b.subarray(pos + n), pos);
      return out;
    }
    case 7: // the seed twice: framing loops and repeated state
      return Uint8Array.from([...b, ...b]);
    default: // random bytes
      return randomBytes(rnd, below(rnd, rnd() < 0.9 ? 64 : 512));
  }
}

/** One to three mutations of `src`; `others` are seeds to splice from. */
export function mutate(rnd: Rnd, src: Uint8Array, others: readonly Uint8Array[] = []): Uint8Array {
  let b = once(rnd, src, others);
  for (let k = below(rnd, 3); k > 0; k--) b = once(rnd, b, others);
  return b;
}

// Characters that steer text parsers: quotes, escapes, separators.
const TOKENS = ["'", '"', "\\", "#", "\n", "\r\n", " ", "\t", ":", "::", "/", ".", "%", "[", "]", "-", "0", "9", "\u0000", "\u00ff", "\u{1f4ac}"];

/** Text mutants: the byte mutations over Latin-1, or a steering character dropped in. */
export function mutateText(rnd: Rnd, src: string, others: readonly string[] = []): string {
  if (rnd() < 0.3) {
    const at = below(rnd, src.length + 1);
    return src.slice(0, at) + pick(rnd, TOKENS) + src.slice(at + (rnd() < 0.5 ? 1 : 0));
  }
  const enc = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
  return String.fromCharCode(...mutate(rnd, enc(src), others.map(enc)));
}
