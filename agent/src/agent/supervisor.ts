// The owner of the Agent: reads the configuration, starts and stops the
// Agent (up, down, login, logout), changes settings (set, reload) and
// restarts the Agent only when a changed option needs it, and says when the
// state changes. The process keeps serving the API while the Agent is down.
import { ApiError } from "../api/errors.js";
import type { SetEffect, SetReply } from "../api/methods.js";
import { type LoginState, statusReply } from "../api/replies.js";
import { emptyNetMap } from "../control/netmap.js";
import type { Host, LogLevel } from "../host/host.js";
import type { AgentView } from "./view.js";
import { formatPrefix } from "../netaddr/ip.js";
import { setOption } from "../openwrt/config-edit.js";
import { DEFAULTS, OPTIONS, readSettings, type Settings } from "../openwrt/config.js";
import { encodeUci, parseUci, type UciPackage } from "../openwrt/uci.js";

/** What the supervisor needs of an Agent (agent/agent.ts), so tests can give it another. */
export interface SupervisedAgent {
  /** Rejects with the reason when it could not start, having left nothing behind. */
  start(): Promise<void>;
  stop(): Promise<void>;
  view(): AgentView;
  /** Reads what changes by itself (the kernel's traffic counters) before a view is answered. */
  refreshPeers(): Promise<void>;
  /** Set by the supervisor: called when the control state or the problems change. */
  onChange: () => void;
  /** Tells the control server the node is logged out (its key expired there); throws when it could not. */
  logout?(): Promise<void>;
  /** Makes a new node key for `login` on a running router: registered afresh at the next start. */
  prepareReauth?(): void;
}

export interface SupervisorDeps {
  readonly version: string;
  readonly configPath: string;
  readonly interfaceName: string;
  readonly host: Pick<Host, "readFile" | "writeFileAtomic" | "unlink" | "log" | "setTimer">;
  createAgent(settings: Settings): SupervisedAgent;
  setLogLevel(level: LogLevel): void;
  /** How long `login` waits for the control server's verdict (default 10 s). */
  readonly loginWaitMs?: number;
}

export interface StateNote {
  state: LoginState;
  authUrl?: string;
}

/** Options that apply without a restart: the rest change what the Agent was built with. */
const LIVE: ReadonlySet<keyof Settings> = new Set(["logLevel"]);

const canonical = (v: Settings[keyof Settings]) => (Array.isArray(v) ? v.map((x) => (typeof x === "string" ? x : formatPrefix(x))).join(" ") : String(v));

export class Supervisor {
  onState: (s: StateNote) => void = () => {};
  private good: Settings | undefined;
  private configErrors: string[] = [];
  private agent: SupervisedAgent | undefined;
  /** Why the Agent is not running, when a person stopped it. */
  private stoppedBy: "down" | "logout" | undefined;
  /** The auth key the running Agent was started with: a login with another one re-authenticates. */
  private agentAuthKey = "";
  private startError: string | undefined;
  private lastNote = "";
  private queue: Promise<unknown> = Promise.resolve();
  private readonly waiters = new Set<() => void>();

  constructor(private readonly deps: SupervisorDeps) {}

  /** The settings in force: the last good ones read. */
  get settings(): Settings {
    return this.good ?? DEFAULTS;
  }

  /** Reads the configuration and starts the Agent if it is enabled. */
  boot(): Promise<void> {
    return this.serial(async () => {
      const r = this.load();
      if (r && r.enabled) await this.startAgent();
      this.changed();
    });
  }

  /** SIGHUP, `uci commit`: the configuration again; a bad one leaves the last good one in force. */
  reload(): Promise<void> {
    return this.serial(async () => {
      const prev = this.good;
      const next = this.load();
      if (next) this.deps.host.log("info", `reload: ${this.describe(await this.apply(prev, next))}`);
      this.changed();
    });
  }

  view(): AgentView {
    const v = this.agent?.view() ?? this.idleView();
    return { ...v, problems: [...this.notes(), ...v.problems] };
  }

  refreshPeers(): Promise<void> {
    return this.agent?.refreshPeers() ?? Promise.resolve();
  }

  up(): Promise<void> {
    return this.serial(async () => {
      this.usable("up");
      if (!this.agent) await this.startAgent();
    });
  }

  down(): Promise<void> {
    return this.serial(async () => {
      await this.stopAgent();
      this.stoppedBy = "down";
      this.changed();
    });
  }

