// The router's OpenWrt side for the LuCI tests, all real: ubusd, procd, rpcd
// (sessions, ACLs from luci-app-meshwrt's acl.d, its uci object, LuCI's rpcd
// plugins) and uhttpd with LuCI's ucode dispatcher, built by build.sh; meshwrt
// installed as its package installs it (/usr/sbin/meshwrt, /etc/init.d/meshwrt,
// /etc/config/meshwrt) and started by procd through its init script. The
// daemons run in a private mount namespace (luci-lab.sh) and, but for uhttpd,
// in the router's network namespace; uhttpd listens on this machine's
// loopback for the browser.
//
//   const lab = await startLuciLab({ netns: router.ns, meshwrtConfig, users: { root: { password, read: ["*"], write: ["*"] } } });
//   lab.url                                // http://127.0.0.1:PORT
//   await lab.run("uci get meshwrt.main.enabled");
import { spawn } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { type ExecResult, hostExec, sh, waitFor } from "../net/exec.js";
import { openwrtUserland } from "./userland.js";

const PROJECT = join(import.meta.dirname, "..", "..");
const APP = join(PROJECT, "luci-app");
const PACKAGE = join(PROJECT, "openwrt-package", "meshwrt", "files");
const MESHWRT = join(PROJECT, "build", "out", "meshwrt");

export interface LuciUser {
  readonly password: string;
  /** rpcd's `list read` and `list write`: ACL group patterns. */
  readonly read: readonly string[];
  readonly write: readonly string[];
}

export interface LuciLabOptions {
  /** The router's network namespace: ubusd, rpcd, procd and the agent run there. */
  readonly netns: string;
  /** /etc/config/meshwrt. */
  readonly meshwrtConfig: string;
  /** /etc/config/firewall (default: firewall4's own). */
  readonly firewallConfig?: string;
  /** The CA the agent trusts: installed as /etc/ssl/certs/ca-certificates.crt. */
  readonly caFile?: string;
  /** rpcd logins, by user name. */
  readonly users: Record<string, LuciUser>;
  /** Run the init script as a router's boot does (enable, start); default true. */
  readonly boot?: boolean;
}

export interface LuciLab {
  /** uhttpd: LuCI at /cgi-bin/luci, ubus at /ubus. */
  readonly url: string;
  /** A command (busybox sh, OpenWrt's PATH) in the router's namespaces: its /etc, /var/run, network. */
  exec(cmd: string): Promise<ExecResult>;
  /** Like exec, but throws with the output unless it exits 0; returns stdout. */
  run(cmd: string): Promise<string>;
  /** The daemons' own output, and the system log (logread: the agent's output, through procd). */
  log(): Promise<string>;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** rpcd's `config login` entries; passwords as crypt(3) SHA-512 hashes. */
async function rpcdConfig(users: Record<string, LuciUser>): Promise<string> {
  let out = "config rpcd\n\toption socket '/var/run/ubus/ubus.sock'\n\toption timeout '30'\n";
  for (const [name, u] of Object.entries(users)) {
    const r = await hostExec(`openssl passwd -6 -stdin <<'EOF'\n${u.password}\nEOF`);
    if (r.code !== 0) throw new Error(`openssl passwd for ${name}: ${r.stderr}`);
    out += `\nconfig login\n\toption username '${name}'\n\toption password '${r.stdout.trim()}'\n`;
    for (const g of u.read) out += `\tlist read '${g}'\n`;
    for (const g of u.write) out += `\tlist write '${g}'\n`;
  }
  return out;
}

export async function startLuciLab(o: LuciLabOptions): Promise<LuciLab> {
  const userland = openwrtUserland();
  // Not under /tmp: the lab mounts its own /tmp.
  mkdirSync("/var/tmp", { recursive: true });
  const lab = mkdtempSync("/var/tmp/meshwrt-luci-");
  const etc = join(lab, "etc");
  for (const d of ["config", "init.d", "ssl/certs"]) mkdirSync(join(etc, d), { recursive: true });
  writeFileSync(join(etc, "config", "meshwrt"), o.meshwrtConfig, { mode: 0o600 });
  if (o.firewallConfig !== undefined) writeFileSync(join(etc, "config", "firewall"), o.firewallConfig);
  writeFileSync(join(etc, "config", "rpcd"), await rpcdConfig(o.users));
  // LuCI's theme, as luci-theme-bootstrap's uci-defaults script sets it on a router.
  const luci = readFileSync(join(userland.root, "etc", "config", "luci"), "utf8");
  writeFileSync(join(etc, "config", "luci"), luci.replace(/^config internal themes\n/m, "config internal themes\n\toption Bootstrap '/luci-static/bootstrap'\n"));
  copyFileSync(join(PACKAGE, "meshwrt.init"), join(etc, "init.d", "meshwrt"));
  chmodSync(join(etc, "init.d", "meshwrt"), 0o755);
  if (o.caFile) copyFileSync(o.caFile, join(etc, "ssl", "certs", "ca-certificates.crt"));
  mkdirSync(join(lab, "sbin"));
  symlinkSync(MESHWRT, join(lab, "sbin", "meshwrt"));
  // OpenWrt's uci is /sbin/uci, and functions.sh's config_load calls it by that path.
  symlinkSync(userland.bin("uci"), join(lab, "sbin", "uci"));

  const port = await freePort();
  const logFile = join(lab, "launcher.log");
  const line = `exec unshare -m --propagation private sh ${sh(join(import.meta.dirname, "luci-lab.sh"))} >>${sh(logFile)} 2>&1 </dev/null`;
  const child = spawn("sh", ["-c", line], {
    stdio: "ignore",
    env: { ...process.env, ROOT: userland.root, PROJECT, APP, LAB: lab, NETNS: o.netns, PORT: String(port), BOOT: o.boot === false ? "0" : "1" },
  });
  let exited = false;
  const gone = new Promise<void>((r) => child.on("exit", () => ((exited = true), r())));
  const pid = child.pid!;
  // A test process that ends without stop() still stops the daemons (the launcher's trap).
  const onExit = () => void (exited || child.kill("SIGTERM"));
  process.on("exit", onExit);
  const files = () =>
    [logFile, ...(existsSync(join(lab, "log")) ? readdirSync(join(lab, "log")).map((f) => join(lab, "log", f)) : [])]
      .map((f) => `==> ${f}\n${existsSync(f) ? readFileSync(f, "utf8") : ""}`)
      .join("\n");
  const exec = (cmd: string) =>
    hostExec(`PATH=/usr/sbin:/usr/bin:/sbin:/bin nsenter --mount=/proc/${pid}/ns/mnt --net=/run/netns/${sh(o.netns)} sh -c ${sh(cmd)}`);
  const stop = async () => {
    if (!exited) {
      child.kill("SIGTERM");
      await Promise.race([gone, new Promise((r) => setTimeout(r, 25_000))]);
    }
    process.off("exit", onExit);
    rmSync(lab, { recursive: true, force: true });
  };
  try {
    await waitFor("the LuCI lab's daemons", async () => {
      if (exited) throw new Error(`luci-lab.sh exited:\n${files()}`);
      return existsSync(join(lab, "ready")) ? true : undefined;
    }, 30_000, 100);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    exec,
    async run(cmd) {
      const r = await exec(cmd);
      if (r.code !== 0) throw new Error(`[luci-lab] ${cmd}: exit ${r.code}\n${r.stdout}${r.stderr}`);
      return r.stdout;
    },
    log: async () => `${files()}\n==> logread\n${(await exec("/usr/sbin/logread")).stdout}`,
    stop,
  };
}
