// A ubus client over one stream to ubusd, as libubus behaves on the wire:
// the HELLO that gives our peer id; LOOKUP, INVOKE, ADD_OBJECT,
// REMOVE_OBJECT, SUBSCRIBE and NOTIFY requests, each answered by zero or
// more DATA and one STATUS with the request's seq (and, for ubusd's own
// answers, peer 0; for an invoke, the object's id); and objects we publish,
// whose INVOKEs arrive with the caller as peer and are answered with DATA
// (OBJID, DATA) then STATUS (STATUS, OBJID).
import type { ByteStream } from "../util/stream.js";
import { BLOBMSG_TYPE, decodeBlobmsgTable, encodeBlobmsgTable, type BlobmsgTable, type BlobmsgValue } from "./blobmsg.js";
import { ATTR, attr, decodeMessage, describeHeader, encodeMessage, MessageFramer, MSG, STATUS, statusText, UBUS_MAX_MSGLEN, UBUS_MAX_RECEIVED, type UbusMessage } from "./message.js";

export class UbusError extends Error {
  /**
   * `data`: a reply sent with the error status (DATA, then STATUS), as
   * `ubus call` prints it before "Command failed"; meshwrt's methods put
   * the reason there as {error: "..."}.
   */
  constructor(
    readonly status: number,
    what: string,
    readonly data?: BlobmsgTable,
  ) {
    super(`${what}: ${statusText(status)}`);
  }
}

export interface UbusOptions {
  log?: (msg: string) => void;
  /** The Host's setTimer; without it requests wait for their answer as long as the connection lives. */
  setTimer?: (ms: number, fn: () => void) => () => void;
  /** Per request, when setTimer is given (ubus's CLI waits 30 s). */
  timeoutMs?: number;
}

/** Who called, as ubusd tells it (USER and GROUP come from the caller's socket credentials). */
export interface InvokeContext {
  readonly method: string;
  /** The caller's client id. */
  readonly peer: number;
  readonly user?: string;
  readonly group?: string;
}

/** Return a table to send it as DATA; throw a UbusError to answer with its status. */
export type MethodHandler = (args: BlobmsgTable, ctx: InvokeContext) => BlobmsgTable | void | Promise<BlobmsgTable | void>;

export interface MethodSpec {
  /** Argument name → BLOBMSG_TYPE, published in the signature (what `ubus -v list` shows) and checked on each call. */
  args?: Record<string, number>;
  handler: MethodHandler;
}

export interface ObjectInfo {
  path: string;
  id: number;
  typeId: number;
  /** Method → argument → BLOBMSG_TYPE. */
  signature: Record<string, Record<string, number>>;
}

export interface PublishedObject {
  readonly path: string;
  readonly id: number;
  readonly typeId: number;
  /** Whether ubusd last said that someone subscribes. */
  readonly hasSubscribers: boolean;
  /** Called when ubusd says the object gained its first or lost its last subscriber. */
  onSubscribers: (active: boolean) => void;
  /**
   * Sends a notification to every subscriber. With `wait`, resolves when all
   * have answered, with how many there were; otherwise NO_REPLY is set and it
   * resolves once sent, with 0.
   */
  notify(type: string, data?: BlobmsgTable, opts?: { wait?: boolean }): Promise<number>;
  remove(): Promise<void>;
}

export interface Subscription {
  /** Our subscriber object's id. */
  readonly id: number;
  readonly target: number;
  unsubscribe(): Promise<void>;
}

type Notified = (type: string, data: BlobmsgTable, ctx: InvokeContext) => void;

interface LocalObject {
  id: number;
  methods?: Record<string, MethodSpec>;
  /** Set on subscriber objects, which take every method name (libubus's watch_method). */
  notified?: Notified;
  /** Called when ubusd says the subscription's target went away. */
  gone?: () => void;
  published?: PublishedObject & { hasSubscribers: boolean };
}

interface Pending {
  seq: number;
  peer: number;
  what: string;
  data: UbusMessage[];
  /** For NOTIFY: the peers whose STATUS is still awaited (ubusd's first, under the object id). */
  notify?: { waiting: Set<number>; count: number };
  done(err: Error | null, status?: UbusMessage): void;
}

export class UbusConnection {
  /** Our client id, from ubusd's HELLO. */
  peerId = 0;
  /** Called once when the connection ends. */
  onClose: (err?: Error) => void = () => {};
  private seq = 0;
  private readonly pending: Pending[] = [];
  private readonly objects = new Map<number, LocalObject>();
  private readonly framer = new MessageFramer(true, UBUS_MAX_RECEIVED);
  private readonly log: (msg: string) => void;
  private closed = false;
  private hello?: (err: Error | null) => void;

