// The ubus object `meshwrt` on ubusd's socket: every method of methods.ts
// with its arguments in the signature (what `ubus -v list meshwrt` shows),
// errors answered with a ubus status and {error: "..."}, and the
// notification `meshwrt.state` for subscribers. Waits for ubusd when it is
// not there yet and follows it through its restarts.
import type { Host } from "../host/host.js";
import { BLOBMSG_TYPE, type BlobmsgTable } from "../ubus/blobmsg.js";
import { type MethodSpec, type PublishedObject, UbusConnection, UbusError } from "../ubus/connection.js";
import { STATUS } from "../ubus/message.js";
import type { ApiError, ApiErrorCode } from "./errors.js";
import { type ApiBackend, callMethod, METHODS } from "./methods.js";

export const UBUS_SOCKET = "/var/run/ubus/ubus.sock";
export const OBJECT = "meshwrt";
export const STATE_EVENT = "meshwrt.state";
/** Reconnecting: the first try soon (procd restarts ubusd at once), then backing off. */
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 5000;
/** What uhttpd's ubus endpoint adds to every call's arguments: the caller's rpcd session, already checked by uhttpd. */
const RPC_SESSION_ARG = "ubus_rpc_session";

export const STATUS_OF: Readonly<Record<ApiErrorCode, number>> = {
  "invalid-argument": STATUS.INVALID_ARGUMENT,
  "method-not-found": STATUS.METHOD_NOT_FOUND,
  "not-found": STATUS.NOT_FOUND,
  "not-supported": STATUS.NOT_SUPPORTED,
  "permission-denied": STATUS.PERMISSION_DENIED,
  failed: STATUS.UNKNOWN_ERROR,
};

export class UbusServer {
  private obj: PublishedObject | undefined;
  private conn: UbusConnection | undefined;
  private stopped = false;
  private cancelRetry: (() => void) | undefined;
  /** The wait before the next try; reset when one succeeds. Failures after the first are logged quietly. */
  private retryMs = 0;

  constructor(
    private readonly host: Pick<Host, "connectUnix" | "setTimer" | "log">,
    private readonly path: string,
    private readonly backend: ApiBackend,
  ) {}

  start(): void {
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.cancelRetry?.();
    this.conn?.close();
  }

  notifyState(data: BlobmsgTable): void {
    if (!this.obj?.hasSubscribers) return;
    this.obj.notify(STATE_EVENT, data).catch((e: Error) => this.host.log("warn", `ubus: ${e.message}`));
  }

  private async connect(): Promise<void> {
    let conn: UbusConnection | undefined;
    try {
      conn = await UbusConnection.connect(await this.host.connectUnix(this.path), {
        log: (m) => this.host.log("error", m),
        setTimer: (ms, fn) => this.host.setTimer(ms, fn),
      });
      conn.onClose = (err) => {
        this.obj = undefined;
        this.conn = undefined;
        if (!this.stopped) this.retry(err?.message ?? "ubusd closed the connection");
      };
      this.conn = conn;
      this.obj = await conn.addObject(OBJECT, this.methods());
      if (this.stopped) return conn.close();
      this.retryMs = 0;
      this.host.log("info", `ubus: object ${OBJECT} published on ${this.path}`);
    } catch (e) {
      conn?.close();
      if (!this.stopped && !conn) this.retry((e as Error).message);
    }
  }

  private retry(why: string): void {
    const first = !this.retryMs;
    this.retryMs = Math.min(first ? RETRY_FIRST_MS : this.retryMs * 2, RETRY_MAX_MS);
    if (first) this.host.log("warn", `ubus: ${why}; the API is on the local socket until ubusd at ${this.path} answers`);
    else this.host.log("debug", `ubus: ${why}; trying again in ${this.retryMs} ms`);
    this.cancelRetry = this.host.setTimer(this.retryMs, () => void this.connect());
  }

  private methods(): Record<string, MethodSpec> {
    const out: Record<string, MethodSpec> = {};
    for (const [name, m] of Object.entries(METHODS)) {
      out[name] = {
        args: Object.fromEntries(m.args.map((a) => [a, BLOBMSG_TYPE.STRING])),
        handler: async ({ [RPC_SESSION_ARG]: _session, ...args }, ctx) => {
          // ubusd names the caller from its socket credentials; only root changes the router.
          if (m.writes && ctx.user !== undefined && ctx.user !== "root") {
            this.host.log("warn", `ubus: ${OBJECT} ${name} refused to user ${ctx.user}`);
            throw new UbusError(STATUS_OF["permission-denied"], `ubus: ${OBJECT} ${name}`, { error: `${name}: only root may change meshwrt (caller: ${ctx.user})` });
          }
          try {
            return (await callMethod(this.backend, name, args)) as BlobmsgTable;
          } catch (e) {
            const err = e as ApiError;
            this.host.log("info", `api: ${err.message}`);
            throw new UbusError(STATUS_OF[err.code], `ubus: ${OBJECT} ${name}`, { error: err.message });
          }
        },
      };
    }
    return out;
  }
}
