// The API's two transports with one backend: the ubus object `meshwrt`
// through the ubusd double (fast, with a stand-in backend; the agent itself
// on the real ubusd is test/openwrt/ubus.test.ts), and the local socket's
// line protocol. Both answer alike, both survive
// malformed input, and the CLI's client reads both.
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ApiError } from "../../agent/src/api/errors.js";
import { MAX_LINE } from "../../agent/src/api/line-protocol.js";
import { serveSocket } from "../../agent/src/api/socket-server.js";
import { UbusServer } from "../../agent/src/api/ubus-server.js";
import { callAgent } from "../../agent/src/cli/client.js";
import { UbusConnection, UbusError } from "../../agent/src/ubus/connection.js";
import { STATUS } from "../../agent/src/ubus/message.js";
import { UbusdDouble } from "../ubus/ubusd-double.js";
import { connectStream, listenUnix } from "../support/node-stream.js";
import { ENABLED, rig, type Rig } from "./fixture.js";

const timers = {
  setTimer: (ms: number, fn: () => void) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};
const waitFor = async (what: string, ok: () => boolean, ms = 2000) => {
  for (let i = 0; i < ms / 10 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!ok()) throw new Error(`timed out waiting for ${what}`);
};

const cliHost = { ...timers, connectUnix: (p: string) => connectStream({ path: p }) };

