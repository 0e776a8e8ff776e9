// Just enough HTTP/1.1 for the two upgrades the agent makes (ts2021 and
// DERP) and for GET /key: a request head out, a response head in. The bytes
// after the head belong to the upgraded protocol and are handed back.
import { ascii, concat, latin1 } from "../util/bytes.js";

export interface ResponseHead {
  readonly status: number;
  readonly reason: string;
  /** Lower-case names. */
  readonly headers: ReadonlyMap<string, string>;
}

const MAX_HEAD = 16 * 1024;

export function requestHead(method: string, path: string, host: string, headers: readonly (readonly [string, string])[]): Uint8Array {
  const lines = [`${method} ${path} HTTP/1.1`, `Host: ${host}`, ...headers.map(([k, v]) => `${k}: ${v}`), "", ""];
  if (lines.some((l) => /[\r\n]/.test(l))) throw new Error("http: header text with a line break");
  return ascii(lines.join("\r\n"));
}

/** Accumulates bytes until the response head is complete. */
export class ResponseHeadReader {
  private buf: Uint8Array = new Uint8Array(0);

  /** The head and the bytes after it once complete, else null. Throws on a malformed head. */
  push(bytes: Uint8Array): { head: ResponseHead; rest: Uint8Array } | null {
    this.buf = concat(this.buf, bytes);
    const end = findHeadEnd(this.buf);
    if (end < 0) {
      if (this.buf.length > MAX_HEAD) throw new Error(`http: response head longer than ${MAX_HEAD} bytes`);
      return null;
    }
    const head = parseHead(latin1(this.buf.subarray(0, end)));
    return { head, rest: this.buf.slice(end + 4) };
  }
}

function findHeadEnd(b: Uint8Array): number {
  for (let i = 0; i + 3 < b.length; i++) if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  return -1;
}

function parseHead(text: string): ResponseHead {
  const lines = text.split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0] ?? "");
  if (!m) throw new Error(`http: not an HTTP/1.1 status line: ${JSON.stringify((lines[0] ?? "").slice(0, 60))}`);
  const headers = new Map<string, string>();
  for (const l of lines.slice(1)) {
    const c = l.indexOf(":");
    if (c <= 0) throw new Error(`http: malformed header line ${JSON.stringify(l.slice(0, 60))}`);
    headers.set(l.slice(0, c).trim().toLowerCase(), l.slice(c + 1).trim());
  }
  return { status: Number(m[1]), reason: m[2] ?? "", headers };
}
