// The control loop over a router's months: a dial that never returns is
// bounded by the connect deadline, and the backoff starts over once a
// connection reached running, however long the outage before it was.
import { describe, expect, it } from "vitest";
import { type ControlState, Controller } from "../../agent/src/control/controller.js";
import type { ByteStream } from "../../agent/src/util/stream.js";

const config = { loginServer: "http://127.0.0.1:9", authKey: "k", hostinfo: { OS: "linux", Hostname: "r" } };

function deps(logs: string[], dial: () => Promise<ByteStream>, delays: number[] = []) {
  return {
    dial,
    random: (n: number) => new Uint8Array(n).fill(255), // the longest jitter: the delay is the backoff itself
    now: () => Date.now(),
    // Every timer fires at once (the deadline passes at once too); the delay asked for is recorded.
    setTimer: (ms: number, fn: () => void) => {
      delays.push(ms);
      const t = setTimeout(fn, 5);
      return () => clearTimeout(t);
    },
    log: (l: string, m: string) => void logs.push(`${l} ${m}`),
    loadKeys: () => null,
    saveKeys: async () => {},
  };
}

const until = async (cond: () => boolean) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
};

describe("the control loop over time", () => {
  it("a dial that never returns (a SYN nobody answers) fails at the connect deadline and is tried again", async () => {
    const logs: string[] = [];
    let dials = 0;
    const c = new Controller(deps(logs, () => (dials++, new Promise<ByteStream>(() => {}))), config);
    c.start();
    await until(() => dials >= 2);
    c.stop();
    expect(logs.find((l) => l.startsWith("warn"))).toMatch(/^warn control: control: \/key: no answer in 20 s; retrying in about 1 s$/);
    expect(dials).toBeGreaterThanOrEqual(2);
  });

  it("the backoff starts over after a connection that reached running fails (a session double stands in for the server)", async () => {
    const logs: string[] = [];
    const delays: number[] = [];
    const c = new Controller(deps(logs, () => Promise.reject(new Error("unused")), delays), config);
    // The session double: four attempts that fail before login, one that runs and then breaks, then failures again.
    let attempt = 0;
    const session = c as unknown as { connectOnce(): Promise<void>; setState(s: { kind: string }): void };
    session.connectOnce = async () => {
      attempt++;
      if (attempt === 5) {
        session.setState({ kind: "running" });
        throw new Error("map stream: connection reset");
      }
      throw new Error("connect: ECONNREFUSED");
    };
    c.start();
    await until(() => attempt >= 7);
    c.stop();
    expect(delays.slice(0, 6)).toEqual([1000, 2000, 4000, 8000, 1000, 2000]);
  });

  it("while a retry is under way, the last attempt's error stays in view (status read mid-attempt said nothing before)", async () => {
    const logs: string[] = [];
    const c = new Controller(deps(logs, () => Promise.reject(new Error("unused"))), config);
    let attempt = 0;
    const seen: string[] = [];
    let now: ControlState | undefined;
    c.onState = (s) => (now = s);
    const session = c as unknown as { connectOnce(): Promise<void> };
    session.connectOnce = async () => {
      attempt++;
      seen.push(now?.kind === "connecting" ? now.lastError ?? "(none)" : String(now?.kind));
      throw new Error(`resolve control.lan: no answer in 5 s (${attempt})`);
    };
    c.start();
    await until(() => attempt >= 3);
    c.stop();
    expect(seen.slice(0, 3)).toEqual(["(none)", "resolve control.lan: no answer in 5 s (1)", "resolve control.lan: no answer in 5 s (2)"]);
  });
});
