// meshwrt's command line: `meshwrt run` is the agent (procd runs it); every
// other command is the CLI, a client of the running agent's API.
import "./host/polyfills.js";
import { Agent } from "./agent/agent.js";
import { Supervisor } from "./agent/supervisor.js";
import { lanDevices } from "./api/devices.js";
import { ApiError } from "./api/errors.js";
import type { ApiBackend } from "./api/methods.js";
import { DEFAULT_SOCKET, serveSocket } from "./api/socket-server.js";
import { UBUS_SOCKET, UbusServer } from "./api/ubus-server.js";
import { callAgent, NotAllowedError, NotRunningError } from "./cli/client.js";
import { CLI_USAGE, parseCommand, UsageError } from "./cli/commands.js";
import { nativeEnv } from "./host/env.js";
import { native } from "./host/native.js";
import { parsePrefix } from "./netaddr/ip.js";
import { utf8Encode } from "./util/utf8.js";
import { VERSION } from "./version.js";

const n = native();
const out = (s: string) => n.write(1, utf8Encode(s));
const err = (s: string) => n.write(2, utf8Encode(s));
const RUN_USAGE =
  "usage: meshwrt run [--config FILE] [--interface NAME] [--socket PATH] [--ubus PATH] [--leases FILE]\n" +
  "                   [--ca-file FILE] [--derp-plain-http]\n";

/** Exit codes a script can rely on: 1 is the agent's refusal or failure, in its words. */
const EXIT = { ok: 0, failed: 1, usage: 2, notRunning: 3, notAllowed: 4 } as const;

function options(args: string[]): Map<string, string> {
  const o = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith("--")) throw new UsageError(`unexpected argument ${JSON.stringify(a)}`);
    if (a === "--derp-plain-http") o.set(a, "1");
    else if (i + 1 < args.length) o.set(a, args[++i]!);
    else throw new UsageError(`${a} needs a value`);
  }
  return o;
}

async function run(args: string[]): Promise<void> {
  const o = options(args);
  const env = nativeEnv();
  const configPath = o.get("--config") ?? "/etc/config/meshwrt";
  const interfaceName = o.get("--interface") ?? "meshwrt0";
  env.log("info", `meshwrt ${VERSION} (${n.engine}) starting`);
  const sup = new Supervisor({
    version: VERSION,
    configPath,
    interfaceName,
    host: env,
    setLogLevel: (l) => env.setLogLevel(l),
    createAgent: (settings) =>
      new Agent(env, settings, {
        version: VERSION,
        interfaceName,
        ...(o.has("--ca-file") ? { caFile: o.get("--ca-file")! } : {}),
        ...(o.has("--derp-plain-http") ? { derpPlainHttp: true } : {}),
      }),
  });
  const backend: ApiBackend = {
    view: () => sup.view(),
    refreshPeers: () => sup.refreshPeers(),
    up: () => sup.up(),
    down: () => sup.down(),
    login: (opts) => sup.login(opts),
    logout: () => sup.logout(),
    set: (option, value) => sup.set(option, value),
    devices: () =>
      lanDevices(env, {
        leasesPath: o.get("--leases") ?? "/tmp/dhcp.leases",
        skipLinks: [interfaceName],
        advertised: sup.view().advertisedRoutes.map((r) => parsePrefix(r)),
      }),
  };
  const ubus = new UbusServer(env, o.get("--ubus") ?? UBUS_SOCKET, backend);
  sup.onState = (s) => {
    env.log("debug", `state: ${s.state}`);
    ubus.notifyState({ ...s });
  };
  const socketPath = o.get("--socket") ?? DEFAULT_SOCKET;
  const listener = await serveSocket(env, socketPath, backend);
  ubus.start();
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    env.log("info", "stopping");
    ubus.stop();
    listener.close();
    await sup.shutdown();
    n.exit(0);
  };
  n.onSignal("TERM", () => void stop());
  n.onSignal("INT", () => void stop());
  n.onSignal("HUP", () => {
    env.log("info", `reload: re-reading ${configPath}`);
    void sup.reload();
  });
  await sup.boot();
}

async function cli(argv: string[]): Promise<number> {
  const cmd = parseCommand(argv);
  const env = nativeEnv("warn");
  // Neither flag: ubus, then the local socket. One flag: only that.
  const target = cmd.socket || cmd.ubus ? { ...(cmd.ubus ? { ubus: cmd.ubus } : {}), ...(cmd.socket ? { socket: cmd.socket } : {}) } : { ubus: UBUS_SOCKET, socket: DEFAULT_SOCKET };
  try {
    out(cmd.render(await callAgent(env, target, cmd.method, cmd.args), env.now()));
    return EXIT.ok;
  } catch (e) {
    const [code, exit] =
      e instanceof NotRunningError ? ["not-running", EXIT.notRunning] : e instanceof NotAllowedError ? ["not-allowed", EXIT.notAllowed] : [e instanceof ApiError ? e.code : "failed", EXIT.failed];
    if (cmd.json) out(`${JSON.stringify({ error: { code, message: (e as Error).message } }, null, 2)}\n`);
    err(`meshwrt: ${(e as Error).message}\n`);
    return exit;
  }
}

function main(argv: string[]): void {
  const [cmd, ...rest] = argv;
  const usage = (e: Error) => {
    err(`meshwrt: ${e.message}\n${cmd === "run" ? RUN_USAGE : CLI_USAGE}`);
    n.exit(EXIT.usage);
  };
  if (cmd === "--version" || cmd === "version") {
    out(`meshwrt ${VERSION} (${n.engine})\n`);
    return n.exit(EXIT.ok);
  }
  if (cmd === "--help" || cmd === "help") {
    out(CLI_USAGE);
    return n.exit(EXIT.ok);
  }
  const job = cmd === "run" ? run(rest) : cli(argv).then((code) => n.exit(code));
  job.catch((e: Error) => {
    if (e instanceof UsageError) return usage(e);
    err(`meshwrt: ${e.message}\n`);
    n.exit(EXIT.failed);
  });
}

main(n.argv.slice(1));
