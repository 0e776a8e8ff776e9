// The peer API's one service, DNS over HTTP (RFC 8484) as tailscaled speaks
// it to an exit node: POST /dns-query with an application/dns-message body
// (what the client's forwarder sends), or GET /dns-query?dns=<base64url>.
// Pure: a request in, a DNS query or an HttpError out; and the bytes of the
// answers.
import { base64Decode } from "../util/base64.js";
import { ascii, concat } from "../util/bytes.js";
import { HttpError, type Request } from "./request.js";

export const DOH_PATH = "/dns-query";
export const DNS_MESSAGE = "application/dns-message";
/** A DNS header is 12 bytes; a query with no question is of no use either. */
const DNS_HEADER = 12;

/**
 * Whether the request may be served at all, as tailscale's peer API checks:
 * no Origin or Referer (a browser on the peer, made to send requests here by
 * a web page), and a Host that is one of our tailnet addresses (with any
 * port) or "peer", so a name rebound to our address gets nothing.
 */
export function checkOrigin(req: Request, selfAddresses: readonly string[]): void {
  if (req.headers.has("origin") || req.headers.has("referer")) throw new HttpError(403, "requests from web pages are refused");
  const host = req.headers.get("host");
  if (host === undefined) throw new HttpError(400, "no Host header");
  if (host === "peer") return;
  const m = /^\[([0-9a-fA-F:.]+)\]:\d{1,5}$/.exec(host) ?? /^([0-9.]+):\d{1,5}$/.exec(host);
  if (!m || !selfAddresses.includes(m[1]!.toLowerCase())) throw new HttpError(403, `Host ${JSON.stringify(host.slice(0, 64))} is not this node`);
}

/** The DNS query a /dns-query request carries; throws an HttpError for anything else. */
export function dnsQueryOf(req: Request): Uint8Array {
  if (req.path !== DOH_PATH) throw new HttpError(404, `no ${JSON.stringify(req.path.slice(0, 64))} here; only ${DOH_PATH}`);
  let q: Uint8Array;
  if (req.method === "GET") {
    const b64 = req.query.get("dns");
    if (!b64) throw new HttpError(400, "missing 'dns' parameter (?dns=<base64url DNS message>)");
    if (/[^A-Za-z0-9_-]/.test(b64.replace(/=+$/, "")) || b64.length % 4 === 1) throw new HttpError(400, "invalid 'dns' base64url encoding");
    q = base64Decode(b64.replace(/-/g, "+").replace(/_/g, "/"));
  } else if (req.method === "POST") {
    const type = (req.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    if (type !== DNS_MESSAGE) throw new HttpError(415, `Content-Type must be ${DNS_MESSAGE}, not ${JSON.stringify(type.slice(0, 64))}`);
    q = req.body;
  } else {
    throw new HttpError(405, `method ${req.method.slice(0, 16)} not allowed; GET or POST`);
  }
  if (q.length < DNS_HEADER) throw new HttpError(400, `DNS message of ${q.length} bytes, shorter than its header`);
  // QR set: an answer, not a question; QDCOUNT 0: nothing asked.
  if (q[2]! & 0x80) throw new HttpError(400, "the DNS message is a response, not a query");
  if (((q[4]! << 8) | q[5]!) === 0) throw new HttpError(400, "the DNS query has no question");
  return q;
}

const REASONS: Record<number, string> = {
  200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 413: "Content Too Large", 415: "Unsupported Media Type",
  429: "Too Many Requests", 431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
  503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported",
};

function response(status: number, type: string, body: Uint8Array, close: boolean): Uint8Array {
  const head = `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}\r\nContent-Type: ${type}\r\nContent-Length: ${body.length}\r\n${close ? "Connection: close\r\n" : ""}\r\n`;
  return concat(ascii(head), body);
}

/** 200 with the resolver's answer. */
export function answerResponse(dns: Uint8Array, close: boolean): Uint8Array {
  return response(200, DNS_MESSAGE, dns, close);
}

/** An error as text (as Go's http.Error writes it); the message without our "peerapi: " prefix. */
export function errorResponse(status: number, message: string, close: boolean): Uint8Array {
  return response(status, "text/plain; charset=utf-8", ascii(`${message.replace(/^peerapi: /, "").replace(/[^\x20-\x7e]/g, "?")}\n`), close);
}