  private constructor(
    private readonly stream: ByteStream,
    private readonly opts: UbusOptions,
  ) {
    this.log = opts.log ?? (() => {});
    stream.onData = (b) => this.receive(b);
    stream.onClose = (err) => this.shutdown(err ?? new Error("ubus: ubusd closed the connection"));
  }

  /** Waits for ubusd's HELLO on a freshly connected stream. */
  static connect(stream: ByteStream, opts: UbusOptions = {}): Promise<UbusConnection> {
    const c = new UbusConnection(stream, opts);
    return new Promise((resolve, reject) => {
      c.hello = (err) => (err ? reject(err) : resolve(c));
    });
  }

  close(): void {
    this.stream.close();
    this.shutdown(new Error("ubus: connection closed"));
  }

  /** Objects at `path` (a trailing * matches a prefix; none means all). */
  async lookup(path?: string): Promise<ObjectInfo[]> {
    if (path === "") throw new Error("ubus: lookup of an empty path"); // ubusd answers that with INVALID_ARGUMENT
    const { data } = await this.request(MSG.LOOKUP, 0, path === undefined ? [] : [attr.string(ATTR.OBJPATH, path)], `lookup ${path ?? "*"}`);
    const out: ObjectInfo[] = [];
    for (const m of data) {
      const a = m.attrs;
      if (a.objid === undefined || a.objpath === undefined || a.objtype === undefined) continue; // as libubus's lookup callback
      const signature = (a.signature ? decodeBlobmsgTable(a.signature, `signature of ${a.objpath}`) : {}) as ObjectInfo["signature"];
      out.push({ path: a.objpath, id: a.objid, typeId: a.objtype, signature });
    }
    return out;
  }

  /**
   * Throws NOT_FOUND when there is no such object, PERMISSION_DENIED when
   * ubusd's ACL hides it: ubusd then answers the lookup with success but
   * sends no object (ubusd_send_obj leaves out one whose every method the
   * caller may not access), where libubus's lookup_id would give id 0.
   */
  async lookupId(path: string): Promise<number> {
    const [obj] = await this.lookup(path);
    if (!obj) throw new UbusError(path.endsWith("*") ? STATUS.NOT_FOUND : STATUS.PERMISSION_DENIED, `ubus: lookup ${path}`);
    return obj.id;
  }

  /** Calls `method` on object `objId`; resolves with its reply (undefined when it sent none). */
  async invoke(objId: number, method: string, args: BlobmsgTable = {}): Promise<BlobmsgTable | undefined> {
    const attrs = [attr.u32(ATTR.OBJID, objId), attr.string(ATTR.METHOD, method), attr.nested(ATTR.DATA, encodeBlobmsgTable(args))];
    const what = `ubus: call ${objId.toString(16).padStart(8, "0")} ${method}`;
    const { data } = await this.request(MSG.INVOKE, objId, attrs, what);
    const replies = data.filter((m) => m.attrs.data !== undefined);
    if (replies.length > 1) this.log(`${what}: ${replies.length} replies, using the first`);
    return replies[0] && decodeBlobmsgTable(replies[0].attrs.data!, `reply to ${method}`);
  }

  /** `ubus call PATH METHOD ARGS`. */
  async call(path: string, method: string, args: BlobmsgTable = {}): Promise<BlobmsgTable | undefined> {
    return this.invoke(await this.lookupId(path), method, args);
  }

  async addObject(path: string, methods: Record<string, MethodSpec>): Promise<PublishedObject> {
    const sig = Object.fromEntries(Object.entries(methods).map(([name, m]) => [name, m.args ?? {}]));
    const attrs = [attr.string(ATTR.OBJPATH, path), attr.nested(ATTR.SIGNATURE, encodeBlobmsgTable(sig))];
    const ids = await this.addRaw(attrs, `ubus: add object ${path}`);
    const local: LocalObject = { id: ids.id, methods };
    const self = this;
    local.published = {
      path,
      id: ids.id,
      typeId: ids.typeId,
      hasSubscribers: false,
      onSubscribers: () => {},
      notify: (type, data = {}, opts = {}) => self.notify(ids.id, path, type, data, opts.wait === true),
      remove: () => self.removeObject(ids.id, `ubus: remove object ${path}`),
    };
    this.objects.set(ids.id, local);
    return local.published;
  }

