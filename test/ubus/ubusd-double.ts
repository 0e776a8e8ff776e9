// A test double of ubusd, for Node: a net.Server on a unix socket in a temp
// directory, for fast unit tests that need to see or forge bytes on the
// wire. It is never the only test of a behaviour: test/openwrt/ubus.test.ts
// checks each of them against OpenWrt's real ubusd, built from its source.
// The double follows ubusd's wire behaviour
// byte for byte as openwrt/ubus commit 3cc98db1 (2025-11-26) defines it in
// ubusd_proto.c, ubusd_obj.c, ubusd_id.c and ubusd_main.c, with libubox
// commit 1aa36ee7's blob and blobmsg layout:
// - HELLO (seq 0, peer = the client's id, empty blob) on accept;
// - every request answered by the client's STATUS message (seq and peer of
//   the request, one STATUS attribute), unless the handler answers itself;
// - attributes parsed as blob_parse_untrusted does with ubusd's policy
//   (a malformed or mistyped attribute is ignored, not an error);
// - ADD_OBJECT → DATA (OBJID[, OBJTYPE]) + STATUS; LOOKUP → one DATA
//   (OBJPATH, OBJID, OBJTYPE, SIGNATURE) per typed object + STATUS; INVOKE
//   forwarded to the object's client with the caller as peer (OBJID, METHOD,
//   USER, GROUP, DATA), its DATA/STATUS forwarded back with peer = OBJID;
//   NOTIFY → STATUS (OBJID, SUBSCRIBERS, STATUS) then an INVOKE per
//   subscriber; SUBSCRIBE/UNSUBSCRIBE with ubusd's ACTIVE notifications;
//   UNSUBSCRIBE to subscribers when a target goes away; PING → DATA echo +
//   STATUS; unknown types → STATUS INVALID_COMMAND;
// - a header whose blob is shorter than 4 bytes or longer than
//   UBUS_MAX_MSGLEN (1 MiB) disconnects the client.
// Left out: ACL files (every client may do everything, as uid 0 may), the
// event, ACL and monitor system objects, fd passing, and send backpressure.
// The caller's USER/GROUP are ubusd's getpwuid/getgrgid of the socket's peer
// credentials, which Node cannot read: they default to root/root and a test
// sets them with setCredentials.
//
// It writes its messages with its own small blob builder, modelled on
// libubox's blob_buf, and not with agent/src/ubus, so that a mistake there
// cannot hide behind the same mistake here.
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const MSG = { HELLO: 0, STATUS: 1, DATA: 2, PING: 3, LOOKUP: 4, INVOKE: 5, ADD_OBJECT: 6, REMOVE_OBJECT: 7, SUBSCRIBE: 8, UNSUBSCRIBE: 9, NOTIFY: 10 };
const A = { STATUS: 1, OBJPATH: 2, OBJID: 3, METHOD: 4, OBJTYPE: 5, SIGNATURE: 6, DATA: 7, TARGET: 8, ACTIVE: 9, NO_REPLY: 10, SUBSCRIBERS: 11, USER: 12, GROUP: 13 } as const;
const ATTR_MAX = 14;
const ST = { OK: 0, INVALID_COMMAND: 1, INVALID_ARGUMENT: 2, NOT_FOUND: 4, PERMISSION_DENIED: 6 };
const UBUS_MAX_MSGLEN = 1048576;
const UBUS_SYSTEM_OBJECT_MAX = 1024;
const NO_ANSWER = -1;

const pad = (n: number) => (n + 3) & ~3;
const u32 = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
const rawLen = (b: Uint8Array, o: number) => u32(b, o) & 0xffffff;

