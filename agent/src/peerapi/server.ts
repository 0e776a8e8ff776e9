// The peer API: an HTTP/1.1 server on the router's tailnet addresses that
// answers DNS over HTTP for the peers using the router as their exit node
// (their tailscaled sends every query for a public name here), by asking the
// router's own resolver (dnsmasq on OpenWrt) over UDP. Everything a peer can
// make it hold is bounded: connections, bytes, requests queued on one
// connection, and the time each step may take.
import type { Service } from "../control/tailcfg.js";
import type { LogLevel, TcpListener, UdpSocket } from "../host/host.js";
import type { ByteStream } from "../util/stream.js";
import { answerResponse, checkOrigin, dnsQueryOf, errorResponse } from "./doh.js";
import { HttpError, type Request, RequestReader } from "./request.js";

/** Connections open at once; more are refused at once. */
export const MAX_CONNECTIONS = 32;
/** Requests a client may send ahead on one connection while one is answered. */
export const MAX_QUEUED = 8;
/** A connection with nothing to do is closed after this. */
export const IDLE_MS = 30_000;
/** A request must arrive whole this soon after its first byte. */
export const REQUEST_MS = 10_000;
/** The resolver's answer must come this soon (tailscale's peer API waits 5 s too). */
export const DNS_MS = 5_000;

export interface PeerApiDeps {
  listenTcp(ip: string, port: number): TcpListener;
  bindUdp(ip: string, port: number): UdpSocket;
  setTimer(ms: number, fn: () => void): () => void;
  log(level: LogLevel, msg: string): void;
  /** null when the peer at `ip` may ask; else why not. */
  access(ip: string): string | null;
}

export interface PeerApiOptions {
  /** The resolver the queries go to: dnsmasq, 127.0.0.1:53 on OpenWrt. */
  readonly resolver: { readonly ip: string; readonly port: number };
}

export class PeerApi {
  private listeners: { ip: string; l: TcpListener }[] = [];
  /** The addresses asked for, and the port to keep across a change of them. */
  private wanted: string[] = [];
  private port = 0;
  /** Addresses whose listen failure was said already. */
  private readonly failed = new Set<string>();
  private connections = 0;
  private readonly open = new Set<() => void>();

  constructor(
    private readonly deps: PeerApiDeps,
    private readonly opts: PeerApiOptions,
  ) {}

  /** What Hostinfo.Services says of it: the port on each family, and that it proxies DNS (version 1). */
  get services(): Service[] {
    const out: Service[] = this.listeners.map(({ ip, l }) => ({ Proto: ip.includes(":") ? "peerapi6" : "peerapi4", Port: l.port }));
    if (out.length) out.push({ Proto: "peerapi-dns-proxy", Port: 1 });
    return out;
  }

  /** The TCP ports it listens on, for the firewall. */
  get ports(): number[] {
    return this.listeners.map((x) => x.l.port);
  }

  /**
   * Listens on exactly these addresses (IPv4 first: IPv6 then takes the same port when it
   * can); one that failed is tried again at the next call. True when what it serves changed.
   */
  listen(addresses: readonly string[]): boolean {
    const want = [...addresses].sort((a, b) => Number(a.includes(":")) - Number(b.includes(":")));
    let changed = false;
    if (want.join(" ") !== this.wanted.join(" ")) {
      this.wanted = want;
      this.port = this.listeners[0]?.l.port ?? this.port;
      changed = this.listeners.length > 0;
      this.closeListeners();
    }
    for (const ip of want) {
      if (this.listeners.some((x) => x.ip === ip)) continue;
      const prefer = this.listeners[0]?.l.port ?? this.port;
      let l: TcpListener;
      try {
        l = this.deps.listenTcp(ip, prefer);
      } catch (e) {
        try {
          if (!prefer) throw e;
          l = this.deps.listenTcp(ip, 0);
        } catch (e2) {
          // IPv6 turned off on the router, say: the other family still serves.
          const level = this.failed.has(ip) ? "debug" : "warn";
          this.failed.add(ip);
          this.deps.log(level, `peerapi: ${(e2 as Error).message}; exit-node DNS not served on ${ip}`);
          continue;
        }
      }
      l.onConnection = (conn, from) => this.accept(conn, from);
      this.listeners.push({ ip, l });
      this.deps.log("info", `peerapi: exit-node DNS on ${ip.includes(":") ? `[${ip}]` : ip}:${l.port}`);
      changed = true;
    }
    return changed;
  }

  /** Stops listening and drops every connection and query. */
  stop(): void {
    this.closeListeners();
    for (const close of [...this.open]) close();
  }

  private closeListeners(): void {
    for (const { l } of this.listeners) l.close();
    this.listeners = [];
  }

