// The Host on the meshwrt runtime: non-blocking streams
// (TCP, TLS, unix), UDP and netlink sockets driven by the runtime's poll
// loop, timers, files, processes, signals and the clocks.
import type { ChildProcess, Host, LogLevel, LoopbackUdp, NetlinkSocket, TcpListener, TlsOptions, UdpOptions, UdpSocket, UnixListener } from "./host.js";
import type { ByteStream } from "../util/stream.js";
import { utf8Decode } from "../util/utf8.js";
import { ERROR, type Native, native, READ, WRITE } from "./native.js";

const LEVELS: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const isIp = (h: string) => /^[0-9.]+$/.test(h) || h.includes(":");
/** The longest a name lookup, a TCP connect and a TLS handshake may each take. */
export const DIAL_STEP_MS = 10_000;

/**
 * Bytes a stream holds for a peer that does not read before it is given up
 * as dead: a bound on what a stalled connection can take from a 128 MB
 * router. Senders that may drop (relayed packets) look at `queuedBytes` and
 * drop well before this.
 */
export const STREAM_QUEUE_MAX = 4 << 20;

/**
 * Writes gathered in one turn of the loop go out together at its end (a
 * microtask): one TLS record and one syscall for a burst of relayed packets
 * instead of one each. A TLS record holds at most 16 KB; a plain write takes 64.
 */
const TLS_CHUNK = 16384;
const PLAIN_CHUNK = 65536;

/**
 * A closed connection's objects hold each other (handlers that reference their stream), so only
 * a cycle collection frees them, and QuickJS runs one by itself only once its heap has grown by
 * half: with control and DERP reconnecting every minute, that garbage took the agent from 5.7 to
 * 9.1 MB in 25 minutes. One collection a second after a stream closed, at most one every 30 s.
 */
const COLLECT_AFTER_MS = 1_000, COLLECT_EVERY_MS = 30_000;
let collecting = false;
let collectedAt = -Infinity;
function collectSoon(n: Native): void {
  if (collecting) return;
  collecting = true;
  n.setTimer(Math.max(COLLECT_AFTER_MS, collectedAt + COLLECT_EVERY_MS - n.mono()), () => {
    collecting = false;
    collectedAt = n.mono();
    n.gc();
  });
}

/**
 * Accepts a listening socket's connections as they come, at most 16 a turn
 * so a flood of connections cannot starve the rest of the loop.
 */
function watchAccepts(n: Native, fd: number, closed: () => boolean, accepted: (conn: number) => void): void {
  n.watch(fd, READ, () => {
    for (let i = 0; i < 16 && !closed(); i++) {
      let c: number | null;
      try {
        c = n.accept(fd);
      } catch (e) {
        // EMFILE and the like: the pending connection stays queued; say so and wait for the next turn.
        n.log("warn", (e as Error).message);
        return;
      }
      if (c === null) return;
      accepted(c);
    }
  });
}

