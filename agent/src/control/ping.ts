// Answers the control server's PingRequests (MapResponse.PingRequest) the way
// tailscale's controlclient does: no Types is a reachability check answered
// with an HTTP HEAD to the URL (Headscale's HA-router prober sends these);
// "c2n" carries an HTTP request for the node, whose answer is POSTed back over
// Noise; "disco", "TSMP", "ICMP", "peerapi" ask the node to ping a tailnet IP
// and POST a PingResponse. A router answers what it can: disco pings through
// its own disco, the rest with the reason it cannot; c2n's /echo as tailscale
// does, and any other c2n path with tailscale's "unknown c2n path".
import type { H2Connection } from "../h2/connection.js";
import { ResponseHeadReader, requestHead } from "../http1/upgrade.js";
import { type Endpoint, formatEndpoint } from "../netaddr/ip.js";
import { base64Decode } from "../util/base64.js";
import { ascii, concat, latin1 } from "../util/bytes.js";
import type { ByteStream } from "../util/stream.js";
import { utf8Encode } from "../util/utf8.js";
import { parseLoginServer, type ServerAddress } from "./server.js";
import type { Node, PingRequest, PingResponse } from "./tailcfg.js";

/** A disco ping to the peer with this node key (hex): latency, and the direct endpoint or the relay region it came back over. */
export type DiscoPinger = (nodeKeyHex: string) => Promise<{ readonly latencyMs: number; readonly endpoint?: Endpoint; readonly relayRegion?: number }>;

export interface PingDeps {
  /** The ts2021 channel: for URLIsNoise and c2n. */
  readonly noise: H2Connection;
  dial(server: ServerAddress): Promise<ByteStream>;
  setTimer(ms: number, fn: () => void): () => void;
  log(level: "debug" | "info" | "warn", msg: string): void;
  peerByIp(ip: string): Node | undefined;
  readonly discoPing?: DiscoPinger;
  /** The peer's node key in hex, for the pinger. */
  nodeKeyHex(n: Node): string;
}

/** tailscale's answerHeadPing and postPingResult wait this long. */
const HTTP_TIMEOUT_MS = 15_000;
const MAX_C2N_BODY = 64 << 10;

export async function answerPing(pr: PingRequest, deps: PingDeps): Promise<void> {
  if (!pr.URL) return deps.log("warn", "control: a PingRequest with no URL");
  const url = parseUrl(pr.URL);
  const noise = pr.URLIsNoise === true || pr.Types === "c2n";
  const send = (method: string, body?: Uint8Array, type?: string) =>
    noise ? noiseRequest(deps, method, url, body, type) : plainRequest(deps, method, url, body, type);
  const types = pr.Types ?? "";
  if (types === "") {
    const status = await send("HEAD");
    return deps.log(pr.Log ? "info" : "debug", `control: answered a ping request with HEAD ${pr.URL}: HTTP ${status}`);
  }
  if (types === "c2n") {
    const reply = c2nAnswer(base64Decode(pr.Payload ?? ""));
    const status = await send("POST", reply);
    return deps.log(pr.Log ? "info" : "debug", `control: answered a c2n request: HTTP ${status}`);
  }
  for (const t of types.split(",")) {
    const res = await pingResult(t, pr.IP ?? "", deps);
    if (!res) {
      deps.log("warn", `control: unsupported ping request type ${JSON.stringify(t)}`);
      continue;
    }
    await send("POST", utf8Encode(JSON.stringify(res)), "application/json");
    deps.log(pr.Log ? "info" : "debug", `control: ${t} ping to ${pr.IP}: ${res.Err ?? `${res.LatencySeconds} s`}`);
  }
}

async function pingResult(type: string, ip: string, deps: PingDeps): Promise<PingResponse | undefined> {
  if (!["disco", "TSMP", "ICMP", "peerapi"].includes(type)) return undefined;
  const base: PingResponse = { Type: type, IP: ip };
  const peer = deps.peerByIp(ip);
  if (!peer) return { ...base, Err: `no peer has the address ${ip}` };
  const named = { ...base, NodeIP: peer.Addresses[0]?.split("/")[0] ?? ip, NodeName: peer.Name.split(".")[0] ?? peer.Name };
  if (type !== "disco") return { ...named, Err: `meshwrt does not send ${type} pings (its packets are the kernel's WireGuard)` };
  if (!deps.discoPing) return { ...named, Err: "disco is not running (no direct paths)" };
  try {
    const r = await deps.discoPing(deps.nodeKeyHex(peer));
    return {
      ...named,
      LatencySeconds: r.latencyMs / 1000,
      ...(r.endpoint ? { Endpoint: formatEndpoint(r.endpoint) } : {}),
      ...(r.relayRegion ? { DERPRegionID: r.relayRegion } : {}),
    };
  } catch (e) {
    return { ...named, Err: (e as Error).message };
  }
}