  private accept(conn: ByteStream, from: string): void {
    if (this.connections >= MAX_CONNECTIONS) {
      this.deps.log("debug", `peerapi: ${from}: ${MAX_CONNECTIONS} connections open already; refused`);
      conn.write(errorResponse(503, "too many connections", true));
      return conn.close();
    }
    this.connections++;
    const reader = new RequestReader();
    const queue: Request[] = [];
    let busy = false;
    let closed = false;
    let cancelTimer = () => {};
    let requestTimer = false;
    let cancelQuery = () => {};
    const arm = (ms: number, forRequest: boolean) => {
      cancelTimer();
      requestTimer = forRequest;
      cancelTimer = this.deps.setTimer(ms, () => {
        this.deps.log("debug", `peerapi: ${from}: ${forRequest ? "request not complete" : "idle"} after ${ms / 1000} s; closing`);
        close();
      });
    };
    const close = () => {
      if (closed) return;
      closed = true;
      cancelTimer();
      cancelQuery();
      this.open.delete(close);
      this.connections--;
      conn.close();
    };
    this.open.add(close);
    // What is written is in the kernel at once unless its buffer is full: give that a moment.
    const closeAfterWrite = () => ((conn.queuedBytes ?? 0) === 0 ? close() : arm(1000, false));
    const refuse = (e: HttpError) => {
      conn.write(errorResponse(e.status, e.message, true));
      closeAfterWrite();
    };
    // Waiting: for the rest of a request begun (from its first byte, not reset by each
    // trickle of bytes), or for the next one.
    const wait = () => {
      if (!reader.pending) arm(IDLE_MS, false);
      else if (!requestTimer) arm(REQUEST_MS, true);
    };
    const next = () => {
      if (closed || busy) return;
      const req = queue.shift();
      if (!req) return wait();
      busy = true;
      cancelTimer();
      requestTimer = false;
      void this.serve(req, from, (cancel) => (cancelQuery = cancel)).then((res) => {
        cancelQuery = () => {};
        busy = false;
        if (closed) return;
        conn.write(res);
        if (req.close) return closeAfterWrite();
        next();
      }, (e: Error) => {
        this.deps.log("error", `peerapi: ${from}: ${e.message}`);
        close();
      });
    };
    conn.onData = (bytes) => {
      if (closed) return;
      let reqs: Request[];
      try {
        reqs = reader.push(bytes);
      } catch (e) {
        if (!(e instanceof HttpError)) throw e;
        this.deps.log("debug", `peerapi: ${from}: ${e.message}`);
        // Answers owed come first; after this one the stream's framing is lost.
        queue.length = 0;
        return refuse(e);
      }
      queue.push(...reqs);
      if (queue.length > MAX_QUEUED) return refuse(new HttpError(429, `more than ${MAX_QUEUED} requests sent ahead`));
      next();
    };
    conn.onClose = () => close();
    arm(IDLE_MS, false);
  }

  /** The response to one request: the answer, or the error as text. */
  private async serve(req: Request, from: string, onCancel: (cancel: () => void) => void): Promise<Uint8Array> {
    let query: Uint8Array;
    try {
      checkOrigin(req, this.listeners.map((x) => x.ip));
      query = dnsQueryOf(req);
      const denied = this.deps.access(from);
      if (denied) throw new HttpError(403, `DNS access denied: ${denied}`);
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      this.deps.log("debug", `peerapi: ${from}: ${e.message}`);
      return errorResponse(e.status, e.message, req.close);
    }
    try {
      return answerResponse(await this.ask(query, onCancel), req.close);
    } catch (e) {
      // tailscaled turns a 5xx into SERVFAIL for the asking program.
      this.deps.log("warn", `peerapi: ${from}: ${(e as Error).message}`);
      return errorResponse((e as Error).message.includes("no answer") ? 504 : 502, (e as Error).message, req.close);
    }
  }

  /** One query to the resolver over UDP from a fresh port; its answer, the one with the query's ID from the resolver's address. */
  private ask(query: Uint8Array, onCancel: (cancel: () => void) => void): Promise<Uint8Array> {
    const { ip, port } = this.opts.resolver;
    const where = ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
    return new Promise((resolve, reject) => {
      let sock: UdpSocket;
      try {
        sock = this.deps.bindUdp(ip.includes(":") ? "::" : "0.0.0.0", 0);
      } catch (e) {
        return reject(new Error(`DNS forwarding to ${where}: ${(e as Error).message}`));
      }
      const done = () => {
        stopTimer();
        sock.close();
      };
      const stopTimer = this.deps.setTimer(DNS_MS, () => {
        done();
        reject(new Error(`DNS forwarding to ${where}: no answer in ${DNS_MS / 1000} s`));
      });
      onCancel(done);
      sock.onMessage = (data, fromIp, fromPort) => {
        // Anything else on the port (a late answer, a stray datagram) is not ours.
        if (fromIp !== ip || fromPort !== port || data.length < 12 || !(data[2]! & 0x80) || data[0] !== query[0] || data[1] !== query[1]) return;
        done();
        resolve(data);
      };
      try {
        sock.send(query, ip, port);
      } catch (e) {
        done();
        reject(new Error(`DNS forwarding to ${where}: ${(e as Error).message}`));
      }
    });
  }
}
