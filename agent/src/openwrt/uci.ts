// UCI configuration files, read exactly as OpenWrt's libuci reads them
// (uci's file.c: uci_import in strict mode, as `uci` and every daemon load a
// config) and written back the way `uci export` and `uci commit` do (every
// value single-quoted; comments, like uci's, are not kept).
//
// The reader follows libuci's own steps over the file's bytes: its line
// buffer (fgets, so a NUL byte cuts its line and joins the next one on),
// strtok on " \t" for the keyword but isspace() between arguments, ';' as a
// command separator, quotes running over lines, backslash-newline, the
// one-letter keywords, and libuci's merge rules (an empty option is ignored,
// `list` after `option` keeps both values, a later `option` replaces a list
// in place, a named section given twice is one section). Anything libuci
// refuses is refused with libuci's reason and the line.

import { utf8Encode } from "../util/utf8.js";

export interface UciSection {
  readonly type: string;
  /** Undefined for an anonymous section. */
  readonly name?: string;
  readonly options: Map<string, string | string[]>;
}

export interface UciPackage {
  readonly name: string;
  readonly sections: UciSection[];
}

export class UciError extends Error {
  constructor(
    readonly file: string,
    /** The file's line (libuci counts one less on an unterminated last line, and skips lines after a NUL). */
    readonly line: number,
    /** libuci's words for the fault, e.g. "invalid command". */
    readonly reason: string,
    detail?: string,
  ) {
    super(`${file}:${line}: ${reason}${detail ? `: ${detail}` : ""}`);
  }
}

const NUL = 0, TAB = 9, LF = 10, CR = 13, SPACE = 32;
const SQ = 0x27, DQ = 0x22, HASH = 0x23, SEMI = 0x3b, BACKSLASH = 0x5c;

// C's isspace and isalnum in the C locale, as the uci CLI runs.
const isSpace = (c: number) => c === SPACE || (c >= TAB && c <= CR);
const isAlnum = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

/** uci_validate_str: names take letters, digits and '_' (package names also '-'); types any printable ASCII. */
function validStr(s: Uint8Array, name: boolean, pkg: boolean): boolean {
  if (!s.length) return false;
  for (const c of s) {
    if (isAlnum(c) || c === 0x5f) continue;
    if (c === 0x2d && pkg) continue;
    if (name || c < 33 || c > 126) return false;
  }
  return true;
}

/** One line after another as uci_getln reads them with fgets into its growing buffer. */
class LineBuffer {
  buf = new Uint8Array(32);
  /** Bytes the buffer holds up to the last fgets (libuci's buf_filled). */
  filled = 0;
  pos = 0;
  private at = 0;
  eof = false;

  constructor(private readonly src: Uint8Array) {}

  /** The file's line the reader is on: the newlines consumed, plus an unterminated last line. */
  line(): number {
    let n = 0;
    for (let i = 0; i < this.at; i++) if (this.src[i] === LF) n++;
    return this.at > 0 && this.src[this.at - 1] !== LF ? n + 1 : Math.max(n, 1);
  }

  private grow(): void {
    const b = new Uint8Array(this.buf.length * 2);
    b.set(this.buf);
    this.buf = b;
  }

  /** fgets(buf + ofs, size, file): true when it read anything. */
  private fgets(ofs: number, size: number): boolean {
    let n = 0;
    while (n < size - 1) {
      if (this.at >= this.src.length) {
        this.eof = true;
        break;
      }
      const c = this.src[this.at++]!;
      this.buf[ofs + n++] = c;
      if (c === LF) break;
    }
    if (n === 0 && this.eof) return false;
    this.buf[ofs + n] = NUL;
    return true;
  }

  /** uci_getln: the next line read in at `offset`, the buffer doubled while it does not fit. */
  getln(offset: number): void {
    if (offset >= this.buf.length - 1) this.grow();
    let ofs = offset;
    for (;;) {
      this.buf[ofs] = NUL;
      if (!this.fgets(ofs, this.buf.length - ofs) || this.buf[ofs] === NUL) return;
      ofs += this.strlen(ofs);
      this.filled = ofs;
      if (this.buf[ofs - 1] === LF) return;
      this.grow();
    }
  }