  /** Subscribes to the object at `path`; `notified` gets each notification. */
  async subscribe(path: string, notified: Notified, gone: () => void = () => {}): Promise<Subscription> {
    const target = await this.lookupId(path);
    const { id } = await this.addRaw([], `ubus: add subscriber for ${path}`);
    this.objects.set(id, { id, notified, gone });
    const pair = [attr.u32(ATTR.OBJID, id), attr.u32(ATTR.TARGET, target)];
    await this.request(MSG.SUBSCRIBE, 0, pair, `ubus: subscribe to ${path}`);
    return {
      id,
      target,
      unsubscribe: async () => {
        await this.request(MSG.UNSUBSCRIBE, 0, pair, `ubus: unsubscribe from ${path}`);
        await this.removeObject(id, `ubus: remove subscriber for ${path}`);
      },
    };
  }

  private async addRaw(attrs: Uint8Array[], what: string): Promise<{ id: number; typeId: number }> {
    const { data } = await this.request(MSG.ADD_OBJECT, 0, attrs, what);
    const reply = data.find((m) => m.attrs.objid !== undefined);
    if (!reply) throw new UbusError(STATUS.NO_DATA, what); // what libubus returns when no OBJID came
    return { id: reply.attrs.objid!, typeId: reply.attrs.objtype ?? 0 };
  }

  private async removeObject(id: number, what: string): Promise<void> {
    await this.request(MSG.REMOVE_OBJECT, 0, [attr.u32(ATTR.OBJID, id)], what);
    this.objects.delete(id);
  }

