// The body of a small HTTP/1.1 response read to the end of the connection
// (we ask with "Connection: close"): plain, or chunked.
import type { ResponseHead } from "./upgrade.js";
import { concat, latin1 } from "../util/bytes.js";

export function decodeBody(head: ResponseHead, raw: Uint8Array): Uint8Array {
  if ((head.headers.get("transfer-encoding") ?? "").toLowerCase() !== "chunked") {
    const len = head.headers.get("content-length");
    if (len === undefined) return raw;
    if (!/^\d+$/.test(len) || Number(len) > raw.length) throw new Error(`http: body of ${raw.length} bytes, Content-Length ${len}`);
    return raw.subarray(0, Number(len));
  }
  const parts: Uint8Array[] = [];
  let off = 0;
  for (;;) {
    const eol = findCRLF(raw, off);
    if (eol < 0) throw new Error("http: chunked body cut short");
    const size = parseInt(latin1(raw.subarray(off, eol)).split(";")[0]!.trim(), 16);
    if (!Number.isFinite(size) || size < 0) throw new Error("http: bad chunk size");
    off = eol + 2;
    if (size === 0) break;
    if (off + size + 2 > raw.length) throw new Error("http: chunk cut short");
    parts.push(raw.subarray(off, off + size));
    off += size + 2;
  }
  return concat(...parts);
}

function findCRLF(b: Uint8Array, from: number): number {
  for (let i = from; i + 1 < b.length; i++) if (b[i] === 13 && b[i + 1] === 10) return i;
  return -1;
}