  /** Starts the Agent to log in (with the auth key if there is one) and waits for the control server's verdict. */
  login(opts: { loginServer?: string; authKey?: string }): Promise<void> {
    return this.serial(async () => {
      const edits: [string, string][] = [];
      if (opts.loginServer !== undefined) edits.push(["login_server", opts.loginServer]);
      if (opts.authKey !== undefined) edits.push(["auth_key", opts.authKey]);
      if (edits.length) await this.edit("login", edits);
      this.usable("login");
      const kind = this.agent?.view().control?.kind;
      const newKey = this.settings.authKey !== "" && this.settings.authKey !== this.agentAuthKey;
      if (this.agent?.prepareReauth && (kind === "key-expired" || (kind === "running" && newKey))) {
        // Logged in already: log in again with the new auth key (or after expiry), as tailscale's login does, with a new
        // node key. Not with the same key: one that expired since would be refused and leave the router out.
        this.agent.prepareReauth();
        await this.stopAgent();
      }
      if (!this.agent) await this.startAgent();
      await this.settle(this.deps.loginWaitMs ?? 10_000);
      const s = statusReply(this.view());
      // Awaiting approval: the login did its part; the tailnet's admin does the rest.
      if (s.state === "running" || s.state === "needs-login" || s.state === "awaiting-approval") return;
      const why = s.health.join("; ") || `no answer from ${this.settings.loginServer} yet`;
      throw new ApiError("failed", `login: not logged in yet: ${why}; meshwrt keeps trying (see meshwrt status)`);
    });
  }

  /** Stops the Agent and forgets the node's keys: the next start registers a new node. */
  logout(): Promise<void> {
    return this.serial(async () => {
      try {
        await this.agent?.logout?.();
      } catch (e) {
        this.deps.host.log("warn", `logout: the control server was not told (${(e as Error).message}); it keeps listing this router until its key expires`);
      }
      await this.stopAgent();
      const keys = `${this.settings.stateDir}/keys.json`;
      this.deps.host.unlink(keys);
      this.deps.host.log("info", `logout: removed ${keys}`);
      this.stoppedBy = "logout";
      this.changed();
    });
  }

  set(option: string, value: string): Promise<SetReply> {
    return this.serial(async () => {
      const effect = await this.edit("set", [[option, value]]);
      const o = OPTIONS.find((x) => x.uci === option)!;
      const values = splitValue(option, value);
      return { option, ...(o.key === "authKey" ? {} : { value: o.list ? values : (values[0] ?? "") }), effect };
    });
  }

  /**
   * SIGTERM: the Agent removes what it added. Not queued behind a start under way: a stop during the start
   * ends it at its next step (agent/lifecycle.ts); one started meanwhile by a queued change is stopped after.
   */
  shutdown(): Promise<void> {
    const now = this.stopAgent();
    return this.serial(() => now.then(() => this.stopAgent()));
  }

  /** One lifecycle change at a time: an `up` never runs into the middle of a `down`. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => {});
    return run;
  }

  private usable(what: string): void {
    if (!this.good) throw new ApiError("failed", `${what}: ${this.deps.configPath} has errors: ${this.configErrors.join("; ")}`);
    if (!this.good.enabled) throw new ApiError("failed", `${what}: disabled in ${this.deps.configPath} (enabled 0): meshwrt set enabled 1 turns it on`);
  }

  /** Reads the file: the settings if they are good (then in force), else undefined with the errors kept. */
  private load(): Settings | undefined {
    const r = this.read();
    this.configErrors = [...r.errors];
    for (const e of r.errors) this.deps.host.log("error", e);
    if (!r.settings) return undefined;
    this.good = r.settings;
    this.deps.setLogLevel(r.settings.logLevel);
    return r.settings;
  }

  private read(): { pkg?: UciPackage; settings?: Settings; errors: readonly string[] } {
    const path = this.deps.configPath;
    const bytes = this.deps.host.readFile(path);
    if (!bytes) {
      this.deps.host.log("warn", `${path}: missing; using the defaults (disabled)`);
      return { pkg: { name: "meshwrt", sections: [] }, settings: DEFAULTS, errors: [] };
    }
    let pkg: UciPackage;
    try {
      pkg = parseUci(bytes, path, "meshwrt");
    } catch (e) {
      return { errors: [(e as Error).message] };
    }
    const r = readSettings(pkg);
    return { pkg, errors: r.errors, ...(r.errors.length ? {} : { settings: r.settings }) };
  }

  /** Writes options to the file, validated, then makes them count. */
  private async edit(what: string, edits: readonly [string, string][]): Promise<SetEffect> {
    const r = this.read();
    if (!r.pkg) throw new ApiError("failed", `${what}: ${r.errors.join("; ")}: fix the file first`);
    let pkg = r.pkg;
    try {
      for (const [option, value] of edits) pkg = setOption(pkg, option, splitValue(option, value));
    } catch (e) {
      throw new ApiError("invalid-argument", `${what}: ${(e as Error).message}`);
    }
    const path = this.deps.configPath;
    // 0600: the file may hold the auth key.
    await this.deps.host.writeFileAtomic(path, encodeUci(pkg), 0o600);
    this.deps.host.log("info", `${what}: wrote ${edits.map(([o]) => o).join(", ")} to ${path}`);
    const check = readSettings(pkg);
    this.configErrors = [...check.errors];
    if (check.errors.length) {
      this.changed();
      throw new ApiError("failed", `${what}: saved, but the configuration is not applied: ${check.errors.join("; ")}`);
    }
    const effect = await this.apply(this.good, check.settings);
    this.changed();
    return effect;
  }

