// Registration over a router's life, as tailscale's client does it: the auth
// key goes only with a node key the server has not taken yet, and a tailnet
// with device approval is waited for, not retried. A control session double
// (register and the map poll answered by the test) stands in for the server;
// the real-server side of this is Headscale in test/integration.
import { describe, expect, it, vi } from "vitest";
import type { ByteStream } from "../../agent/src/util/stream.js";
import { resetSession, sessionDouble } from "./session-double.js";

vi.mock("../../agent/src/control/server.js", async (orig) => (await import("./session-double.js")).serverModule(await orig<object>()));
vi.mock("../../agent/src/control/ts2021.js", async () => (await import("./session-double.js")).ts2021Module);
vi.mock("../../agent/src/control/session.js", async () => (await import("./session-double.js")).sessionModule);

const { Controller } = await import("../../agent/src/control/controller.js");
type State = InstanceType<typeof Controller>["current"];


let seed = 1; // every key of every router in this file differs

/** A router: its keys file, its log, the delays it slept; timers of 20 s and more (deadlines, watchdog) never fire. */
function router(keysFile: { text: string | null }, authKey = "tskey-auth-first") {
  const logs: string[] = [];
  const states: State[] = [];
  const c = new Controller(
    {
      dial: async () => ({ close() {} }) as unknown as ByteStream,
      random: (n: number) => new Uint8Array(n).fill(seed++ & 0xff),
      now: () => Date.now(),
      setTimer: (ms: number, fn: () => void) => {
        if (ms >= 20_000) return () => {};
        const t = setTimeout(fn, 5);
        return () => clearTimeout(t);
      },
      log: (l: string, m: string) => void logs.push(`${l} ${m}`),
      loadKeys: () => keysFile.text,
      saveKeys: async (t: string) => void (keysFile.text = t),
    },
    { loginServer: "http://127.0.0.1:9", authKey, hostinfo: { OS: "linux", Hostname: "r" } },
  );
  c.onState = (s) => void states.push(s);
  return { c, logs, states };
}

