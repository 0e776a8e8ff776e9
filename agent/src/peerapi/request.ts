// HTTP/1.1 requests as the peer API reads them off a connection: bytes in,
// whole requests out, in order (a client may send the next before the first
// is answered). Only what a DoH client sends is understood: a head of at most
// HEAD_MAX bytes and a Content-Length body of at most BODY_MAX. Anything else
// is an HttpError naming the fault and the status to answer with; after one,
// the connection's framing is lost and it is closed.
import { latin1 } from "../util/bytes.js";

/** Request line and headers together; Go's client sends ~200 bytes. */
export const HEAD_MAX = 8 << 10;
/** A DNS query asks one question: a few hundred bytes, with room for EDNS options. */
export const BODY_MAX = 4096;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(`peerapi: ${message}`);
  }
}

export interface Request {
  readonly method: string;
  /** The path, without the query. */
  readonly path: string;
  /** The query's parameters, percent-decoded; the first of each name. */
  readonly query: ReadonlyMap<string, string>;
  /** Lower-cased names; repeated headers joined with ", " (RFC 9110 5.3). */
  readonly headers: ReadonlyMap<string, string>;
  readonly body: Uint8Array;
  /** HTTP/1.0, or "Connection: close": answer, then close. */
  readonly close: boolean;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** "a%20b" -> "a b"; "+" stays "+" (base64url never has one, and DoH does not use form encoding). */
function percentDecode(s: string, what: string): string {
  if (!s.includes("%")) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    throw new HttpError(400, `bad percent-encoding in ${what}`);
  }
}

function parseTarget(target: string): { path: string; query: Map<string, string> } {
  // origin-form only ("/dns-query?dns=..."): a proxy's absolute-form has no business here.
  if (!target.startsWith("/")) throw new HttpError(400, `request target ${JSON.stringify(target.slice(0, 64))} is not a path`);
  const q = target.indexOf("?");
  const path = percentDecode(q < 0 ? target : target.slice(0, q), "the path");
  const query = new Map<string, string>();
  if (q >= 0) {
    for (const part of target.slice(q + 1).split("&")) {
      if (!part) continue;
      const eq = part.indexOf("=");
      const name = percentDecode(eq < 0 ? part : part.slice(0, eq), "the query");
      if (!query.has(name)) query.set(name, percentDecode(eq < 0 ? "" : part.slice(eq + 1), "the query"));
    }
  }
  return { path, query };
}

function parseHead(text: string): { method: string; path: string; query: Map<string, string>; headers: Map<string, string>; version: string } {
  const lines = text.split("\r\n");
  const first = lines[0]!.split(" ");
  if (first.length !== 3) throw new HttpError(400, `malformed request line ${JSON.stringify(lines[0]!.slice(0, 64))}`);
  const [method, target, version] = first as [string, string, string];
  if (!TOKEN.test(method)) throw new HttpError(400, "malformed method");
  if (version !== "HTTP/1.1" && version !== "HTTP/1.0") throw new HttpError(505, `unsupported version ${JSON.stringify(version.slice(0, 16))}`);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon) : "";
    // No obsolete line folding, no space before the colon (RFC 9112 5.1, 5.2): both smuggle.
    if (!TOKEN.test(name)) throw new HttpError(400, `malformed header line ${JSON.stringify(line.slice(0, 64))}`);
    const value = line.slice(colon + 1).trim();
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) throw new HttpError(400, `control character in header ${name}`);
    const key = name.toLowerCase();
    const had = headers.get(key);
    headers.set(key, had === undefined ? value : `${had}, ${value}`);
  }
  return { method, ...parseTarget(target), headers, version };
}

function bodyLength(headers: ReadonlyMap<string, string>): number {
  if (headers.has("transfer-encoding")) throw new HttpError(501, "Transfer-Encoding is not supported; send a Content-Length");
  const len = headers.get("content-length");
  if (len === undefined) return 0;
  if (!/^\d{1,10}$/.test(len)) throw new HttpError(400, `bad Content-Length ${JSON.stringify(len.slice(0, 32))}`);
  const n = Number(len);
  if (n > BODY_MAX) throw new HttpError(413, `body of ${n} bytes, at most ${BODY_MAX}`);
  return n;
}

/** Collects a connection's bytes and hands back each complete request. */
export class RequestReader {
  private buf = new Uint8Array(0);

  /** Bytes held for a request not yet complete. */
  get pending(): number {
    return this.buf.length;
  }

  /** Adds bytes; returns the requests they completed (none, one or more); throws an HttpError. */
  push(bytes: Uint8Array): Request[] {
    const merged = new Uint8Array(this.buf.length + bytes.length);
    merged.set(this.buf);
    merged.set(bytes, this.buf.length);
    this.buf = merged;
    const out: Request[] = [];
    for (;;) {
      const r = this.next();
      if (!r) return out;
      out.push(r);
    }
  }

  private next(): Request | undefined {
    const b = this.buf;
    // Blank lines before a request are allowed (RFC 9112 2.2).
    let start = 0;
    while (start + 1 < b.length && b[start] === 13 && b[start + 1] === 10) start += 2;
    const end = findHeadEnd(b, start);
    if (end < 0) {
      if (b.length - start > HEAD_MAX) throw new HttpError(431, `request head over ${HEAD_MAX} bytes`);
      return undefined;
    }
    if (end - start > HEAD_MAX) throw new HttpError(431, `request head over ${HEAD_MAX} bytes`);
    const head = parseHead(latin1(b.subarray(start, end)));
    const len = bodyLength(head.headers);
    const bodyStart = end + 4;
    if (b.length < bodyStart + len) return undefined;
    const body = b.slice(bodyStart, bodyStart + len);
    this.buf = b.slice(bodyStart + len);
    const conn = (head.headers.get("connection") ?? "").toLowerCase();
    const close = head.version === "HTTP/1.0" ? !/\bkeep-alive\b/.test(conn) : /\bclose\b/.test(conn);
    return { method: head.method, path: head.path, query: head.query, headers: head.headers, body, close };
  }
}

/** Index of the CRLFCRLF ending the head, or -1. */
function findHeadEnd(b: Uint8Array, from: number): number {
  for (let i = from; i + 3 < b.length; i++) if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  return -1;
}
