// A check of the runtime's host calls, bundled and linked with the same
// runtime as the agent and run by host.test.ts against servers it starts on
// loopback. Its one argument is a JSON object of ports and paths; it prints
// one JSON line: each check's outcome.
import "../../agent/src/host/polyfills.js";
import { nativeEnv } from "../../agent/src/host/env.js";
import { native } from "../../agent/src/host/native.js";
import type { ByteStream } from "../../agent/src/util/stream.js";
import { utf8Decode, utf8Encode } from "../../agent/src/util/utf8.js";
import { HOST_LITTLE_ENDIAN as LE } from "../portable/check.js";

export interface HostcheckConfig {
  udp4: number;
  udp6: number;
  tcp: number;
  unix: string;
  /** TLS servers: ECDSA cert (any version), RSA cert with TLS 1.2 only, RSA cert with TLS 1.3 only. */
  tls: number;
  tls12: number;
  tls13: number;
  /** ECDSA cert followed by an Ed25519 cert in the chain (what derper sends for IP addresses). */
  tlsEd25519Chain: number;
  ca: string;
  wrongCa: string;
  /** The system's bundle with the test CA after it: a real router's trust anchors. */
  bigCa: string;
  /** A listener whose accept queue is full: a connect to it is never answered. */
  blackhole: number;
  /** Accepts and never sends a byte. */
  silent: number;
  dir: string;
  /** Only this check: a dial to this name, with a resolver that never answers (the test's mount namespace). */
  resolveHung?: string;
}

const n = native();
const env = nativeEnv("error");
const cfg = JSON.parse(n.argv[1] ?? "{}") as HostcheckConfig;
const results: Record<string, string> = {};

const check = async (name: string, fn: () => Promise<string>) => {
  try {
    results[name] = await fn();
  } catch (e) {
    results[name] = `error: ${(e as Error).message}`;
  }
};

const timeout = <T>(p: Promise<T>, ms: number, what: string) =>
  new Promise<T>((resolve, reject) => {
    const cancel = env.setTimer(ms, () => reject(new Error(`${what}: timed out`)));
    p.then((v) => (cancel(), resolve(v)), (e) => (cancel(), reject(e)));
  });

const echo = (ip: string, port: number) =>
  timeout(
    new Promise<string>((resolve) => {
      const u = env.bindUdp(ip === "::1" ? "::" : "0.0.0.0", 0);
      u.onMessage = (d) => {
        u.close();
        resolve(utf8Decode(d));
      };
      u.send(utf8Encode(`ping ${ip}`), ip, port);
    }),
    3000,
    `udp ${ip}`,
  );

const roundTrip = async (dial: () => Promise<ByteStream>, msg: string) => {
  const s = await dial();
  return timeout(
    new Promise<string>((resolve, reject) => {
      let got = "";
      s.onData = (d) => {
        got += utf8Decode(d);
        if (got.endsWith("\n")) {
          s.close();
          resolve(got.trim());
        }
      };
      s.onClose = (e) => (e ? reject(e) : resolve(got.trim()));
      s.write(utf8Encode(`${msg}\n`));
    }),
    5000,
    msg,
  );
};

const tlsTo = (port: number, serverName: string, caFile?: string) => () =>
  env.dialTcp("127.0.0.1", port, caFile === undefined ? { serverName } : { serverName, caFile });

