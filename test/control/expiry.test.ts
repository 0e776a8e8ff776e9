// Key expiry by the clock, logout and login again, as tailscale's client does
// them: the control server's ControlTime corrects the router's wall clock; a
// peer whose KeyExpiry passed is flagged Expired (so it leaves the kernel)
// before the server says so; our own key warns a week ahead; logout registers
// with an expiry in the far past; login on a running router makes a new node
// key. A control session double answers register and the map poll; the real
// server's side is Headscale in test/integration/control-lifecycle.test.ts.
import { describe, expect, it, vi } from "vitest";
import { clockDelta, EXPIRY_WARNING_MS, flagExpiredPeers, selfExpiry, untilNextExpiry } from "../../agent/src/control/expiry.js";
import { emptyNetMap, type NetMap } from "../../agent/src/control/netmap.js";
import type { Node } from "../../agent/src/control/tailcfg.js";
import type { AgentView } from "../../agent/src/agent/view.js";
import { statusReply } from "../../agent/src/api/replies.js";
import { formatStatus } from "../../agent/src/cli/format.js";
import type { ByteStream } from "../../agent/src/util/stream.js";
import { resetSession, sessionDouble } from "./session-double.js";

vi.mock("../../agent/src/control/server.js", async (orig) => (await import("./session-double.js")).serverModule(await orig<object>()));
vi.mock("../../agent/src/control/ts2021.js", async () => (await import("./session-double.js")).ts2021Module);
vi.mock("../../agent/src/control/session.js", async () => (await import("./session-double.js")).sessionModule);

const { Controller } = await import("../../agent/src/control/controller.js");

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 11, 5, 12, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();

function peer(id: number, keyExpiry?: number): Node {
  return {
    ID: id, StableID: `s${id}`, Name: `p${id}.tailnet.`, User: 1, Key: `nodekey:${String(id).padStart(64, "0")}`, Addresses: [`100.64.0.${id}/32`], AllowedIPs: [`100.64.0.${id}/32`],
    Endpoints: ["192.0.2.1:41641"], HomeDERP: 900, ...(keyExpiry ? { KeyExpiry: iso(keyExpiry) } : {}),
  };
}
const netmap = (peers: Node[], self?: Node): NetMap => ({ ...emptyNetMap(), peers: new Map(peers.map((p) => [p.ID, p])), ...(self ? { self } : {}) });

describe("key expiry by the corrected clock (pure)", () => {
  it("ControlTime sets the skew; under a minute counts as none; garbage as none", () => {
    expect(clockDelta(iso(T0 + 3 * 365 * DAY), T0)).toBe(3 * 365 * DAY);
    expect(clockDelta(iso(T0 + 30_000), T0)).toBe(0);
    expect(clockDelta("not a time", T0)).toBe(0);
  });

  it("a peer whose KeyExpiry passed is flagged Expired without endpoints or relay; others and keyless ones stay", () => {
    const nm = netmap([peer(1, T0 - 1000), peer(2, T0 + DAY), peer(3)]);
    const f = flagExpiredPeers(nm, T0);
    expect(f.peers.get(1)).toMatchObject({ Expired: true });
    expect(f.peers.get(1)!.Endpoints).toBeUndefined();
    expect(f.peers.get(1)!.HomeDERP).toBeUndefined();
    expect(f.peers.get(2)!.Expired).toBeUndefined();
    expect(f.peers.get(3)!.Expired).toBeUndefined();
    expect(flagExpiredPeers(netmap([peer(2, T0 + DAY)]), T0)).not.toBe(undefined);
    // A router that booted in 1970 expires nothing (tailscale's epoch check).
    expect(flagExpiredPeers(nm, Date.UTC(1970, 0, 1)).peers.get(1)!.Expired).toBeUndefined();
  });

  it("the next expiry is the nearest peer's or our own, ahead of now", () => {
    const self = peer(9, T0 + 2 * DAY);
    expect(untilNextExpiry(netmap([peer(1, T0 - 1), peer(2, T0 + 5 * DAY)], self), T0)).toBe(2 * DAY);
    expect(untilNextExpiry(netmap([peer(1, T0 + 1000)], self), T0)).toBe(1000);
    expect(untilNextExpiry(netmap([peer(3)]), T0)).toBeUndefined();
  });

  it("our own key: soon within a week, expired after, unknown before the epoch", () => {
    expect(selfExpiry(netmap([], peer(9, T0 + 8 * DAY)), T0)).toMatchObject({ soon: false, expired: false });
    expect(selfExpiry(netmap([], peer(9, T0 + EXPIRY_WARNING_MS - 1)), T0)).toMatchObject({ soon: true, expired: false });
    expect(selfExpiry(netmap([], peer(9, T0 - 1)), T0)).toMatchObject({ soon: false, expired: true });
    expect(selfExpiry(netmap([], peer(9, T0 - 1)), Date.UTC(1970, 0, 2))).toMatchObject({ expired: false });
    expect(selfExpiry(netmap([], peer(9)), T0)).toBeUndefined();
  });
});