/** A stream over a connected fd, optionally with a TLS handle from tlsOpen. */
function fdStream(n: Native, fd: number, tls?: number): ByteStream {
  const queue: Uint8Array[] = [];
  let queued = 0;
  let closed = false;
  let scheduled = false;
  /** mbedTLS must be given the same bytes again after "want write": the head is not merged further. */
  let headPinned = false;
  const chunk = tls !== undefined ? TLS_CHUNK : PLAIN_CHUNK;
  const s: ByteStream = {
    onData: () => {},
    onClose: () => {},
    get queuedBytes() {
      return queued;
    },
    write(bytes) {
      if (closed) return;
      if (queued + bytes.length > STREAM_QUEUE_MAX) {
        return finish(new Error(`the peer stopped reading: ${queued} bytes waiting to be sent`));
      }
      queue.push(bytes);
      queued += bytes.length;
      if (!scheduled) {
        scheduled = true;
        void Promise.resolve().then(flush);
      }
    },
    writeNow(bytes) {
      if (closed) return;
      if (queue.length) return s.write(bytes.slice());
      let w: number;
      try {
        w = tls !== undefined ? n.tlsWrite(tls, bytes) : n.write(fd, bytes);
      } catch (e) {
        return finish(e as Error);
      }
      if (w === bytes.length) return;
      // mbedTLS took none ("want write") and must be given the same bytes again: they lead the queue.
      if (w === 0) headPinned = true;
      queue.push(bytes.slice(w));
      queued += bytes.length - w;
      rearm();
    },
    close() {
      // What was written this turn still goes, as far as the socket takes it.
      if (!closed && queue.length) flush();
      finish();
    },
  };
  const finish = (err?: Error) => {
    if (closed) return;
    closed = true;
    queue.length = 0;
    queued = 0;
    n.unwatch(fd);
    if (tls !== undefined) n.tlsClose(tls);
    n.close(fd);
    collectSoon(n);
    s.onClose(err);
  };
  const rearm = () => {
    if (!closed) n.watch(fd, READ | (queue.length ? WRITE : 0), onReady);
  };
  /** Merges the small writes at the head of the queue into one of at most `chunk` bytes. */
  const merge = () => {
    if (headPinned || queue.length < 2) return;
    let size = 0, k = 0;
    while (k < queue.length && size + queue[k]!.length <= chunk) size += queue[k++]!.length;
    if (k < 2) return;
    const b = new Uint8Array(size);
    for (let i = 0, o = 0; i < k; i++) {
      b.set(queue[i]!, o);
      o += queue[i]!.length;
    }
    queue.splice(0, k, b);
  };
  const flush = () => {
    scheduled = false;
    if (closed) return;
    const wanted = queue.length > 0;
    try {
      while (queue.length) {
        merge();
        const head = queue[0]!;
        const w = tls !== undefined ? n.tlsWrite(tls, head) : n.write(fd, head);
        if (w === 0) {
          headPinned = true;
          break;
        }
        headPinned = false;
        queued -= w;
        if (w < head.length) queue[0] = head.subarray(w);
        else queue.shift();
      }
    } catch (e) {
      return finish(e as Error);
    }
    if (wanted) rearm();
  };
  const onReady = (ev: number) => {
    if (ev & WRITE) flush();
    if (!(ev & (READ | ERROR))) return;
    try {
      for (;;) {
        const b = tls !== undefined ? n.tlsRead(tls) : n.read(fd, 65536);
        if (b === null) break;
        if (b.length === 0) return finish();
        s.onData(b);
        if (closed) return;
      }
    } catch (e) {
      return finish(e as Error);
    }
  };
  rearm();
  // TLS may hold bytes read past the handshake: look once without waiting for the socket, on
  // the next turn (a timer), when the caller has set onData.
  if (tls !== undefined) n.setTimer(0, () => !closed && onReady(READ));
  return s;
}

