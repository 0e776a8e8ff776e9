// The API's methods in one table, used by both transports (ubus and the
// local socket) so that they answer alike: arguments checked here with
// messages, answers built from what the backend (the supervisor) knows.
import type { DeviceReply } from "./devices.js";
import { ApiError } from "./errors.js";
import type { AgentView } from "../agent/view.js";
import { netcheckReply, nodeKeyHex, peersReply, pingReply, statusReply } from "./replies.js";

/** What a `set` did to make the new value count. */
export type SetEffect = "applied" | "restarted" | "started" | "stopped" | "saved";

export interface SetReply {
  option: string;
  /** Left out for the auth key, which no reply carries. */
  value?: string | string[];
  effect: SetEffect;
}

/** The agent's lifecycle and settings, as the supervisor runs them. */
export interface ApiBackend {
  view(): AgentView;
  /** Before `peers`: the kernel's counters read again. */
  refreshPeers(): Promise<void>;
  up(): Promise<void>;
  down(): Promise<void>;
  login(opts: { loginServer?: string; authKey?: string }): Promise<void>;
  logout(): Promise<void>;
  /** `value`: the option's value; a list option's values separated by spaces; "" for the default. */
  set(option: string, value: string): Promise<SetReply>;
  devices(): Promise<DeviceReply[]>;
}

type Args = Record<string, string>;

/** No option's value needs more; longer ones are refused before they reach an error message or the config. */
export const MAX_ARG_LENGTH = 16384;

interface Method {
  /** Every argument is a string; these may be given. */
  readonly args: readonly string[];
  /** Changes the router: a caller needs write rights (ubus: root, or rpcd's ACL for LuCI). */
  readonly writes?: true;
  readonly required?: readonly string[];
  run(b: ApiBackend, a: Args): object | Promise<object>;
}

export const METHODS: Readonly<Record<string, Method>> = {
  status: { args: [], run: (b) => statusReply(b.view()) },
  peers: { args: [], run: async (b) => (await b.refreshPeers(), { peers: peersReply(b.view()) }) },
  netcheck: { args: [], run: (b) => netcheckReply(b.view()) },
  devices: { args: [], run: async (b) => ({ devices: await b.devices() }) },
  up: { args: [], writes: true, run: async (b) => (await b.up(), statusReply(b.view())) },
  down: { args: [], writes: true, run: async (b) => (await b.down(), statusReply(b.view())) },
  logout: { args: [], writes: true, run: async (b) => (await b.logout(), statusReply(b.view())) },
  login: {
    args: ["login_server", "auth_key"],
    writes: true,
    run: async (b, a) => {
      await b.login({ ...(a.login_server !== undefined ? { loginServer: a.login_server } : {}), ...(a.auth_key !== undefined ? { authKey: a.auth_key } : {}) });
      return statusReply(b.view());
    },
  },
  set: { args: ["option", "value"], writes: true, required: ["option", "value"], run: (b, a) => b.set(a.option!, a.value!) },
  ping: { args: ["peer"], required: ["peer"], run: (b, a) => ping(b.view(), a.peer!) },
};

async function ping(v: AgentView, query: string): Promise<object> {
  const q = query.toLowerCase().replace(/\.$/, "");
  const peer = [...v.netmap.peers.values()].find((n) => {
    const name = n.Name.toLowerCase().replace(/\.$/, "");
    return name === q || name.split(".")[0] === q || n.Addresses.some((a) => a.split("/")[0] === query);
  });
  if (!peer) throw new ApiError("not-found", `ping: no peer ${JSON.stringify(query)} in the tailnet (meshwrt status lists them)`);
  if (!v.ping) throw new ApiError("not-supported", "ping: no disco on this router (not running, or nftables missing: see the log)");
  return pingReply(peer, await v.ping(nodeKeyHex(peer)));
}

function checkArgs(method: string, m: Method, args: unknown): Args {
  if (args === undefined || args === null) args = {};
  if (typeof args !== "object" || Array.isArray(args)) throw new ApiError("invalid-argument", `${method}: the arguments must be an object`);
  const a = args as Record<string, unknown>;
  for (const [k, v] of Object.entries(a)) {
    if (!m.args.includes(k)) throw new ApiError("invalid-argument", `${method}: unknown argument ${JSON.stringify(k.length > 64 ? `${k.slice(0, 64)}...` : k)}${m.args.length ? ` (it takes ${m.args.join(", ")})` : " (it takes none)"}`);
    if (typeof v !== "string") throw new ApiError("invalid-argument", `${method}: argument ${k} must be a string`);
    if (v.length > MAX_ARG_LENGTH) throw new ApiError("invalid-argument", `${method}: argument ${k} is ${v.length} characters long (at most ${MAX_ARG_LENGTH})`);
  }
  for (const k of m.required ?? []) if (a[k] === undefined) throw new ApiError("invalid-argument", `${method}: argument ${k} is missing`);
  return a as Args;
}

/** Runs one call; every failure comes out as an ApiError. */
export async function callMethod(b: ApiBackend, method: string, args: unknown): Promise<object> {
  if (!Object.prototype.hasOwnProperty.call(METHODS, method)) {
    throw new ApiError("method-not-found", `no method ${JSON.stringify(method)} (methods: ${Object.keys(METHODS).join(", ")})`);
  }
  const m = METHODS[method]!;
  try {
    return await m.run(b, checkArgs(method, m, args));
  } catch (e) {
    if (e instanceof ApiError) throw e;
    throw new ApiError("failed", `${method}: ${(e as Error).message}`);
  }
}