  private async notify(id: number, path: string, type: string, data: BlobmsgTable, wait: boolean): Promise<number> {
    const attrs = [attr.u32(ATTR.OBJID, id), attr.string(ATTR.METHOD, type), attr.nested(ATTR.DATA, encodeBlobmsgTable(data))];
    const what = `ubus: notify ${path} ${type}`;
    if (!wait) {
      this.send(MSG.NOTIFY, this.nextSeq(), id, [...attrs, attr.u8(ATTR.NO_REPLY, 1)]);
      return 0;
    }
    const { count } = await this.request(MSG.NOTIFY, id, attrs, what, true);
    return count;
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) & 0xffff;
    return this.seq;
  }

  private request(type: number, peer: number, attrs: Uint8Array[], what: string, notify = false): Promise<{ data: UbusMessage[]; count: number }> {
    if (this.closed) return Promise.reject(new UbusError(STATUS.CONNECTION_FAILED, what));
    const seq = this.nextSeq();
    const bytes = encodeMessage({ type, seq, peer }, attrs);
    return new Promise((resolve, reject) => {
      let cancelTimer = () => {};
      const p: Pending = {
        seq,
        peer,
        what,
        data: [],
        done: (err, status) => {
          const i = this.pending.indexOf(p);
          if (i < 0) return;
          this.pending.splice(i, 1);
          cancelTimer();
          const code = status?.attrs.status ?? STATUS.INVALID_ARGUMENT; // libubus's default when STATUS lacks the attribute
          if (err) reject(err);
          else if (code !== STATUS.OK) reject(new UbusError(code, what, type === MSG.INVOKE ? this.errorData(p.data, what) : undefined));
          else resolve({ data: p.data, count: p.notify?.count ?? 0 });
        },
      };
      if (notify) p.notify = { waiting: new Set([peer]), count: 0 };
      this.pending.push(p);
      const { setTimer, timeoutMs = 30_000 } = this.opts;
      if (setTimer) cancelTimer = setTimer(timeoutMs, () => p.done(new UbusError(STATUS.TIMEOUT, what)));
      this.stream.write(bytes);
    });
  }

  /** The reply that came with an error status, if any and if it decodes. */
  private errorData(data: UbusMessage[], what: string): BlobmsgTable | undefined {
    const m = data.find((d) => d.attrs.data !== undefined);
    if (!m) return undefined;
    try {
      return decodeBlobmsgTable(m.attrs.data!, `error reply to ${what}`);
    } catch (e) {
      this.log(`${what}: ${(e as Error).message}`);
      return undefined;
    }
  }

  private send(type: number, seq: number, peer: number, attrs: Uint8Array[]): void {
    if (!this.closed) this.stream.write(encodeMessage({ type, seq, peer }, attrs));
  }

  private receive(chunk: Uint8Array): void {
    let frames: Uint8Array[];
    try {
      frames = this.framer.push(chunk);
    } catch (e) {
      // No way to find the next message boundary: the stream is lost.
      this.log(`ubus: ${(e as Error).message}; closing the connection`);
      this.stream.close();
      this.shutdown(e as Error);
      return;
    }
    for (const f of frames) {
      if (this.closed) return;
      let m: UbusMessage;
      try {
        m = decodeMessage(f, UBUS_MAX_RECEIVED);
      } catch (e) {
        this.malformed(f, e as Error);
        continue;
      }
      this.dispatch(m);
    }
  }

  /** A framed message whose attributes do not parse: fail the request it answers, if any, and go on. */
  private malformed(frame: Uint8Array, err: Error): void {
    const hdr = { type: frame[1]!, seq: (frame[2]! << 8) | frame[3]!, peer: ((frame[4]! << 24) | (frame[5]! << 16) | (frame[6]! << 8) | frame[7]!) >>> 0 };
    this.log(`ubus: dropped a malformed message (${describeHeader(hdr)}): ${err.message}`);
    if (hdr.type !== MSG.STATUS && hdr.type !== MSG.DATA) return;
    const p = this.findPending(hdr.seq, hdr.peer);
    p?.done(new Error(`${p.what}: malformed reply: ${err.message}`));
  }

  private dispatch(m: UbusMessage): void {
    if (this.hello) {
      const hello = this.hello;
      this.hello = undefined;
      if (m.type !== MSG.HELLO) {
        const err = new Error(`ubus: expected HELLO from ubusd, got ${describeHeader(m)}`);
        this.stream.close();
        this.shutdown(err);
        hello(err);
        return;
      }
      this.peerId = m.peer;
      hello(null);
      return;
    }
    switch (m.type) {
      case MSG.STATUS:
      case MSG.DATA:
        return this.onReply(m);
      case MSG.INVOKE:
        return void this.onInvoke(m);
      case MSG.NOTIFY:
        return this.onSubscribers(m);
      case MSG.UNSUBSCRIBE:
        return this.onUnsubscribe(m);
      default:
        this.log(`ubus: ignored ${describeHeader(m)}`);
    }
  }

  private findPending(seq: number, peer: number): Pending | undefined {
    return this.pending.find((p) => p.seq === seq && (p.notify ? p.notify.waiting.has(peer) : p.peer === peer));
  }

  private onReply(m: UbusMessage): void {
    const p = this.findPending(m.seq, m.peer);
    if (!p) return this.log(`ubus: ignored ${describeHeader(m)}: no request waits for it`);
    if (m.type === MSG.DATA) {
      p.data.push(m);
      return;
    }
    if (!p.notify) return p.done(null, m);
    // NOTIFY: ubusd answers first, under the object's id, listing the
    // subscribers; then each subscriber's STATUS arrives under its own id.
    const n = p.notify;
    n.waiting.delete(m.peer);
    if (m.peer === p.peer) {
      if ((m.attrs.status ?? STATUS.INVALID_ARGUMENT) !== STATUS.OK) return p.done(null, m);
      for (const s of m.attrs.subscribers ?? []) n.waiting.add(s);
      n.count = m.attrs.subscribers?.length ?? 0;
    } else if (m.attrs.status !== STATUS.OK) {
      this.log(`${p.what}: subscriber ${m.peer.toString(16)} answered ${statusText(m.attrs.status ?? -1)}`);
    }
    if (n.waiting.size === 0) p.done(null, { ...m, attrs: { status: STATUS.OK } });
  }

  private async onInvoke(m: UbusMessage): Promise<void> {
    const a = m.attrs;
    if (a.objid === undefined) return this.log(`ubus: ignored ${describeHeader(m)} without OBJID`); // as libubus
    const obj = this.objects.get(a.objid);
    const objid = obj ? obj.id : 0; // libubus answers an unknown object with id 0
    const where = `ubus: ${obj?.published?.path ?? "subscriber"} ${a.method ?? "(no method)"} from ${m.peer.toString(16)}`;
    const answer = (status: number, data?: BlobmsgTable) => {
      if (a.noReply) return;
      let reply: Uint8Array | undefined;
      try {
        if (data) reply = this.dataMessage(m, objid, data);
      } catch (e) {
        // Too large for ubus, or not encodable: the caller still gets an answer, and the reason.
        this.log(`${where}: ${(e as Error).message}`);
        status = STATUS.UNKNOWN_ERROR;
        reply = this.dataMessage(m, objid, { error: `${a.method}: ${(e as Error).message}` });
      }
      if (reply && !this.closed) this.stream.write(reply);
      this.send(MSG.STATUS, m.seq, m.peer, [attr.u32(ATTR.STATUS, status), attr.u32(ATTR.OBJID, objid)]);
    };
    if (!obj) return answer(STATUS.NOT_FOUND);
    if (a.method === undefined) return answer(STATUS.INVALID_ARGUMENT);
    const method = a.method;
    const spec = obj.methods && Object.prototype.hasOwnProperty.call(obj.methods, method) ? obj.methods[method] : undefined;
    if (!spec && !obj.notified) return answer(STATUS.METHOD_NOT_FOUND);
    if (a.data === undefined) return answer(STATUS.INVALID_ARGUMENT);
    const ctx: InvokeContext = { method, peer: m.peer, ...(a.user !== undefined && { user: a.user }), ...(a.group !== undefined && { group: a.group }) };
    let args: BlobmsgTable;
    try {
      args = decodeBlobmsgTable(a.data, "args");
      if (spec) checkArgs(args, spec.args ?? {});
    } catch (e) {
      this.log(`${where}: ${(e as Error).message}`);
      return answer(STATUS.INVALID_ARGUMENT);
    }
    let reply: BlobmsgTable | void;
    try {
      if (!spec) {
        obj.notified!(method, args, ctx);
        return answer(STATUS.OK);
      }
      reply = await spec.handler(args, ctx);
      if (reply !== undefined && (typeof reply !== "object" || reply === null || Array.isArray(reply))) {
        throw new Error(`the handler returned ${Array.isArray(reply) ? "an array" : String(reply)}, not an object`);
      }
    } catch (e) {
      if (e instanceof UbusError) return answer(e.status, e.data);
      this.log(`${where}: ${(e as Error).message}`);
      return answer(STATUS.UNKNOWN_ERROR);
    }
    answer(STATUS.OK, reply ?? undefined);
  }

  /** The DATA half of an answer to `m`; throws when `data` does not encode or exceeds UBUS_MAX_MSGLEN. */
  private dataMessage(m: UbusMessage, objid: number, data: BlobmsgTable): Uint8Array {
    const attrs = [attr.u32(ATTR.OBJID, objid), attr.nested(ATTR.DATA, encodeBlobmsgTable(data))];
    const size = attrs[0]!.length + attrs[1]!.length + 4;
    if (size > UBUS_MAX_MSGLEN) throw new Error(`the reply (${size} bytes) exceeds ubus's limit on a message (UBUS_MAX_MSGLEN, ${UBUS_MAX_MSGLEN} bytes)`);
    return encodeMessage({ type: MSG.DATA, seq: m.seq, peer: m.peer }, attrs);
  }

  private onSubscribers(m: UbusMessage): void {
    const obj = m.attrs.objid !== undefined ? this.objects.get(m.attrs.objid) : undefined;
    if (!obj?.published || m.attrs.active === undefined) return this.log(`ubus: ignored ${describeHeader(m)}`);
    obj.published.hasSubscribers = m.attrs.active;
    obj.published.onSubscribers(m.attrs.active);
  }

  private onUnsubscribe(m: UbusMessage): void {
    const obj = m.attrs.objid !== undefined ? this.objects.get(m.attrs.objid) : undefined;
    if (!obj?.gone || m.attrs.target === undefined) return this.log(`ubus: ignored ${describeHeader(m)}`);
    obj.gone();
  }

  private shutdown(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    if (this.framer.pending) this.log(`ubus: the connection ended inside a message (${this.framer.pending} bytes)`);
    this.hello?.(err);
    this.hello = undefined;
    for (const p of [...this.pending]) p.done(new UbusError(STATUS.CONNECTION_FAILED, p.what));
    this.onClose(err);
  }
}