/** libubox's blob_buf: nested attributes whose lengths count their children's padding. */
class BlobBuf {
  private b: number[] = [];
  private open: number[] = [];
  constructor() {
    this.nestStart(0);
  }
  put(id: number, payload: Uint8Array, extended = false): this {
    const len = 4 + payload.length;
    this.b.push(((extended ? 0x80 : 0) | id), (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff, ...payload);
    while (this.b.length % 4) this.b.push(0);
    return this;
  }
  putU32(id: number, v: number): this {
    return this.put(id, Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff));
  }
  putU8(id: number, v: number): this {
    return this.put(id, Uint8Array.of(v));
  }
  putString(id: number, s: string): this {
    return this.put(id, Buffer.from(s + "\0"));
  }
  nestStart(id: number): this {
    this.open.push(this.b.length);
    this.b.push(id, 0, 0, 4);
    return this;
  }
  nestEnd(): this {
    const o = this.open.pop()!;
    const len = this.b.length - o;
    this.b[o + 1] = (len >> 16) & 0xff;
    this.b[o + 2] = (len >> 8) & 0xff;
    this.b[o + 3] = len & 0xff;
    return this;
  }
  /** blobmsg_add_blob: the attribute again, its name cut at the first NUL, as C reads it. */
  putBlobmsg(attr: Uint8Array): this {
    const namelen = (attr[4]! << 8) | attr[5]!;
    const name = attr.subarray(6, 6 + namelen);
    const cut = name.indexOf(0) < 0 ? name : name.subarray(0, name.indexOf(0));
    const hdr = new Uint8Array(pad(2 + cut.length + 1));
    hdr[0] = cut.length >> 8;
    hdr[1] = cut.length & 0xff;
    hdr.set(cut, 2);
    const data = attr.subarray(4 + pad(2 + namelen + 1), rawLen(attr, 0));
    return this.put(attr[0]! & 0x7f, Buffer.concat([hdr, data]), true);
  }
  finish(): Uint8Array {
    this.nestEnd();
    return Uint8Array.from(this.b);
  }
}

interface Msg {
  type: number;
  seq: number;
  peer: number;
  /** The data blob, header included, exactly as received. */
  blob: Uint8Array;
}

interface Client {
  id: number;
  sock: net.Socket;
  user: string;
  group: string;
  objects: Obj[];
  buf: Buffer;
}

interface ObjType {
  id: number;
  refcount: number;
  methods: Uint8Array[];
}

interface Subscription {
  subscriber: Obj;
  target: Obj;
}

interface Obj {
  id: number;
  path?: string;
  type?: ObjType;
  client: Client;
  /** Newest first, as ubusd's list_add keeps them. */
  subscribers: Subscription[];
  targets: Subscription[];
  invokeSeq: number;
}

export interface TraceEntry {
  dir: "in" | "out";
  client: number;
  bytes: Uint8Array;
}

export class UbusdDouble {
  /** Every message received and sent, whole, in order. */
  readonly trace: TraceEntry[] = [];
  private readonly clients = new Map<number, Client>();
  private readonly objects = new Map<number, Obj>();
  private readonly types = new Map<number, ObjType>();
  private readonly paths = new Map<string, Obj>();
  private rng: number;

  private constructor(
    readonly socketPath: string,
    private readonly dir: string,
    private readonly server: net.Server,
    seed: number,
  ) {
    this.rng = seed >>> 0 || 1;
    server.on("connection", (sock) => this.accept(sock));
  }

