// The host check's tests, for any build of it: host.test.ts runs the x86
// binary natively, test/cross/qemu-user.test.ts each target's under
// qemu-user. The check (hostcheck.ts) runs against servers started here on
// loopback and prints one JSON line; each behaviour is its own test.
import { execFileSync, spawn } from "node:child_process";
import dgram from "node:dgram";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { describe, expect, it } from "vitest";

/** A run of the check: its JSON result, its stderr, its exit code and how long it took. */
export interface HostcheckRun {
  readonly r: Record<string, string>;
  readonly out: string;
  readonly err: string;
  readonly code: number | null;
  readonly ms: number;
  /** The directory the check was given (removed after the run). */
  readonly dir: string;
}

/** Where the runtime looks for the system's trust anchors when given no CA file (tls.c), as OpenWrt's ca-bundle installs them. */
const SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

function makeCa(dir: string, name: string): { key: string; cert: string } {
  const key = join(dir, `${name}.key`), cert = join(dir, `${name}.crt`);
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", `/CN=${name}`, "-keyout", key, "-out", cert], { stdio: "ignore" });
  return { key, cert };
}

function serverCert(dir: string, ca: { key: string; cert: string }, name: string, alg: "ec" | "rsa"): { key: string; cert: string } {
  const key = join(dir, `${name}.key`), csr = join(dir, `${name}.csr`), cert = join(dir, `${name}.crt`), ext = join(dir, `${name}.ext`);
  const keyOpts = alg === "ec" ? ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] : ["-newkey", "rsa:2048"];
  writeFileSync(ext, "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  execFileSync("openssl", ["req", ...keyOpts, "-nodes", "-subj", "/CN=localhost", "-keyout", key, "-out", csr], { stdio: "ignore" });
  execFileSync("openssl", ["x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", cert], { stdio: "ignore" });
  return { key, cert };
}

/** The server's certificate followed by a self-signed Ed25519 certificate, as one chain. */
function withEd25519(dir: string, c: { key: string; cert: string }): { key: string; cert: string } {
  const key = join(dir, "ed25519.key"), cert = join(dir, "ed25519.crt"), chain = join(dir, "ec-ed25519-chain.crt");
  execFileSync("openssl", ["req", "-x509", "-newkey", "ed25519", "-nodes", "-days", "2", "-subj", "/CN=ed25519", "-keyout", key, "-out", cert], { stdio: "ignore" });
  writeFileSync(chain, readFileSync(c.cert, "utf8") + readFileSync(cert, "utf8"));
  return { key: c.key, cert: chain };
}

const listen = (srv: net.Server, ...a: unknown[]) => new Promise<number>((r) => (srv.listen as (...x: unknown[]) => void)(...a, () => r((srv.address() as net.AddressInfo)?.port ?? 0)));
const echoLine = (sock: net.Socket) => {
  // A TLS server says which version it spoke.
  const proto = () => (sock instanceof tls.TLSSocket ? ` ${sock.getProtocol()}` : "");
  sock.on("data", (d) => sock.write(`echo ${d.toString().trim()}${proto()}\n`));
  sock.on("error", () => {});
};

/**
 * A loopback port whose SYNs go unanswered: a listener with a backlog of 0
 * that never accepts (Node always accepts, so python3 holds it), its one
 * queue slot taken by connections made here.
 */
async function blackhole(closers: (() => void)[]): Promise<number> {
  const p = spawn("python3", ["-c", "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(600)"]);
  closers.push(() => p.kill());
  const port = await new Promise<number>((resolve, reject) => {
    p.stdout.once("data", (d) => resolve(Number(String(d).trim())));
    p.on("error", reject);
  });
  for (let i = 0; i < 2; i++) {
    const c = net.connect(port, "127.0.0.1").on("error", () => {});
    closers.push(() => c.destroy());
  }
  await new Promise((r) => setTimeout(r, 100));
  return port;
}

