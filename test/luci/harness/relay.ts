// The host's end of vm-relay.mjs: requests as files in the VM's shared
// directory, answers read back from it. Gives the ubus double its AgentLink
// and the agent's UCI file as a UciBackend.
import { existsSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { STATUS_OF } from "../../../agent/src/api/ubus-server.js";
import type { ApiErrorCode } from "../../../agent/src/api/errors.js";
import type { Lab } from "../../support/lab.js";
import type { AgentLink } from "./server.js";
import type { UciBackend } from "./uci-store.js";

const RELAY = join(import.meta.dirname, "vm-relay.mjs");

export interface Relay {
  agent: AgentLink;
  /** The agent's UCI file, committed with SIGHUP as procd's reload trigger does. */
  config: UciBackend;
}

export async function startRelay(lab: Lab): Promise<Relay> {
  const name = "luci-relay";
  const dir = join(lab.vm.share, name);
  mkdirSync(dir);
  const sock = `${lab.t.dir}/meshwrt.sock`;
  const configPath = `${lab.t.dir}/meshwrt.uci`;
  await lab.t.host("router").spawn(`exec node ${RELAY} ${lab.vm.sharePath(name)} ${sock}`, `${lab.t.dir}/luci-relay.log`);
  let n = 0;
  const request = async (req: object): Promise<Record<string, unknown>> => {
    const id = ++n;
    writeFileSync(join(dir, `req-${id}.tmp`), JSON.stringify(req));
    renameSync(join(dir, `req-${id}.tmp`), join(dir, `req-${id}.json`));
    const res = join(dir, `res-${id}.json`);
    for (const started = Date.now(); !existsSync(res); await new Promise((r) => setTimeout(r, 10)))
      if (Date.now() - started > 60_000) throw new Error(`relay: no answer to ${JSON.stringify(req)}`);
    const r = JSON.parse(readFileSync(res, "utf8")) as Record<string, unknown>;
    unlinkSync(res);
    if (typeof r.relayError === "string") throw new Error(`relay: ${r.relayError}`);
    return r;
  };
  return {
    agent: {
      // As the agent's ubus object answers: its data, or the error's ubus status with {error}.
      async call(method, args) {
        const r = (await request({ op: "call", method, args })) as { result?: object; error?: { code: ApiErrorCode; message: string } };
        return r.error ? [STATUS_OF[r.error.code], { error: r.error.message }] : [0, r.result];
      },
    },
    config: {
      read: async () => (await request({ op: "read", path: configPath })).text as string,
      write: async (text) => void (await request({ op: "write", path: configPath, text })),
      reload: async () => void (await request({ op: "hup" })),
    },
  };
}