  /** `seed` makes the ids, which ubusd reads from /dev/urandom, repeatable. */
  static start(seed = 0x75627573): Promise<UbusdDouble> {
    return UbusdDouble.startAt(path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ubusd-double-")), "ubus.sock"), seed);
  }

  /** A ubusd at `sock`, as after a restart of ubusd. */
  static async startAt(sock: string, seed = 0x75627573): Promise<UbusdDouble> {
    fs.mkdirSync(path.dirname(sock), { recursive: true });
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(sock, resolve);
    });
    return new UbusdDouble(sock, path.dirname(sock), server, seed);
  }

  async stop(): Promise<void> {
    for (const c of this.clients.values()) c.sock.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  setCredentials(clientId: number, user: string, group: string): void {
    const c = this.clients.get(clientId);
    if (!c) throw new Error(`ubusd double: no client ${clientId.toString(16)}`);
    c.user = user;
    c.group = group;
  }

  objectId(objPath: string): number | undefined {
    return this.paths.get(objPath)?.id;
  }

  /** ubus_alloc_id: random, at least UBUS_SYSTEM_OBJECT_MAX, unique in its tree. */
  private allocId(taken: Map<number, unknown>): number {
    for (;;) {
      // xorshift32, standing in for /dev/urandom
      this.rng ^= this.rng << 13;
      this.rng ^= this.rng >>> 17;
      this.rng ^= this.rng << 5;
      this.rng >>>= 0;
      if (this.rng >= UBUS_SYSTEM_OBJECT_MAX && !taken.has(this.rng)) return this.rng;
    }
  }

  private accept(sock: net.Socket): void {
    const cl: Client = { id: this.allocId(this.clients), sock, user: "root", group: "root", objects: [], buf: Buffer.alloc(0) };
    this.clients.set(cl.id, cl);
    sock.on("data", (d) => this.receive(cl, d));
    sock.on("close", () => this.disconnect(cl));
    sock.on("error", () => {});
    this.send(cl, MSG.HELLO, 0, cl.id, new BlobBuf().finish());
  }

  private send(cl: Client, type: number, seq: number, peer: number, blob: Uint8Array): void {
    const hdr = Buffer.alloc(8);
    hdr[1] = type;
    hdr.writeUInt16BE(seq & 0xffff, 2);
    hdr.writeUInt32BE(peer >>> 0, 4);
    const bytes = Buffer.concat([hdr, blob]);
    this.trace.push({ dir: "out", client: cl.id, bytes: new Uint8Array(bytes) });
    if (!cl.sock.destroyed) cl.sock.write(bytes);
  }

  /** ubusd_main.c's client_cb: header and blob header first, then exactly blob_raw_len bytes. */
  private receive(cl: Client, d: Buffer): void {
    cl.buf = Buffer.concat([cl.buf, d]);
    while (cl.buf.length >= 12) {
      const len = rawLen(cl.buf, 8);
      if (len < 4 || pad(len) > UBUS_MAX_MSGLEN) {
        cl.sock.destroy();
        return;
      }
      if (cl.buf.length < 8 + len) return;
      const bytes = new Uint8Array(cl.buf.subarray(0, 8 + len));
      cl.buf = cl.buf.subarray(8 + len);
      this.trace.push({ dir: "in", client: cl.id, bytes });
      this.handle(cl, { type: bytes[1]!, seq: (bytes[2]! << 8) | bytes[3]!, peer: u32(bytes, 4), blob: bytes.subarray(8) });
    }
  }

  /** ubusd_proto_receive_message. */
  private handle(cl: Client, ub: Msg): void {
    const retSeq = ub.seq;
    const retPeer = ub.peer;
    const attrs = parseUntrusted(ub.blob);
    let ret: number;
    switch (ub.type) {
      case MSG.PING:
        this.send(cl, MSG.DATA, ub.seq, ub.peer, ub.blob);
        ret = ST.OK;
        break;
      case MSG.ADD_OBJECT: ret = this.addObject(cl, ub, attrs); break;
      case MSG.REMOVE_OBJECT: ret = this.removeObject(cl, ub, attrs); break;
      case MSG.LOOKUP: ret = this.lookup(cl, ub, attrs); break;
      case MSG.INVOKE: ret = this.invoke(cl, ub, attrs); break;
      case MSG.STATUS:
      case MSG.DATA: ret = this.response(cl, ub, attrs); break;
      case MSG.SUBSCRIBE: ret = this.addWatch(cl, attrs); break;
      case MSG.UNSUBSCRIBE: ret = this.removeWatch(cl, attrs); break;
      case MSG.NOTIFY: ret = this.notify(cl, ub, attrs); break;
      default: ret = ST.INVALID_COMMAND;
    }
    if (ret !== NO_ANSWER) this.send(cl, MSG.STATUS, retSeq, retPeer, new BlobBuf().putU32(A.STATUS, ret).finish());
  }

  private addObject(cl: Client, ub: Msg, attrs: Attrs): number {
    let type: ObjType | undefined;
    const sig = attrs[A.SIGNATURE];
    if (attrs[A.OBJTYPE]) type = this.types.get(getU32(attrs[A.OBJTYPE]));
    else if (sig) type = this.createType(sig);
    const obj: Obj = { id: this.allocId(this.objects), client: cl, subscribers: [], targets: [], invokeSeq: 0 };
    if (type) {
      obj.type = type;
      type.refcount++;
    }
    this.objects.set(obj.id, obj);
    if (attrs[A.OBJPATH]) {
      const p = getString(attrs[A.OBJPATH]);
      if (this.paths.has(p)) {
        this.freeObject(obj);
        return ST.INVALID_ARGUMENT;
      }
      obj.path = p;
      this.paths.set(p, obj);
    }
    cl.objects.unshift(obj);
    const b = new BlobBuf().putU32(A.OBJID, obj.id);
    if (attrs[A.SIGNATURE] && obj.type) b.putU32(A.OBJTYPE, obj.type.id);
    this.send(cl, MSG.DATA, ub.seq, ub.peer, b.finish());
    return ST.OK;
  }

  /** ubus_create_obj_type: each method must be a named blobmsg attribute (blob_for_each_attr stops at a broken one). */
  private createType(sig: Uint8Array): ObjType | undefined {
    const type: ObjType = { id: this.allocId(this.types), refcount: 0, methods: [] };
    const end = rawLen(sig, 0);
    for (let o = 4; end - o >= 4 && pad(rawLen(sig, o)) <= end - o && pad(rawLen(sig, o)) >= 4; o += pad(rawLen(sig, o))) {
      const m = sig.subarray(o, o + rawLen(sig, o));
      if (!blobmsgNamedOk(m)) return undefined;
      type.methods.push(m.slice());
    }
    this.types.set(type.id, type);
    return type;
  }

  private removeObject(cl: Client, ub: Msg, attrs: Attrs): number {
    if (!attrs[A.OBJID]) return ST.INVALID_ARGUMENT;
    const obj = this.objects.get(getU32(attrs[A.OBJID]));
    if (!obj) return ST.NOT_FOUND;
    if (obj.client !== cl) return ST.PERMISSION_DENIED;
    const b = new BlobBuf().putU32(A.OBJID, obj.id);
    if (obj.type && obj.type.refcount === 1) b.putU32(A.OBJTYPE, obj.type.id);
    this.send(cl, MSG.DATA, ub.seq, ub.peer, b.finish());
    this.freeObject(obj);
    return ST.OK;
  }

  private sendObj(cl: Client, ub: Msg, obj: Obj): void {
    if (!obj.type) return;
    const b = new BlobBuf().putString(A.OBJPATH, obj.path!).putU32(A.OBJID, obj.id).putU32(A.OBJTYPE, obj.type.id);
    b.nestStart(A.SIGNATURE);
    for (const m of obj.type.methods) b.putBlobmsg(m);
    b.nestEnd();
    this.send(cl, MSG.DATA, ub.seq, ub.peer, b.finish());
  }

  /** In the order of ubusd's AVL tree of paths: strcmp's. */
  private sortedPaths(): Obj[] {
    return [...this.paths.values()].sort((x, y) => Buffer.compare(Buffer.from(x.path!), Buffer.from(y.path!)));
  }

  private lookup(cl: Client, ub: Msg, attrs: Attrs): number {
    if (!attrs[A.OBJPATH]) {
      for (const obj of this.sortedPaths()) this.sendObj(cl, ub, obj);
      return ST.OK;
    }
    const p = getString(attrs[A.OBJPATH]);
    if (!p.length) return ST.INVALID_ARGUMENT;
    if (!p.endsWith("*")) {
      const obj = this.paths.get(p);
      if (!obj) return ST.NOT_FOUND;
      this.sendObj(cl, ub, obj);
      return ST.OK;
    }
    const prefix = Buffer.from(p.slice(0, -1));
    const matches = this.sortedPaths().filter((o) => Buffer.from(o.path!).subarray(0, prefix.length).equals(prefix));
    for (const obj of matches) this.sendObj(cl, ub, obj);
    return matches.length ? ST.OK : ST.NOT_FOUND;
  }

  /** ubusd_forward_invoke: b already holds NO_REPLY when it is a notification. */
  private forwardInvoke(cl: Client, obj: Obj, method: string, ub: Msg, data: Uint8Array | undefined, b: BlobBuf): void {
    b.putU32(A.OBJID, obj.id).putString(A.METHOD, method);
    b.putString(A.USER, cl.user).putString(A.GROUP, cl.group);
    if (data) b.put(A.DATA, data.subarray(4, rawLen(data, 0)));
    this.send(obj.client, MSG.INVOKE, ub.seq, cl.id, b.finish());
  }

  private invoke(cl: Client, ub: Msg, attrs: Attrs): number {
    if (!attrs[A.METHOD] || !attrs[A.OBJID]) return ST.INVALID_ARGUMENT;
    const obj = this.objects.get(getU32(attrs[A.OBJID]));
    if (!obj) return ST.NOT_FOUND;
    this.forwardInvoke(cl, obj, getString(attrs[A.METHOD]), ub, attrs[A.DATA], new BlobBuf());
    return NO_ANSWER;
  }

  private notify(cl: Client, ub: Msg, attrs: Attrs): number {
    if (!attrs[A.METHOD] || !attrs[A.OBJID]) return ST.INVALID_ARGUMENT;
    const noReply = (attrs[A.NO_REPLY]?.[4] ?? 0) !== 0;
    const obj = this.objects.get(getU32(attrs[A.OBJID]));
    if (!obj) return ST.NOT_FOUND;
    if (obj.client !== cl) return ST.PERMISSION_DENIED;
    if (!noReply) {
      const b = new BlobBuf().putU32(A.OBJID, obj.id).nestStart(A.SUBSCRIBERS);
      for (const s of obj.subscribers) b.putU32(0, s.subscriber.id);
      b.nestEnd().putU32(A.STATUS, 0);
      this.send(cl, MSG.STATUS, ub.seq, ub.peer, b.finish());
    }
    const method = getString(attrs[A.METHOD]);
    for (const s of obj.subscribers) {
      const b = new BlobBuf();
      if (noReply) b.putU8(A.NO_REPLY, 1);
      this.forwardInvoke(cl, s.subscriber, method, ub, attrs[A.DATA], b);
    }
    return NO_ANSWER;
  }

  /** ubusd_handle_response: an object's answer goes back to the caller named in peer, from the object's id. */
  private response(cl: Client, ub: Msg, attrs: Attrs): number {
    if (!attrs[A.OBJID] || (ub.type === MSG.STATUS && !attrs[A.STATUS]) || (ub.type === MSG.DATA && !attrs[A.DATA])) return NO_ANSWER;
    const obj = this.objects.get(getU32(attrs[A.OBJID]));
    if (!obj || obj.client !== cl) return NO_ANSWER;
    const to = this.clients.get(ub.peer);
    if (to) this.send(to, ub.type, ub.seq, obj.id, ub.blob);
    return NO_ANSWER;
  }

  private addWatch(cl: Client, attrs: Attrs): number {
    if (!attrs[A.OBJID] || !attrs[A.TARGET]) return ST.INVALID_ARGUMENT;
    const obj = this.objects.get(getU32(attrs[A.OBJID]));
    if (!obj) return ST.NOT_FOUND;
    if (obj.client !== cl) return ST.INVALID_ARGUMENT;
    const target = this.objects.get(getU32(attrs[A.TARGET]));
    if (!target) return ST.NOT_FOUND;
    if (target.client === cl) return ST.INVALID_ARGUMENT;
    if (!target.path && target.client.user !== cl.user && target.client.group !== cl.group) return ST.NOT_FOUND;
    const first = target.subscribers.length === 0;
    const s = { subscriber: obj, target };
    target.subscribers.unshift(s);
    obj.targets.unshift(s);
    if (first) this.notifySubscription(target);
    return ST.OK;
  }

  private removeWatch(cl: Client, attrs: Attrs): number {
    if (!attrs[A.OBJID] || !attrs[A.TARGET]) return ST.INVALID_ARGUMENT;
    const obj = this.objects.get(getU32(attrs[A.OBJID]));
    if (!obj) return ST.NOT_FOUND;
    if (obj.client !== cl) return ST.INVALID_ARGUMENT;
    const s = obj.targets.find((t) => t.target.id === getU32(attrs[A.TARGET]));
    if (!s) return ST.NOT_FOUND;
    this.unsubscribe(s);
    return ST.OK;
  }

  /** ubus_notify_subscription: tells an object's client whether anyone subscribes. */
  private notifySubscription(obj: Obj): void {
    obj.invokeSeq = (obj.invokeSeq + 1) & 0xffff;
    const b = new BlobBuf().putU32(A.OBJID, obj.id).putU8(A.ACTIVE, obj.subscribers.length ? 1 : 0);
    this.send(obj.client, MSG.NOTIFY, obj.invokeSeq, 0, b.finish());
  }

  private unsubscribe(s: Subscription): void {
    s.target.subscribers.splice(s.target.subscribers.indexOf(s), 1);
    s.subscriber.targets.splice(s.subscriber.targets.indexOf(s), 1);
    if (!s.target.subscribers.length) this.notifySubscription(s.target);
  }

  private freeObject(obj: Obj): void {
    for (const s of [...obj.targets]) this.unsubscribe(s);
    for (const s of [...obj.subscribers]) {
      const sub = s.subscriber;
      sub.invokeSeq = (sub.invokeSeq + 1) & 0xffff;
      this.send(sub.client, MSG.UNSUBSCRIBE, sub.invokeSeq, 0, new BlobBuf().putU32(A.OBJID, sub.id).putU32(A.TARGET, obj.id).finish());
      this.unsubscribe(s);
    }
    if (obj.path) this.paths.delete(obj.path);
    const i = obj.client.objects.indexOf(obj);
    if (i >= 0) obj.client.objects.splice(i, 1);
    this.objects.delete(obj.id);
    if (obj.type && --obj.type.refcount <= 0) this.types.delete(obj.type.id);
  }

  private disconnect(cl: Client): void {
    if (!this.clients.has(cl.id)) return;
    for (const obj of [...cl.objects]) this.freeObject(obj);
    this.clients.delete(cl.id);
  }
}