/** Starts the servers, runs `command` (the check and, under emulation, its interpreter before it) and collects what it printed. */
async function runHostcheck(command: readonly string[]): Promise<HostcheckRun> {
  const dir = mkdtempSync(join(tmpdir(), "meshwrt-hostcheck-"));
  const closers: (() => void)[] = [() => rmSync(dir, { recursive: true, force: true })];
  try {
    const u4 = dgram.createSocket("udp4"), u6 = dgram.createSocket("udp6");
    for (const u of [u4, u6]) {
      u.on("message", (m, r) => u.send(`echo ${m}`, r.port, r.address));
      closers.push(() => u.close());
    }
    await new Promise<void>((r) => u4.bind(0, "127.0.0.1", r));
    await new Promise<void>((r) => u6.bind(0, "::1", r));
    const tcp = net.createServer(echoLine);
    const unixSrv = net.createServer(echoLine);
    closers.push(() => tcp.close(), () => unixSrv.close());
    const held: net.Socket[] = [];
    const silent = net.createServer((sock) => {
      held.push(sock);
      sock.on("error", () => {});
    });
    closers.push(() => {
      for (const h of held) h.destroy();
      silent.close();
    });
    const ca = makeCa(dir, "meshwrt test CA");
    const wrong = makeCa(dir, "another CA");
    const ec = serverCert(dir, ca, "ec", "ec"), rsa = serverCert(dir, ca, "rsa", "rsa");
    const tlsServer = (c: { key: string; cert: string }, o: tls.TlsOptions) => {
      const srv = tls.createServer({ key: readFileSync(c.key), cert: readFileSync(c.cert), ...o }, echoLine);
      srv.on("tlsClientError", () => {});
      closers.push(() => srv.close());
      return srv;
    };
    writeFileSync(join(dir, "big-bundle.pem"), Buffer.concat([readFileSync(SYSTEM_BUNDLE), readFileSync(ca.cert)]));
    const cfg = {
      udp4: u4.address().port,
      udp6: u6.address().port,
      tcp: await listen(tcp, 0, "127.0.0.1"),
      unix: join(dir, "echo.sock"),
      tls: await listen(tlsServer(ec, {}), 0, "127.0.0.1"),
      tls12: await listen(tlsServer(rsa, { maxVersion: "TLSv1.2" }), 0, "127.0.0.1"),
      tls13: await listen(tlsServer(rsa, { minVersion: "TLSv1.3" }), 0, "127.0.0.1"),
      // Go's derper serves its IP certificate followed by an Ed25519 one,
      // which mbedTLS cannot parse: TLS 1.3 fails on it, TLS 1.2 skips it.
      tlsEd25519Chain: await listen(tlsServer(withEd25519(dir, ec), {}), 0, "127.0.0.1"),
      ca: ca.cert,
      wrongCa: wrong.cert,
      bigCa: join(dir, "big-bundle.pem"),
      blackhole: await blackhole(closers),
      silent: await listen(silent, 0, "127.0.0.1"),
      dir,
    };
    await listen(unixSrv, cfg.unix);

    const started = performance.now();
    const run = await new Promise<{ out: string; err: string; code: number | null }>((resolve) => {
      const p = spawn(command[0]!, [...command.slice(1), JSON.stringify(cfg)]);
      let out = "", err = "", hupSent = false;
      p.stdout.on("data", (d) => {
        out += d;
        if (out.includes("ready-for-hup\n") && !hupSent) {
          hupSent = true;
          p.kill("SIGHUP");
        }
      });
      p.stderr.on("data", (d) => (err += d));
      p.on("exit", (code) => resolve({ out, err, code }));
    });
    const r = JSON.parse(run.out.split("\n").find((l) => l.startsWith("{")) ?? "{}") as Record<string, string>;
    return { ...run, r, ms: performance.now() - started, dir };
  } finally {
    for (const c of closers.reverse()) c();
  }
}

/** What the machine running the check cannot show as a router would. */
export interface HostcheckOptions {
  /**
   * qemu-user before 8.0 hands getsockopt(SO_ERROR) back with the build
   * machine's errno number, untranslated: a MIPS binary, whose errno numbers
   * differ, then names a refused connect "E?". The refusal itself still shows.
   */
  readonly soErrorUntranslated?: boolean;
  /**
   * qemu-user takes a SOL_SOCKET option it does not know, SO_MEMINFO among
   * them, for an int: the kernel's answer comes back cut to 4 bytes, so the
   * drops are not told (the host then counts 0; a real kernel tells them).
   */
  readonly memInfoUntranslated?: boolean;
  /** /proc/self/status is the emulator's (qemu-user): its memory grows with the code it translates, so the process's own RSS is not told. */
  readonly rssOfEmulator?: boolean;
  /** Sees the run first (the cross test prints its time). */
  readonly onRun?: (run: HostcheckRun) => void;
}