interface Url {
  readonly server: ServerAddress;
  /** Path and query. */
  readonly path: string;
}

function parseUrl(url: string): Url {
  const m = /^(https?:\/\/[^/?#]+)([/?][^#]*)?$/.exec(url);
  if (!m) throw new Error(`ping request URL ${JSON.stringify(url.slice(0, 100))}: want http(s)://host[:port]/path`);
  const path = m[2] ?? "/";
  return { server: parseLoginServer(m[1]!), path: path.startsWith("/") ? path : `/${path}` };
}

function withTimeout<T>(deps: PingDeps, what: string, p: (done: (v: T) => void, fail: (e: Error) => void) => () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let finished = false;
    let cleanup = () => {};
    const cancel = deps.setTimer(HTTP_TIMEOUT_MS, () => finish(new Error(`${what}: no answer in ${HTTP_TIMEOUT_MS / 1000} s`)));
    const finish = (e: Error | undefined, v?: T) => {
      if (finished) return;
      finished = true;
      cancel();
      cleanup();
      if (e) reject(e);
      else resolve(v as T);
    };
    cleanup = p((v) => finish(undefined, v), (e) => finish(e));
  });
}

/** A request over the Noise channel: resolves with the HTTP status. */
function noiseRequest(deps: PingDeps, method: string, url: Url, body?: Uint8Array, type?: string): Promise<number> {
  return withTimeout(deps, `${method} ${url.path} over Noise`, (done, fail) => {
    const s = deps.noise.request(method, url.server.authority, url.path, type ? [["content-type", type]] : [], body);
    let status = 0;
    s.onResponse = (r) => (status = r.status);
    s.onEnd = () => done(status);
    s.onError = fail;
    return () => {
      if (!status) s.cancel();
    };
  });
}

/** A request on a connection of its own (HTTP/1.1, TLS for https): resolves with the HTTP status once the head is in. */
function plainRequest(deps: PingDeps, method: string, url: Url, body?: Uint8Array, type?: string): Promise<number> {
  let stream: ByteStream | undefined;
  let closed = false;
  const close = () => {
    closed = true;
    stream?.close();
  };
  return withTimeout(deps, `${method} ${url.server.authority}${url.path}`, (done, fail) => {
    deps.dial(url.server).then((s) => {
      stream = s;
      if (closed) return s.close();
      const reader = new ResponseHeadReader();
      s.onData = (b) => {
        try {
          const h = reader.push(b);
          if (h) done(h.head.status);
        } catch (e) {
          fail(e as Error);
        }
      };
      s.onClose = (err) => fail(new Error(`${method} ${url.path}: ${err?.message ?? "closed before an answer"}`));
      const headers: [string, string][] = [["User-Agent", "meshwrt"], ["Connection", "close"]];
      if (body) headers.push(["Content-Length", String(body.length)], ...(type ? [["Content-Type", type] as [string, string]] : []));
      s.write(body ? concat(requestHead(method, url.path, url.server.authority, headers), body) : requestHead(method, url.path, url.server.authority, headers));
    }, fail);
    return close;
  });
}

/** The c2n request (HTTP/1 bytes) answered, as HTTP/1 bytes: /echo echoes its body, as tailscale does; any other path is unknown. */
export function c2nAnswer(request: Uint8Array): Uint8Array {
  const text = latin1(request.subarray(0, Math.min(request.length, MAX_C2N_BODY)));
  const headEnd = text.indexOf("\r\n\r\n");
  const line = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(text.slice(0, headEnd < 0 ? undefined : headEnd).split("\r\n")[0] ?? "");
  if (!line || headEnd < 0) return httpResponse(400, "Bad Request", "malformed c2n request\n");
  const path = line[2]!.replace(/^https?:\/\/[^/]+/, "").split("?")[0]!;
  if (path === "/echo") {
    const len = /\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, headEnd + 2))?.[1];
    const body = request.subarray(headEnd + 4, headEnd + 4 + (len ? Number(len) : 0));
    return concat(ascii(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body);
  }
  return httpResponse(400, "Bad Request", "unknown c2n path\n");
}

/** As Go's http.Error writes it. */
function httpResponse(status: number, reason: string, body: string): Uint8Array {
  const b = utf8Encode(body);
  return concat(ascii(`HTTP/1.1 ${status} ${reason}\r\nContent-Length: ${b.length}\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n\r\n`), b);
}