/** Declared arguments, when present, must be of their declared kind. */
function checkArgs(args: BlobmsgTable, decl: Record<string, number>): void {
  for (const [name, type] of Object.entries(decl)) {
    if (!Object.prototype.hasOwnProperty.call(args, name)) continue;
    if (!kindMatches(type, args[name]!)) throw new Error(`argument ${name} is not of type ${typeName(type)}`);
  }
}

function kindMatches(type: number, v: BlobmsgValue): boolean {
  switch (type) {
    case BLOBMSG_TYPE.STRING:
      return typeof v === "string";
    case BLOBMSG_TYPE.BOOL:
      return typeof v === "boolean";
    case BLOBMSG_TYPE.INT16:
    case BLOBMSG_TYPE.INT32:
    case BLOBMSG_TYPE.INT64:
      return (typeof v === "number" && Number.isInteger(v)) || typeof v === "bigint";
    case BLOBMSG_TYPE.DOUBLE:
      return typeof v === "number";
    case BLOBMSG_TYPE.ARRAY:
      return Array.isArray(v);
    case BLOBMSG_TYPE.TABLE:
      return typeof v === "object" && v !== null && !Array.isArray(v);
    default:
      return true;
  }
}

function typeName(type: number): string {
  return Object.entries(BLOBMSG_TYPE).find(([, v]) => v === type)?.[0] ?? String(type);
}
