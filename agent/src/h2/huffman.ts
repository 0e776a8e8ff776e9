// HPACK's Huffman code (RFC 7541, Appendix B). The code is canonical, so the
// bit length of each symbol's code is all that needs to be stored: codes are
// assigned in order of (length, symbol), and EOS is the all-ones 30-bit code.

// prettier-ignore
const LENGTHS = [13,23,28,28,28,28,28,28,28,24,30,28,28,30,28,28,28,28,28,28,28,28,30,28,28,28,28,28,28,28,28,28,6,10,10,12,13,6,8,11,10,10,8,11,8,6,6,6,5,5,5,6,6,6,6,6,6,6,7,8,15,6,12,10,13,6,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,8,7,8,13,19,13,14,6,15,5,6,5,6,5,6,6,6,5,7,7,6,6,6,5,6,7,6,5,5,6,7,7,7,7,7,15,11,14,13,28,20,22,20,20,22,22,22,23,22,23,23,23,23,23,24,23,24,24,22,23,24,23,23,23,23,21,22,23,22,23,23,24,22,21,20,22,22,23,23,21,23,22,22,24,21,22,23,23,21,21,22,21,23,22,23,23,20,22,22,22,23,22,22,23,26,26,20,19,22,23,22,25,26,26,26,27,27,26,24,25,19,21,26,27,27,26,27,24,21,21,26,26,28,27,27,27,20,24,20,21,22,21,21,23,22,22,25,25,24,24,26,23,26,27,26,26,27,27,27,27,27,28,27,27,27,27,27,26];

const MAX_LEN = 30;
// For each length: the first code of that length, and where its symbols start.
const firstCode = new Array<number>(MAX_LEN + 2).fill(0);
const count = new Array<number>(MAX_LEN + 2).fill(0);
const offset = new Array<number>(MAX_LEN + 2).fill(0);
const symbols = Array.from({ length: 256 }, (_, i) => i).sort((a, b) => LENGTHS[a]! - LENGTHS[b]! || a - b);
for (const l of LENGTHS) count[l]!++;
{
  let code = 0, sym = 0;
  for (let l = 1; l <= MAX_LEN; l++) {
    firstCode[l] = code;
    offset[l] = sym;
    sym += count[l]!;
    code = (code + count[l]!) * 2;
  }
}

export class HuffmanError extends Error {}

export function huffmanDecode(src: Uint8Array): Uint8Array {
  const out: number[] = [];
  let code = 0, len = 0;
  for (const byte of src) {
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1);
      len++;
      if (len > MAX_LEN) throw new HuffmanError("hpack: Huffman code longer than 30 bits");
      const i = code - firstCode[len]!;
      if (i >= 0 && i < count[len]!) {
        out.push(symbols[offset[len]! + i]!);
        code = 0;
        len = 0;
      }
    }
  }
  // What is left must be a prefix of EOS (all ones), shorter than a byte.
  if (len > 7 || code !== 2 ** len - 1) throw new HuffmanError("hpack: bad Huffman padding");
  return Uint8Array.from(out);
}

export function huffmanEncode(src: Uint8Array): Uint8Array {
  const codes = huffmanCodes();
  const out: number[] = [];
  let acc = 0, bits = 0;
  for (const b of src) {
    const l = LENGTHS[b]!;
    for (let i = l - 1; i >= 0; i--) {
      acc = (acc << 1) | (Math.floor(codes[b]! / 2 ** i) & 1);
      if (++bits === 8) {
        out.push(acc);
        acc = bits = 0;
      }
    }
  }
  if (bits) out.push(((acc << (8 - bits)) | ((1 << (8 - bits)) - 1)) & 0xff);
  return Uint8Array.from(out);
}

let codeCache: number[] | undefined;
function huffmanCodes(): number[] {
  if (codeCache) return codeCache;
  const codes = new Array<number>(256);
  const next = firstCode.slice();
  for (const s of symbols) codes[s] = next[LENGTHS[s]!]!++;
  return (codeCache = codes);
}
