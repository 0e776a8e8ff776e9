// The CLI's end of the API: one call to the running agent, over ubus where
// ubusd runs (OpenWrt), and over the agent's local socket where ubus has no
// object meshwrt (no ubusd, or the agent is between two ubusd connections).
// Both answer alike. A failure says who failed: no agent answers
// (NotRunningError), ubusd's ACL or the socket's mode keeps this user out
// (NotAllowedError), or the agent refused the call (ApiError, its words).
import { ApiError, type ApiErrorCode } from "../api/errors.js";
import { encodeLine, LineReader } from "../api/line-protocol.js";
import { OBJECT, STATUS_OF } from "../api/ubus-server.js";
import type { Host } from "../host/host.js";
import type { ByteStream } from "../util/stream.js";
import { UbusConnection, UbusError } from "../ubus/connection.js";
import { STATUS } from "../ubus/message.js";

/** Where to ask: ubusd's socket, then the agent's own socket; at least one is set. */
export interface Target {
  readonly ubus?: string;
  readonly socket?: string;
}

/** No agent answers. */
export class NotRunningError extends Error {}
/** The agent runs, but ubusd or the socket's permissions keep this caller out. */
export class NotAllowedError extends Error {}

type ClientHost = Pick<Host, "connectUnix" | "setTimer">;

const TIMEOUT_MS = 30_000;
/** An answer may be long (devices on a big LAN): MAX_LINE bounds the agent's reading, not ours. */
const MAX_ANSWER = 16 << 20;
const START_HINT = "is meshwrt running? /etc/init.d/meshwrt start";

export async function callAgent(host: ClientHost, t: Target, method: string, args: Record<string, string>): Promise<object> {
  let viaUbusFailed = "";
  if (t.ubus) {
    try {
      return await viaUbus(host, t.ubus, method, args);
    } catch (e) {
      if (!(e instanceof NotRunningError) || !t.socket) throw e;
      viaUbusFailed = `${e.message}; `;
    }
  }
  const path = t.socket!;
  const stream = await host.connectUnix(path).catch((e: Error & { code?: string }) => {
    if (e.code === "EACCES") throw new NotAllowedError(`${viaUbusFailed}the agent's socket ${path} is for root only: run this as root`);
    throw new NotRunningError(`${viaUbusFailed}cannot reach the agent on ${path}: ${e.message} (${START_HINT})`);
  });
  return viaSocket(host, stream, method, args);
}

async function viaUbus(host: ClientHost, path: string, method: string, args: Record<string, string>): Promise<object> {
  const stream = await host.connectUnix(path).catch((e: Error & { code?: string }) => {
    if (e.code === "EACCES") throw new NotAllowedError(`this user may not connect to ubusd's socket ${path}: ${e.message}`);
    throw new NotRunningError(`no ubusd answers on ${path}: ${e.message}`);
  });
  const c = await UbusConnection.connect(stream, { setTimer: host.setTimer, timeoutMs: TIMEOUT_MS });
  try {
    let id: number;
    try {
      id = await c.lookupId(OBJECT);
    } catch (e) {
      if (!(e instanceof UbusError)) throw e;
      if (e.status === STATUS.NOT_FOUND) throw new NotRunningError(`ubus has no object ${OBJECT} (${START_HINT})`);
      if (e.status === STATUS.PERMISSION_DENIED) throw new NotAllowedError(`ubusd's ACL lets this user call no method of ${OBJECT}: run this as root, or see /usr/share/acl.d/meshwrt.json`);
      throw new Error(`${e.message} (ubusd at ${path})`);
    }
    return (await c.invoke(id, method, args)) ?? {};
  } catch (e) {
    if (!(e instanceof UbusError)) throw e;
    const said = e.data?.error;
    // The agent says why in {error}; ubusd's own refusals carry no reply.
    if (typeof said === "string") throw new ApiError((Object.keys(STATUS_OF) as ApiErrorCode[]).find((k) => STATUS_OF[k] === e.status) ?? "failed", said);
    if (e.status === STATUS.PERMISSION_DENIED) throw new NotAllowedError(`ubusd's ACL does not let this user call ${OBJECT} ${method}: run this as root, or see /usr/share/acl.d/meshwrt.json`);
    if (e.status === STATUS.NOT_FOUND) throw new NotRunningError(`the object ${OBJECT} went away during the call (${START_HINT})`);
    throw new ApiError("failed", `${method}: ${e.message}`);
  } finally {
    c.close();
  }
}

function viaSocket(host: ClientHost, stream: ByteStream, method: string, args: Record<string, string>): Promise<object> {
  return new Promise((resolve, reject) => {
    const reader = new LineReader(MAX_ANSWER);
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