let seed = 1;

/** A router whose wall clock reads `clock.now`; timers under 2 s (backoff) fire at once, longer ones (expiry, deadlines) when the test calls them. */
function router(keysFile: { text: string | null }, clock: { now: number }) {
  const logs: string[] = [];
  const timers: { ms: number; fn: () => void }[] = [];
  const c = new Controller(
    {
      dial: async () => ({ close() {} }) as unknown as ByteStream,
      random: (n: number) => new Uint8Array(n).fill(seed++ & 0xff),
      now: () => clock.now,
      setTimer: (ms: number, fn: () => void) => {
        if (ms >= 2_000) {
          const t = { ms, fn };
          timers.push(t);
          return () => void timers.splice(timers.indexOf(t) >>> 0, 1);
        }
        const t = setTimeout(fn, 5);
        return () => clearTimeout(t);
      },
      log: (l: string, m: string) => void logs.push(`${l} ${m}`),
      loadKeys: () => keysFile.text,
      saveKeys: async (t: string) => void (keysFile.text = t),
    },
    { loginServer: "http://127.0.0.1:9", authKey: "tskey-auth-first", hostinfo: { OS: "linux", Hostname: "r" } },
  );
  const maps: NetMap[] = [];
  c.onNetmap = (nm) => void maps.push(nm);
  return { c, logs, maps, timers };
}

