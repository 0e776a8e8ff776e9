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

function parseIp4(s: string): IpBytes | null {
  const parts = s.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return null;
    out[i] = Number(p);
  }
  return out;
}

function parseIp6(s: string): IpBytes | null {
  const zone = s.indexOf("%");
  if (zone >= 0) return null;
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
  if (ip.length === 4) return ip.join(".");
  if (ip.length !== 16) throw new Error(`IP address of ${ip.length} bytes`);
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((ip[i]! << 8) | ip[i + 1]!);
  // RFC 5952: the longest run of two or more zero groups becomes "::", the first if tied.
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(":");
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

export function parsePrefix(s: string): Prefix {
  const slash = s.indexOf("/");
  const ip = parseIp(slash < 0 ? s : s.slice(0, slash));
  const max = ip.length * 8;
  if (slash < 0) return { ip, bits: max };
  const b = s.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(b) || Number(b) > max) throw new Error(`bad prefix length in ${JSON.stringify(s)}`);
  return { ip, bits: Number(b) };
}

export function formatPrefix(p: Prefix): string {
  return `${formatIp(p.ip)}/${p.bits}`;
}

/** The prefix with the host bits cleared (what the kernel stores for a route or allowed IP). */
export function maskPrefix(p: Prefix): Prefix {
  const ip = p.ip.slice();
  for (let i = 0; i < ip.length; i++) {
    const keep = Math.max(0, Math.min(8, p.bits - 8 * i));
    ip[i]! &= (0xff00 >> keep) & 0xff;
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
