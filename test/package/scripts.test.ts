// The init script, the hotplug script and the default configuration of the meshwrt package.
// The scripts pass `sh -n` and shellcheck, and their logic runs here under /bin/sh with
// stand-ins for what rc.common, procd.sh, uci and netifd give them on a router (there is no
// procd on this machine): which procd calls start, reload, stop and the hotplug events make.
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULTS, OPTIONS, readSettings } from "../../agent/src/openwrt/config.js";
import { parseUci } from "../../agent/src/openwrt/uci.js";

const FILES = join(import.meta.dirname, "..", "..", "openwrt-package", "meshwrt", "files");
const INIT = join(FILES, "meshwrt.init");
const HOTPLUG = join(FILES, "meshwrt.hotplug");
const FIREWALL = join(FILES, "meshwrt.firewall");
const CONFIG = join(FILES, "meshwrt.config");

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "meshwrt-scripts-"));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("shell syntax and shellcheck", () => {
  for (const [name, file] of [["init script", INIT], ["hotplug script", HOTPLUG], ["firewall uci-defaults", FIREWALL]] as const) {
    it(`${name}: sh -n`, () => {
      const r = spawnSync("sh", ["-n", file], { encoding: "utf8" });
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
    });
    it(`${name}: shellcheck, all checks on`, () => {
      const r = spawnSync("shellcheck", ["--severity=style", file], { encoding: "utf8" });
      expect(r.stdout + r.stderr).toBe("");
      expect(r.status).toBe(0);
    });
  }

  it("only the directives that rc.common's idioms need", () => {
    const directives = (file: string) => readFileSync(file, "utf8").split("\n").filter((l) => /#\s*shellcheck\s/.test(l)).map((l) => l.trim());
    // dash: busybox ash's dialect (local); SC2034: START, STOP and USE_PROCD are read by rc.common.
    expect(directives(INIT)).toEqual([
      "# shellcheck shell=dash",
      "# shellcheck disable=SC2034",
      "# shellcheck disable=SC2034",
      "# shellcheck disable=SC2034",
    ]);
    // Sourced by hotplug-call (no shebang); network.sh exists only on the router.
    expect(directives(HOTPLUG)).toEqual(["# shellcheck shell=sh", "# shellcheck source=/dev/null"]);
    expect(readFileSync(INIT, "utf8").split("\n")[0]).toBe("#!/bin/sh /etc/rc.common");
  });

  it("shellcheck does catch a mistake in these files (the check can fail)", () => {
    const broken = join(work, "broken.init");
    writeFileSync(broken, readFileSync(INIT, "utf8").replace('procd_set_param command "$PROG" run', "procd_set_param command $PROG run $@"));
    const r = spawnSync("shellcheck", [broken], { encoding: "utf8" });
    expect(r.status).not.toBe(0);
    expect(r.stdout).toMatch(/SC2068|SC2086/);
  });
});

// Sources the init script with rc.common's and procd.sh's functions replaced by recorders.
// UCI values come from UCI_<option> variables; RUNNING=0 makes procd's service list hold no
// running instance (else one, with pid AGENT_PID).
function initHarness(body: string, env: Record<string, string> = {}) {
  const log = join(work, `init-${Math.random().toString(36).slice(2)}.log`);
  writeFileSync(log, "");
  const prologue = `
LOG='${log}'
rec() { echo "$*" >>"$LOG"; }
config_load() { rec "config_load $*"; }
config_get() { eval "$1=\\"\\\${UCI_$3-\\\${4-}}\\""; }
config_get_bool() {
	eval "_v=\\"\\\${UCI_$3-\\\${4-}}\\""
	case "$_v" in 1|yes|on|true|enabled) _v=1 ;; *) _v=0 ;; esac
	eval "$1=\\$_v"
}
procd_open_instance() { rec "procd_open_instance $*"; }
procd_set_param() { rec "procd_set_param $*"; }
procd_close_instance() { rec "procd_close_instance"; }
procd_add_reload_trigger() { rec "procd_add_reload_trigger $*"; }
procd_add_reload_interface_trigger() { rec "procd_add_reload_interface_trigger $*"; }
procd_send_signal() { rec "procd_send_signal $*"; }
start() { rec "start"; start_service; }
logger() { rec "logger $*"; }
ubus() {
	rec "ubus $*"
	if [ "\${RUNNING:-1}" = 1 ]; then echo "{\\"meshwrt\\":{\\"instances\\":{\\"instance1\\":{\\"running\\":true,\\"pid\\":\${AGENT_PID-4242}}}}}"; else echo '{"meshwrt":{}}'; fi
}
# The JSON comes as -s's argument (see meshwrt_pids in the init script).
jsonfilter() { rec "jsonfilter $*"; printf '%s\\n' "$2" | sed -n 's/.*"pid":\\([^}]*\\)}.*/\\1/p'; }
. '${INIT}'
`;
  const r = spawnSync("sh", ["-c", prologue + body], { encoding: "utf8", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env } });
  return { status: r.status, stderr: r.stderr, calls: readFileSync(log, "utf8").trim().split("\n").filter(Boolean) };
}