  private async apply(prev: Settings | undefined, next: Settings): Promise<SetEffect> {
    this.good = next;
    this.deps.setLogLevel(next.logLevel);
    if (!next.enabled) {
      if (!this.agent) return "saved";
      await this.stopAgent();
      return "stopped";
    }
    if (!this.agent) {
      // Stopped by a person: the next up uses the new settings, unless this turned it on.
      if (this.stoppedBy && prev?.enabled) return "saved";
      await this.startAgent();
      return "started";
    }
    if (!this.needsRestart(prev, next)) return "applied";
    this.deps.host.log("info", "restarting the agent to apply the new settings");
    await this.stopAgent();
    await this.startAgent();
    return "restarted";
  }

  private needsRestart(prev: Settings | undefined, next: Settings): boolean {
    if (!prev) return true;
    // A new auth key matters only to a node that still has to register.
    const registered = this.agent?.view().control?.kind === "running";
    return (Object.keys(next) as (keyof Settings)[]).some(
      (k) => !LIVE.has(k) && !(k === "authKey" && registered) && canonical(prev[k]) !== canonical(next[k]),
    );
  }

  private describe(e: SetEffect): string {
    return { applied: "applied", restarted: "the agent restarted to apply it", started: "the agent started", stopped: "the agent stopped", saved: "saved" }[e];
  }

  private async startAgent(): Promise<void> {
    const a = this.deps.createAgent(this.settings);
    a.onChange = () => this.changed();
    this.agent = a;
    this.agentAuthKey = this.settings.authKey;
    this.stoppedBy = undefined;
    this.startError = undefined;
    try {
      await a.start();
    } catch (e) {
      this.startError = `The agent did not start: ${(e as Error).message}`;
      this.deps.host.log("error", this.startError);
      this.agent = undefined;
    }
    this.changed();
  }

  private async stopAgent(): Promise<void> {
    const a = this.agent;
    if (!a) return;
    this.agent = undefined;
    a.onChange = () => {};
    this.changed();
    try {
      await a.stop();
    } catch (e) {
      this.deps.host.log("warn", `stop: ${(e as Error).message}`);
    }
  }

  /** The supervisor's own problems and why the Agent is not running, in plain words. */
  private notes(): string[] {
    const out = this.configErrors.map((e) => (this.good ? `Not applied (the last good configuration stays in force): ${e}` : `Configuration error: ${e}`));
    if (this.agent) return out;
    if (this.startError) out.push(this.startError);
    else if (this.stoppedBy === "down") out.push("Stopped on request: Start (or `meshwrt up`) starts it again.");
    else if (this.stoppedBy === "logout") out.push("Logged out: Log in (or `meshwrt login`) joins the tailnet again.");
    else if (this.good && !this.good.enabled) out.push(`Disabled (enabled 0 in ${this.deps.configPath}): \`meshwrt set enabled 1\` turns it on.`);
    return out;
  }

  private idleView(): AgentView {
    const s = this.settings;
    return {
      version: this.deps.version,
      control: undefined,
      configured: this.good !== undefined && s.enabled,
      problems: [],
      netmap: emptyNetMap(),
      homeRelay: 0,
      interfaceName: this.deps.interfaceName,
      pathOf: () => undefined,
      wgPeerOf: () => undefined,
      advertisedRoutes: s.advertiseRoutes.map(formatPrefix),
      exitNode: s.advertiseExitNode,
      endpoints: [],
    };
  }

  /** Resolves when the control server has given a verdict (or an error), or after `ms`. */
  private settle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.waiters.delete(check);
        cancel();
        resolve();
      };
      const check = () => {
        const c = this.agent?.view().control;
        if (!this.agent || !c || c.kind !== "connecting" || c.lastError) done();
      };
      const cancel = this.deps.host.setTimer(ms, done);
      this.waiters.add(check);
      check();
    });
  }

  private changed(): void {
    for (const w of [...this.waiters]) w();
    const s = statusReply(this.view());
    const key = `${s.state} ${s.authUrl ?? ""}`;
    if (key === this.lastNote) return;
    this.lastNote = key;
    this.onState({ state: s.state, ...(s.authUrl ? { authUrl: s.authUrl } : {}) });
  }
}

/** A list option's values are separated by spaces; "" is the default (the option removed). */
function splitValue(option: string, value: string): string[] {
  if (OPTIONS.find((x) => x.uci === option)?.list) return value.split(/\s+/).filter(Boolean);
  return value === "" ? [] : [value];
}
