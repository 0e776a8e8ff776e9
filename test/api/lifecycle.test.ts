// The supervisor over an agent whose lifecycle is the real one
// (agent/lifecycle.ts) with steps that are a double: a start that fails is
// said one way (a rejection: status shows the reason, the agent is not kept,
// `up` starts afresh), and SIGTERM during a start that hangs stops it at once
// instead of waiting behind it (the stop-early case; the real agent in the
// lab: test/integration/stop-early.test.ts).
import { describe, expect, it } from "vitest";
import { Agent } from "../../agent/src/agent/agent.js";
import { Lifecycle } from "../../agent/src/agent/lifecycle.js";
import { Supervisor, type SupervisedAgent } from "../../agent/src/agent/supervisor.js";
import type { AgentView } from "../../agent/src/agent/view.js";
import { statusReply } from "../../agent/src/api/replies.js";
import { emptyNetMap } from "../../agent/src/control/netmap.js";
import type { Host } from "../../agent/src/host/host.js";
import { DEFAULTS } from "../../agent/src/openwrt/config.js";
import { CONFIG, ENABLED } from "./fixture.js";

/** What the steps of the double do: fail when opening, or hang in begin until let go. */
interface Script {
  failOpen?: string;
  hangBegin?: boolean;
}

class LifecycleAgent implements SupervisedAgent {
  onChange = () => {};
  readonly log: string[] = [];
  letGo = () => {};
  readonly lifecycle: Lifecycle<{ id: number }>;

  constructor(script: Script) {
    this.lifecycle = new Lifecycle({
      open: async () => {
        this.log.push("open");
        if (script.failOpen) throw new Error(script.failOpen);
        return { id: 1 };
      },
      begin: async (_r, checkpoint) => {
        this.log.push("begin");
        if (script.hangBegin) await new Promise<void>((res) => (this.letGo = res));
        checkpoint();
        this.log.push("begun");
      },
      teardown: async () => void this.log.push("teardown"),
    });
  }

  start(): Promise<void> {
    return this.lifecycle.start();
  }
  stop(): Promise<void> {
    return this.lifecycle.stop();
  }
  async refreshPeers(): Promise<void> {}
  view(): AgentView {
    const st = this.lifecycle.state;
    return {
      version: "test", control: st.kind === "running" ? { kind: "running" } : undefined, configured: true, problems: st.kind === "failed" ? [st.reason] : [],
      netmap: emptyNetMap(), homeRelay: 0, interfaceName: "meshwrt0", pathOf: () => undefined, wgPeerOf: () => undefined, advertisedRoutes: [], exitNode: false, endpoints: [],
    };
  }
}

function supervisor(scripts: Script[]) {
  const enc = new TextEncoder();
  const logs: string[] = [];
  const agents: LifecycleAgent[] = [];
  const sup = new Supervisor({
    version: "test",
    configPath: CONFIG,
    interfaceName: "meshwrt0",
    host: {
      readFile: (p) => (p === CONFIG ? enc.encode(ENABLED) : null),
      writeFileAtomic: async () => {},
      unlink: () => {},
      log: (l, m) => void logs.push(`${l}: ${m}`),
      setTimer: (ms, fn) => {
        const t = setTimeout(fn, ms);
        return () => clearTimeout(t);
      },
    },
    setLogLevel: () => {},
    createAgent: () => {
      const a = new LifecycleAgent(scripts[agents.length] ?? {});
      agents.push(a);
      return a;
    },
  });
  return { sup, logs, agents };
}

describe("the agent's lifecycle under the supervisor", () => {
  it("a start that fails: status says why, the log says it once, and up starts afresh", async () => {
    const { sup, logs, agents } = supervisor([{ failOpen: "interface meshwrt0 exists and is not WireGuard (kind dummy): remove it or choose another name" }]);
    await sup.boot();
    expect(agents[0]!.lifecycle.state).toEqual({ kind: "failed", reason: "interface meshwrt0 exists and is not WireGuard (kind dummy): remove it or choose another name" });
    const s = statusReply(sup.view());
    expect(s.state).toBe("stopped");
    expect(s.health).toEqual(["The agent did not start: interface meshwrt0 exists and is not WireGuard (kind dummy): remove it or choose another name"]);
    expect(logs.filter((l) => l.startsWith("error: "))).toEqual(["error: The agent did not start: interface meshwrt0 exists and is not WireGuard (kind dummy): remove it or choose another name"]);
    expect(agents[0]!.log).toEqual(["open"]);
    await sup.up();
    expect(agents).toHaveLength(2);
    expect(agents[1]!.lifecycle.state.kind).toBe("running");
    expect(statusReply(sup.view())).toMatchObject({ state: "running", health: [] });
  });

  it("SIGTERM during a start that hangs: the start ends at its next step and the shutdown does not wait for it to finish", async () => {
    const { sup, agents } = supervisor([{ hangBegin: true }]);
    const booted = sup.boot();
    await new Promise((r) => setTimeout(r, 10));
    expect(agents[0]!.lifecycle.state.kind).toBe("starting");
    let down = false;
    const shutdown = sup.shutdown().then(() => (down = true));
    expect(agents[0]!.lifecycle.state.kind).toBe("stopping");
    // The step under way ends (as nft does, killed by the same SIGTERM); nothing after it runs.
    agents[0]!.letGo();
    await Promise.all([booted, shutdown]);
    expect(down).toBe(true);
    expect(agents[0]!.log).toEqual(["open", "begin", "teardown"]);
    expect(agents[0]!.lifecycle.state.kind).toBe("stopped");
    expect(statusReply(sup.view()).state).toBe("stopped");
  });

  it("the real Agent when its netlink socket cannot open: start rejects with why, the state and the view say it, and logout, re-login and peers ask nothing of what is not running", async () => {
    // A Host double: only what a start touches before its first socket.
    const made: string[] = [];
    const host = {
      mkdir: (p: string) => void made.push(`mkdir ${p}`),
      netlink: () => {
        throw new Error("netlink socket: Operation not permitted");
      },
      log: () => {},
    } as unknown as Host;
    const a = new Agent(host, { ...DEFAULTS, enabled: true, loginServer: "https://hs.example" }, { version: "test", interfaceName: "meshwrt0" });
    let changes = 0;
    a.onChange = () => changes++;
    await expect(a.start()).rejects.toThrow(/^netlink socket: Operation not permitted$/);
    expect(a.state).toEqual({ kind: "failed", reason: "netlink socket: Operation not permitted" });
    expect(made).toEqual([`mkdir ${DEFAULTS.stateDir}`]);
    const v = a.view();
    expect(v.problems).toEqual(["netlink socket: Operation not permitted"]);
    expect(statusReply(v)).toMatchObject({ state: "stopped", health: ["netlink socket: Operation not permitted"], peers: { total: 0 } });
    await a.logout();
    a.prepareReauth();
    await a.refreshPeers();
    await a.stop();
    expect(a.state.kind).toBe("failed");
    expect(changes).toBe(0);
  });
});