  strlen(i: number): number {
    let n = 0;
    while (i + n < this.buf.length && this.buf[i + n] !== NUL) n++;
    return n;
  }

  str(i: number): Uint8Array {
    return this.buf.slice(i, i + this.strlen(i));
  }

  get cur(): number {
    return this.buf[this.pos]!;
  }

  set cur(c: number) {
    this.buf[this.pos] = c;
  }
}

class Fault {
  constructor(readonly reason: string, readonly detail?: string) {}
}

/** The command parser of file.c over one file, building the package as libuci's list.c does. */
class Reader {
  readonly b: LineBuffer;
  readonly sections: Section[] = [];
  private section: Section | undefined;
  /** libuci's n_section: every section allocated so far, named in anonymous names. */
  private count = 0;

  constructor(src: Uint8Array) {
    this.b = new LineBuffer(src);
  }

  run(): void {
    const b = this.b;
    while (!b.eof) {
      b.pos = 0;
      b.getln(0);
      if (b.buf[0] !== NUL) this.parseLine();
    }
  }

  /** parse_backslash: false when it was a backslash-newline and the next line is read in its place. */
  private backslash(): boolean {
    const b = this.b;
    b.pos++;
    const c = b.cur;
    if (c === NUL || c === LF || (c === CR && b.buf[b.pos + 1] === LF && b.buf[b.pos + 2] === NUL)) {
      b.getln(b.pos);
      return false;
    }
    return true;
  }

  private skipWhitespace(): void {
    const b = this.b;
    while (b.cur !== NUL && isSpace(b.cur)) b.pos++;
  }

  private doubleQuote(t: { at: number }): void {
    const b = this.b;
    b.pos++;
    for (;;) {
      const c = b.cur;
      if (c === DQ) {
        b.pos++;
        return;
      }
      if (c === NUL) {
        b.getln(b.pos);
        if (b.cur === NUL) throw new Fault('EOF with unterminated "');
        continue;
      }
      if (c === BACKSLASH && !this.backslash()) continue;
      b.buf[t.at++] = b.buf[b.pos++]!;
    }
  }

  private singleQuote(t: { at: number }): void {
    const b = this.b;
    b.pos++;
    for (;;) {
      const c = b.cur;
      if (c === SQ) {
        b.pos++;
        return;
      }
      if (c === NUL) {
        b.getln(b.pos);
        if (b.cur === NUL) throw new Fault("EOF with unterminated '");
        continue;
      }
      b.buf[t.at++] = b.buf[b.pos++]!;
    }
  }

  /** parse_str: one argument, unquoted and unescaped in place. */
  private parseStr(t: { at: number }): void {
    const b = this.b;
    let next = true;
    scan: do {
      switch (b.cur) {
        case SQ:
          this.singleQuote(t);
          break;
        case DQ:
          this.doubleQuote(t);
          break;
        case HASH:
          b.cur = NUL;
          break scan;
        case NUL:
          break scan;
        case SEMI:
          next = false;
          break scan;
        case BACKSLASH:
          if (!this.backslash()) continue;
          b.buf[t.at++] = b.buf[b.pos++]!;
          break;
        default:
          b.buf[t.at++] = b.buf[b.pos++]!;
      }
    } while (b.cur !== NUL && !isSpace(b.cur));
    if (b.cur !== NUL && next) b.pos++;
    b.buf[t.at] = NUL;
  }

  /** next_arg: the offset of the next argument, validated as a name when asked. */
  private nextArg(required: boolean, name: boolean, pkg: boolean, what: string): number {
    const b = this.b;
    this.skipWhitespace();
    const val = b.pos;
    if (b.cur === SEMI) {
      b.cur = NUL;
      b.pos++;
    } else this.parseStr({ at: val });
    if (b.buf[val] === NUL) {
      if (required) throw new Fault("insufficient arguments", `no ${what}`);
      return val;
    }
    if (name && !validStr(b.str(val), name, pkg)) throw new Fault("invalid character in name field", `${what} ${quoteBytes(b.str(val))}`);
    return val;
  }