type Attrs = (Uint8Array | undefined)[];

// ubusd's ubus_policy: the blob types its attributes must have; others pass unchecked.
const POLICY: Record<number, "int32" | "string" | "nested"> = {
  [A.SIGNATURE]: "nested",
  [A.OBJTYPE]: "int32",
  [A.OBJPATH]: "string",
  [A.OBJID]: "int32",
  [A.STATUS]: "int32",
  [A.METHOD]: "string",
  [A.USER]: "string",
  [A.GROUP]: "string",
};

/** blob_parse_untrusted with that policy: each attribute, header included, by id; bad ones skipped. */
function parseUntrusted(blob: Uint8Array): Attrs {
  const out: Attrs = [];
  const len = rawLen(blob, 0);
  let o = 4;
  let rem = len - 4;
  while (rem >= 4 && pad(rawLen(blob, o)) <= rem && pad(rawLen(blob, o)) >= 4) {
    const id = (blob[o]! & 0x7f);
    const l = rawLen(blob, o);
    if (id < ATTR_MAX && l <= rem && l >= 4) {
      const payload = blob.subarray(o + 4, o + l);
      const kind = POLICY[id];
      const ok = kind === "int32" ? payload.length === 4 : kind === "string" ? payload.length >= 1 && payload[payload.length - 1] === 0 : true;
      if (ok) out[id] = blob.subarray(o, o + l);
    }
    rem -= pad(l);
    o += pad(l);
  }
  return out;
}