const until = async (cond: () => boolean) => {
  for (let i = 0; i < 300 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
};

function view(c: InstanceType<typeof Controller>, nm: NetMap): AgentView {
  const exp = c.keyExpiry();
  return {
    version: "test", control: c.current, configured: true, problems: [], netmap: nm, homeRelay: 0, interfaceName: "meshwrt0",
    pathOf: () => undefined, wgPeerOf: () => undefined, advertisedRoutes: [], exitNode: false, endpoints: [], ...(exp ? { keyExpiry: exp } : {}),
  };
}

describe("the controller keeps time by the control server (a control session double)", () => {
  it("a router whose clock is 3 years behind: peers and its own key judged by ControlTime; a peer leaves when its expiry passes", async () => {
    resetSession();
    const behind = 3 * 365 * DAY;
    const clock = { now: T0 - behind };
    const r = router({ text: null }, clock);
    r.c.start();
    await until(() => sessionDouble.polls.length === 1);
    const self = { ...peer(9, T0 + 3 * DAY), Key: sessionDouble.registers[0]!.NodeKey };
    // Peer 1 expired an hour ago by the server's clock (not by the router's), peer 2 expires in 2 s.
    sessionDouble.polls[0]!.onMessage({ ControlTime: iso(T0), Node: self, Peers: [peer(1, T0 - 3_600_000), peer(2, T0 + 2_000), peer(3)] });
    const first = r.maps.at(-1)!;
    expect(first.peers.get(1)!.Expired).toBe(true);
    expect(first.peers.get(2)!.Expired).toBeUndefined();
    expect(r.c.controlNow()).toBe(T0);
    expect(r.c.current.kind).toBe("running");
    // Our key: 3 days left by the server's clock: a warning in status, in text and JSON.
    const s = statusReply(view(r.c, first));
    expect(s.keyExpiry).toBe(iso(T0 + 3 * DAY));
    expect(s.keyExpiresSoon).toBe(true);
    expect(s.health.join("\n")).toContain("The router's key expires in 3 days");
    expect(formatStatus(s)).toMatch(/key expiry\s+2026-12-08T12:00:00.000Z \(soon: log in again\)/);
    // The expiry timer is armed for peer 2 (2 s, plus a second); when it fires, the clock has moved on.
    const t = r.timers.find((x) => x.ms === 3_000);
    expect(t, JSON.stringify(r.timers.map((x) => x.ms))).toBeDefined();
    clock.now += 3_000;
    const before = r.maps.length;
    t!.fn();
    expect(r.maps.length).toBe(before + 1);
    expect(r.maps.at(-1)!.peers.get(2)!.Expired).toBe(true);
    expect(r.logs.some((l) => l.includes("peer p2's key expired"))).toBe(true);
    // The server extends our key: no warning; the key passing by the clock makes the state key-expired.
    sessionDouble.polls[0]!.onMessage({ Node: { ...self, KeyExpiry: iso(T0 + 30 * DAY) } });
    expect(statusReply(view(r.c, r.maps.at(-1)!)).keyExpiresSoon).toBe(false);
    clock.now += 31 * DAY;
    sessionDouble.polls[0]!.onMessage({ KeepAlive: true });
    expect(r.c.current.kind).toBe("key-expired");
    r.c.stop();
  });
});

describe("logout and login again (a control session double)", () => {
  it("logout registers the current node key with an expiry in the far past and no auth key, then stops", async () => {
    resetSession();
    const r = router({ text: null }, { now: T0 });
    r.c.start();
    await until(() => sessionDouble.polls.length === 1);
    await r.c.logout();
    expect(sessionDouble.registers).toHaveLength(2);
    const [join, out] = sessionDouble.registers;
    expect(join!.Expiry).toBe("0001-01-01T00:00:00Z");
    expect(out!.NodeKey).toBe(join!.NodeKey);
    expect(Date.parse(out!.Expiry)).toBeLessThan(Date.UTC(1971, 0, 1));
    expect(out!.Auth).toBeUndefined();
    expect(r.c.current.kind).toBe("stopped");
  });

  it("logout of a controller without a connection opens one to tell the server", async () => {
    sessionDouble.registers.length = 0;
    const keys = { text: null as string | null };
    const r = router(keys, { now: T0 });
    await r.c.logout();
    expect(sessionDouble.registers).toHaveLength(1);
    expect(Date.parse(sessionDouble.registers[0]!.Expiry)).toBeLessThan(Date.UTC(1971, 0, 1));
  });

  it("login on a running router: a new node key, sent with the old one and the configured auth key at the next start", async () => {
    resetSession();
    const keys = { text: null as string | null };
    const r = router(keys, { now: T0 });
    r.c.start();
    await until(() => sessionDouble.polls.length === 1);
    const oldKey = sessionDouble.registers[0]!.NodeKey;
    r.c.prepareReauth();
    r.c.stop();
    const again = router(keys, { now: T0 });
    again.c.start();
    await until(() => sessionDouble.polls.length === 2);
    again.c.stop();
    const re = sessionDouble.registers[1]!;
    expect(re.OldNodeKey).toBe(oldKey);
    expect(re.NodeKey).not.toBe(oldKey);
    expect(re.Auth?.AuthKey).toBe("tskey-auth-first");
  });
});
