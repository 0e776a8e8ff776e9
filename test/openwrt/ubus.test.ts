// meshwrt's ubus object through OpenWrt's own ubusd and `ubus` CLI, built
// from their sources (test/openwrt/build.sh): every method as root, callers
// that are not root with and without the package's ACL file, the agent
// started before ubusd and ubusd restarted under it, and messages at and
// beyond UBUS_MAX_MSGLEN; then our ubus library (agent/src/ubus) against
// the same ubusd, for what test/ubus/ubusd-double.ts checks quickly.
//
// Nothing here touches the host: ubusd runs in a mount namespace of its own
// where the test's passwd and group files name the callers (ubusd refuses a
// caller whose uid has no name, and matches ACLs by name), reading its ACL
// files from the test's directory (-A); the agent runs in its own network
// and mount namespaces (its WireGuard interface and /var/run are its own).
import { type ChildProcess, execFile, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { METHODS } from "../../agent/src/api/methods.js";
import { BLOBMSG_TYPE, encodeBlobmsgTable } from "../../agent/src/ubus/blobmsg.js";
import { type InvokeContext, UbusConnection, UbusError } from "../../agent/src/ubus/connection.js";
import { ATTR, attr, encodeMessage, MSG, STATUS, UBUS_MAX_MSGLEN } from "../../agent/src/ubus/message.js";
import { connectStream } from "../support/node-stream.js";
import { openwrtUserland } from "./userland.js";

const MESHWRT = `${process.cwd()}/build/out/meshwrt`;
const PACKAGE_ACL = `${process.cwd()}/openwrt-package/meshwrt/files/meshwrt.acl.json`;

/** Callers that are not root: a member of the package's group meshwrt, and a stranger. */
/** An ACL that grants nothing to anyone here. */
const NO_ACL = { "none.json": JSON.stringify({ user: "root", access: { "no-such-object": { methods: ["*"] } } }) };
const ALICE = { name: "alice", uid: 4241, gid: 4240 };
const BOB = { name: "bob", uid: 4242, gid: 4242 };
type User = typeof ALICE;

let ubusdBin: string, ubusBin: string, userlandLib: string;
beforeAll(() => {
  const ow = openwrtUserland();
  [ubusdBin, ubusBin, userlandLib] = [ow.bin("ubusd"), ow.bin("ubus"), path.join(ow.root, "usr/lib")];
});

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `argv`, as `as` when given. The userland lives in root's cache, out of
 * other users' reach: for them `ubus` and its libraries are copied to the
 * test's directory, which every caller reads.
 */
function run(argv: string[], as?: User, input?: string): Promise<Result> {
  let env = process.env;
  if (as && argv[0] === ubusBin) {
    const dir = path.dirname(argv[argv.indexOf("-s") + 1]!);
    const lib = path.join(dir, "lib");
    if (!fs.existsSync(lib)) {
      fs.mkdirSync(lib);
      for (const f of fs.readdirSync(userlandLib).filter((f) => /^lib(ubus|ubox|blobmsg_json)\.so/.test(f))) fs.copyFileSync(path.join(userlandLib, f), path.join(lib, f));
      fs.copyFileSync(ubusBin, path.join(lib, "ubus"));
    }
    argv = [path.join(lib, "ubus"), ...argv.slice(1)];
    env = { ...env, LD_LIBRARY_PATH: lib };
  }
  const cmd = as ? ["setpriv", `--reuid=${as.uid}`, `--regid=${as.gid}`, "--clear-groups", ...argv] : argv;
  return new Promise((resolve) => {
    const p = execFile(cmd[0]!, cmd.slice(1), { env, maxBuffer: 64 << 20, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr }),
    );
    if (input !== undefined) p.stdin!.end(input);
  });
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 10_000): Promise<T> {
  const end = performance.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function exited(p: ChildProcess): Promise<void> {
  return p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once("exit", () => r()));
}

/** One ubusd and its socket, in a mount namespace with the test's passwd and group. */
class Ubusd {
  proc?: ChildProcess;
  constructor(
    readonly dir: string,
    readonly sock = path.join(dir, "ubus.sock"),
  ) {}

