// IP addresses, prefixes and endpoints as bytes, with their text forms
// (dotted quad, RFC 5952 for IPv6). Parsing is strict: a netmap or a UCI
// value with a bad address is reported, never half-understood.

export type IpBytes = Uint8Array; // 4 or 16 bytes

export interface Prefix {
  readonly ip: IpBytes;
  readonly bits: number;
}

export interface Endpoint {
  readonly ip: IpBytes;
  readonly port: number;
}

export function parseIp(s: string): IpBytes {
  const ip = s.includes(":") ? parseIp6(s) : parseIp4(s);
  if (!ip) throw new Error(`bad IP address ${JSON.stringify(s)}`);
  return ip;
}

// Parsed and printed by hand, a character at a time: a 5,000-peer netmap parses and prints some
// 20,000 addresses, and split/regex/join forms cost 12-28 us each in QuickJS (~0.4 s in all).

/** A decimal of 1-3 digits without a leading zero, in s[from, to); -1 when it is not one. */
function decimal(s: string, from: number, to: number): number {
  const len = to - from;
  if (len < 1 || len > 3) return -1;
  let v = 0;
  for (let i = from; i < to; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9 || (d === 0 && i === from && len > 1)) return -1;
    v = v * 10 + d;
  }
  return v;
}

const OCTET = "(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
/** Dotted quad: four decimals 0-255, no leading zeros (a regex runs in C: 3 us an address, against 4.6 a character at a time). */
const DOTTED = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

function parseIp4(s: string): IpBytes | null {
  const m = DOTTED.exec(s);
  if (!m) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) out[i] = +m[i + 1]!;
  return out;
}

/** A hex digit's value, -1 for any other character. */
function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** The groups of an IPv6 address as parsed, reused from call to call (9: one past the most there can be). */
const groups6 = new Uint16Array(9);

/** The 8 groups of an IPv6 address, "::" filled in, reused from call to call (readIp6). */
const expanded6 = new Uint16Array(8);

/**
 * The 8 groups of an IPv6 address written as hex groups (no embedded IPv4, no zone), in a buffer
 * the next call overwrites; null when `s[from, to)` is not one.
 */
export function readIp6(s: string, from = 0, to = s.length): Uint16Array | null {
  // Groups of 1-4 hex digits between single colons, and at most one "::" (head: the groups before it).
  let n = 0, head = -1;
  for (let i = from; i < to; ) {
    if (s.charCodeAt(i) === 58 && s.charCodeAt(i + 1) === 58) {
      if (head >= 0) return null;
      head = n;
      i += 2;
      continue;
    }
    let v = 0, digits = 0;
    for (let d: number; i < to && (d = hexDigit(s.charCodeAt(i))) >= 0; i++, digits++) v = v * 16 + d;
    if (digits < 1 || digits > 4 || n === 8) return null;
    groups6[n++] = v;
    if (i === to) break;
    if (s.charCodeAt(i) !== 58) return null;
    // A single colon must be followed by a group.
    if (s.charCodeAt(i + 1) !== 58) {
      i++;
      if (i === to) return null;
    }
  }
  const fill = 8 - n;
  if (head >= 0 ? fill < 1 : fill !== 0) return null;
  const out = expanded6;
  out.fill(0);
  for (let k = 0; k < n; k++) out[head >= 0 && k >= head ? k + fill : k] = groups6[k]!;
  return out;
}

function parseIp6(s: string): IpBytes | null {
  if (s.indexOf("%") >= 0) return null;
  // An embedded IPv4 address (::ffff:192.0.2.1): the general form below.
  if (s.indexOf(".") >= 0) return parseIp6Dotted(s);
  const g = readIp6(s);
  if (!g) return null;
  const out = new Uint8Array(16);
  for (let k = 0; k < 8; k++) {
    out[2 * k] = g[k]! >> 8;
    out[2 * k + 1] = g[k]! & 0xff;
  }
  return out;
}