export function nativeEnv(minLevel: LogLevel = "info"): Host & { setLogLevel(l: LogLevel): void } {
  const n = native();
  let level = minLevel;
  // The runtime reports every child's exit to one callback.
  const children = new Map<number, (code: number) => void>();
  n.onChild((pid, code) => {
    children.get(pid)?.(code);
    children.delete(pid);
  });

  // Each step of a dial waits at most its deadline: a SYN that is dropped, or a
  // server that accepts and says nothing, costs one deadline, not forever.
  const connectFd = (fd: number, what: string, ms: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = n.setTimer(ms, () => {
        n.unwatch(fd);
        n.close(fd);
        reject(new Error(`connect ${what}: no answer in ${ms / 1000} s`));
      });
      n.watch(fd, WRITE, () => {
        n.clearTimer(timer);
        n.unwatch(fd);
        const err = n.sockError(fd);
        if (err) {
          n.close(fd);
          reject(new Error(`connect ${what}: ${n.strerror(err)}`));
        } else {
          resolve();
        }
      });
    });

  // What a child doing a blocking job (native fork_job) reports on its pipe, read to the end; returns what abandons it.
  const readReport = (fd: number, done: (report: string, err?: Error) => void): (() => void) => {
    let report = "";
    const close = () => {
      n.unwatch(fd);
      n.close(fd);
    };
    n.watch(fd, READ, () => {
      for (;;) {
        let b: Uint8Array | null;
        try {
          b = n.read(fd, 4096);
        } catch (e) {
          close();
          return done(report, e as Error);
        }
        if (b === null) return;
        if (!b.length) {
          close();
          return done(report);
        }
        report += utf8Decode(b);
      }
    });
    return close;
  };

  // A name lookup off the loop (a child process waits for the resolver), bounded like a dial step.
  const resolveName = (name: string, ms: number): Promise<string[]> =>
    new Promise((resolve, reject) => {
      const [pid, fd] = n.resolveStart(name);
      const timer = n.setTimer(ms, () => {
        abandon();
        n.kill(pid, 9);
        reject(new Error(`resolve ${name}: no answer in ${ms / 1000} s`));
      });
      const abandon = readReport(fd, (report, err) => {
        n.clearTimer(timer);
        if (err) return reject(err);
        const lines = report.split("\n").filter((l) => l);
        const bad = lines.find((l) => l.startsWith("!"));
        if (bad) reject(new Error(`resolve ${name}: ${bad.slice(1)}`));
        else if (!lines.length) reject(new Error(`resolve ${name}: no address`));
        else resolve(lines);
      });
    });

  // An atomic write off the loop (a child process waits for the disk). One path's writes go in the order asked, as
  // two at once would share PATH.tmp; the map holds one settled promise for each path ever written (a handful).
  const writes = new Map<string, Promise<void>>();
  const writeOnce = (path: string, data: Uint8Array, mode: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const [, fd] = n.writeFileStart(path, data, mode);
      readReport(fd, (failure, err) => {
        if (err) reject(new Error(`write ${path}: ${err.message}`));
        else if (failure) reject(new Error(failure));
        else resolve();
      });
    });
  const writeFileAtomic = (path: string, data: Uint8Array, mode: number): Promise<void> => {
    const done = (writes.get(path) ?? Promise.resolve()).then(() => writeOnce(path, data, mode));
    writes.set(path, done.catch(() => {}));
    return done;
  };

  const handshake = (fd: number, h: number, serverName: string, what: string, ms: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const abandon = () => {
        n.clearTimer(timer);
        n.unwatch(fd);
        n.tlsClose(h);
        n.close(fd);
      };
      const timer = n.setTimer(ms, () => {
        abandon();
        reject(new Error(`tls handshake with ${serverName} (${what}): no answer in ${ms / 1000} s`));
      });
      const step = () => {
        let r: number;
        try {
          r = n.tlsHandshake(h);
        } catch (e) {
          abandon();
          const err = new Error(`${(e as Error).message} (${what})`) as Error & { code?: string };
          err.code = (e as { code?: string }).code;
          return reject(err);
        }
        if (r === 0) {
          n.clearTimer(timer);
          n.unwatch(fd);
          return resolve();
        }
        n.watch(fd, r === 1 ? READ : WRITE, step);
      };
      step();
    });

  const host: Host & { setLogLevel(l: LogLevel): void } = {
    setLogLevel(l) {
      level = l;
    },
    log(l, msg) {
      if (LEVELS[l] >= LEVELS[level]) n.log(l, msg);
    },
    now: () => n.now(),
    monotonic: () => n.mono(),
    random: (k) => n.random(k),
    onSignal: (name, fn) => n.onSignal(name, fn),
    setTimer(ms, fn) {
      const id = n.setTimer(ms, fn);
      return () => n.clearTimer(id);
    },
    async dialTcp(host: string, port: number, tls?: TlsOptions, deadlineMs = DIAL_STEP_MS, connectMs = deadlineMs): Promise<ByteStream> {
      const ips = isIp(host) ? [host] : await resolveName(host, deadlineMs);
      const what = `${host.includes(":") ? `[${host}]` : host}:${port}`;
      // Each address in turn (an AAAA record is no use without an IPv6 route).
      const connect = async (): Promise<number> => {
        let last: unknown;
        for (const ip of ips) {
          try {
            const fd = n.tcpConnect(ip, port);
            await connectFd(fd, ips.length > 1 ? `${what} (${ip})` : what, connectMs);
            return fd;
          } catch (e) {
            last = e;
          }
        }
        throw last;
      };
      const dial = async (tls12: boolean): Promise<ByteStream> => {
        const fd = await connect();
        if (!tls) return fdStream(n, fd);
        let h: number;
        try {
          h = n.tlsOpen(fd, tls.serverName, tls.caFile ?? null, tls12);
        } catch (e) {
          n.close(fd); // a missing CA file, a full TLS table: the socket is ours to close
          throw e;
        }
        await handshake(fd, h, tls.serverName, what, deadlineMs);
        return fdStream(n, fd, h);
      };
      try {
        return await dial(false);
      } catch (e) {
        // A TLS 1.2 server that signs with RSA-PSS, or a chain that only TLS 1.2
        // lets through (see tls.c): once more, TLS 1.2 without offering PSS.
        const code = (e as { code?: string }).code;
        if (code !== "TLS12_PSS" && code !== "TLS13_UNKNOWN_SIG_ALG") throw e;
        return dial(true);
      }
    },
    async connectUnix(path: string): Promise<ByteStream> {
      return fdStream(n, n.unixConnect(path));
    },
    listenUnix(path: string, mode: number): UnixListener {
      const fd = n.unixListen(path);
      let closed = false;
      const l: UnixListener = {
        onConnection: () => {},
        close: () => {
          if (closed) return;
          closed = true;
          n.unwatch(fd);
          n.close(fd);
          n.unlink(path);
        },
      };
      try {
        n.chmod(path, mode);
      } catch (e) {
        l.close();
        throw e;
      }
      watchAccepts(n, fd, () => closed, (c) => l.onConnection(fdStream(n, c)));
      return l;
    },
    listenTcp(ip: string, port: number): TcpListener {
      const [fd, , bound] = n.tcpListen(ip, port);
      let closed = false;
      const l: TcpListener = {
        port: bound,
        onConnection: () => {},
        close: () => {
          if (closed) return;
          closed = true;
          n.unwatch(fd);
          n.close(fd);
        },
      };
      watchAccepts(n, fd, () => closed, (c) => {
        let from: [number, string, number];
        try {
          from = n.peerAddr(c);
        } catch (e) {
          // Reset before we looked: nobody to answer.
          n.close(c);
          n.log("debug", (e as Error).message);
          return;
        }
        l.onConnection(fdStream(n, c), from[1], from[2]);
      });
      return l;
    },
    bindUdp(ip: string, port: number, opts: UdpOptions = {}): UdpSocket {
      const [fd, , bound] = n.udpBind(ip, port, opts.receiveBuffer, opts.v6only, opts.transparent);
      let closed = false;
      const u: UdpSocket = {
        port: bound,
        onMessage: () => {},
        send: (data, to, toPort) => void n.udpSend(fd, data, to, toPort),
        close: () => {
          if (closed) return;
          closed = true;
          n.unwatch(fd);
          n.close(fd);
        },
      };
      n.watch(fd, READ, () => {
        // At most 64 datagrams a turn, so one busy socket cannot starve the rest.
        for (let i = 0; i < 64 && !closed; i++) {
          let d: [Uint8Array, string, number] | null;
          try {
            d = n.udpRecv(fd);
          } catch (e) {
            n.log("warn", (e as Error).message);
            return;
          }
          if (!d) return;
          u.onMessage(d[0], d[1], d[2]);
        }
      });
      return u;
    },
    loopbackUdp(peerPort: number, receiveBuffer?: number): LoopbackUdp {
      const [fd, , bound] = n.udpBind("127.0.0.1", 0, receiveBuffer);
      let closed = false;
      const u: LoopbackUdp = {
        port: bound,
        onReadable: () => {},
        connect: (port) => n.udpConnect(fd, "127.0.0.1", port),
        send: (data) => n.write(fd, data) > 0,
        readInto: (buf, offset) => (closed ? null : n.readInto(fd, buf, offset)),
        drops: () => (closed ? 0 : n.sockDrops(fd)),
        close: () => {
          if (closed) return;
          closed = true;
          n.unwatch(fd);
          n.close(fd);
        },
      };
      try {
        u.connect(peerPort);
      } catch (e) {
        u.close();
        throw e;
      }
      // The reader takes what it wants a turn; what is left wakes the next one.
      n.watch(fd, READ, () => u.onReadable());
      return u;
    },
    netlink(protocol: number, groups: number): NetlinkSocket {
      const fd = n.netlinkOpen(protocol, groups);
      let closed = false;
      const s: NetlinkSocket = {
        onMessage: () => {},
        onError: () => {},
        send: (d) => n.netlinkSend(fd, d),
        close: () => {
          if (closed) return;
          closed = true;
          n.unwatch(fd);
          n.close(fd);
        },
      };
      n.watch(fd, READ, () => {
        while (!closed) {
          let d: Uint8Array | null;
          try {
            d = n.netlinkRecv(fd);
          } catch (e) {
            s.onError(e as Error);
            return;
          }
          if (!d) return;
          s.onMessage(d);
        }
      });
      return s;
    },
    readFile: (p) => n.readFile(p),
    writeFileAtomic,
    mkdir: (p, mode) => n.mkdir(p, mode),
    unlink: (p) => n.unlink(p),
    errnoName: (e) => n.errnoName(e),
    describeErrno: (e) => n.strerror(e),
    exists: (p) => n.stat(p) !== null,
    spawn(argv: string[]): ChildProcess {
      const [pid, stdin, stdout, stderr] = n.spawn(argv);
      // onExit waits for the exit and for the end of both pipes, so every byte of output comes first.
      let pending = 3, code = -1;
      const done = () => {
        if (--pending === 0) c.onExit(code);
      };
      children.set(pid, (status) => {
        code = status;
        done();
      });
      const drain = (fd: number, deliver: (b: Uint8Array) => void) =>
        n.watch(fd, READ, () => {
          for (;;) {
            let b: Uint8Array | null;
            try {
              b = n.read(fd, 65536);
            } catch {
              b = new Uint8Array(0);
            }
            if (b === null) return;
            if (b.length === 0) {
              n.unwatch(fd);
              n.close(fd);
              return done();
            }
            deliver(b);
          }
        });
      drain(stdout, (b) => c.onStdout(b));
      drain(stderr, (b) => c.onStderr(b));
      const queue: Uint8Array[] = [];
      let inputOpen = true, ending = false;
      const closeInput = () => {
        if (!inputOpen) return;
        inputOpen = false;
        queue.length = 0;
        n.unwatch(stdin);
        n.close(stdin);
      };
      const flush = () => {
        try {
          while (queue.length) {
            const head = queue[0]!;
            const w = n.write(stdin, head);
            if (w === 0) break;
            if (w < head.length) queue[0] = head.subarray(w);
            else queue.shift();
          }
        } catch {
          return closeInput(); // EPIPE: the child stopped reading
        }
        if (!queue.length && ending) return closeInput();
        if (queue.length) n.watch(stdin, WRITE, flush);
        else n.unwatch(stdin);
      };
      const c: ChildProcess = {
        pid,
        onStdout: () => {},
        onStderr: () => {},
        onExit: () => {},
        write(bytes) {
          if (!inputOpen || ending) return;
          queue.push(bytes);
          flush();
        },
        endInput() {
          ending = true;
          if (inputOpen) flush();
        },
        kill(signal = 15) {
          if (code < 0) n.kill(pid, signal);
        },
      };
      return c;
    },
    run(argv: string[], input?: Uint8Array): Promise<{ code: number; stderr: string }> {
      return new Promise((resolve, reject) => {
        let c: ChildProcess;
        try {
          c = host.spawn(argv);
        } catch (e) {
          return reject(e);
        }
        let err = "";
        c.onStderr = (b) => {
          if (err.length < 4096) err += utf8Decode(b);
        };
        c.onExit = (code) => resolve({ code, stderr: err.trim() });
        if (input) c.write(input);
        c.endInput();
      });
    },
  };
  return host;
}
