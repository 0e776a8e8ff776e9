// Stream parsers must give the same answer however the bytes arrive, so
// harnesses feed an input in pieces. The cut points come from the input's
// own checksum: the hex of a failing input is enough to repeat it.
import { crc32 } from "../../agent/src/util/crc32.js";
import { below, prng } from "./prng.js";

export function chunks(input: Uint8Array): Uint8Array[] {
  const rnd = prng(crc32(input) ^ input.length);
  if (rnd() < 0.3) return [input];
  const out: Uint8Array[] = [];
  for (let off = 0; off < input.length; ) {
    const n = 1 + below(rnd, rnd() < 0.5 ? 8 : 256);
    out.push(input.subarray(off, off + n));
    off += n;
  }
  return out;
}