/** IPv6 with an IPv4 address in its last field. */
function parseIp6Dotted(s: string): IpBytes | null {
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const groups = (part: string): number[] | null => {
    if (part === "") return [];
    const out: number[] = [];
    const fields = part.split(":");
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      if (i === fields.length - 1 && f.includes(".")) {
        const v4 = parseIp4(f);
        if (!v4) return null;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(f)) return null;
        out.push(parseInt(f, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return null;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return null;
  const all = [...head, ...new Array<number>(fill).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

export function formatIp(ip: IpBytes): string {
  if (ip.length === 4) return `${ip[0]}.${ip[1]}.${ip[2]}.${ip[3]}`;
  if (ip.length !== 16) throw new Error(`IP address of ${ip.length} bytes`);
  const g = groups6;
  for (let i = 0; i < 8; i++) g[i] = (ip[2 * i]! << 8) | ip[2 * i + 1]!;
  // RFC 5952: the longest run of two or more zero groups becomes "::", the first if tied.
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  let s = "";
  for (let i = 0; i < 8; i++) {
    if (i === best) {
      s += "::";
      i += bestLen - 1;
      continue;
    }
    s += i === 0 || i === best + bestLen ? g[i]!.toString(16) : `:${g[i]!.toString(16)}`;
  }
  return s;
}

// An address already in the form formatIp prints, told by regexes (run in C): a dotted quad
// parseIp takes; IPv6 in lowercase without leading zeros, either 8 groups with no two zero groups
// together, or one "::" for 2 or more groups with no zero group written out (so it is the longest run).
const QUAD = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const FULL6 = /^(?:[1-9a-f][0-9a-f]{0,3}|0)(?::(?:[1-9a-f][0-9a-f]{0,3}|0)){7}$/;
const ZEROS6 = /(?:^|:)0:0(?::|$)/;
const SHORT6 = /^(?:[1-9a-f][0-9a-f]{0,3}(?::[1-9a-f][0-9a-f]{0,3})*)?::(?:[1-9a-f][0-9a-f]{0,3}(?::[1-9a-f][0-9a-f]{0,3})*)?$/;

/**
 * An address's text as formatIp prints it (throws as parseIp does): the text itself when it is
 * already so, which the MagicDNS names of a 5,000-node tailnet mostly are (parsed and printed
 * again, 10,000 addresses were ~90 ms in QuickJS).
 */
export function ipText(s: string): string {
  if (QUAD.test(s) || (FULL6.test(s) && !ZEROS6.test(s))) return s;
  if (SHORT6.test(s) && s.split(":").length - 1 - (s.startsWith("::") ? 1 : 0) - (s.endsWith("::") ? 1 : 0) <= 6) return s;
  return formatIp(parseIp(s));
}

/** A dotted quad with an optional length of 0-32: most prefixes, read by one regex. */
const PREFIX4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}(?:/(3[0-2]|[12]?\\d))?$`);

/** parsePrefix's dotted quad and length (undefined: none given), when `s` is one, by PREFIX4; else null. */
export function matchPrefix4(s: string): RegExpExecArray | null {
  return PREFIX4.exec(s);
}

/** The prefix length written from `from` to the end of `s`, as parsePrefix takes one (0 to `max`); -1 when it is none. */
export function prefixLength(s: string, from: number, max: number): number {
  const bits = decimal(s, from, s.length);
  return bits > max ? -1 : bits;
}

export function parsePrefix(s: string): Prefix {
  const m = PREFIX4.exec(s);
  if (m) {
    const ip = new Uint8Array(4);
    for (let i = 0; i < 4; i++) ip[i] = +m[i + 1]!;
    return { ip, bits: m[5] === undefined ? 32 : +m[5] };
  }
  const slash = s.indexOf("/");
  const ip = parseIp(slash < 0 ? s : s.slice(0, slash));
  const max = ip.length * 8;
  if (slash < 0) return { ip, bits: max };
  const bits = prefixLength(s, slash + 1, max);
  if (bits < 0) throw new Error(`bad prefix length in ${JSON.stringify(s)}`);
  return { ip, bits };
}

export function formatPrefix(p: Prefix): string {
  return `${formatIp(p.ip)}/${p.bits}`;
}

/** The prefix with the host bits cleared (what the kernel stores for a route or allowed IP). */
export function maskPrefix(p: Prefix): Prefix {
  const ip = p.ip.slice();
  for (let i = 0; i < ip.length; i++) {
    const keep = p.bits - 8 * i;
    if (keep < 8) ip[i]! &= keep > 0 ? (0xff00 >> keep) & 0xff : 0;
  }
  return { ip, bits: p.bits };
}

export function parseEndpoint(s: string): Endpoint {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  if (!m) throw new Error(`bad endpoint ${JSON.stringify(s)}: want IP:PORT or [IPv6]:PORT`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new Error(`bad port in endpoint ${JSON.stringify(s)}`);
  return { ip: parseIp(m[1]!), port };
}

export function formatEndpoint(e: Endpoint): string {
  return e.ip.length === 16 ? `[${formatIp(e.ip)}]:${e.port}` : `${formatIp(e.ip)}:${e.port}`;
}

export function ipEqual(a: IpBytes, b: IpBytes): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether `ip` lies inside prefix `p` (of the same family). */
export function prefixContains(p: Prefix, ip: IpBytes): boolean {
  if (p.ip.length !== ip.length) return false;
  const whole = p.bits >> 3;
  for (let i = 0; i < whole; i++) if (p.ip[i] !== ip[i]) return false;
  const rest = p.bits & 7;
  if (!rest) return true;
  const mask = (0xff00 >> rest) & 0xff;
  return (p.ip[whole]! & mask) === (ip[whole]! & mask);
}