  async start(): Promise<void> {
    const d = this.dir;
    fs.rmSync(this.sock, { force: true }); // a killed ubusd leaves its socket: wait for the new one
    const script = `mount --bind ${d}/passwd /etc/passwd && mount --bind ${d}/group /etc/group && exec ${ubusdBin} -s ${this.sock} -A ${d}/acl`;
    this.proc = spawn("unshare", ["-m", "--propagation", "private", "sh", "-c", script], { stdio: ["ignore", "ignore", fs.openSync(path.join(d, "ubusd.log"), "a")] });
    await waitFor("ubusd's socket", () => (fs.existsSync(this.sock) ? true : undefined));
  }

  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (!this.proc) return;
    this.proc.kill(signal);
    await exited(this.proc);
    this.proc = undefined;
  }

  /**
   * ubusd reads its ACL directory again on SIGHUP; but an empty directory
   * leaves the files it had loaded in force (its glob fails, it returns):
   * a test that wants none installs one for nothing.
   */
  async acl(files: Record<string, string>): Promise<void> {
    const dir = path.join(this.dir, "acl");
    for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f));
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text, { mode: 0o644 });
    this.proc!.kill("SIGHUP");
    await new Promise((r) => setTimeout(r, 200));
  }

  call(method: string, args?: object, as?: User): Promise<Result> {
    return run([ubusBin, "-s", this.sock, "-t", "20", "call", "meshwrt", method, ...(args ? [JSON.stringify(args)] : [])], as);
  }

  async hasObject(name = "meshwrt"): Promise<boolean> {
    return (await run([ubusBin, "-s", this.sock, "list", name])).code === 0;
  }
}

/** A test's directory, readable by every caller (ubusd's socket lives there), with passwd, group and an empty ACL directory. */
function testDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "meshwrt-ubus-"));
  fs.chmodSync(dir, 0o755);
  fs.mkdirSync(path.join(dir, "acl"));
  const passwd = fs.readFileSync("/etc/passwd", "utf8").trimEnd();
  const group = fs.readFileSync("/etc/group", "utf8").trimEnd();
  fs.writeFileSync(path.join(dir, "passwd"), `${passwd}\n${ALICE.name}:x:${ALICE.uid}:${ALICE.gid}::/:/bin/false\n${BOB.name}:x:${BOB.uid}:${BOB.gid}::/:/bin/false\n`);
  fs.writeFileSync(path.join(dir, "group"), `${group}\nmeshwrt:x:${ALICE.gid}:\n${BOB.name}:x:${BOB.gid}:\n`);
  return dir;
}

