// The agent: its settings, its lifecycle (agent/lifecycle.ts) and what it
// shows of itself. What exists only while it runs (control client, kernel
// WireGuard, relays, bridge, gateway) is one Running (agent/running.ts),
// made by start and removed by stop; the supervisor starts and stops it.
import { emptyNetMap } from "../control/netmap.js";
import type { Host } from "../host/host.js";
import type { Settings } from "../openwrt/config.js";
import { Lifecycle, type LifecycleState } from "./lifecycle.js";
import { type AgentOptions, Running } from "./running.js";
import type { AgentView } from "./view.js";

export type { AgentOptions };

export class Agent {
  /** Called when the control state or the problems change (the supervisor tells ubus subscribers). */
  onChange: () => void = () => {};
  private readonly lifecycle: Lifecycle<Running>;
  /** Subjects warned about already: a netmap re-applied every minute must not flood the log. */
  private readonly warned = new Set<string>();

  constructor(
    private readonly env: Host,
    private readonly settings: Settings,
    private readonly opts: AgentOptions,
  ) {
    const hooks = {
      // Only a running agent's changes are news: during the start the supervisor says the outcome.
      onChange: () => {
        if (this.lifecycle.running) this.onChange();
      },
      once: (subject: string, msg: string) => this.once(subject, msg),
    };
    this.lifecycle = new Lifecycle({
      open: () => Running.open(env, settings, opts, hooks),
      begin: (r, checkpoint) => r.begin(checkpoint),
      teardown: (r) => r.stop(),
    });
  }

  get configured(): boolean {
    return this.settings.enabled && (this.settings.authKey !== "" || this.settings.loginServer !== "");
  }

  get state(): LifecycleState<Running> {
    return this.lifecycle.state;
  }

  /** Rejects, with the reason (the state is then failed with it), when the agent could not start. */
  start(): Promise<void> {
    return this.lifecycle.start();
  }

  /** Removes what the start added; a stop during the start ends it at its next step. */
  stop(): Promise<void> {
    return this.lifecycle.stop();
  }

  view(): AgentView {
    const base = { version: this.opts.version, configured: this.configured, interfaceName: this.opts.interfaceName, exitNode: this.settings.advertiseExitNode };
    const r = this.lifecycle.running;
    if (r) return { ...base, ...r.view() };
    const st = this.lifecycle.state;
    return {
      ...base,
      control: undefined,
      problems: st.kind === "failed" ? [st.reason] : [],
      netmap: emptyNetMap(),
      homeRelay: 0,
      pathOf: () => undefined,
      wgPeerOf: () => undefined,
      advertisedRoutes: [],
      endpoints: [],
    };
  }

  /** Tells the control server to expire this node (tailscale's logout); the supervisor then deletes the keys. */
  logout(): Promise<void> {
    return this.lifecycle.running?.controller.logout() ?? Promise.resolve();
  }

  /** `meshwrt login` on a running router: a new node key, registered afresh when the supervisor restarts the agent. */
  prepareReauth(): void {
    this.lifecycle.running?.controller.prepareReauth();
  }

  /** Reads the kernel's peers again, for answers with current traffic counters and handshakes. */
  refreshPeers(): Promise<void> {
    return this.lifecycle.running?.refreshPeers() ?? Promise.resolve();
  }

  /** A warning said once per subject. */
  private once(subject: string, msg: string): void {
    const level = this.warned.has(subject) ? "debug" : "warn";
    this.warned.add(subject);
    this.env.log(level, msg);
  }
}
