// The local socket's protocol, for hosts without ubus (and the test
// harness): one JSON object a line each way, UTF-8, "\n" at the end.
//   request: {"id": 1, "method": "status", "args": {}}
//   answer:  {"id": 1, "result": {...}}
//        or  {"id": 1, "error": {"code": "invalid-argument", "message": "..."}}
// An answer carries its request's id (null when none could be read); a
// connection may carry many requests, answered as each finishes.
import { concat } from "../util/bytes.js";
import { utf8Decode, utf8Encode } from "../util/utf8.js";
import { ApiError, type ApiErrorCode } from "./errors.js";

/** Longer lines are refused: no request needs more, and the agent's memory is small. */
export const MAX_LINE = 65536;

export type RequestId = string | number | null;

export type ApiResponse = { id: RequestId; result: object } | { id: RequestId; error: { code: ApiErrorCode; message: string } };

export interface ParsedRequest {
  readonly id: RequestId;
  readonly method?: string;
  readonly args?: unknown;
  /** Set when the line is not a request. */
  readonly error?: ApiError;
}

export function parseRequest(line: string): ParsedRequest {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    return { id: null, error: new ApiError("invalid-argument", `request is not JSON: ${(e as Error).message}`) };
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return { id: null, error: new ApiError("invalid-argument", "request is not a JSON object") };
  const r = v as Record<string, unknown>;
  const id = typeof r.id === "string" || typeof r.id === "number" ? r.id : null;
  if (typeof r.method !== "string") return { id, error: new ApiError("invalid-argument", 'request has no "method" string') };
  return { id, method: r.method, args: r.args };
}

export const encodeLine = (v: object): Uint8Array => utf8Encode(`${JSON.stringify(v)}\n`);

/** Cuts a byte stream into lines; throws when a line grows past `maxLine`. */
export class LineReader {
  private parts: Uint8Array[] = [];
  private size = 0;
  constructor(private readonly maxLine = MAX_LINE) {}

  push(chunk: Uint8Array): string[] {
    const out: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      this.add(chunk.subarray(start, nl));
      out.push(this.take());
      start = nl + 1;
    }
    this.add(chunk.subarray(start));
    return out;
  }

  private add(b: Uint8Array): void {
    if (!b.length) return;
    this.size += b.length;
    if (this.size > this.maxLine) throw new Error(`a line longer than ${this.maxLine} bytes`);
    this.parts.push(b.slice());
  }

  private take(): string {
    const line = utf8Decode(concat(...this.parts));
    this.parts = [];
    this.size = 0;
    return line;
  }
}