/** The host check's tests for the binary `command` runs (under emulation: its interpreter first). */
export function describeHostcheck(title: string, command: readonly string[], opts: HostcheckOptions = {}): void {
  describe(title, async () => {
    const run = await runHostcheck(command);
    opts.onRun?.(run);
    const r = run.r;

    it("exits 0 with a result for every check", () => {
      if (run.code !== 0 || !r.udp4) console.log(run.out, run.err);
      expect(run.code).toBe(0);
    });
    it("UDP over IPv4 and IPv6", () => {
      expect(r.udp4).toBe("echo ping 127.0.0.1");
      expect(r.udp6).toBe("echo ping ::1");
      expect(r.udp6only).toBe("dual-stack refused, v6only on the same port true: echo ping ::1");
    });
    it("a loopback socket connected to one port: the stranger's datagram dropped, the other read in place and answered; the kernel's drops counted", () => {
      expect(r.loopbackUdp).toBe(`read from the kernel (byte before ee); kernel got back from 127.0.0.1:the bridge port; nothing more null; drops at a full buffer ${opts.memInfoUntranslated ? "0" : "counted"}`);
    });
    it("TCP and unix streams", () => {
      expect(r.tcp).toBe("echo hello tcp");
      expect(r.unix).toBe("echo hello unix");
    });
    // The TLS 1.2 server has an RSA key and prefers RSA-PSS, which mbedTLS refuses in TLS 1.2: the host connects again without PSS.
    it("TLS 1.3 and 1.2, ECDSA and RSA certificates, verified against an explicitly trusted CA", () => {
      expect(r.tls).toBe("echo hello tls TLSv1.3");
      expect(r.tlsWriteNow).toBe("60000 a's, then b true; kept as read true");
      expect(r.tls12).toBe("echo hello tls12 TLSv1.2");
      expect(r.tls13).toBe("echo hello tls13 TLSv1.3");
      // The chain only TLS 1.2 accepts: the runtime falls back to it.
      expect(r.tlsEd25519Chain).toBe("echo hello chain TLSv1.2");
    });
    it("TLS refuses a server the CA did not sign, a wrong name, and a missing CA file", () => {
      expect(r.tlsUntrusted).toMatch(/^error: tls handshake with localhost: certificate not trusted: .*not correctly signed by the trusted CA/);
      expect(r.tlsSystemBundle).toMatch(/^error: tls handshake with localhost: certificate not trusted: .*not correctly signed by the trusted CA/);
      expect(r.tlsWrongName).toMatch(/^error: tls handshake with other\.example: certificate not trusted: .*(Common Name|CN)/);
      expect(r.tlsMissingCa).toBe(`error: tls ca file ${run.dir}/no-such-ca.pem: ENOENT (No such file or directory)`);
    });
    it("TLS lets its trust anchors go after the handshake: a connection open on the system's bundle holds none of its ~0.5 MB parsed", () => {
      console.log(`RSS grown by a TLS connection open on the system bundle (${statSync(SYSTEM_BUNDLE).size} bytes): ${r.tlsBundleHeld}`);
      const kb = Number(/^(-?\d+) kB$/.exec(r.tlsBundleHeld ?? "")?.[1] ?? NaN);
      expect(kb, r.tlsBundleHeld).not.toBeNaN();
      // The bundle parsed is ~540 kB on x86_64; the connection's own buffers are under 100.
      if (!opts.rssOfEmulator) expect(kb, r.tlsBundleHeld).toBeLessThan(300);
    });
    it("TLS that fails to open (a missing CA file) after the connect closes the socket: 1,000 failures, no descriptor more", () => {
      console.log(`TLS open failing 1,000 times: ${r.tlsOpenFails1000}`);
      const m = /^1000 errors, fds (\d+) -> (\d+)$/.exec(r.tlsOpenFails1000 ?? "");
      expect(m, r.tlsOpenFails1000).not.toBeNull();
      expect(Number(m![2])).toBe(Number(m![1]));
    });
    it("a connect nobody answers and a TLS server that never speaks each fail at the dial's deadline, naming the step", () => {
      console.log(`connect: ${r.connectDeadline}; tls: ${r.tlsDeadline}`);
      expect(r.connectDeadline).toMatch(/^connect 127\.0\.0\.1:\d+: no answer in 0\.3 s after under 1 s, fds (\d+) -> \1$/);
      expect(r.tlsDeadline).toMatch(/^tls handshake with localhost \(127\.0\.0\.1:\d+\): no answer in 0\.3 s after under 1 s, fds (\d+) -> \1$/);
    });
    it("a stream whose peer stops reading holds at most 4 MB, then is closed with the reason", () => {
      console.log(`write queue: ${r.writeQueueBound}`);
      const m = /^the peer stopped reading: (\d+) bytes waiting to be sent \| most queued (\d+) \| written (\d+)$/.exec(r.writeQueueBound ?? "");
      expect(m, r.writeQueueBound).not.toBeNull();
      expect(Number(m![2])).toBeLessThanOrEqual(4 << 20);
      expect(Number(m![3])).toBeLessThan(200 * (64 << 10));
    });
    it("a name is looked up (localhost, from /etc/hosts) and dialled", () => expect(r.resolveLocalhost).toBe("echo hello by name"));
    it("errors name the call and the errno", () => {
      if (opts.soErrorUntranslated) expect(r.refused).toMatch(/^error: connect 127\.0\.0\.1:1: E\S+ \(/);
      else expect(r.refused).toBe("error: connect 127.0.0.1:1: ECONNREFUSED (Connection refused)");
      expect(r.readDir).toBe(`error: read ${run.dir}: EISDIR (Is a directory)`);
    });
    it("raw netlink: an RTM_GETLINK dump lists lo; joining a group works", () => {
      expect(r.netlink!.split(",")).toContain("lo");
      expect(r.netlinkJoin).toBe("joined");
    });
    it("files: atomic write with mode 0600, two at once in turn, no temp file left, missing reads as null", () => expect(r.file).toBe("secret 600 true false"));
    it("files: a write into a missing directory says which file and why", () =>
      expect(r.fileMissingDir).toBe(`error: open ${run.dir}/no-such-dir/keys.json.tmp: ENOENT (No such file or directory)`));
    it("files: a write whose disk does not answer holds its child, not the loop; its failure says which call", () =>
      expect(r.fileWaits).toBe(`true fsync ${run.dir}/state/slow.json.tmp: EINVAL (Invalid argument) false false`));
    it("processes with pipes and the exit code", () => {
      expect(r.spawn).toBe("from stdin|err|3");
      expect(r.run).toBe("4 oops");
      expect(r.spawnMissing).toBe("error: spawn /nonexistent/prog: ENOENT (No such file or directory)");
      expect(r.pipeSignal).toBe("141");
      expect(r.kill).toBe("143");
    });
    it("timers fire in deadline order, a cleared one never", () => {
      expect(r.timers).toBe("1,2,3");
      expect(r.timersOneWakeup).toBe("a,b");
    });
    it("an exception in a callback, or an unhandled rejection, is logged and the loop goes on", () => {
      expect(r.callbackThrows).toBe("loop still runs");
      expect(run.err).toMatch(/\[error\] uncaught: Error: deliberate\n\s+at /);
      expect(r.unhandledRejection).toBe("loop still runs");
      expect(run.err).toMatch(/\[error\] unhandled rejection: Error: deliberately unhandled/);
      expect(run.err).not.toMatch(/handled later/);
    });
    it("SIGHUP reaches the handler", () => expect(r.signal).toBe("HUP"));
    it("wall and monotonic clocks", () => expect(r.clock).toBe("true true"));
    it("polyfills: getRandomValues and UTF-8", () => expect(r.crypto).toBe("true héllo ✓"));
  });
}
