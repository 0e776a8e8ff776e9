// A Supervisor over an in-memory flash and a stand-in Agent: the API's
// lifecycle and settings logic without a tunnel. The stand-in Agent only
// reports a control state; the real one is exercised by the integration
// tests (test/integration/cli.test.ts).
import type { SupervisedAgent } from "../../agent/src/agent/supervisor.js";
import { Supervisor } from "../../agent/src/agent/supervisor.js";
import type { ApiBackend } from "../../agent/src/api/methods.js";
import type { AgentView } from "../../agent/src/agent/view.js";
import type { ControlState } from "../../agent/src/control/controller.js";
import { emptyNetMap } from "../../agent/src/control/netmap.js";
import type { Settings } from "../../agent/src/openwrt/config.js";

export const CONFIG = "/etc/config/meshwrt";

export class FakeAgent implements SupervisedAgent {
  onChange = () => {};
  running = false;
  constructor(
    readonly settings: Settings,
    public control: ControlState | undefined,
  ) {}
  async start(): Promise<void> {
    this.running = true;
  }
  async stop(): Promise<void> {
    this.running = false;
  }
  async refreshPeers(): Promise<void> {}
  setControl(c: ControlState): void {
    this.control = c;
    this.onChange();
  }
  view(): AgentView {
    return {
      version: "test", control: this.control, configured: true, problems: [], netmap: emptyNetMap(), homeRelay: 0, interfaceName: "meshwrt0",
      pathOf: () => undefined, wgPeerOf: () => undefined, advertisedRoutes: [], exitNode: false, endpoints: [],
    };
  }
}

export interface Rig {
  sup: Supervisor;
  backend: ApiBackend;
  files: Map<string, string>;
  logs: string[];
  agents: FakeAgent[];
}

/** `control`: the state each new agent reports once started. */
export async function rig(config: string, control: ControlState = { kind: "running" }): Promise<Rig> {
  const files = new Map<string, string>([[CONFIG, config]]);
  const logs: string[] = [];
  const agents: FakeAgent[] = [];
  const enc = new TextEncoder(), dec = new TextDecoder();
  const sup = new Supervisor({
    version: "test",
    configPath: CONFIG,
    interfaceName: "meshwrt0",
    loginWaitMs: 200,
    host: {
      readFile: (p) => (files.has(p) ? enc.encode(files.get(p)) : null),
      writeFileAtomic: async (p, d) => void files.set(p, dec.decode(d)),
      unlink: (p) => void files.delete(p),
      log: (l, m) => void logs.push(`${l}: ${m}`),
      setTimer: (ms, fn) => {
        const t = setTimeout(fn, ms);
        return () => clearTimeout(t);
      },
    },
    setLogLevel: () => {},
    createAgent: (s) => {
      const a = new FakeAgent(s, control);
      agents.push(a);
      return a;
    },
  });
  const backend: ApiBackend = {
    view: () => sup.view(),
    refreshPeers: () => sup.refreshPeers(),
    up: () => sup.up(),
    down: () => sup.down(),
    login: (o) => sup.login(o),
    logout: () => sup.logout(),
    set: (o, v) => sup.set(o, v),
    devices: async () => [],
  };
  await sup.boot();
  return { sup, backend, files, logs, agents };
}

export const ENABLED = `config meshwrt 'main'
	option enabled '1'
	option login_server 'https://hs.example'
	option auth_key 'tskey-secret-123'
	option state_dir '/etc/meshwrt'
`;