/** The interface names in an RTM_GETLINK dump, read until NLMSG_DONE. */
const linkNames = () =>
  timeout(
    new Promise<string>((resolve, reject) => {
      const s = env.netlink(0, 0);
      // nlmsghdr (len 32, RTM_GETLINK 18, NLM_F_REQUEST|NLM_F_DUMP, seq 1) + ifinfomsg,
      // in the host's byte order as the kernel reads it.
      const req = new Uint8Array(32);
      const v = new DataView(req.buffer);
      v.setUint32(0, 32, LE);
      v.setUint16(4, 18, LE);
      v.setUint16(6, 0x301, LE);
      v.setUint32(8, 1, LE);
      const names: string[] = [];
      s.onError = reject;
      s.onMessage = (d) => {
        const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
        for (let off = 0; off + 16 <= d.length; ) {
          const len = dv.getUint32(off, LE), type = dv.getUint16(off + 4, LE);
          if (len < 16) return reject(new Error("netlink: bad message length"));
          if (type === 3) {
            s.close();
            return resolve(names.join(","));
          }
          if (type === 16) {
            // RTM_NEWLINK: ifinfomsg (16 bytes), then attributes; IFLA_IFNAME is 3.
            for (let a = off + 32; a + 4 <= off + len; ) {
              const alen = dv.getUint16(a, LE), atype = dv.getUint16(a + 2, LE);
              if (alen < 4) break;
              if (atype === 3) names.push(utf8Decode(d.subarray(a + 4, a + alen)).replace(/\0+$/, ""));
              a += (alen + 3) & ~3;
            }
          }
          off += (len + 3) & ~3;
        }
      };
      s.send(req);
    }),
    3000,
    "netlink",
  );

/** A dial to a name the resolver never answers for, while a 10 ms timer runs: the longest gap between its turns shows whether the loop was held. */
async function resolveHung(name: string) {
  const started = n.mono();
  let last = started, gap = 0, stop = false;
  const tick = () => {
    const t = n.mono();
    gap = Math.max(gap, t - last);
    last = t;
    if (!stop) env.setTimer(10, tick);
  };
  env.setTimer(10, tick);
  const msg = await env.dialTcp(name, 443, undefined, 1500).then((s) => (s.close(), "connected?!"), (e: Error) => e.message);
  stop = true;
  gap = Math.max(gap, n.mono() - last); // a loop held until the dial ended shows here
  results.resolveHung = `${msg} | longest timer gap ${gap < 500 ? "under 500 ms" : `${Math.round(gap)} ms`} | after ${n.mono() - started < 2500 ? "under 2.5 s" : `${Math.round(n.mono() - started)} ms`}`;
  n.write(1, utf8Encode(`${JSON.stringify(results)}\n`));
  n.exit(0);
}

