// The API's methods over the Supervisor: set validates and persists, says
// what it did, and keeps the last good configuration in force; up, down,
// login and logout; the auth key never leaves in an answer.
import { describe, expect, it } from "vitest";
import { ApiError } from "../../agent/src/api/errors.js";
import { callMethod } from "../../agent/src/api/methods.js";
import { CONFIG, ENABLED, rig } from "./fixture.js";

const call = (b: Parameters<typeof callMethod>[0], m: string, a: object = {}) => callMethod(b, m, a) as Promise<Record<string, unknown>>;

async function failure(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ApiError);
    return e as ApiError;
  }
  throw new Error("expected a failure");
}

describe("the API over the supervisor", () => {
  it("boots an enabled configuration and reports it running", async () => {
    const r = await rig(ENABLED);
    expect(r.agents).toHaveLength(1);
    expect(r.agents[0]!.running).toBe(true);
    expect((await call(r.backend, "status")).state).toBe("running");
  });

  it("set writes a valid value in UCI syntax and applies it; a live option needs no restart", async () => {
    const r = await rig(ENABLED);
    expect(await call(r.backend, "set", { option: "log_level", value: "debug" })).toEqual({ option: "log_level", value: "debug", effect: "applied" });
    expect(r.files.get(CONFIG)).toContain("\toption log_level 'debug'\n");
    expect(r.agents).toHaveLength(1);
    expect(await call(r.backend, "set", { option: "advertise_routes", value: "192.168.1.50/32 192.168.1.60/32" })).toEqual({
      option: "advertise_routes",
      value: ["192.168.1.50/32", "192.168.1.60/32"],
      effect: "restarted",
    });
    expect(r.files.get(CONFIG)).toContain("\tlist advertise_routes '192.168.1.50/32'\n\tlist advertise_routes '192.168.1.60/32'\n");
    expect(r.agents).toHaveLength(2);
    expect(r.agents[0]!.running).toBe(false);
    expect(r.agents[1]!.settings.advertiseRoutes).toHaveLength(2);
  });

  it("set refuses a bad value with section, option and reason, and changes nothing", async () => {
    const r = await rig(ENABLED);
    const before = r.files.get(CONFIG);
    const e = await failure(call(r.backend, "set", { option: "listen_port", value: "70000" }));
    expect(e.code).toBe("invalid-argument");
    expect(e.message).toMatch(/^set: meshwrt\.main\.listen_port: "70000" /);
    expect((await failure(call(r.backend, "set", { option: "colour", value: "red" }))).message).toMatch(/meshwrt\.main\.colour: unknown option \(known: enabled, /);
    expect((await failure(call(r.backend, "set", { option: "hostname", value: "a b" }))).message).toBe(`set: meshwrt.main.hostname: "a b" is not a host name (letters, digits and '-', at most 63)`);
    expect(r.files.get(CONFIG)).toBe(before);
    expect(r.agents).toHaveLength(1);
  });

  it("a bad value written by hand is reported on reload and the last good configuration stays in force", async () => {
    const r = await rig(ENABLED);
    r.files.set(CONFIG, ENABLED.replace("'https://hs.example'", "'ftp://nope'"));
    await r.sup.reload();
    const s = await call(r.backend, "status");
    expect(s.state).toBe("running");
    expect((s.health as string[]).join("\n")).toMatch(/Not applied \(the last good configuration stays in force\): meshwrt\.main\.login_server: "ftp:\/\/nope"/);
    expect(r.agents).toHaveLength(1);
    expect(r.sup.settings.loginServer).toBe("https://hs.example");
  });

  it("down stops the agent and says how to start it; up starts it again", async () => {
    const r = await rig(ENABLED);
    const down = await call(r.backend, "down");
    expect(down.state).toBe("stopped");
    expect(down.health).toEqual(["Stopped on request: Start (or `meshwrt up`) starts it again."]);
    expect(r.agents[0]!.running).toBe(false);
    expect((await call(r.backend, "up")).state).toBe("running");
    expect(r.agents).toHaveLength(2);
  });

  it("login stores the server and key and answers the login link while approval is pending; no answer carries the key", async () => {
    const r = await rig(`config meshwrt 'main'\n\toption enabled '1'\n`, { kind: "needs-login", authUrl: "https://hs.example/register/abc" });
    const s = await call(r.backend, "login", { login_server: "https://hs.example", auth_key: "tskey-very-secret" });
    expect(s.state).toBe("needs-login");
    expect(s.authUrl).toBe("https://hs.example/register/abc");
    expect(r.files.get(CONFIG)).toContain("option auth_key 'tskey-very-secret'");
    const set = await call(r.backend, "set", { option: "auth_key", value: "tskey-other" });
    expect(set).toEqual({ option: "auth_key", effect: "restarted" });
    for (const m of ["status", "peers", "netcheck", "devices"]) expect(JSON.stringify(await call(r.backend, m))).not.toMatch(/tskey/);
  });

  it("login on a tailnet with device approval succeeds and says the admin must approve", async () => {
    const r = await rig(ENABLED, { kind: "awaiting-approval" });
    const s = await call(r.backend, "login");
    expect(s.state).toBe("awaiting-approval");
    expect(s.health).toContain("Waiting for the tailnet's admin to approve this router in the control server.");
  });

  it("login that gets no verdict says so and that it keeps trying", async () => {
    const r = await rig(ENABLED, { kind: "connecting", lastError: "connect 198.51.100.1:443: ECONNREFUSED" });
    const e = await failure(call(r.backend, "login"));
    expect(e.message).toBe("login: not logged in yet: Cannot reach the control server: connect 198.51.100.1:443: ECONNREFUSED; meshwrt keeps trying (see meshwrt status)");
  });

  it("logout stops the agent and removes the node's keys", async () => {
    const r = await rig(ENABLED);
    r.files.set("/etc/meshwrt/keys.json", "{}");
    const s = await call(r.backend, "logout");
    expect(s.state).toBe("stopped");
    expect(r.files.has("/etc/meshwrt/keys.json")).toBe(false);
    expect(s.health).toEqual(["Logged out: Log in (or `meshwrt login`) joins the tailnet again."]);
  });

  it("a disabled router explains itself; set enabled 1 starts it", async () => {
    const r = await rig(ENABLED.replace("'1'", "'0'"));
    const s = await call(r.backend, "status");
    expect(s.state).toBe("not-configured");
    expect((await failure(call(r.backend, "up"))).message).toMatch(/^up: disabled in \/etc\/config\/meshwrt \(enabled 0\)/);
    expect(await call(r.backend, "set", { option: "enabled", value: "1" })).toEqual({ option: "enabled", value: "1", effect: "started" });
    expect(r.agents[0]!.running).toBe(true);
  });

  it("rejects unknown methods and arguments with the list of what exists", async () => {
    const r = await rig(ENABLED);
    expect((await failure(call(r.backend, "reboot"))).message).toMatch(/^no method "reboot" \(methods: status, peers, /);
    expect((await failure(call(r.backend, "status", { verbose: "1" }))).message).toBe('status: unknown argument "verbose" (it takes none)');
    expect((await failure(call(r.backend, "set", { option: 5 as unknown as string }))).message).toBe("set: argument option must be a string");
    expect((await failure(call(r.backend, "ping", {}))).code).toBe("invalid-argument");
    expect((await failure(call(r.backend, "ping", { peer: "nobody" }))).code).toBe("not-found");
  });
});
