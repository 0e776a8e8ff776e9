// The CLI's end of the API: one call to the running agent, over ubus where
// ubusd runs (OpenWrt) and over the agent's local socket elsewhere. Both
// answer alike; a failure comes back as an ApiError with the agent's words.
import { ApiError, type ApiErrorCode } from "../api/errors.js";
import { encodeLine, LineReader } from "../api/line-protocol.js";
import { OBJECT, STATUS_OF } from "../api/ubus-server.js";
import type { Host } from "../host/host.js";
import { UbusConnection, UbusError } from "../ubus/connection.js";

export type Target = { readonly kind: "ubus"; readonly path: string } | { readonly kind: "socket"; readonly path: string };

/** Raised when no agent answers: the CLI's exit code differs from a failed call. */
export class NotRunningError extends Error {}

type ClientHost = Pick<Host, "connectUnix" | "setTimer">;

const TIMEOUT_MS = 30_000;

export async function callAgent(host: ClientHost, t: Target, method: string, args: Record<string, string>): Promise<object> {
  const stream = await host.connectUnix(t.path).catch((e: Error) => {
    throw new NotRunningError(`cannot reach the agent on ${t.path}: ${e.message} (is meshwrt running? /etc/init.d/meshwrt start)`);
  });
  return t.kind === "ubus" ? viaUbus(host, stream, method, args) : viaSocket(host, stream, method, args);
}

async function viaUbus(host: ClientHost, stream: Awaited<ReturnType<ClientHost["connectUnix"]>>, method: string, args: Record<string, string>): Promise<object> {
  const c = await UbusConnection.connect(stream, { setTimer: host.setTimer, timeoutMs: TIMEOUT_MS });
  try {
    return (await c.call(OBJECT, method, args)) ?? {};
  } catch (e) {
    if (!(e instanceof UbusError)) throw e;
    const said = e.data?.error;
    const code = (Object.keys(STATUS_OF) as ApiErrorCode[]).find((k) => STATUS_OF[k] === e.status) ?? "failed";
    if (typeof said === "string") throw new ApiError(code, said);
    if (code === "not-found") throw new NotRunningError(`the agent is not running: ubus has no object ${OBJECT}`);
    throw new ApiError(code, e.message);
  } finally {
    c.close();
  }
}

function viaSocket(host: ClientHost, stream: Awaited<ReturnType<ClientHost["connectUnix"]>>, method: string, args: Record<string, string>): Promise<object> {
  return new Promise((resolve, reject) => {
    const reader = new LineReader();
    const cancel = host.setTimer(TIMEOUT_MS, () => finish(new Error(`${method}: no answer in ${TIMEOUT_MS / 1000} s`)));
    let done = false;
    const finish = (err: Error | undefined, v?: object) => {
      if (done) return;
      done = true;
      cancel();
      stream.close();
      if (err) reject(err);
      else resolve(v!);
    };
    stream.onClose = (e) => finish(new Error(`${method}: the agent closed the connection${e ? ` (${e.message})` : ""}`));
    stream.onData = (b) => {
      let lines: string[];
      try {
        lines = reader.push(b);
      } catch (e) {
        return finish(e as Error);
      }
      if (!lines.length) return;
      try {
        const r = JSON.parse(lines[0]!) as { result?: object; error?: { code: ApiErrorCode; message: string } };
        if (r.error) finish(new ApiError(r.error.code, r.error.message));
        else if (r.result && typeof r.result === "object") finish(undefined, r.result);
        else finish(new Error(`${method}: an answer with neither result nor error`));
      } catch (e) {
        finish(new Error(`${method}: the agent's answer is not JSON: ${(e as Error).message}`));
      }
    };
    stream.write(encodeLine({ id: 1, method, args }));
  });
}