describe("the agent's object meshwrt on OpenWrt's ubusd", () => {
  let dir: string;
  let ubusd: Ubusd;
  let agent: ChildProcess | undefined;
  let apiSock: string;
  const agentLog = () => fs.readFileSync(path.join(dir, "agent.log"), "utf8");

  /** The agent enabled, with a login server that does not answer in its network namespace: "connecting" until `down`. */
  function startAgent(leases = ""): ChildProcess {
    fs.writeFileSync(path.join(dir, "meshwrt.uci"), `config meshwrt 'main'\n\toption enabled '1'\n\toption login_server 'http://127.0.0.1:9'\n\toption state_dir '${dir}/state'\n`, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, "dhcp.leases"), leases);
    const args = `run --config ${dir}/meshwrt.uci --socket ${apiSock} --ubus ${ubusd.sock} --leases ${dir}/dhcp.leases --interface ubustest0`;
    const p = spawn("unshare", ["-n", "-m", "--propagation", "private", "sh", "-c", `mount -t tmpfs tmpfs /run && exec ${MESHWRT} ${args}`], {
      stdio: ["ignore", fs.openSync(path.join(dir, "agent.log"), "a"), fs.openSync(path.join(dir, "agent.log"), "a")],
    });
    agent = p;
    return p;
  }

  /** The agent booted (it publishes its object first) and trying its login server. */
  const untilConnecting = () => waitFor("the agent connecting", async () => (JSON.parse((await ubusd.call("status")).stdout).state === "connecting" ? true : undefined));

  /** `meshwrt ARGS` as the CLI runs on the router: ubus first, then the agent's socket. */
  const cli = (args: string, as?: User) => run([MESHWRT, ...args.split(" "), "--ubus", ubusd.sock, "--socket", apiSock], as);

  beforeEach(() => {
    dir = testDir();
    ubusd = new Ubusd(dir);
    apiSock = path.join(dir, "meshwrt.sock");
  });

  afterEach(async () => {
    if (agent) {
      agent.kill("SIGTERM");
      await exited(agent);
      agent = undefined;
    }
    await ubusd.kill("SIGTERM");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe("with ubusd up first", () => {
    beforeEach(async () => {
      await ubusd.start();
      startAgent(Array.from({ length: 3 }, (_, i) => `2000000000 02:00:00:00:00:0${i} 192.168.1.${10 + i} host${i} *\n`).join(""));
      await waitFor("the object meshwrt", async () => ((await ubusd.hasObject()) ? true : undefined));
      await untilConnecting();
    });

    it("publishes every method with its arguments, as `ubus -v list meshwrt` shows them", async () => {
      const r = await run([ubusBin, "-s", ubusd.sock, "-v", "list", "meshwrt"]);
      expect(r.code).toBe(0);
      const lines = r.stdout.split("\n").slice(1).map((l) => l.trim()).filter(Boolean);
      expect(lines.sort()).toEqual(
        [
          '"status":{}', '"peers":{}', '"netcheck":{}', '"devices":{}', '"up":{}', '"down":{}', '"logout":{}',
          '"login":{"login_server":"String","auth_key":"String"}', '"set":{"option":"String","value":"String"}', '"ping":{"peer":"String"}',
        ].sort(),
      );
    });

    it("answers every method to root through `ubus call` as the agent's socket answers it, and errors with a status and the agent's reason", async () => {
      const viaUbus = async (m: string, args?: object) => {
        const r = await ubusd.call(m, args);
        expect(r.code, `${m}: ${r.stderr}`).toBe(0);
        return JSON.parse(r.stdout);
      };
      const viaSocket = async (cmd: string) => JSON.parse((await run([MESHWRT, ...cmd.split(" "), "--json", "--socket", apiSock])).stdout);
      for (const [m, cmd] of [["peers", "peers"], ["netcheck", "netcheck"], ["devices", "devices"]]) expect(await viaUbus(m!), m).toEqual(await viaSocket(cmd!));
      expect((await viaUbus("devices")).devices.map((d: { name: string }) => d.name)).toEqual(["host0", "host1", "host2"]);
      // health carries the control server's last error, which may change between two calls.
      const { health: _h1, ...status } = await viaUbus("status");
      const { health: _h2, ...statusViaSocket } = await viaSocket("status");
      expect(status.state).toBe("connecting");
      expect(status).toEqual(statusViaSocket);
      expect(await viaUbus("set", { option: "log_level", value: "debug" })).toEqual({ option: "log_level", value: "debug", effect: "applied" });
      expect((await viaUbus("down")).state).toBe("stopped");
      expect((await viaUbus("up")).state).toBe("connecting");
      expect((await viaUbus("logout")).state).toBe("stopped");

      // `ubus call` prints the reply that came with the error, then the status in words.
      const bad = await ubusd.call("set", { option: "listen_port", value: "x" });
      expect(bad.code).not.toBe(0);
      expect(JSON.parse(bad.stdout)).toEqual({ error: 'set: meshwrt.main.listen_port: "x" is not a port (1-65535)' });
      expect(bad.stderr).toMatch(/Command failed: .*\(Invalid argument\)/);
      const login = await ubusd.call("login", { login_server: "http://127.0.0.1:9" });
      expect(JSON.parse(login.stdout).error).toMatch(/^login: not logged in yet: Cannot reach the control server: connect 127\.0\.0\.1:9: /);
      expect(login.stderr).toMatch(/\(Unknown error\)/);
      const ping = await ubusd.call("ping", { peer: "phone" });
      expect(JSON.parse(ping.stdout).error).toBe('ping: no peer "phone" in the tailnet (meshwrt status lists them)');
      expect(ping.stderr).toMatch(/\(Not found\)/);
      const wrongType = await ubusd.call("set", { option: 7, value: "1" });
      expect(wrongType.stderr).toMatch(/\(Invalid argument\)/);
      expect((await ubusd.call("frob")).stderr).toMatch(/\(Method not found\)/);
    });

    it("takes the ubus_rpc_session that uhttpd adds to every call, and still names an unknown argument", async () => {
      const session = { ubus_rpc_session: "6f1c8e2d9a0b4c3d8e7f6a5b4c3d2e1f" };
      for (const m of ["status", "peers", "netcheck", "devices"]) expect((await ubusd.call(m, session)).code, m).toBe(0);
      expect(JSON.parse((await ubusd.call("set", { ...session, option: "log_level", value: "info" })).stdout)).toEqual({ option: "log_level", value: "info", effect: "applied" });
      const bogus = await ubusd.call("status", { ...session, bogus: "1" });
      expect(JSON.parse(bogus.stdout)).toEqual({ error: 'status: unknown argument "bogus" (it takes none)' });
      expect(bogus.stderr).toMatch(/\(Invalid argument\)/);
    });

    it("notifies a `ubus subscribe` of meshwrt.state when the state changes", async () => {
      const sub = spawn(ubusBin, ["-s", ubusd.sock, "subscribe", "meshwrt"]);
      let out = "";
      sub.stdout.on("data", (d) => (out += d));
      try {
        await new Promise((r) => setTimeout(r, 300));
        await ubusd.call("down");
        await ubusd.call("up");
        await waitFor("two notifications", () => (out.split("\n").filter(Boolean).length >= 2 ? true : undefined));
        expect(out.split("\n").filter(Boolean).map((l) => JSON.parse(l))).toEqual([{ "meshwrt.state": { state: "stopped" } }, { "meshwrt.state": { state: "connecting" } }]);
      } finally {
        sub.kill();
      }
    });

    it("without an ACL file ubusd hides the object from a caller that is not root: `meshwrt` says not allowed (4), not 'not running'", async () => {
      for (const m of Object.keys(METHODS)) {
        const r = await ubusd.call(m, undefined, BOB);
        expect([r.stdout, r.stderr], m).toEqual(["", expect.stringMatching(/\(Not found\)/)]); // what ubusd's hiding looks like to libubus
      }
      const s = await cli("status", BOB);
      expect(s.code).toBe(4);
      expect(s.stderr).toBe("meshwrt: ubusd's ACL lets this user call no method of meshwrt: run this as root, or see /usr/share/acl.d/meshwrt.json\n");
      const j = await cli("status --json", BOB);
      expect(JSON.parse(j.stdout).error.code).toBe("not-allowed");
      fs.chmodSync(dir, 0o700); // ubusd's socket out of reach
      const unreachable = await cli("status", BOB);
      expect([unreachable.code, unreachable.stderr]).toEqual([4, expect.stringMatching(/^meshwrt: this user may not connect to ubusd's socket .*: .*EACCES/)]);
      fs.chmodSync(dir, 0o755);
      expect((await cli("status")).code).toBe(0);
    });

    it("with the package's ACL file a member of group meshwrt reads, and ubusd refuses it every write (4)", async () => {
      await ubusd.acl({ "meshwrt.json": fs.readFileSync(PACKAGE_ACL, "utf8") });
      for (const [m, spec] of Object.entries(METHODS)) {
        const r = await ubusd.call(m, m === "ping" ? { peer: "phone" } : undefined, ALICE);
        if (spec.writes) expect([r.stdout, r.stderr], m).toEqual(["", expect.stringMatching(/\(Permission denied\)/)]); // ubusd's refusal: no reply
        else expect(JSON.parse(r.stdout), m).toBeTypeOf("object"); // the agent's answer (ping's: no such peer)
      }
      expect(JSON.parse((await ubusd.call("status", undefined, ALICE)).stdout).state).toBe("connecting");
      for (const cmd of ["status", "peers", "netcheck", "devices"]) expect((await cli(cmd, ALICE)).code, cmd).toBe(0);
      const ping = await cli("ping phone", ALICE);
      expect([ping.code, ping.stderr]).toEqual([1, 'meshwrt: ping: no peer "phone" in the tailnet (meshwrt status lists them)\n']); // the agent's answer: ubusd let it through
      for (const cmd of ["down", "up", "logout", "login", "set log_level debug"]) {
        const w = await cli(cmd, ALICE);
        expect([w.code, w.stderr], cmd).toEqual([4, `meshwrt: ubusd's ACL does not let this user call meshwrt ${cmd.split(" ")[0]}: run this as root, or see /usr/share/acl.d/meshwrt.json\n`]);
      }
      expect((await cli("status", BOB)).code).toBe(4); // not in the group
      expect(JSON.parse((await cli("status --json")).stdout).state).toBe("connecting"); // nothing changed
    });

    it("the package's ACL lists exactly the methods the agent answers to callers that are not root", () => {
      const acl = JSON.parse(fs.readFileSync(PACKAGE_ACL, "utf8"));
      expect(acl.access.meshwrt.methods.sort()).toEqual(Object.entries(METHODS).filter(([, m]) => !m.writes).map(([n]) => n).sort());
    });

    it("where an ACL lets a caller that is not root call writes, the agent refuses them in its words (1)", async () => {
      await ubusd.acl({ "bob.json": JSON.stringify({ user: BOB.name, access: { meshwrt: { methods: ["*"] } } }) });
      const r = await ubusd.call("down", undefined, BOB);
      expect(JSON.parse(r.stdout)).toEqual({ error: "down: only root may change meshwrt (caller: bob)" });
      expect(r.stderr).toMatch(/\(Permission denied\)/);
      const c = await cli("down --json", BOB);
      expect(c.code).toBe(1);
      expect(JSON.parse(c.stdout)).toEqual({ error: { code: "permission-denied", message: "down: only root may change meshwrt (caller: bob)" } });
      expect((await cli("status", BOB)).code).toBe(0);
      expect(JSON.parse((await cli("status --json")).stdout).state).toBe("connecting");
    });

    it("comes back on ubusd killed and restarted under it; meanwhile `meshwrt` answers through the agent's socket", async () => {
      const before = (await run([ubusBin, "-s", ubusd.sock, "-v", "list", "meshwrt"])).stdout;
      expect(before).toMatch(/^'meshwrt' @[0-9a-f]+\n\t"status":\{\}/);
      await ubusd.kill();
      const s = await cli("status --json");
      expect(s.code).toBe(0);
      expect(JSON.parse(s.stdout).state).toBe("connecting");
      await ubusd.start();
      const t0 = performance.now();
      await waitFor("the object again", async () => ((await ubusd.hasObject()) ? true : undefined), 8000);
      console.log(`ubusd restarted: the object was back after ${Math.round(performance.now() - t0)} ms`);
      const after = (await run([ubusBin, "-s", ubusd.sock, "-v", "list", "meshwrt"])).stdout;
      expect(after.replace(/@[0-9a-f]+/, "")).toBe(before.replace(/@[0-9a-f]+/, "")); // every method again
      expect(JSON.parse((await ubusd.call("status")).stdout).state).toBe("connecting");
      expect(agentLog()).toMatch(/ubus: object meshwrt published on [^\n]*\n[\s\S]*ubus: object meshwrt published on/);
    });

    it("answers a request at UBUS_MAX_MSGLEN (ubusd adds the caller's names past the limit) and keeps its connection", async () => {
      const c = await UbusConnection.connect(await connectStream({ path: ubusd.sock }), { setTimer: timer, timeoutMs: 20_000 });
      try {
        const id = await c.lookupId("meshwrt");
        // The INVOKE's blob: OBJID (8), METHOD "set" (8), DATA (4 + the table) = UBUS_MAX_MSGLEN exactly.
        const value = "x".repeat(bigString(UBUS_MAX_MSGLEN, (v) => blobSize(invokeAttrs(id, "set", { option: "hostname", value: v }))));
        const e = (await c.invoke(id, "set", { option: "hostname", value }).catch((x: UbusError) => x)) as UbusError;
        expect(e).toBeInstanceOf(UbusError);
        expect([e.status, e.data]).toEqual([STATUS.INVALID_ARGUMENT, { error: `set: argument value is ${value.length} characters long (at most 16384)` }]);
        expect(await c.lookupId("meshwrt")).toBe(id); // the same object: the agent kept its connection
        expect(JSON.parse((await ubusd.call("status")).stdout).state).toBe("connecting");
        // One byte more and our client refuses to send it, as libubus does.
        await expect(c.invoke(id, "set", { option: "hostname", value: `${value}xxxx` })).rejects.toThrow(/exceeds UBUS_MAX_MSGLEN/);
      } finally {
        c.close();
      }
      expect(agentLog()).not.toMatch(/unhandled|uncaught|exceeds the limit|closing the connection/i);
    });
  });

  it("answers a reply over UBUS_MAX_MSGLEN with an error that says so, at once, and stays on ubus", async () => {
    await ubusd.start();
    // Enough DHCP leases, with long host names, for a devices reply over 1 MiB.
    const name = (i: number) => `a-device-with-a-host-name-as-long-as-dhcp-lets-it-be-${String(i).padStart(5, "0")}`;
    startAgent(Array.from({ length: 5000 }, (_, i) => `2000000000 02:00:00:00:${hex(i >> 8)}:${hex(i & 0xff)} 10.0.${i >> 8}.${i & 0xff} ${name(i)} *\n`).join(""));
    await waitFor("the object meshwrt", async () => ((await ubusd.hasObject()) ? true : undefined));
    await untilConnecting();
    const t0 = performance.now();
    const r = await ubusd.call("devices");
    const ms = performance.now() - t0;
    expect(r.stderr).toMatch(/\(Unknown error\)/);
    expect(JSON.parse(r.stdout).error).toMatch(/^devices: the reply \(\d+ bytes\) exceeds ubus's limit on a message \(UBUS_MAX_MSGLEN, 1048576 bytes\)$/);
    expect(ms).toBeLessThan(15_000); // answered, not the caller's timeout (20 s here)
    const c = await cli("devices");
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(/^meshwrt: devices: the reply \(\d+ bytes\) exceeds ubus's limit/);
    expect(JSON.parse((await ubusd.call("status")).stdout).state).toBe("connecting");
    expect(agentLog()).toMatch(/ubus: meshwrt devices from [0-9a-f]+: the reply \(\d+ bytes\) exceeds/);
    expect(agentLog()).not.toMatch(/unhandled|uncaught/i);
    expect(agentLog().match(/object meshwrt published/g)).toHaveLength(1);
  });

  it("started before ubusd: answers through its socket meanwhile, and publishes its object once ubusd comes", async () => {
    startAgent();
    await waitFor("the agent's socket", () => (fs.existsSync(apiSock) ? true : undefined));
    const s = await waitFor("the agent connecting", async () => {
      const r = await cli("status --json");
      return r.code === 0 && JSON.parse(r.stdout).state === "connecting" ? r : undefined;
    });
    expect(s.stderr).toBe("");
    await new Promise((r) => setTimeout(r, 1500)); // a few tries on the missing socket
    await ubusd.start();
    await waitFor("the object meshwrt", async () => ((await ubusd.hasObject()) ? true : undefined), 8000);
    expect(JSON.parse((await ubusd.call("status")).stdout).state).toBe("connecting");
    expect(agentLog()).toMatch(/ubus: connect unix [^:]*ubus\.sock: ENOENT[^\n]*; the API is on the local socket until ubusd at [^\n]* answers/);
  });

  it("not running: `meshwrt` says so (3), with ubusd up and without it", async () => {
    const none = await cli("status");
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/^meshwrt: no ubusd answers on .*ubus\.sock: .*ENOENT.*; cannot reach the agent on .*meshwrt\.sock: .*ENOENT.*\(is meshwrt running\? \/etc\/init\.d\/meshwrt start\)\n$/);
    await ubusd.start();
    const up = await cli("status --json");
    expect(up.code).toBe(3);
    expect(JSON.parse(up.stdout).error.code).toBe("not-running");
    expect(up.stderr).toMatch(/^meshwrt: ubus has no object meshwrt \(is meshwrt running\? .*\); cannot reach the agent on .*meshwrt\.sock/);
    expect((await cli("status", BOB)).code).toBe(3);
  });
});

const timer = (ms: number, fn: () => void) => {
  const t = setTimeout(fn, ms);
  return () => clearTimeout(t);
};

const hex = (b: number) => b.toString(16).padStart(2, "0");

/** INVOKE's attributes as UbusConnection sends them. */
function invokeAttrs(id: number, method: string, args: Record<string, string>): Uint8Array[] {
  return [attr.u32(ATTR.OBJID, id), attr.string(ATTR.METHOD, method), attr.nested(ATTR.DATA, encodeBlobmsgTable(args))];
}

/** The length of a message's blob holding `attrs`. */
const blobSize = (attrs: Uint8Array[]) => 4 + attrs.reduce((n, a) => n + a.length, 0);

/** The length of a string of x's whose message `size(value)` is exactly `target` bytes (a longer string, a longer message, in steps of 4). */
function bigString(target: number, size: (v: string) => number): number {
  const guess = target - 256;
  let n = guess + target - size("x".repeat(guess));
  while (size("x".repeat(n)) > target) n--;
  if (size("x".repeat(n)) !== target) throw new Error(`no string gives a ${target}-byte message (padding)`);
  return n;
}

describe("our ubus library against OpenWrt's ubusd", () => {
  let dir: string;
  let ubusd: Ubusd;
  const open: UbusConnection[] = [];
  let logs: string[];
  const connect = async () => {
    const c = await UbusConnection.connect(await connectStream({ path: ubusd.sock }), { log: (m) => logs.push(m) });
    open.push(c);
    return c;
  };
  const ubusCall = (obj: string, m: string, args?: object, as?: User) => run([ubusBin, "-s", ubusd.sock, "-t", "20", "call", obj, m, ...(args ? [JSON.stringify(args)] : [])], as);

  beforeAll(async () => {
    dir = testDir();
    ubusd = new Ubusd(dir);
    await ubusd.start();
  });
  afterAll(async () => {
    await ubusd.kill("SIGTERM");
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => void (logs = []));
  afterEach(() => {
    for (const c of open.splice(0)) c.close();
  });

  /** An object shaped like the agent's: a read, a write that wants root, a failure, a reply of a chosen size. */
  async function publish(server: UbusConnection, seen: InvokeContext[] = []) {
    return server.addObject("h4test", {
      status: { handler: () => ({ state: "running", peers: 2, online: true }) },
      set: {
        args: { option: BLOBMSG_TYPE.STRING, value: BLOBMSG_TYPE.STRING },
        handler: (args, ctx) => {
          seen.push(ctx);
          if (ctx.user !== "root") throw new UbusError(STATUS.PERMISSION_DENIED, "set", { error: `not for ${ctx.user}` });
          return { [String(args.option)]: args.value ?? null };
        },
      },
      netcheck: { handler: () => Promise.reject(new UbusError(STATUS.NOT_SUPPORTED, "netcheck")) },
      sized: { args: { bytes: BLOBMSG_TYPE.INT32 }, handler: (args) => ({ d: "y".repeat(Number(args.bytes)) }) },
      hang: { handler: () => new Promise(() => {}) },
    });
  }

  it("connects (ubusd's HELLO gives the id), publishes an object that `ubus call` and another connection call, with arguments and replies", async () => {
    const server = await connect();
    expect(server.peerId).toBeGreaterThan(0);
    const obj = await publish(server);
    const r = await ubusCall("h4test", "set", { option: "hostname", value: "gw" });
    expect([r.code, JSON.parse(r.stdout)]).toEqual([0, { hostname: "gw" }]);
    const client = await connect();
    expect(await client.call("h4test", "status")).toEqual({ state: "running", peers: 2, online: true });
    const [info] = await client.lookup("h4test");
    expect(info).toMatchObject({ path: "h4test", id: obj.id, signature: { status: {}, set: { option: 3, value: 3 }, netcheck: {}, sized: { bytes: 5 }, hang: {} } });
  });

  it("answers errors with their status: the handler's, unknown methods, bad arguments, unknown objects; tells the handler who called", async () => {
    const seen: InvokeContext[] = [];
    await publish(await connect(), seen);
    expect((await ubusCall("h4test", "netcheck")).stderr).toMatch(/\(Operation not supported\)/);
    expect((await ubusCall("h4test", "frob")).stderr).toMatch(/\(Method not found\)/);
    expect((await ubusCall("h4test", "set", { option: 1 })).stderr).toMatch(/\(Invalid argument\)/);
    expect((await ubusCall("nothing-here", "status")).stderr).toMatch(/Not found/);
    await ubusd.acl({ "bob.json": JSON.stringify({ user: BOB.name, access: { h4test: { methods: ["*"] } } }) });
    const denied = await ubusCall("h4test", "set", { option: "a", value: "b" }, BOB);
    expect([JSON.parse(denied.stdout), denied.stderr]).toEqual([{ error: "not for bob" }, expect.stringMatching(/\(Permission denied\)/)]);
    await ubusCall("h4test", "set", { option: "a", value: "b" });
    expect(seen.map((s) => [s.user, s.group])).toEqual([["bob", "bob"], ["root", "root"]]);
    await ubusd.acl(NO_ACL);
  });

  it("a lookup tells an object ubusd's ACL hides from a missing one", async () => {
    await publish(await connect());
    const c = await UbusConnection.connect(await runAs(BOB, ubusd.sock));
    try {
      await expect(c.lookupId("h4test")).rejects.toMatchObject({ status: STATUS.PERMISSION_DENIED });
      await expect(c.lookupId("nothing-here")).rejects.toMatchObject({ status: STATUS.NOT_FOUND });
    } finally {
      c.close();
    }
  });

  it("delivers notifications to subscribers, follows ubusd's subscriber state, and tells a subscriber when its target goes away", async () => {
    const server = await connect();
    const obj = await publish(server);
    const active: boolean[] = [];
    obj.onSubscribers = (a) => active.push(a);
    const got: unknown[] = [];
    let gone = false;
    const sub = await (await connect()).subscribe("h4test", (type, data) => got.push([type, data]), () => (gone = true));
    await waitFor("ACTIVE", () => (obj.hasSubscribers ? true : undefined));
    expect(await obj.notify("h4test.state", { state: "stopped" }, { wait: true })).toBe(1);
    await obj.notify("h4test.state", { state: "running" });
    await waitFor("two notifications", () => (got.length === 2 ? true : undefined));
    expect(got).toEqual([["h4test.state", { state: "stopped" }], ["h4test.state", { state: "running" }]]);
    await sub.unsubscribe();
    await waitFor("inactive", () => (obj.hasSubscribers ? undefined : true));
    expect(active).toEqual([true, false]);
    await (await connect()).subscribe("h4test", () => {}, () => (gone = true));
    server.close();
    await waitFor("the subscriber told", () => (gone ? true : undefined));
  });

  it("answers a malformed call from a raw client with INVALID_ARGUMENT, logs why, and goes on", async () => {
    const obj = await publish(await connect());
    const raw = net.connect(ubusd.sock);
    const replies: Buffer[] = [];
    raw.on("data", (d) => replies.push(d));
    await new Promise((r) => raw.once("connect", r));
    // DATA holding a blobmsg attribute whose length runs past its container.
    const bad = Uint8Array.from([0x83, 0x00, 0x00, 0x40, 0x00, 0x01, 0x61, 0x00]);
    raw.write(encodeMessage({ type: MSG.INVOKE, seq: 7, peer: 0 }, [attr.u32(ATTR.OBJID, obj.id), attr.string(ATTR.METHOD, "status"), attr.nested(ATTR.DATA, bad)]));
    await waitFor("the answer", () => (Buffer.concat(replies).length >= 8 + 12 + 8 + 12 ? true : undefined));
    raw.destroy();
    const all = Buffer.concat(replies);
    // HELLO, then STATUS for seq 7 with INVALID_ARGUMENT.
    const status = all.subarray(all.length - 28);
    expect([status[1], status.readUInt16BE(2)]).toEqual([MSG.STATUS, 7]);
    expect(status.subarray(12).includes(Buffer.from([0, 0, 0, STATUS.INVALID_ARGUMENT]))).toBe(true);
    expect(logs.some((l) => /h4test status from [0-9a-f]+: /.test(l))).toBe(true);
    expect(await (await connect()).call("h4test", "status")).toEqual({ state: "running", peers: 2, online: true });
  });

  it("replies of exactly UBUS_MAX_MSGLEN reach `ubus call`; one more and the caller gets an error that says so", async () => {
    await publish(await connect());
    // DATA's blob: OBJID (8), DATA (4 + table {"d": string}).
    const n = bigString(UBUS_MAX_MSGLEN, (v) => blobSize([attr.u32(ATTR.OBJID, 1), attr.nested(ATTR.DATA, encodeBlobmsgTable({ d: v }))]));
    const at = await ubusCall("h4test", "sized", { bytes: n });
    expect(at.code).toBe(0);
    expect(JSON.parse(at.stdout).d).toHaveLength(n);
    const over = await ubusCall("h4test", "sized", { bytes: n + 4 }); // the next padded size
    expect(over.stderr).toMatch(/\(Unknown error\)/);
    expect(JSON.parse(over.stdout)).toEqual({ error: `sized: the reply (${UBUS_MAX_MSGLEN + 4} bytes) exceeds ubus's limit on a message (UBUS_MAX_MSGLEN, ${UBUS_MAX_MSGLEN} bytes)` });
    expect((await ubusCall("h4test", "status")).code).toBe(0);
  });

  it("fails pending requests when ubusd goes away", async () => {
    await publish(await connect());
    const client = await connect();
    const pending = client.call("h4test", "hang").catch((e: UbusError) => e);
    await new Promise((r) => setTimeout(r, 200));
    await ubusd.kill();
    expect(((await pending) as UbusError).status).toBe(STATUS.CONNECTION_FAILED);
    await ubusd.start();
  });
});

/** A stream to ubusd through a process running as `u` (a pipe in Node), so that ubusd sees that user's credentials. */
async function runAs(u: User, sock: string) {
  const pipe = 'const s = require("net").connect(process.argv[1]); process.stdin.pipe(s); s.pipe(process.stdout); s.on("close", () => process.exit(0));';
  const p = spawn("setpriv", [`--reuid=${u.uid}`, `--regid=${u.gid}`, "--clear-groups", process.execPath, "-e", pipe, sock], { stdio: ["pipe", "pipe", "inherit"] });
  const s = {
    write: (b: Uint8Array) => void p.stdin!.write(b),
    close: () => void p.kill(),
    onData: (_b: Uint8Array) => {},
    onClose: (_e?: Error) => {},
  };
  p.stdout!.on("data", (d: Buffer) => s.onData(new Uint8Array(d)));
  p.on("exit", () => s.onClose());
  return s;
}