describe("init script (procd)", () => {
  const configured = { UCI_enabled: "1", UCI_login_server: "https://headscale.example.com" };

  it("declares a procd service with start and stop order", () => {
    const r = initHarness('echo "$USE_PROCD $START $STOP"');
    expect(r.status).toBe(0);
    const [useProcd, start, stop] = spawnSync("sh", ["-c", `config_load() { :; }; . '${INIT}'; echo "$USE_PROCD $START $STOP"`], { encoding: "utf8" }).stdout.trim().split(" ");
    expect(useProcd).toBe("1");
    expect(Number(start)).toBeGreaterThan(20); // after network (20) and the firewall (19)
    expect(Number(stop)).toBeLessThan(90); // stopped before the network goes down
  });

  it("the shipped configuration does not start the agent", () => {
    const r = initHarness("start_service", { UCI_enabled: "0" });
    expect(r.calls).not.toContain("procd_open_instance ");
    expect(r.calls.some((c) => c.startsWith("procd_open_instance"))).toBe(false);
    expect(r.calls).toContain("logger -t meshwrt -p daemon.notice not started: disabled (uci set meshwrt.main.enabled=1)");
    expect(r.stderr).toContain("meshwrt: not started: disabled");
    expect(r.status).toBe(0);
  });

  it("enabled but neither login_server nor auth_key: not started", () => {
    const r = initHarness("start_service", { UCI_enabled: "1" });
    expect(r.calls.some((c) => c.startsWith("procd_open_instance"))).toBe(false);
    expect(r.calls).toContain("logger -t meshwrt -p daemon.notice not started: no login_server and no auth_key in /etc/config/meshwrt");
  });

  for (const [what, env] of [
    ["a login server", configured],
    ["an auth key only", { UCI_enabled: "yes", UCI_auth_key: "tskey-auth-abc" }],
  ] as const) {
    it(`enabled with ${what}: one supervised instance of \`meshwrt run\``, () => {
      const r = initHarness("start_service", env);
      expect(r.calls).toEqual([
        "config_load meshwrt",
        "procd_open_instance ",
        "procd_set_param command /usr/sbin/meshwrt run",
        "procd_set_param respawn 3600 10 0",
        "procd_set_param term_timeout 15",
        "procd_set_param limits nofile=16384 16384",
        "procd_set_param stdout 1",
        "procd_set_param stderr 1",
        "procd_close_instance",
      ]);
    });
  }

  it("triggers: UCI changes, and the WAN interfaces coming up or changing", () => {
    const r = initHarness("service_triggers");
    expect(r.calls).toEqual([
      "procd_add_reload_trigger meshwrt",
      "procd_add_reload_interface_trigger wan",
      "procd_add_reload_interface_trigger wan6",
    ]);
  });

  it("reload of a running, configured agent is a SIGHUP (tunnels stay)", () => {
    const r = initHarness("reload_service", { ...configured, RUNNING: "1" });
    expect(r.calls.filter((c) => c.startsWith("procd_"))).toEqual(["procd_send_signal meshwrt * HUP"]);
    expect(r.calls).toContain(`ubus call service list {"name":"meshwrt"}`);
  });

  it("reload after enabling starts the agent", () => {
    const r = initHarness("reload_service", { ...configured, RUNNING: "0" });
    expect(r.calls).toContain("start");
    expect(r.calls).toContain("procd_set_param command /usr/sbin/meshwrt run");
    expect(r.calls.some((c) => c.startsWith("procd_send_signal"))).toBe(false);
  });

  it("reload after disabling re-registers without an instance (procd stops the agent, keeps the triggers)", () => {
    const r = initHarness("reload_service", { UCI_enabled: "0", UCI_login_server: "https://h.example", RUNNING: "1" });
    expect(r.calls).toContain("start");
    expect(r.calls.some((c) => c.startsWith("procd_open_instance") || c.startsWith("procd_send_signal"))).toBe(false);
  });

  it("running asks procd", () => {
    expect(initHarness("service_running", { RUNNING: "1" }).status).toBe(0);
    expect(initHarness("service_running", { RUNNING: "0" }).status).not.toBe(0);
  });

  it("stop waits until the agent has cleaned up and exited", async () => {
    // The agent: a process that exits 1.2 s after SIGTERM would have been sent.
    const agent = spawn("sleep", ["60"], { stdio: "ignore" });
    const t0 = Date.now();
    setTimeout(() => agent.kill("SIGTERM"), 1200);
    const log = join(work, "stop.log");
    writeFileSync(log, "");
    const script = `
ubus() { echo '{"meshwrt":{"instances":{"instance1":{"running":true,"pid":${agent.pid}}}}}'; }
jsonfilter() { printf '%s\\n' "$2" | sed -n 's/.*"pid":\\([0-9]*\\).*/\\1/p'; }
. '${INIT}'
stop_service
echo "pid=$meshwrt_pid" >'${log}'
service_stopped
`;
    const code = await new Promise<number | null>((resolve) => spawn("sh", ["-c", script], { stdio: "ignore" }).on("exit", resolve));
    const elapsed = Date.now() - t0;
    expect(code).toBe(0);
    expect(readFileSync(log, "utf8").trim()).toBe(`pid=${agent.pid}`);
    expect(elapsed).toBeGreaterThanOrEqual(1100);
    expect(elapsed).toBeLessThan(5000);
  });

  it("stop gives up waiting after TERM_TIMEOUT (procd has sent SIGKILL by then)", () => {
    const agent = spawn("sleep", ["60"], { stdio: "ignore" });
    try {
      const t0 = Date.now();
      const r = spawnSync("sh", ["-c", `. '${INIT}'; TERM_TIMEOUT=1; meshwrt_pid=${agent.pid}; service_stopped`], { encoding: "utf8" });
      expect(r.status).toBe(0);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
      expect(Date.now() - t0).toBeLessThan(4500);
    } finally {
      agent.kill("SIGKILL");
    }
  });

  it("stop with no agent running, or no pid from procd, returns at once", () => {
    for (const AGENT_PID of ["", "0", "1", "x"]) {
      const t0 = Date.now();
      const r = initHarness("stop_service; service_stopped", { AGENT_PID });
      expect(r.status).toBe(0);
      expect(Date.now() - t0, `pid ${JSON.stringify(AGENT_PID)}`).toBeLessThan(1000);
    }
  });
});