// Callers check presence first, as ubusd does; undefined only satisfies the type checker.
function getU32(a: Uint8Array | undefined): number {
  return a && a.length >= 8 ? u32(a, 4) : 0;
}

function getString(a: Uint8Array | undefined): string {
  const p = a ? a.subarray(4) : new Uint8Array(0);
  return Buffer.from(p.subarray(0, p.indexOf(0) < 0 ? p.length : p.indexOf(0))).toString("utf8");
}

/** blobmsg_check_attr(attr, true): extended, a non-empty NUL-terminated name inside the attribute, a known type of the right size. */
function blobmsgNamedOk(a: Uint8Array): boolean {
  const len = rawLen(a, 0);
  if (len < 4 || !(a[0]! & 0x80) || len - 4 < 2) return false;
  const namelen = (a[4]! << 8) | a[5]!;
  if (!namelen || len - 4 < pad(2 + namelen + 1) || a[6 + namelen] !== 0) return false;
  const id = a[0]! & 0x7f;
  if (id > 8) return false;
  const dlen = len - 4 - pad(2 + namelen + 1);
  const data = a.subarray(4 + pad(2 + namelen + 1), len);
  switch (id) {
    case 3: return dlen >= 1 && data[dlen - 1] === 0;
    case 4: return dlen === 8;
    case 5: return dlen === 4;
    case 6: return dlen === 2;
    case 7: return dlen === 1;
    case 8: return dlen >= 8;
    default: return true;
  }
}
