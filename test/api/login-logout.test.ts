// `login` and `logout` on a router that is already in the tailnet, through the
// API (the Supervisor over a stand-in Agent, test/api/fixture.ts): logout first
// tells the control server (the Agent's logout), and forgets the keys even when
// the server cannot be told; login with a new auth key, or after the key
// expired, makes a new node key and restarts the Agent; login with nothing new
// leaves a running router alone. The real Agent against Headscale:
// test/integration/control-lifecycle.test.ts.
import { describe, expect, it } from "vitest";
import type { SupervisedAgent } from "../../agent/src/agent/supervisor.js";
import { callMethod } from "../../agent/src/api/methods.js";
import { ENABLED, FakeAgent, rig } from "./fixture.js";

const call = (b: Parameters<typeof callMethod>[0], m: string, a: object = {}) => callMethod(b, m, a) as Promise<Record<string, unknown>>;
const calls: string[] = [];
let logoutFails = false;
const proto = FakeAgent.prototype as FakeAgent & SupervisedAgent;
proto.logout = async function () {
  calls.push(`logout running=${this.running}`);
  if (logoutFails) throw new Error("control: logout: no answer in 20 s");
};
proto.prepareReauth = function () {
  calls.push("reauth");
};

describe("logout and login on a router in the tailnet", () => {
  it("logout asks the Agent to tell the server before stopping it, then removes the keys", async () => {
    calls.length = 0;
    logoutFails = false;
    const r = await rig(ENABLED);
    r.files.set("/etc/meshwrt/keys.json", "{}");
    await call(r.backend, "logout");
    expect(calls).toEqual(["logout running=true"]);
    expect(r.agents[0]!.running).toBe(false);
    expect(r.files.has("/etc/meshwrt/keys.json")).toBe(false);
  });

  it("a server that cannot be told: the keys go all the same, and the log says the server still lists the router", async () => {
    calls.length = 0;
    logoutFails = true;
    const r = await rig(ENABLED);
    r.files.set("/etc/meshwrt/keys.json", "{}");
    await call(r.backend, "logout");
    expect(r.files.has("/etc/meshwrt/keys.json")).toBe(false);
    expect(r.logs.some((l) => /^warn: logout: the control server was not told \(control: logout: no answer in 20 s\); it keeps listing this router/.test(l))).toBe(true);
  });

  it("login with a new auth key on a running router: a new node key, the Agent restarted with the key", async () => {
    calls.length = 0;
    const r = await rig(ENABLED);
    const s = await call(r.backend, "login", { auth_key: "tskey-auth-second" });
    expect(calls).toEqual(["reauth"]);
    expect(r.agents).toHaveLength(2);
    expect(r.agents[0]!.running).toBe(false);
    expect(r.agents[1]!.settings.authKey).toBe("tskey-auth-second");
    expect(s.state).toBe("running");
  });

  it("login with nothing new on a running router leaves it alone (a configured key that expired since would be refused)", async () => {
    calls.length = 0;
    const r = await rig(ENABLED);
    await call(r.backend, "login");
    expect(calls).toEqual([]);
    expect(r.agents).toHaveLength(1);
  });

  it("login after the router's key expired: a new node key with the configured auth key", async () => {
    calls.length = 0;
    const r = await rig(ENABLED, { kind: "key-expired" });
    await call(r.backend, "login").catch(() => {});
    expect(calls).toEqual(["reauth"]);
    expect(r.agents).toHaveLength(2);
  });
});