let dir: string;
let r: Rig;
let logs: string[];
const host = () => ({
  ...timers,
  connectUnix: (p: string) => connectStream({ path: p }),
  exists: (p: string) => fs.existsSync(p),
  log: (l: string, m: string) => void logs.push(`${l}: ${m}`),
});

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "meshwrt-api-"));
  r = await rig(ENABLED);
  logs = [];
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("the ubus object meshwrt", () => {
  let ubusd: UbusdDouble;
  let server: UbusServer;
  beforeEach(async () => {
    ubusd = await UbusdDouble.start();
    server = new UbusServer(host(), ubusd.socketPath, r.backend);
    server.start();
    await waitFor("the object", () => ubusd.objectId("meshwrt") !== undefined);
  });
  afterEach(async () => {
    server.stop();
    await ubusd.stop();
  });

  it("publishes every method with its arguments, as `ubus -v list meshwrt` shows them", async () => {
    const c = await UbusConnection.connect(await connectStream({ path: ubusd.socketPath }));
    const [o] = await c.lookup("meshwrt");
    expect(o!.signature).toEqual({
      status: {}, peers: {}, netcheck: {}, devices: {}, up: {}, down: {}, logout: {},
      login: { login_server: 3, auth_key: 3 }, set: { option: 3, value: 3 }, ping: { peer: 3 },
    });
    c.close();
  });

  it("answers every method as `ubus call` would get it, and errors with a status and the reason", async () => {
    const c = await UbusConnection.connect(await connectStream({ path: ubusd.socketPath }));
    expect((await c.call("meshwrt", "status"))!.state).toBe("running");
    expect(await c.call("meshwrt", "peers")).toEqual({ peers: [] });
    expect(await c.call("meshwrt", "devices")).toEqual({ devices: [] });
    expect((await c.call("meshwrt", "netcheck"))!.nat).toBe("unknown");
    expect(await c.call("meshwrt", "set", { option: "log_level", value: "warn" })).toEqual({ option: "log_level", value: "warn", effect: "applied" });
    const err = await c.call("meshwrt", "set", { option: "listen_port", value: "x" }).catch((e: UbusError) => e);
    expect(err).toBeInstanceOf(UbusError);
    expect((err as UbusError).status).toBe(STATUS.INVALID_ARGUMENT);
    expect((err as UbusError).data?.error).toMatch(/^set: meshwrt\.main\.listen_port: "x" /);
    const wrongType = await c.call("meshwrt", "set", { option: 7, value: "1" }).catch((e: UbusError) => e);
    expect((wrongType as UbusError).status).toBe(STATUS.INVALID_ARGUMENT);
    expect((await c.call("meshwrt", "ping", { peer: "phone" }).catch((e: UbusError) => e) as UbusError).status).toBe(STATUS.NOT_FOUND);
    expect((await c.call("meshwrt", "down"))!.state).toBe("stopped");
    expect((await c.call("meshwrt", "up"))!.state).toBe("running");
    c.close();
  });

  it("refuses every write to a caller that is not root, and still answers its reads", async () => {
    const c = await UbusConnection.connect(await connectStream({ path: ubusd.socketPath }));
    ubusd.setCredentials(c.peerId, "nobody", "nogroup");
    expect((await c.call("meshwrt", "status"))!.state).toBe("running");
    for (const [m, a] of [["set", { option: "enabled", value: "0" }], ["down", {}], ["up", {}], ["logout", {}], ["login", { auth_key: "k" }]] as const) {
      const e = (await c.call("meshwrt", m, a).catch((x: UbusError) => x)) as UbusError;
      expect(e.status, m).toBe(STATUS.PERMISSION_DENIED);
      expect(e.data?.error).toBe(`${m}: only root may change meshwrt (caller: nobody)`);
    }
    expect(r.agents[0]!.running).toBe(true);
    expect(r.files.get("/etc/config/meshwrt")).toBe(ENABLED);
    c.close();
  });

  it("notifies subscribers of meshwrt.state when the state changes", async () => {
    const c = await UbusConnection.connect(await connectStream({ path: ubusd.socketPath }));
    const got: unknown[] = [];
    await c.subscribe("meshwrt", (type, data) => got.push([type, data]));
    r.sup.onState = (s) => server.notifyState({ ...s });
    await waitFor("the subscription", () => server["obj"]?.hasSubscribers === true);
    r.agents[0]!.setControl({ kind: "needs-login", authUrl: "https://hs.example/register/x" });
    await waitFor("a notification", () => got.length > 0);
    expect(got).toEqual([["meshwrt.state", { state: "needs-login", authUrl: "https://hs.example/register/x" }]]);
    c.close();
  });

  it("the CLI's client gets the same answers over ubus, and the agent's words on failure", async () => {
    const t = { ubus: ubusd.socketPath };
    expect(await callAgent(cliHost, t, "peers", {})).toEqual({ peers: [] });
    const e = await callAgent(cliHost, t, "set", { option: "nope", value: "1" }).catch((x: ApiError) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect((e as ApiError).code).toBe("invalid-argument");
    expect((e as ApiError).message).toMatch(/^set: meshwrt\.main\.nope: unknown option/);
  });

  it("comes back after ubusd restarts", async () => {
    const sock = ubusd.socketPath;
    await ubusd.stop();
    ubusd = await UbusdDouble.startAt(sock);
    // The agent tries again soon, then backing off to every 5 s.
    await waitFor("the object again", () => ubusd.objectId("meshwrt") !== undefined, 8000);
  }, 15_000);
});

describe("the local socket", () => {
  let sock: string;
  let close: () => void;
  beforeEach(async () => {
    sock = path.join(dir, "meshwrt.sock");
    let listener: ReturnType<typeof listenUnix> | undefined;
    const l = await serveSocket({ ...host(), listenUnix: (p, m) => (listener = listenUnix(p, m)) }, sock, r.backend);
    await listener!.ready;
    close = () => l.close();
  });
  afterEach(() => close());

  /** Sends raw bytes, reads answer lines until `count` arrived or the server hung up. */
  function exchange(bytes: string | Buffer, count: number): Promise<string[]> {
    return new Promise((resolve) => {
      const s = net.connect(sock);
      let buf = "";
      const done = () => {
        s.destroy();
        resolve(buf.split("\n").filter(Boolean));
      };
      s.on("data", (d) => {
        buf += d.toString();
        if (buf.split("\n").length > count) done();
      });
      s.on("close", done);
      s.on("error", done);
      s.write(bytes);
    });
  }

  it("is for root only (mode 0600), and answers requests by id, many on one connection", async () => {
    expect(fs.statSync(sock).mode & 0o777).toBe(0o600);
    const lines = await exchange('{"id":1,"method":"status"}\n{"id":"b","method":"set","args":{"option":"hostname","value":"gw"}}\n', 2);
    const answers = lines.map((l) => JSON.parse(l)).sort((a, b) => String(a.id).localeCompare(String(b.id)));
    expect(answers[0].id).toBe(1);
    expect(answers[0].result.state).toBe("running");
    expect(answers[1]).toEqual({ id: "b", result: { option: "hostname", value: "gw", effect: "restarted" } });
  });

  it("answers malformed requests with an error and keeps serving", async () => {
    const lines = await exchange('not json\n[1]\n{"id":3}\n{"id":4,"method":"frob"}\n\n{"id":5,"method":"status","args":"x"}\n', 5);
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      { id: null, error: { code: "invalid-argument", message: expect.stringMatching(/^request is not JSON: /) } },
      { id: null, error: { code: "invalid-argument", message: "request is not a JSON object" } },
      { id: 3, error: { code: "invalid-argument", message: 'request has no "method" string' } },
      { id: 4, error: { code: "method-not-found", message: expect.stringMatching(/^no method "frob"/) } },
      { id: 5, error: { code: "invalid-argument", message: "status: the arguments must be an object" } },
    ]);
    expect((await callAgent(cliHost, { socket: sock }, "status", {}) as { state: string }).state).toBe("running");
  });

  it("hangs up on a line longer than its limit, after saying why", async () => {
    const lines = await exchange(Buffer.alloc(MAX_LINE + 10, "a"), 1);
    expect(JSON.parse(lines[0]!)).toEqual({ id: null, error: { code: "invalid-argument", message: `a line longer than ${MAX_LINE} bytes` } });
  });

  it("refuses to start where another agent already answers", async () => {
    await expect(serveSocket({ ...host(), listenUnix: listenUnix }, sock, r.backend)).rejects.toThrow(`another meshwrt agent answers on ${sock}`);
  });
});
