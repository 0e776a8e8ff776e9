// The outline of a JSON text in bytes: where the members of an object and
// the elements of an array start and end, without parsing them. A big map
// message is taken a piece at a time (JSON.parse of each piece), so the
// whole message never exists as one string and one parsed tree at once.
// Only the outline is checked here; each piece is checked by JSON.parse.
import { utf8Decode } from "./utf8.js";

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

/** `from` at the first byte of a value in b[.., end): the index after it. */
export function valueEnd(b: Uint8Array, from: number, end: number): number {
  return skipValue(b, from, end);
}

/**
 * Calls `visit` with each member's key byte range and the index of its value's first byte, of the
 * object in b[start, end); `visit` says where the value ends (valueEnd, or where it parsed to).
 */
export function objectMembers(b: Uint8Array, start: number, end: number, visit: (keyFrom: number, keyTo: number, from: number) => number): void {
  list(b, start, end, OPEN_OBJECT, CLOSE_OBJECT, (i) => {
    if (b[i] !== QUOTE) fail("a key expected", i);
    const keyTo = skipString(b, i, end);
    let v = skipSpace(b, keyTo, end);
    if (b[v] !== COLON) fail("':' expected", v);
    v = skipSpace(b, v + 1, end);
    return visit(i, keyTo, v);
  });
}

/** How far an element's end is looked for by its successor's first key before it is found byte by byte. */
const SEARCH = 1 << 16;
/** Candidate ends tried by JSON.parse before the element is found byte by byte. */
const TRIES = 16;
/** Bytes made into text at once (one String.fromCharCode call per CHUNK of them). */
const WINDOW = 1 << 16;
const CHUNK = 8192;
/** Anchored, so the engine runs one loop over the text (an unanchored search for a byte above 0x7f restarts at each character: 3x the time). */
const ASCII = /^[\x00-\x7f]*$/;

/**
 * Parses each element of the array at b[start] (after spaces) with JSON.parse and gives it to
 * `visit`; returns the index after the array's ']'. Throws SyntaxError or JsonOutlineError for
 * what is not JSON, as a whole parse would refuse it.
 *
 * An array of objects as a Go server writes it (Peers: thousands of nodes) is not read byte by
 * byte, which in QuickJS cost more than the parse: each element's end is a `},` followed by the
 * first key the first element started with (a struct's first field, `{"ID":`), found by the
 * engine's indexOf, and proven by JSON.parse taking exactly the text up to it (an object's text
 * is never the start of a longer one). The bytes are made into text a window at a time, a byte a
 * character; an element with bytes above 0x7f is parsed from its UTF-8 instead. Elements written
 * otherwise (spaces between them, not objects) are found byte by byte.
 */
export function parseElements(b: Uint8Array, start: number, end: number, visit: (value: unknown) => void): number {
  let i = skipSpace(b, start, end);
  if (b[i] !== OPEN_ARRAY) fail("'[' expected", i);
  i = skipSpace(b, i + 1, end);
  if (b[i] === CLOSE_ARRAY) return i + 1;
  const lead = leadOf(b, i, end);
  let win = "", winFrom = 0, winTo = 0, winAscii = true;
  /** The element in b[from, to) parsed, or NOT_JSON. */
  const parse = (from: number, to: number): unknown => {
    if (to > winTo) {
      winFrom = from;
      winTo = Math.min(end, Math.max(to, from + WINDOW));
      const ascii = asciiText?.(b.subarray(winFrom, winTo));
      win = ascii ?? latin1Text(b, winFrom, winTo);
      winAscii = ascii !== undefined ? ascii !== null : ASCII.test(win);
    }
    const text = win.slice(from - winFrom, to - winFrom);
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      return NOT_JSON;
    }
    // Valid as latin1 is valid as UTF-8: bytes above 0x7f only stand inside strings either way.
    return winAscii || ASCII.test(text) ? v : JSON.parse(utf8Decode(b.subarray(from, to)));
  };
  for (;;) {
    let to = -1;
    if (lead) {
      let tries = 0;
      for (let k = b.indexOf(OPEN_OBJECT, i + 1); k > 0 && k < end && k - i <= SEARCH && tries < TRIES; k = b.indexOf(OPEN_OBJECT, k + 1)) {
        if (b[k - 1] !== COMMA || b[k - 2] !== CLOSE_OBJECT || !startsWith(b, k, lead)) continue;
        tries++;
        const v = parse(i, k - 1);
        if (v === NOT_JSON) continue;
        visit(v);
        to = k - 1;
        break;
      }
    }
    if (to < 0) {
      to = skipValue(b, i, end);
      visit(JSON.parse(utf8Decode(b.subarray(i, to))));
    }
    i = skipSpace(b, to, end);
    if (b[i] === COMMA) {
      i = skipSpace(b, i + 1, end);
      continue;
    }
    if (b[i] !== CLOSE_ARRAY) fail("',' or ']' expected", i);
    return i + 1;
  }
}

const NOT_JSON = Symbol("not JSON");

/** The runtime's own way to make ASCII bytes text (null when one is not ASCII), when it has one: 20x faster in QuickJS. */
let asciiText: ((b: Uint8Array) => string | null) | undefined;

/** Called by the host's polyfills with the runtime's asciiText (agent/native bytes.c). */
export function useAsciiText(f: (b: Uint8Array) => string | null): void {
  asciiText = f;
}

/** The bytes an object at b[i] starts with up to its first key's colon (`{"ID":`), if it starts so. */
function leadOf(b: Uint8Array, i: number, end: number): Uint8Array | undefined {
  if (b[i] !== OPEN_OBJECT || b[i + 1] !== QUOTE) return undefined;
  const q = b.indexOf(QUOTE, i + 2);
  if (q < 0 || q + 1 >= end || q - i > 32 || b[q + 1] !== COLON || b.subarray(i + 2, q).includes(BACKSLASH)) return undefined;
  return b.slice(i, q + 2);
}

function startsWith(b: Uint8Array, at: number, lead: Uint8Array): boolean {
  for (let k = 0; k < lead.length; k++) if (b[at + k] !== lead[k]) return false;
  return true;
}

/** b[from, to) a character per byte. */
function latin1Text(b: Uint8Array, from: number, to: number): string {
  let s = "";
  for (let i = from; i < to; i += CHUNK) s += String.fromCharCode.apply(null, b.subarray(i, Math.min(to, i + CHUNK)) as unknown as number[]);
  return s;
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