// The hotplug script, with its two absolute paths pointed at stand-ins.
function hotplug(env: { ACTION: string; INTERFACE: string; RUNNING?: string; WAN4?: string; WAN6?: string }) {
  const dir = mkdtempSync(join(work, "hotplug-"));
  const log = join(dir, "log");
  writeFileSync(log, "");
  mkdirSync(join(dir, "bin"));
  writeFileSync(join(dir, "initd"), `#!/bin/sh\necho "initd $*" >>'${log}'\n[ "$1" != running ] || [ "\${RUNNING:-0}" = 1 ]\n`);
  chmodSync(join(dir, "initd"), 0o755);
  writeFileSync(join(dir, "bin", "logger"), `#!/bin/sh\necho "logger $*" >>'${log}'\n`);
  chmodSync(join(dir, "bin", "logger"), 0o755);
  writeFileSync(join(dir, "network.sh"), 'network_find_wan() { eval "$1=\\"${WAN4:-}\\""; }\nnetwork_find_wan6() { eval "$1=\\"${WAN6:-}\\""; }\n');
  const script = readFileSync(HOTPLUG, "utf8").replaceAll("/etc/init.d/meshwrt", join(dir, "initd")).replaceAll("/lib/functions/network.sh", join(dir, "network.sh"));
  expect(script).not.toContain("/etc/init.d/meshwrt");
  writeFileSync(join(dir, "80-meshwrt"), script);
  // hotplug-call sources each script in a subshell.
  const r = spawnSync("sh", ["-c", `( . '${join(dir, "80-meshwrt")}' )`], {
    encoding: "utf8",
    env: { PATH: `${join(dir, "bin")}:${process.env.PATH ?? "/usr/bin:/bin"}`, ...env },
  });
  return { status: r.status, stderr: r.stderr, calls: readFileSync(log, "utf8").trim().split("\n").filter(Boolean) };
}

describe("hotplug script (/etc/hotplug.d/iface/80-meshwrt)", () => {
  it("wan and wan6 are left to procd's interface triggers", () => {
    for (const INTERFACE of ["wan", "wan6"]) {
      expect(hotplug({ ACTION: "ifup", INTERFACE, RUNNING: "1", WAN4: "wan", WAN6: "wan6" }).calls).toEqual([]);
    }
  });

  it("an uplink of another name coming up or changing reloads the running agent", () => {
    const up = hotplug({ ACTION: "ifup", INTERFACE: "wwan", RUNNING: "1", WAN4: "wwan" });
    expect(up.calls).toEqual(["initd running", "logger -t meshwrt -p daemon.info uplink wwan: ifup, reloading", "initd reload"]);
    expect(up.status).toBe(0);
    const update = hotplug({ ACTION: "ifupdate", INTERFACE: "lte6", RUNNING: "1", WAN4: "wan", WAN6: "lte6" });
    expect(update.calls).toEqual(["initd running", "logger -t meshwrt -p daemon.info uplink lte6: ifupdate, reloading", "initd reload"]);
  });

  it("nothing when the agent is not running", () => {
    expect(hotplug({ ACTION: "ifup", INTERFACE: "wwan", RUNNING: "0", WAN4: "wwan" }).calls).toEqual(["initd running"]);
  });

  it("nothing for an interface that is not the uplink, or for other actions", () => {
    expect(hotplug({ ACTION: "ifup", INTERFACE: "lan", RUNNING: "1", WAN4: "wwan" }).calls).toEqual(["initd running"]);
    for (const ACTION of ["ifdown", "iflink", "ifupdate-foo"]) {
      expect(hotplug({ ACTION, INTERFACE: "wwan", RUNNING: "1", WAN4: "wwan" }).calls).toEqual([]);
    }
  });
});