  /** assert_eol: strict mode refuses anything left on the command. */
  private assertEol(): void {
    this.skipWhitespace();
    const extra = this.b.str(this.nextArg(false, false, false, ""));
    if (extra.length) throw new Fault("too many arguments", `${quoteBytes(extra)} is one too many`);
  }

  /** uci_increase_pos past the keyword strtok terminated. */
  private pastKeyword(missing: string): void {
    const b = this.b;
    const add = b.strlen(b.pos) + 1;
    if (b.pos + add > b.filled) throw new Fault(missing);
    b.pos += add;
  }

  private parsePackage(): void {
    this.pastKeyword("package without name");
    this.nextArg(true, true, true, "package name");
    this.assertEol();
    // A file loaded as one package keeps its file's name: libuci ignores the line.
  }

  private parseConfig(): void {
    const b = this.b;
    this.pastKeyword("config without name");
    const type = b.str(this.nextArg(true, false, false, "section type"));
    if (!validStr(type, false, false)) throw new Fault("invalid character in type field", quoteBytes(type));
    const name = latin(b.str(this.nextArg(false, true, false, "section name")));
    this.assertEol();
    const t = latin(type);
    if (!name) {
      this.count++;
      const s: Section = { type: t, name: `cfg${hex(this.count, 2)}${hex(djbhash(t) % 0x10000, 4)}`, anonymous: true, options: new Map() };
      this.sections.push(s);
      this.section = s;
      return;
    }
    const prev = this.sections.find((s) => s.name === name);
    if (prev) {
      if (prev.type !== t) throw new Fault("section of different type overwrites prior section with same name", `${quoteText(name)} is a ${quoteText(prev.type)}, not a ${quoteText(t)}`);
      this.section = prev;
      return;
    }
    this.count++;
    this.section = { type: t, name, anonymous: false, options: new Map() };
    this.sections.push(this.section);
  }

  private parseOption(list: boolean): void {
    const b = this.b;
    const s = this.section;
    if (!s) throw new Fault("option/list command found before the first section");
    this.pastKeyword("option without name");
    const name = latin(b.str(this.nextArg(true, true, false, "option name")));
    const value = decodeValue(b.str(this.nextArg(false, false, false, "")));
    this.assertEol();
    const prev = s.options.get(name);
    if (list) s.options.set(name, prev === undefined ? [value] : Array.isArray(prev) ? [...prev, value] : [prev, value]);
    // uci_set with an empty value deletes only what a full lookup found, and the parser never looks one up.
    else if (value !== "") s.options.set(name, value);
  }

  /** uci_parse_line: commands separated by ';', each keyword cut by strtok on " \t". */
  private parseLine(): void {
    const b = this.b;
    this.skipWhitespace();
    for (;;) {
      let start = b.pos;
      while (b.buf[start] === SPACE || b.buf[start] === TAB) start++;
      if (b.buf[start] === NUL) return;
      let end = start;
      while (b.buf[end] !== NUL && b.buf[end] !== SPACE && b.buf[end] !== TAB) end++;
      b.buf[end] = NUL;
      const word = b.buf.slice(start, end);
      const is = (full: string) => word.length === 1 || (word.length === full.length && latin(word) === full);
      switch (word[0]) {
        case HASH:
          return;
        case 0x70: // p
          if (!is("package")) break;
          this.parsePackage();
          continue;
        case 0x63: // c
          if (!is("config")) break;
          this.parseConfig();
          continue;
        case 0x6f: // o
          if (!is("option")) break;
          this.parseOption(false);
          continue;
        case 0x6c: // l
          if (!is("list")) break;
          this.parseOption(true);
          continue;
      }
      throw new Fault("invalid command", `${quoteBytes(word)} (want config, option, list or package)`);
    }
  }
}

