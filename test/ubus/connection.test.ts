// Our ubus connection end to end through the ubusd test double, fast and
// byte for byte (ubusd-double.ts; test/openwrt/ubus.test.ts does the same
// against the real ubusd): an object
// published by one connection, called by another as `ubus call meshwrt
// status` would, with arguments, replies, error statuses, a refusal by
// USER, notifications to a subscriber, and malformed traffic that the
// connection survives.
import net from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BLOBMSG_TYPE, encodeBlobmsgTable } from "../../agent/src/ubus/blobmsg.js";
import { UbusConnection, UbusError, type InvokeContext, type PublishedObject } from "../../agent/src/ubus/connection.js";
import { ATTR, attr, decodeMessage, encodeMessage, MessageFramer, MSG, STATUS } from "../../agent/src/ubus/message.js";
import type { ByteStream } from "../../agent/src/util/stream.js";
import { connectStream } from "../support/node-stream.js";
import { UbusdDouble } from "./ubusd-double.js";

const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");

let ubusd: UbusdDouble;
let logs: string[];
const open: UbusConnection[] = [];

async function connect(): Promise<UbusConnection> {
  const c = await UbusConnection.connect(await connectStream({ path: ubusd.socketPath }), { log: (m) => logs.push(m) });
  open.push(c);
  return c;
}

beforeEach(async () => {
  ubusd = await UbusdDouble.start();
  logs = [];
});

afterEach(async () => {
  for (const c of open.splice(0)) c.close();
  await ubusd.stop();
});

/** The agent's object, shaped like meshwrt's: a read, a write that wants root, and a failure. */
async function publish(server: UbusConnection, seen: InvokeContext[] = []): Promise<PublishedObject> {
  return server.addObject("meshwrt", {
    status: { handler: () => ({ state: "running", peers: 2, relay: "fra", online: true, rx: 2 ** 40 }) },
    set: {
      args: { option: BLOBMSG_TYPE.STRING, value: BLOBMSG_TYPE.STRING },
      handler: (args, ctx) => {
        seen.push(ctx);
        if (ctx.user !== "root") throw new UbusError(STATUS.PERMISSION_DENIED, "set");
        if (typeof args.option !== "string") throw new UbusError(STATUS.INVALID_ARGUMENT, "set");
        return { [args.option]: args.value ?? null };
      },
    },
    netcheck: { handler: () => Promise.reject(new UbusError(STATUS.NOT_SUPPORTED, "netcheck")) },
    broken: { handler: () => ({ f: (() => 1) as unknown as string }) },
    quiet: { handler: () => undefined },
  });
}