const until = async (cond: () => boolean) => {
  for (let i = 0; i < 300 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
};
const authKeys = () => sessionDouble.registers.map((r) => r.Auth?.AuthKey ?? "none");
/** The server drops the map stream: the router reconnects and registers again. */
const dropStream = () => sessionDouble.polls.at(-1)!.onEnd(new Error("map stream: connection reset"));

describe("the auth key goes only with a node key the server has not taken (a control session double)", () => {
  it("a new node sends it once; reconnects and a restarted agent register without it", async () => {
    resetSession(() => ({ MachineAuthorized: true }));
    const keys = { text: null as string | null };
    const r = router(keys);
    r.c.start();
    await until(() => sessionDouble.polls.length === 1);
    expect(r.c.current.kind).toBe("running");
    expect(JSON.parse(keys.text!).registered).toBe(true);
    dropStream();
    await until(() => sessionDouble.polls.length === 2);
    r.c.stop();
    const again = router(keys); // the agent restarted: same keys file
    again.c.start();
    await until(() => sessionDouble.polls.length === 3);
    again.c.stop();
    expect(authKeys()).toEqual(["tskey-auth-first", "none", "none"]);
    expect(new Set(sessionDouble.registers.map((q) => q.NodeKey)).size).toBe(1);
  });

  it("a keys file from before the field registers with the key once more, then without", async () => {
    resetSession(() => ({ MachineAuthorized: true }));
    const keys = { text: null as string | null };
    const first = router(keys);
    first.c.start();
    await until(() => sessionDouble.polls.length === 1);
    first.c.stop();
    const old = JSON.parse(keys.text!);
    delete old.registered;
    keys.text = JSON.stringify(old);
    resetSession(() => ({ MachineAuthorized: true }));
    const r = router(keys);
    r.c.start();
    await until(() => sessionDouble.polls.length === 1);
    dropStream();
    await until(() => sessionDouble.polls.length === 2);
    r.c.stop();
    expect(authKeys()).toEqual(["tskey-auth-first", "none"]);
  });

  it("an expired node key: a new node key registers with the auth key now configured (a new one from UCI)", async () => {
    resetSession(() => ({ MachineAuthorized: true }));
    const keys = { text: null as string | null };
    const first = router(keys);
    first.c.start();
    await until(() => sessionDouble.polls.length === 1);
    first.c.stop();
    const oldNodeKey = sessionDouble.registers[0]!.NodeKey;
    resetSession((req) => (req.NodeKey === oldNodeKey ? { NodeKeyExpired: true } : { MachineAuthorized: true }));
    const r = router(keys, "tskey-auth-second");
    r.c.start();
    await until(() => sessionDouble.polls.length === 1);
    dropStream();
    await until(() => sessionDouble.polls.length === 2);
    r.c.stop();
    expect(authKeys()).toEqual(["none", "tskey-auth-second", "none"]);
    expect(sessionDouble.registers[1]!.OldNodeKey).toBe(oldNodeKey);
    expect(sessionDouble.registers[1]!.NodeKey).not.toBe(oldNodeKey);
    expect(r.c.current.kind).toBe("stopped");
  });

  it("a server that forgot the node (asks for a login) gets the configured key at once, not a login link", async () => {
    resetSession(() => ({ MachineAuthorized: true }));
    const keys = { text: null as string | null };
    const first = router(keys);
    first.c.start();
    await until(() => sessionDouble.polls.length === 1);
    first.c.stop();
    resetSession((req) => (req.Auth ? { MachineAuthorized: true } : { AuthURL: "https://control.example/a/1" }));
    const r = router(keys, "tskey-auth-second");
    r.c.start();
    await until(() => sessionDouble.polls.length === 1);
    r.c.stop();
    expect(authKeys()).toEqual(["none", "tskey-auth-second"]);
    expect(r.states.map((s) => s.kind)).not.toContain("needs-login");
  });
});

describe("a tailnet with device approval (a control session double)", () => {
  it("waits in awaiting-approval with the map poll open, registers once, logs no error, and runs once the map says authorized", async () => {
    resetSession(() => ({ MachineAuthorized: false }));
    const keys = { text: null as string | null };
    const r = router(keys);
    r.c.start();
    await until(() => sessionDouble.polls.length === 1);
    expect(r.c.current).toEqual({ kind: "awaiting-approval" });
    await new Promise((res) => setTimeout(res, 100)); // many backoff periods of this double's timers
    expect(sessionDouble.registers).toHaveLength(1);
    expect(r.logs.filter((l) => !l.startsWith("info"))).toEqual([]);
    expect(r.logs).toContain("info control: registered; waiting for the tailnet's admin to approve this router");
    const self = { ID: 1, StableID: "1", Name: "r.tailnet.", Key: sessionDouble.registers[0]!.NodeKey, Addresses: ["100.64.0.1/32"], MachineAuthorized: true };
    sessionDouble.polls[0]!.onMessage({ Node: self as never });
    expect(r.c.current.kind).toBe("running");
    r.c.stop();
  });

  it("a server that closes the poll of an unapproved node: still awaiting-approval, re-checked with a growing backoff", async () => {
    resetSession(() => ({ MachineAuthorized: false }));
    const keys = { text: null as string | null };
    const r = router(keys);
    const delays: number[] = [];
    const deps = (r.c as unknown as { deps: { setTimer(ms: number, fn: () => void): () => void } }).deps;
    const setTimer = deps.setTimer;
    deps.setTimer = (ms, fn) => (ms < 20_000 && delays.push(ms), setTimer(ms, fn));
    r.c.start();
    for (let i = 1; i <= 4; i++) {
      await until(() => sessionDouble.polls.length === i);
      sessionDouble.polls[i - 1]!.onEnd(new Error("map request: http 401"));
    }
    await until(() => delays.length >= 4);
    r.c.stop();
    const kinds = r.states.map((s) => s.kind);
    expect(kinds.slice(kinds.indexOf("awaiting-approval"), -1).every((k) => k === "awaiting-approval")).toBe(true);
    expect(delays.slice(0, 4)).toEqual([expect.any(Number), expect.any(Number), expect.any(Number), expect.any(Number)]);
    expect(delays[3]!).toBeGreaterThan(delays[0]! * 4);
    expect(r.logs.filter((l) => l.startsWith("info control: registered;"))).toHaveLength(1);
    expect(authKeys().slice(1).every((k) => k === "none")).toBe(true);
  });
});
