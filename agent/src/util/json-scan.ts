// The outline of a JSON text in bytes: where the members of an object and
// the elements of an array start and end, without parsing them. A big map
// message is taken a piece at a time (JSON.parse of each piece), so the
// whole message never exists as one string and one parsed tree at once.
// Only the outline is checked here; each piece is checked by JSON.parse.

const QUOTE = 0x22, BACKSLASH = 0x5c, COMMA = 0x2c, COLON = 0x3a;
const OPEN_OBJECT = 0x7b, CLOSE_OBJECT = 0x7d, OPEN_ARRAY = 0x5b, CLOSE_ARRAY = 0x5d;

export class JsonOutlineError extends Error {}

const isSpace = (c: number | undefined) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

function skipSpace(b: Uint8Array, i: number, end: number): number {
  while (i < end && isSpace(b[i])) i++;
  return i;
}

function fail(what: string, at: number): never {
  throw new JsonOutlineError(`${what} at byte ${at}`);
}

/** `i` at an opening quote: the index after its closing quote (found by the engine, not byte by byte). */
function skipString(b: Uint8Array, i: number, end: number): number {
  for (let from = i + 1; ; ) {
    const q = b.indexOf(QUOTE, from);
    if (q < 0 || q >= end) fail("unterminated string", i);
    let k = q - 1;
    while (b[k] === BACKSLASH) k--;
    // An even number of backslashes before it: the quote ends the string.
    if ((q - 1 - k) % 2 === 0) return q + 1;
    from = q + 1;
  }
}

/** `i` at the first byte of a value: the index after it. */
function skipValue(b: Uint8Array, i: number, end: number): number {
  const c = b[i];
  if (c === QUOTE) return skipString(b, i, end);
  if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
    let depth = 0;
    for (let k = i; k < end; ) {
      const d = b[k]!;
      if (d === QUOTE) {
        k = skipString(b, k, end);
        continue;
      }
      if (d === OPEN_OBJECT || d === OPEN_ARRAY) depth++;
      else if ((d === CLOSE_OBJECT || d === CLOSE_ARRAY) && --depth === 0) return k + 1;
      k++;
    }
    fail("unterminated value", i);
  }
  let k = i;
  while (k < end && b[k] !== COMMA && b[k] !== CLOSE_OBJECT && b[k] !== CLOSE_ARRAY && !isSpace(b[k])) k++;
  if (k === i) fail("a value expected", i);
  return k;
}

/** Calls `visit` with each element's byte range of the array in b[start, end). */
export function arrayElements(b: Uint8Array, start: number, end: number, visit: (from: number, to: number) => void): void {
  list(b, start, end, OPEN_ARRAY, CLOSE_ARRAY, (i) => {
    const to = skipValue(b, i, end);
    visit(i, to);
    return to;
  });
}

/** Calls `visit` with each member's key byte range and value byte range of the object in b[start, end). */
export function objectMembers(b: Uint8Array, start: number, end: number, visit: (keyFrom: number, keyTo: number, from: number, to: number) => void): void {
  list(b, start, end, OPEN_OBJECT, CLOSE_OBJECT, (i) => {
    if (b[i] !== QUOTE) fail("a key expected", i);
    const keyTo = skipString(b, i, end);
    let v = skipSpace(b, keyTo, end);
    if (b[v] !== COLON) fail("':' expected", v);
    v = skipSpace(b, v + 1, end);
    const to = skipValue(b, v, end);
    visit(i, keyTo, v, to);
    return to;
  });
}

function list(b: Uint8Array, start: number, end: number, open: number, close: number, item: (i: number) => number): void {
  let i = skipSpace(b, start, end);
  if (b[i] !== open) fail(`'${String.fromCharCode(open)}' expected`, i);
  i = skipSpace(b, i + 1, end);
  if (b[i] === close) i++;
  else {
    for (;;) {
      i = skipSpace(b, item(i), end);
      if (b[i] === COMMA) {
        i = skipSpace(b, i + 1, end);
        continue;
      }
      if (b[i] !== close) fail(`',' or '${String.fromCharCode(close)}' expected`, i);
      i++;
      break;
    }
  }
  if (skipSpace(b, i, end) !== end) fail("trailing bytes", i);
}