describe("ubus connection through the ubusd double", () => {
  it("learns its client id from HELLO, byte for byte as ubusd sends it", async () => {
    const c = await connect();
    const hello = ubusd.trace.find((t) => t.dir === "out")!;
    expect(toHex(hello.bytes)).toBe("00000000" + c.peerId.toString(16).padStart(8, "0") + "00000004");
    expect(c.peerId).toBeGreaterThanOrEqual(1024);
  });

  it("publishes an object that another connection looks up and calls, with arguments and replies", async () => {
    const server = await connect();
    const client = await connect();
    const obj = await publish(server);
    expect(obj.id).toBe(ubusd.objectId("meshwrt"));
    const [info] = await client.lookup("meshwrt");
    expect(info).toEqual({
      path: "meshwrt",
      id: obj.id,
      typeId: obj.typeId,
      signature: { status: {}, set: { option: 3, value: 3 }, netcheck: {}, broken: {}, quiet: {} },
    });
    expect(await client.call("meshwrt", "status")).toEqual({ state: "running", peers: 2, relay: "fra", online: true, rx: 2 ** 40 });
    expect(await client.invoke(obj.id, "set", { option: "hostname", value: "gw" })).toEqual({ hostname: "gw" });
    expect(await client.invoke(obj.id, "quiet")).toBeUndefined();
    expect((await client.lookup("mesh*")).map((o) => o.path)).toEqual(["meshwrt"]);
    expect((await client.lookup()).map((o) => o.path)).toEqual(["meshwrt"]);
  });

  it("sends what libubus sends and answers as libubus answers, byte for byte", async () => {
    const server = await connect();
    const client = await connect();
    const obj = await publish(server);
    ubusd.trace.length = 0;
    await client.invoke(obj.id, "set", { option: "k", value: "v" });
    const id = u32(obj.id);
    const cid = u32(client.peerId);
    const args = "07" + u24(4 + 36) + toHex(encodeBlobmsgTable({ option: "k", value: "v" }));
    const reply = "07" + u24(4 + 12) + "8300000a00016b0076000000"; // {k: "v"}
    const objid = "03000008" + id;
    const method = "0400000873657400"; // "set"
    const root = "0c000009726f6f7400000000"; // "root", for USER (0c) and GROUP (0d)
    expect(ubusd.trace.map((t) => `${t.dir} ${toHex(t.bytes)}`)).toEqual([
      // the caller's first request: INVOKE, seq 1, peer = the object: OBJID, METHOD, DATA
      "in " + lay(MSG.INVOKE, 1, id, objid, method, args),
      // ubusd forwards it with the caller as peer, USER and GROUP added
      "out " + lay(MSG.INVOKE, 1, cid, objid, method, root, "0d" + root.slice(2), args),
      // our object answers DATA (OBJID, DATA) then STATUS (STATUS, OBJID) to the caller; ubusd relays both from the object
      "in " + lay(MSG.DATA, 1, cid, objid, reply),
      "out " + lay(MSG.DATA, 1, id, objid, reply),
      "in " + lay(MSG.STATUS, 1, cid, "0100000800000000", objid),
      "out " + lay(MSG.STATUS, 1, id, "0100000800000000", objid),
    ]);
  });

  it("answers errors with their status: the handler's, unknown methods, bad arguments, unknown objects", async () => {
    const server = await connect();
    const client = await connect();
    const obj = await publish(server);
    const status = (p: Promise<unknown>) => p.then(() => -1, (e: UbusError) => e.status);
    expect(await status(client.invoke(obj.id, "netcheck"))).toBe(STATUS.NOT_SUPPORTED);
    expect(await status(client.invoke(obj.id, "nosuch"))).toBe(STATUS.METHOD_NOT_FOUND);
    expect(await status(client.invoke(obj.id, "set", { option: 7 }))).toBe(STATUS.INVALID_ARGUMENT);
    expect(logs.some((l) => /meshwrt set from [0-9a-f]+: argument option is not of type STRING/.test(l))).toBe(true);
    expect(await status(client.invoke(obj.id, "broken"))).toBe(STATUS.UNKNOWN_ERROR);
    expect(logs.some((l) => /meshwrt broken .*\$\.f is function/.test(l))).toBe(true);
    expect(await status(client.invoke(0x7fff0001, "status"))).toBe(STATUS.NOT_FOUND);
    expect(await status(client.call("nosuch", "status"))).toBe(STATUS.NOT_FOUND);
    await expect(client.invoke(obj.id, "netcheck")).rejects.toThrow(/call [0-9a-f]{8} netcheck: Operation not supported/);
    expect(await status(server.addObject("meshwrt", {}))).toBe(STATUS.INVALID_ARGUMENT); // the path is taken
    expect(await client.call("meshwrt", "status")).toMatchObject({ state: "running" }); // and it all goes on
  });

  it("tells the handler the caller's USER and GROUP, so it can refuse writes", async () => {
    const server = await connect();
    const client = await connect();
    const seen: InvokeContext[] = [];
    const obj = await publish(server, seen);
    ubusd.setCredentials(client.peerId, "nobody", "nogroup");
    await expect(client.invoke(obj.id, "set", { option: "hostname", value: "x" })).rejects.toMatchObject({ status: STATUS.PERMISSION_DENIED });
    expect(seen).toEqual([{ method: "set", peer: client.peerId, user: "nobody", group: "nogroup" }]);
    ubusd.setCredentials(client.peerId, "root", "root");
    expect(await client.invoke(obj.id, "set", { option: "hostname", value: "x" })).toEqual({ hostname: "x" });
  });

  it("delivers notifications to a subscriber and follows ubusd's subscriber state", async () => {
    const server = await connect();
    const watcher = await connect();
    const obj = await publish(server);
    const active: boolean[] = [];
    obj.onSubscribers = (a) => active.push(a);
    expect(await obj.notify("meshwrt.state", { state: "idle" }, { wait: true })).toBe(0); // nobody listens yet
    const got: [string, unknown][] = [];
    const sub = await watcher.subscribe("meshwrt", (type, data) => got.push([type, data]));
    await until(() => obj.hasSubscribers);
    expect(active).toEqual([true]);
    expect(await obj.notify("meshwrt.state", { state: "running", peers: 3 }, { wait: true })).toBe(1);
    expect(got).toEqual([["meshwrt.state", { state: "running", peers: 3 }]]);
    expect(await obj.notify("meshwrt.state", { state: "stopping" })).toBe(0); // NO_REPLY: sent, not awaited
    await until(() => got.length === 2);
    expect(got[1]).toEqual(["meshwrt.state", { state: "stopping" }]);
    await sub.unsubscribe();
    await until(() => !obj.hasSubscribers);
    expect(active).toEqual([true, false]);
  });

  it("tells a subscriber when its target goes away", async () => {
    const server = await connect();
    const watcher = await connect();
    const obj = await publish(server);
    let gone = false;
    await watcher.subscribe("meshwrt", () => {}, () => (gone = true));
    await obj.remove();
    await until(() => gone);
    await expect(watcher.call("meshwrt", "status")).rejects.toMatchObject({ status: STATUS.NOT_FOUND });
  });

  it("answers a malformed call from a raw client with INVALID_ARGUMENT, logs why, and goes on", async () => {
    const server = await connect();
    const obj = await publish(server);
    const raw = await rawClient();
    // DATA holding an INT32 of 3 bytes: ubusd forwards DATA untouched.
    const bad = Uint8Array.from([0x85, 0, 0, 0x0b, 0, 1, 0x61, 0, 0, 0, 1, 0]);
    raw.send(encodeMessage({ type: MSG.INVOKE, seq: 9, peer: obj.id }, [attr.u32(ATTR.OBJID, obj.id), attr.string(ATTR.METHOD, "status"), attr.nested(ATTR.DATA, bad)]));
    const reply = await raw.next();
    expect(reply).toMatchObject({ type: MSG.STATUS, seq: 9, peer: obj.id, attrs: { status: STATUS.INVALID_ARGUMENT, objid: obj.id } });
    expect(logs.some((l) => /meshwrt status from [0-9a-f]+: blobmsg: args\.a: INT32 needs 4 bytes, has 3/.test(l))).toBe(true);
    // No DATA at all, which libubus also refuses.
    raw.send(encodeMessage({ type: MSG.INVOKE, seq: 10, peer: obj.id }, [attr.u32(ATTR.OBJID, obj.id), attr.string(ATTR.METHOD, "status")]));
    expect((await raw.next()).attrs.status).toBe(STATUS.INVALID_ARGUMENT);
    // A type ubusd does not know.
    raw.send(encodeMessage({ type: 42, seq: 11, peer: 0 }, []));
    expect((await raw.next()).attrs.status).toBe(STATUS.INVALID_COMMAND);
    const client = await connect();
    expect(await client.invoke(obj.id, "status")).toMatchObject({ state: "running" });
    raw.close();
  });

  it("fails pending requests when the connection ends", async () => {
    const server = await connect();
    const client = await connect();
    const obj = await server.addObject("slow", { wait: { handler: () => new Promise(() => {}) } });
    const call = client.invoke(obj.id, "wait");
    await until(() => ubusd.trace.some((t) => t.dir === "out" && t.bytes[1] === MSG.INVOKE));
    client.close();
    await expect(call).rejects.toMatchObject({ status: STATUS.CONNECTION_FAILED });
    await expect(client.lookup("slow")).rejects.toMatchObject({ status: STATUS.CONNECTION_FAILED });
  });
});

