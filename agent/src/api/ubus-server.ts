// The ubus object `meshwrt` on ubusd's socket: every method of methods.ts
// with its arguments in the signature (what `ubus -v list meshwrt` shows),
// errors answered with a ubus status and {error: "..."}, and the
// notification `meshwrt.state` for subscribers. Follows ubusd through its
// restarts.
import type { Host } from "../host/host.js";
import { BLOBMSG_TYPE, type BlobmsgTable } from "../ubus/blobmsg.js";
import { type MethodSpec, type PublishedObject, UbusConnection, UbusError } from "../ubus/connection.js";
import { STATUS } from "../ubus/message.js";
import type { ApiError, ApiErrorCode } from "./errors.js";
import { type ApiBackend, callMethod, METHODS } from "./methods.js";

export const UBUS_SOCKET = "/var/run/ubus/ubus.sock";
export const OBJECT = "meshwrt";
export const STATE_EVENT = "meshwrt.state";
const RETRY_MS = 5000;

export const STATUS_OF: Readonly<Record<ApiErrorCode, number>> = {
  "invalid-argument": STATUS.INVALID_ARGUMENT,
  "method-not-found": STATUS.METHOD_NOT_FOUND,
  "not-found": STATUS.NOT_FOUND,
  "not-supported": STATUS.NOT_SUPPORTED,
  failed: STATUS.UNKNOWN_ERROR,
};

export class UbusServer {
  private obj: PublishedObject | undefined;
  private conn: UbusConnection | undefined;
  private stopped = false;
  private cancelRetry: (() => void) | undefined;
  /** Failures after the first are logged quietly until one attempt succeeds. */
  private failing = false;

  constructor(
    private readonly host: Pick<Host, "connectUnix" | "exists" | "setTimer" | "log">,
    private readonly path: string,
    private readonly backend: ApiBackend,
  ) {}

  start(): void {
    if (!this.host.exists(this.path)) return this.host.log("info", `ubus: no ubusd here (${this.path} missing): the API is on the local socket only`);
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
      this.obj = await conn.addObject(OBJECT, this.methods());
      this.conn = conn;
      this.failing = false;
      this.host.log("info", `ubus: object ${OBJECT} published on ${this.path}`);
    } catch (e) {
      conn?.close();
      if (!this.stopped && !conn) this.retry((e as Error).message);
    }
  }

  private retry(why: string): void {
    this.host.log(this.failing ? "debug" : "warn", `ubus: ${why}; trying again every ${RETRY_MS / 1000} s`);
    this.failing = true;
    this.cancelRetry = this.host.setTimer(RETRY_MS, () => void this.connect());
  }

  private methods(): Record<string, MethodSpec> {
    const out: Record<string, MethodSpec> = {};
    for (const [name, m] of Object.entries(METHODS)) {
      out[name] = {
        args: Object.fromEntries(m.args.map((a) => [a, BLOBMSG_TYPE.STRING])),
        handler: async (args, ctx) => {
          // ubusd names the caller from its socket credentials; only root changes the router.
          if (m.writes && ctx.user !== undefined && ctx.user !== "root") {
            this.host.log("warn", `ubus: ${OBJECT} ${name} refused to user ${ctx.user}`);
            throw new UbusError(STATUS.PERMISSION_DENIED, `ubus: ${OBJECT} ${name}`, { error: `${name}: only root may change meshwrt (caller: ${ctx.user})` });
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