describe("default /etc/config/meshwrt", () => {
  const text = readFileSync(CONFIG, "utf8");

  it("parses with the agent's UCI reader, without errors, to the agent's defaults", () => {
    const pkg = parseUci(text, "/etc/config/meshwrt", "meshwrt");
    const { settings, errors } = readSettings(pkg);
    expect(errors).toEqual([]);
    expect(settings).toEqual(DEFAULTS);
    expect(pkg.sections.map((s) => `${s.type}.${s.name}`)).toEqual(["meshwrt.main"]);
  });

  it("is disabled, with no login server and no auth key (safe until filled in)", () => {
    expect(text).toMatch(/^\toption enabled '0'$/m);
    expect(text).toMatch(/^\toption login_server ''$/m);
    expect(text).toMatch(/^\toption auth_key ''$/m);
  });

  it("names every option of the contract, each with a comment above it", () => {
    const lines = text.split("\n");
    for (const o of OPTIONS) {
      const i = lines.findIndex((l) => new RegExp(`^\\t#?(option|list) ${o.uci} `).test(l));
      expect(i, o.uci).toBeGreaterThan(0);
      expect(lines[i - 1], `comment above ${o.uci}`).toMatch(/^\t#/);
    }
    for (const o of ["enabled", "login_server", "auth_key", "hostname", "advertise_routes", "advertise_exit_node", "accept_routes", "accept_dns", "snat_subnet_routes", "listen_port", "state_dir", "log_level"]) {
      expect(OPTIONS.map((x) => x.uci)).toContain(o);
    }
    expect(text).toMatch(/^\toption listen_port '41641'$/m);
    expect(text).toMatch(/^\toption state_dir '\/etc\/meshwrt'$/m);
  });
});

// The uci-defaults script against a stand-in for uci (OpenWrt's uci cannot
// run here): it records each call and the batch it reads, and answers `get`
// as a firewall config with or without a meshwrt section would.
describe("firewall uci-defaults", () => {
  const runWith = (haveZone: boolean) => {
    const dir = mkdtempSync(join(work, "fw-"));
    writeFileSync(
      join(dir, "uci"),
      `#!/bin/sh\necho "uci $*" >> ${dir}/calls\n[ "$2" = batch ] && cat >> ${dir}/calls\n[ "$2" = get ] && { ${haveZone ? "echo zone; exit 0" : "exit 1"}; }\nexit 0\n`,
      { mode: 0o755 },
    );
    const r = spawnSync("sh", [FIREWALL], { encoding: "utf8", env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } });
    return { status: r.status, calls: readFileSync(join(dir, "calls"), "utf8") };
  };
  it("adds the meshwrt zone on meshwrt0, its forwardings to lan and wan (and from lan) and the rule opening the WireGuard port, then commits", () => {
    const { status, calls } = runWith(false);
    expect(status).toBe(0);
    const batch = calls.split("\n").map((l) => l.trim());
    expect(batch).toContain("add_list firewall.meshwrt.device='meshwrt0'");
    for (const [src, dest] of [["meshwrt", "lan"], ["lan", "meshwrt"], ["meshwrt", "wan"]]) {
      expect(batch).toContain(`set firewall.${src}_${dest}.src='${src}'`);
      expect(batch).toContain(`set firewall.${src}_${dest}.dest='${dest}'`);
    }
    // meshwrt's listen_port unset (this uci answers no get): the default port.
    for (const line of ["set firewall.meshwrt_wg.src='*'", "set firewall.meshwrt_wg.proto='udp'", "set firewall.meshwrt_wg.dest_port='41641'", "set firewall.meshwrt_wg.target='ACCEPT'"]) expect(batch).toContain(line);
    expect(batch.at(-2)).toBe("commit firewall");
  });
  it("leaves a zone the user already has alone", () => {
    const { status, calls } = runWith(true);
    expect(status).toBe(0);
    expect(calls).toBe("uci -q get firewall.meshwrt\n");
  });
});