interface Section {
  readonly type: string;
  readonly name: string;
  readonly anonymous: boolean;
  readonly options: Map<string, string | string[]>;
}

/** libuci's djbhash over a section type (ASCII: types are validated), as its anonymous names use. */
function djbhash(s: string): number {
  let h = 5381;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 33) + s.charCodeAt(i)) >>> 0;
  return h & 0x7fffffff;
}

const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");

/** Bytes already checked to be ASCII (names and types), or compared with an ASCII keyword. */
function latin(b: Uint8Array): string {
  let s = "";
  for (const c of b) s += String.fromCharCode(c);
  return s;
}

/**
 * A value's bytes as text: UTF-8, with any byte that is not part of valid
 * UTF-8 kept as the lone surrogate U+DC80..U+DCFF (as Python's
 * surrogateescape does), so that encodeUci writes the same bytes back.
 */
export function decodeValue(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    const n = c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0;
    let cp = n === 1 ? c : c & (0xff >> (n + 1));
    let ok = n > 0 && i + n <= b.length;
    for (let k = 1; ok && k < n; k++) {
      const x = b[i + k]!;
      if ((x & 0xc0) !== 0x80) ok = false;
      cp = (cp << 6) | (x & 0x3f);
    }
    if (ok && n > 1 && (cp < [0, 0, 0x80, 0x800, 0x10000][n]! || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000))) ok = false;
    if (!ok) {
      s += String.fromCharCode(0xdc00 + c);
      i++;
      continue;
    }
    s += String.fromCodePoint(cp);
    i += n;
  }
  return s;
}

/** The inverse of decodeValue: UTF-8, with U+DC80..U+DCFF back to the raw bytes they stand for. */
export const encodeText = (s: string): Uint8Array => utf8Encode(s, true);

/** Bytes for a message: quoted, control characters and non-ASCII escaped, a long one cut short. */
function quoteBytes(b: Uint8Array): string {
  const q = JSON.stringify(decodeValue(b.subarray(0, 40))).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return b.length > 40 ? `${q}... (${b.length} bytes)` : q;
}

const quoteText = (s: string) => quoteBytes(encodeText(s));

/**
 * The package in `file` as libuci loads it under the name `pkg` (the file's
 * name: a `package` line in the file does not change it). Throws UciError
 * with libuci's reason and the line where libuci refuses the file.
 */
export function parseUci(content: string | Uint8Array, file: string, pkg: string): UciPackage {
  const r = new Reader(typeof content === "string" ? encodeText(content) : content);
  try {
    r.run();
  } catch (e) {
    if (e instanceof Fault) throw new UciError(file, r.b.line(), e.reason, e.detail);
    throw e;
  }
  return {
    name: pkg,
    sections: r.sections.map((s) => ({ type: s.type, ...(s.anonymous ? {} : { name: s.name }), options: s.options })),
  };
}

/** uci_escape: a single quote as '\'' (libuci adds the surrounding quotes itself, or not, as it prints). */
const escape = (v: string) => v.replace(/'/g, "'\\''");

/** The file as `uci commit` writes it, or with the package line as `uci export` prints it. */
export function formatUci(p: UciPackage, withPackageLine = false): string {
  let out = withPackageLine ? `package ${escape(p.name)}\n` : "";
  for (const s of p.sections) {
    out += `\nconfig ${escape(s.type)}${s.name !== undefined ? ` '${escape(s.name)}'` : ""}\n`;
    for (const [k, v] of s.options) {
      if (Array.isArray(v)) for (const item of v) out += `\tlist ${escape(k)} '${escape(item)}'\n`;
      else out += `\toption ${escape(k)} '${escape(v)}'\n`;
    }
  }
  return `${out}\n`;
}

/** formatUci's text as the file's bytes, values' raw bytes kept (see decodeValue). */
export const encodeUci = (p: UciPackage, withPackageLine = false): Uint8Array => encodeText(formatUci(p, withPackageLine));
