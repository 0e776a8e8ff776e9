// UCI configuration files (OpenWrt's libuci): parsing with its quoting
// rules, and writing them back the way `uci export` and `uci commit` do
// (every value single-quoted; comments, like uci's, are not kept).

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
    readonly line: number,
    reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
  }
}

const NAME = /^[A-Za-z0-9_]+$/;
const TYPE = /^[A-Za-z0-9_-]+$/;

/** Splits one line into words: quotes, escapes and comments as libuci reads them. */
function words(line: string, file: string, lineNo: number): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /[ \t\r]/.test(line[i]!)) i++;
    if (i >= line.length || line[i] === "#") break;
    let w = "";
    while (i < line.length && !/[ \t\r]/.test(line[i]!)) {
      const c = line[i]!;
      if (c === "'") {
        const end = line.indexOf("'", i + 1);
        if (end < 0) throw new UciError(file, lineNo, "unterminated '");
        w += line.slice(i + 1, end);
        i = end + 1;
      } else if (c === '"') {
        i++;
        for (;;) {
          if (i >= line.length) throw new UciError(file, lineNo, 'unterminated "');
          const d = line[i]!;
          if (d === '"') break;
          if (d === "\\" && i + 1 < line.length) {
            w += line[i + 1];
            i += 2;
            continue;
          }
          w += d;
          i++;
        }
        i++;
      } else if (c === "\\") {
        if (i + 1 < line.length) w += line[i + 1];
        i += 2;
      } else if (c === "#") {
        break;
      } else {
        w += c;
        i++;
      }
    }
    out.push(w);
    if (line[i] === "#") break;
  }
  return out;
}

export function parseUci(text: string, file: string, defaultPackage: string): UciPackage {
  let pkg = defaultPackage;
  const sections: UciSection[] = [];
  let cur: UciSection | undefined;
  text.split("\n").forEach((raw, idx) => {
    const n = idx + 1;
    const w = words(raw, file, n);
    if (w.length === 0) return;
    const [kw, a, b] = w;
    const arity = (min: number, max: number) => {
      if (w.length - 1 < min || w.length - 1 > max) throw new UciError(file, n, `"${kw}" takes ${min === max ? min : `${min} to ${max}`} argument${max > 1 ? "s" : ""}`);
    };
    switch (kw) {
      case "package":
        arity(1, 1);
        pkg = a!;
        return;
      case "config":
        arity(1, 2);
        if (!TYPE.test(a!)) throw new UciError(file, n, `invalid section type ${JSON.stringify(a)}`);
        if (b !== undefined && !NAME.test(b)) throw new UciError(file, n, `invalid section name ${JSON.stringify(b)}`);
        cur = { type: a!, ...(b !== undefined ? { name: b } : {}), options: new Map() };
        // A named section that appears twice is one section, as uci merges them.
        if (b !== undefined) {
          const prev = sections.find((s) => s.name === b);
          if (prev) {
            cur = prev;
            return;
          }
        }
        sections.push(cur);
        return;
      case "option":
      case "list": {
        if (!cur) throw new UciError(file, n, `"${kw}" outside a section`);
        arity(2, 2);
        if (!NAME.test(a!)) throw new UciError(file, n, `invalid option name ${JSON.stringify(a)}`);
        if (kw === "option") cur.options.set(a!, b!);
        else {
          const prev = cur.options.get(a!);
          cur.options.set(a!, Array.isArray(prev) ? [...prev, b!] : [b!]);
        }
        return;
      }
      default:
        throw new UciError(file, n, `unknown keyword ${JSON.stringify(kw)}`);
    }
  });
  return { name: pkg, sections };
}

const quote = (v: string) => `'${v.replace(/'/g, "'\\''")}'`;

/** The file as `uci commit` writes it, or with the package line as `uci export` prints it. */
export function formatUci(p: UciPackage, withPackageLine = false): string {
  let out = withPackageLine ? `\npackage ${p.name}\n` : "";
  for (const s of p.sections) {
    out += `\nconfig ${s.type}${s.name !== undefined ? ` ${quote(s.name)}` : ""}\n`;
    for (const [k, v] of s.options) {
      if (Array.isArray(v)) for (const item of v) out += `\tlist ${k} ${quote(item)}\n`;
      else out += `\toption ${k} ${quote(v)}\n`;
    }
  }
  return `${out}\n`;
}