describe("ubus connection against a misbehaving ubusd (in-memory stream)", () => {
  function fakeUbusd(): { stream: ByteStream; sent: Uint8Array[]; push(b: Uint8Array): void; closed: () => boolean } {
    const sent: Uint8Array[] = [];
    let closed = false;
    const stream: ByteStream = { write: (b) => void sent.push(b), close: () => void (closed = true), onData: () => {}, onClose: () => {} };
    return { stream, sent, push: (b) => stream.onData(b), closed: () => closed };
  }
  const hello = (id: number) => encodeMessage({ type: MSG.HELLO, seq: 0, peer: id }, []);

  it("fails the request a malformed reply answers, logs it, and keeps the connection", async () => {
    const u = fakeUbusd();
    const log: string[] = [];
    const conn = UbusConnection.connect(u.stream, { log: (m) => log.push(m) });
    u.push(hello(0x1234));
    const c = await conn;
    const p = c.lookup("x");
    const seq = decodeMessage(u.sent[0]!).seq;
    // STATUS whose OBJID is 2 bytes long
    u.push(Uint8Array.from([0, MSG.STATUS, seq >> 8, seq & 0xff, 0, 0, 0, 0, 0, 0, 0, 12, 3, 0, 0, 6, 0, 0, 0, 0]));
    await expect(p).rejects.toThrow(/lookup x: malformed reply: ubus: attribute OBJID must be 4 bytes, is 2/);
    expect(log[0]).toMatch(/dropped a malformed message \(STATUS seq 1 peer 00000000\)/);
    const q = c.lookup("y");
    const seq2 = decodeMessage(u.sent[1]!).seq;
    u.push(encodeMessage({ type: MSG.STATUS, seq: seq2, peer: 0 }, [attr.u32(ATTR.STATUS, STATUS.NOT_FOUND)]));
    await expect(q).rejects.toMatchObject({ status: STATUS.NOT_FOUND });
  });

  it("closes on a header it cannot frame past, failing what waits", async () => {
    const u = fakeUbusd();
    const log: string[] = [];
    const conn = UbusConnection.connect(u.stream, { log: (m) => log.push(m) });
    u.push(hello(0x1234));
    const c = await conn;
    let ended: Error | undefined;
    c.onClose = (e) => (ended = e);
    const p = c.lookup("x");
    u.push(Uint8Array.from([1, MSG.STATUS, 0, 1, 0, 0, 0, 0, 0, 0, 0, 4]));
    await expect(p).rejects.toMatchObject({ status: STATUS.CONNECTION_FAILED });
    expect(u.closed()).toBe(true);
    expect(ended?.message).toMatch(/message version 1, expected 0/);
    expect(log.join("\n")).toMatch(/message version 1, expected 0; closing the connection/);
  });

  it("refuses a first message that is not HELLO", async () => {
    const u = fakeUbusd();
    const conn = UbusConnection.connect(u.stream);
    u.push(encodeMessage({ type: MSG.STATUS, seq: 0, peer: 0 }, []));
    await expect(conn).rejects.toThrow(/expected HELLO from ubusd, got STATUS seq 0 peer 00000000/);
  });

  it("times a request out through the host's timer", async () => {
    const u = fakeUbusd();
    const timers: (() => void)[] = [];
    const conn = UbusConnection.connect(u.stream, { setTimer: (_ms, fn) => (timers.push(fn), () => {}), timeoutMs: 5 });
    u.push(hello(1));
    const c = await conn;
    const p = c.invoke(77, "status");
    timers[0]!();
    await expect(p).rejects.toMatchObject({ status: STATUS.TIMEOUT });
    await expect(p).rejects.toThrow(/call 0000004d status: Request timed out/);
  });
});