async function main() {
  if (cfg.resolveHung) return resolveHung(cfg.resolveHung);
  await check("udp4", () => echo("127.0.0.1", cfg.udp4));
  await check("udp6", () => echo("::1", cfg.udp6));
  // An IPv6-only socket on the port of an IPv4 socket (the agent's disco sockets); a dual-stack one there is refused.
  await check("udp6only", async () => {
    const u4 = env.bindUdp("0.0.0.0", 0);
    const dual = (() => {
      try {
        env.bindUdp("::", u4.port).close();
        return "dual-stack bound?!";
      } catch (e) {
        return (e as Error).message.includes("EADDRINUSE") ? "dual-stack refused" : (e as Error).message;
      }
    })();
    const u6 = env.bindUdp("::", u4.port, { v6only: true });
    const got = await timeout(new Promise<string>((resolve) => {
      u6.onMessage = (d) => resolve(utf8Decode(d));
      u6.send(utf8Encode("ping ::1"), "::1", cfg.udp6);
    }), 3000, "udp ::1 from the IPv6-only socket");
    const same = u6.port === u4.port;
    u6.close();
    u4.close();
    return `${dual}, v6only on the same port ${same}: ${got}`;
  });
  // The relay bridge's socket: connected to one port on 127.0.0.1 (the kernel's WireGuard port), read into the caller's buffer.
  await check("loopbackUdp", async () => {
    const kernel = env.bindUdp("127.0.0.1", 0), stranger = env.bindUdp("127.0.0.1", 0);
    const lb = env.loopbackUdp(kernel.port);
    const buf = new Uint8Array(64).fill(0xee);
    const read: string[] = [];
    const got = await timeout(new Promise<string>((resolve) => {
      kernel.onMessage = (d, ip, port) => resolve(`kernel got ${utf8Decode(d)} from ${ip}:${port === lb.port ? "the bridge port" : port}`);
      lb.onReadable = () => {
        for (let k; (k = lb.readInto(buf, 5)) !== null; ) read.push(`${utf8Decode(buf.subarray(5, 5 + k))} (byte before ${buf[4]!.toString(16)})`);
        if (read.length) lb.send(utf8Encode("back"));
      };
      stranger.send(utf8Encode("from a stranger"), "127.0.0.1", lb.port);
      env.setTimer(100, () => kernel.send(utf8Encode("from the kernel"), "127.0.0.1", lb.port));
    }), 3000, "loopback socket");
    const cut = lb.readInto(new Uint8Array(4), 0);
    // A socket whose receive buffer is full: the kernel's drops are counted (loopback delivers within the send).
    const tiny = env.loopbackUdp(kernel.port, 1);
    for (let i = 0; i < 20; i++) kernel.send(new Uint8Array(1000), "127.0.0.1", tiny.port);
    const drops = tiny.drops();
    for (const u of [kernel, stranger, lb, tiny]) u.close();
    return `read ${read.join(", ")}; ${got}; nothing more ${cut}; drops at a full buffer ${drops >= 10 ? "counted" : drops}`;
  });
  await check("tcp", () => roundTrip(() => env.dialTcp("127.0.0.1", cfg.tcp), "hello tcp"));
  await check("unix", () => roundTrip(() => env.connectUnix(cfg.unix), "hello unix"));
  await check("tls", () => roundTrip(tlsTo(cfg.tls, "localhost", cfg.ca), "hello tls"));
  await check("tls12", () => roundTrip(tlsTo(cfg.tls12, "localhost", cfg.ca), "hello tls12"));
  await check("tls13", () => roundTrip(tlsTo(cfg.tls13, "localhost", cfg.ca), "hello tls13"));
  await check("tlsEd25519Chain", () => roundTrip(tlsTo(cfg.tlsEd25519Chain, "localhost", cfg.ca), "hello chain"));
  // writeNow: the caller's buffer is reused as soon as it returns; what the socket did not take
  // (TLS takes one 16 KB record a call) is queued as a copy and goes before a later write().
  // The echo comes back in many chunks.
  await check("tlsWriteNow", async () => {
    const s = await tlsTo(cfg.tls, "localhost", cfg.ca)();
    return timeout(
      new Promise<string>((resolve, reject) => {
        // The chunks are kept, not decoded as they come: one held while more arrive must keep its bytes (tls.c lends its buffer).
        const chunks: Uint8Array[] = [];
        let got = "";
        s.onData = (d) => {
          chunks.push(d);
          got += utf8Decode(d);
          if (got.includes("b")) {
            const kept = chunks.map(utf8Decode).join("") === got;
            resolve(`${got.split("a").length - 1} a's, then b ${got.lastIndexOf("b") > got.lastIndexOf("a")}; kept as read ${kept}`);
            s.close();
          }
        };
        s.onClose = (e) => reject(e ?? new Error("closed"));
        const big = new Uint8Array(60_001).fill(0x61);
        big[60_000] = 0x0a;
        s.writeNow!(big);
        big.fill(0x78);
        s.write(utf8Encode("b\n"));
      }),
      5000,
      "tlsWriteNow",
    );
  });
  await check("tlsUntrusted", () => roundTrip(tlsTo(cfg.tls, "localhost", cfg.wrongCa), "x"));
  await check("tlsSystemBundle", () => roundTrip(tlsTo(cfg.tls, "localhost"), "x"));
  // The trust anchors are parsed for a handshake and let go after it: a system bundle is
  // ~0.5 MB parsed, and a connection (DERP's) is open all the time.
  await check("tlsBundleHeld", async () => {
    const rssKb = () => Number(/VmRSS:\s+(\d+)/.exec(utf8Decode(env.readFile("/proc/self/status")!))?.[1]);
    const before = rssKb();
    const s = await tlsTo(cfg.tls, "localhost", cfg.bigCa)();
    const held = rssKb();
    s.close();
    return `${held - before} kB`;
  });
  await check("tlsWrongName", () => roundTrip(tlsTo(cfg.tls, "other.example", cfg.ca), "x"));
  await check("tlsMissingCa", () => roundTrip(tlsTo(cfg.tls, "localhost", `${cfg.dir}/no-such-ca.pem`), "x"));
  // Every descriptor open in this process: /proc/self/fd/N exists for each.
  const openFds = () => {
    let k = 0;
    for (let fd = 0; fd < 1024; fd++) if (n.stat(`/proc/self/fd/${fd}`) !== null) k++;
    return k;
  };
  await check("tlsOpenFails1000", async () => {
    const before = openFds();
    let errors = 0;
    for (let i = 0; i < 1000; i++) await tlsTo(cfg.tls, "localhost", `${cfg.dir}/no-such-ca.pem`)().then((s) => s.close(), () => errors++);
    return `${errors} errors, fds ${before} -> ${openFds()}`;
  });
  const failsWithin = async (dial: () => Promise<ByteStream>) => {
    const started = n.mono();
    const msg = await dial().then((s) => (s.close(), "connected?!"), (e: Error) => e.message);
    return `${msg} after ${n.mono() - started < 1000 ? "under 1 s" : `${Math.round(n.mono() - started)} ms`}`;
  };
  await check("connectDeadline", async () => {
    const before = openFds();
    const r = await failsWithin(() => env.dialTcp("127.0.0.1", cfg.blackhole, undefined, 300));
    return `${r}, fds ${before} -> ${openFds()}`;
  });
  await check("tlsDeadline", async () => {
    const before = openFds();
    const r = await failsWithin(() => env.dialTcp("127.0.0.1", cfg.silent, { serverName: "localhost", caFile: cfg.ca }, 300));
    return `${r}, fds ${before} -> ${openFds()}`;
  });
  await check("writeQueueBound", async () => {
    const s = await env.dialTcp("127.0.0.1", cfg.silent);
    const chunk = new Uint8Array(64 << 10);
    let most = 0, written = 0, closedWith = "";
    s.onClose = (e) => (closedWith = e?.message ?? "closed cleanly");
    // The peer never reads: the kernel's buffers fill, then the stream's queue, up to its cap.
    for (let i = 0; i < 200 && !closedWith; i++) {
      s.write(chunk);
      written += chunk.length;
      most = Math.max(most, s.queuedBytes ?? 0);
    }
    return `${closedWith} | most queued ${most} | written ${written}`;
  });
  await check("resolveLocalhost", () => roundTrip(() => env.dialTcp("localhost", cfg.tcp), "hello by name"));
  await check("refused", () => env.dialTcp("127.0.0.1", 1).then(() => "connected?!"));
  await check("readDir", async () => String(env.readFile(cfg.dir)));
  await check("netlink", linkNames);
  await check("netlinkJoin", async () => {
    // RTNLGRP_LINK (1): link events, the subscription the agent makes.
    const fd = n.netlinkOpen(0, 0);
    n.netlinkJoin(fd, 1);
    n.close(fd);
    return "joined";
  });
  await check("file", async () => {
    const p = `${cfg.dir}/state/keys.json`;
    env.mkdir(`${cfg.dir}/state`, 0o700);
    // Two writes asked at once land in turn: the second's content stays.
    const first = env.writeFileAtomic(p, utf8Encode("first"), 0o600);
    await env.writeFileAtomic(p, utf8Encode("secret"), 0o600);
    await first;
    const st = n.stat(p)!;
    return `${utf8Decode(env.readFile(p)!)} ${(st[0] & 0o777).toString(8)} ${env.readFile(`${cfg.dir}/missing`) === null} ${env.exists(`${p}.tmp`)}`;
  });
  await check("fileMissingDir", () => env.writeFileAtomic(`${cfg.dir}/no-such-dir/keys.json`, utf8Encode("x"), 0o600).then(() => "written?!"));
  await check("fileWaits", async () => {
    // A disk that does not answer: PATH.tmp is a FIFO nobody reads, so the write's open waits. It holds its child, not the loop.
    const p = `${cfg.dir}/state/slow.json`;
    const made = await env.run(["mkfifo", `${p}.tmp`]);
    if (made.code !== 0) throw new Error(`mkfifo: ${made.stderr}`);
    let ticks = 0, ticking = true;
    const tick = () => {
      ticks++;
      if (ticking) env.setTimer(10, tick);
    };
    tick();
    const write = env.writeFileAtomic(p, utf8Encode("x"), 0o600).then(() => "written", (e: Error) => e.message);
    await new Promise((r) => env.setTimer(300, () => r(undefined)));
    const whileWaiting = ticks;
    // A reader opens the FIFO: the write goes on, and its fsync fails there (a FIFO has no disk to sync).
    const reader = env.run(["cat", `${p}.tmp`]);
    const outcome = await timeout(write, 5000, "the write");
    await reader;
    ticking = false;
    return `${whileWaiting >= 10} ${outcome} ${env.exists(`${p}.tmp`)} ${env.exists(p)}`;
  });
  await check("run", () => timeout(env.run(["sh", "-c", "echo oops >&2; exit 4"]), 3000, "run").then((r) => `${r.code} ${r.stderr}`));
  // The runtime ignores SIGPIPE; its children must not inherit that (sh would keep ignoring it).
  await check("pipeSignal", () => timeout(env.run(["sh", "-c", "kill -PIPE $$; exit 0"]), 3000, "run").then((r) => String(r.code)));
  await check("spawnMissing", async () => String(env.spawn(["/nonexistent/prog"])));
  await check("spawn", () =>
    timeout(
      new Promise<string>((resolve) => {
        const c = env.spawn(["sh", "-c", "cat; echo err >&2; exit 3"]);
        let o = "", e = "";
        c.onStdout = (b) => (o += utf8Decode(b));
        c.onStderr = (b) => (e += utf8Decode(b));
        c.onExit = (code) => resolve(`${o.trim()}|${e.trim()}|${code}`);
        c.write(utf8Encode("from stdin\n"));
        c.endInput();
      }),
      3000,
      "spawn",
    ),
  );
  await check("kill", () =>
    timeout(
      new Promise<string>((resolve) => {
        const c = env.spawn(["sleep", "10"]);
        c.onExit = (code) => resolve(String(code));
        c.kill();
      }),
      3000,
      "kill",
    ),
  );
  await check("timers", () =>
    new Promise((resolve) => {
      const order: number[] = [];
      env.setTimer(30, () => order.push(3));
      env.setTimer(10, () => order.push(1));
      const cancel = env.setTimer(20, () => order.push(99));
      env.setTimer(15, () => order.push(2));
      cancel();
      env.setTimer(60, () => resolve(order.join(",")));
    }),
  );
  await check("timersOneWakeup", () =>
    new Promise((resolve) => {
      // Both are due when the loop wakes up (it is busy for 30 ms first):
      // the earlier deadline fires first although it was set second.
      const order: string[] = [];
      env.setTimer(20, () => order.push("b"));
      env.setTimer(5, () => order.push("a"));
      const until = n.mono() + 30;
      while (n.mono() < until);
      env.setTimer(40, () => resolve(order.join(",")));
    }),
  );
  await check("callbackThrows", () =>
    new Promise((resolve) => {
      env.setTimer(1, () => {
        throw new Error("deliberate");
      });
      env.setTimer(20, () => resolve("loop still runs"));
    }),
  );
  await check("unhandledRejection", () =>
    new Promise((resolve) => {
      env.setTimer(1, () => void Promise.reject(new Error("deliberately unhandled")));
      // Rejected, then handled within the same turn: not reported.
      env.setTimer(2, () => {
        const p = Promise.reject(new Error("handled later"));
        void Promise.resolve().then(() => p.catch(() => {}));
      });
      env.setTimer(20, () => resolve("loop still runs"));
    }),
  );
  await check("signal", () =>
    timeout(
      new Promise((resolve) => {
        env.onSignal("HUP", () => {
          env.onSignal("HUP", undefined);
          resolve("HUP");
        });
        n.write(1, utf8Encode("ready-for-hup\n"));
      }),
      5000,
      "signal",
    ),
  );
  await check("clock", async () => {
    const wall = env.now(), mono = env.monotonic();
    return `${Math.abs(wall - Date.now()) < 1000} ${mono > 0}`;
  });
  await check("crypto", async () => {
    const a = new Uint8Array(16);
    crypto.getRandomValues(a);
    return `${a.some((x) => x !== 0)} ${new TextDecoder().decode(new TextEncoder().encode("héllo ✓"))}`;
  });
  n.write(1, utf8Encode(`${JSON.stringify(results)}\n`));
  n.exit(0);
}

void main();
