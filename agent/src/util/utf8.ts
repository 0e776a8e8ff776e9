// UTF-8 for JSON bodies: QuickJS has no TextEncoder or TextDecoder.
// Malformed input decodes to U+FFFD, as TextDecoder does by default.

/**
 * With `surrogateEscapes`, a lone U+DC80..U+DCFF stands for the raw byte 0x80..0xFF (Python's
 * "surrogateescape"): how text read from bytes that were not UTF-8 is written back unchanged.
 */
export function utf8Encode(s: string, surrogateEscapes = false): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (surrogateEscapes && c >= 0xdc80 && c < 0xdd00) {
      out.push(c - 0xdc00);
      continue;
    }
    if (c >= 0xd800 && c < 0xe000) c = 0xfffd; // a lone surrogate
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Uint8Array.from(out);
}

export function utf8Decode(b: Uint8Array): string {
  // A chunk at a time, by the engine: a string grown by one character per byte took 2.8 s for a
  // 3 MB netmap in QuickJS. A chunk with a byte above 0x7f is decoded byte by byte from there.
  const parts: string[] = [];
  for (let i = 0; i < b.length; ) {
    const end = Math.min(b.length, i + CHUNK);
    const raw = String.fromCharCode.apply(null, b.subarray(i, end) as unknown as number[]);
    const ascii = raw.search(NOT_ASCII);
    if (ascii < 0) {
      parts.push(raw);
      i = end;
      continue;
    }
    if (ascii > 0) parts.push(raw.slice(0, ascii));
    let s = "";
    for (i += ascii; i < end; ) {
      const c = b[i]!;
      let cp = 0xfffd, n = 1;
      if (c < 0x80) cp = c;
      else if (c >= 0xc2 && c < 0xe0) [cp, n] = cont(b, i, c & 0x1f, 1, 0x80);
      else if (c >= 0xe0 && c < 0xf0) [cp, n] = cont(b, i, c & 0x0f, 2, 0x800);
      else if (c >= 0xf0 && c < 0xf5) [cp, n] = cont(b, i, c & 0x07, 3, 0x10000);
      if (cp >= 0xd800 && cp < 0xe000) cp = 0xfffd;
      s += cp < 0x10000 ? String.fromCharCode(cp) : String.fromCharCode(0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff));
      i += n;
    }
    parts.push(s);
  }
  return parts.length === 1 ? parts[0]! : parts.join("");
}

/** Bytes given to one String.fromCharCode call (an engine caps a call's arguments). */
const CHUNK = 8192;
const NOT_ASCII = /[\x80-\xff]/;

function cont(b: Uint8Array, i: number, first: number, count: number, min: number): [number, number] {
  let cp = first;
  for (let k = 1; k <= count; k++) {
    const x = b[i + k];
    if (x === undefined || (x & 0xc0) !== 0x80) return [0xfffd, k];
    cp = (cp << 6) | (x & 63);
  }
  return cp < min || cp > 0x10ffff ? [0xfffd, count + 1] : [cp, count + 1];
}