const u32 = (v: number) => v.toString(16).padStart(8, "0");
const u24 = (v: number) => v.toString(16).padStart(6, "0");

/** A message laid out by hand: header, then the id-0 blob around attributes given as padded hex. */
function lay(type: number, seq: number, peer: string, ...attrs: string[]): string {
  const body = attrs.join("");
  return "00" + type.toString(16).padStart(2, "0") + seq.toString(16).padStart(4, "0") + peer + "00" + u24(4 + body.length / 2) + body;
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
}

/** A client that speaks raw bytes to the double, for messages our connection would never send. */
async function rawClient(): Promise<{ send(b: Uint8Array): void; next(): Promise<ReturnType<typeof decodeMessage>>; close(): void }> {
  const sock = net.connect(ubusd.socketPath);
  const framer = new MessageFramer();
  const queue: Uint8Array[] = [];
  let wake = () => {};
  sock.on("data", (d) => {
    queue.push(...framer.push(new Uint8Array(d)));
    wake();
  });
  await new Promise((r) => sock.once("connect", r));
  const next = async () => {
    while (!queue.length) await new Promise<void>((r) => (wake = r));
    return decodeMessage(queue.shift()!);
  };
  expect((await next()).type).toBe(MSG.HELLO);
  return { send: (b) => void sock.write(b), next, close: () => void sock.destroy() };
}
