// luci-app-meshwrt's rpcd ACL file, as real rpcd enforces it (test/openwrt/luci-lab.ts:
// the package's acl.d beside luci-base's, logins with passwords in /etc/config/rpcd), and
// LuCI's dispatcher's verdict on its pages: what a read-only user, an operator and an
// administrator may call, and that the auth key's config is out of the read-only user's reach.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { METHODS } from "../../agent/src/api/methods.js";
import { type Topology, topology } from "../net/topology.js";
import { type LuciLab, startLuciLab } from "../openwrt/luci-lab.js";

const ACL = join(import.meta.dirname, "../../luci-app/root/usr/share/rpcd/acl.d/luci-app-meshwrt.json");
const CONFIG = join(import.meta.dirname, "../../openwrt-package/meshwrt/files/meshwrt.config");
const USERS = {
  root: { password: "admin-pw", read: ["*"], write: ["*"] },
  operator: { password: "operator-pw", read: ["unauthenticated", "luci-base", "luci-app-meshwrt", "luci-app-meshwrt-config"], write: ["luci-base", "luci-app-meshwrt"] },
  viewer: { password: "viewer-pw", read: ["unauthenticated", "luci-base", "luci-app-meshwrt"], write: [] },
} as const;
type User = keyof typeof USERS;
type Groups = Record<string, { read?: { ubus?: Record<string, string[]> }; write?: { ubus?: Record<string, string[]> } }>;

let t: Topology;
let lab: LuciLab;
const sessions = new Map<User, string>();

/** rpcd's answer to session/access for this user's session. */
async function access(user: User, scope: string, object: string, fn: string): Promise<boolean> {
  const args = JSON.stringify({ ubus_rpc_session: sessions.get(user), scope, object, function: fn });
  return (JSON.parse(await lab.run(`ubus call session access '${args}'`)) as { access: boolean }).access;
}

/** The HTTP status of a LuCI page for this user, logged in through LuCI's login form. */
async function page(user: User, path: string): Promise<number> {
  const url = `${lab.url}/cgi-bin/luci/admin/services/meshwrt${path}`;
  const login = await fetch(url, { method: "POST", redirect: "manual", body: new URLSearchParams({ luci_username: user, luci_password: USERS[user].password }) });
  const cookie = /sysauth_http=\w+/.exec(login.headers.get("set-cookie") ?? "")?.[0];
  expect(cookie, `${user} logs in`).toBeDefined();
  return (await fetch(url, { headers: { cookie: cookie! } })).status;
}

beforeAll(async () => {
  t = await topology({ hosts: ["router"] });
  lab = await startLuciLab({ netns: t.host("router").ns, meshwrtConfig: readFileSync(CONFIG, "utf8"), users: USERS, boot: false });
  for (const user of Object.keys(USERS) as User[]) {
    const r = JSON.parse(await lab.run(`ubus call session login '${JSON.stringify({ username: user, password: USERS[user].password })}'`)) as { ubus_rpc_session: string };
    sessions.set(user, r.ubus_rpc_session);
  }
}, 300_000);

afterAll(async () => {
  await lab?.stop();
  await t?.destroy();
}, 60_000);

describe("luci-app-meshwrt's ACL, held by rpcd", () => {
  it("a wrong password gets no session", async () => {
    expect((await lab.exec(`ubus call session login '{"username":"viewer","password":"guess"}'`)).code).not.toBe(0);
  });

  it("a read-only user calls status, peers, netcheck, devices and ping, and nothing that changes the router", async () => {
    for (const m of ["status", "peers", "netcheck", "devices", "ping"]) expect(await access("viewer", "ubus", "meshwrt", m), m).toBe(true);
    for (const m of ["login", "logout", "up", "down", "set"]) expect(await access("viewer", "ubus", "meshwrt", m), m).toBe(false);
    expect(await access("viewer", "ubus", "luci", "setInitAction")).toBe(false);
    expect(await access("viewer", "ubus", "uci", "set")).toBe(false);
    expect(await access("viewer", "uci", "firewall", "write")).toBe(false);
    // LuCI checks its session with session/access: without it, it calls the session expired.
    expect(await access("viewer", "ubus", "session", "access")).toBe(true);
  });

  it("a read-only user cannot read /etc/config/meshwrt (it holds the auth key), only the firewall's config; the Sharing page is forbidden", async () => {
    expect(await access("viewer", "uci", "meshwrt", "read")).toBe(false);
    expect(await access("viewer", "uci", "firewall", "read")).toBe(true);
    expect(await page("viewer", "/overview")).toBe(200);
    expect(await page("viewer", "/sharing")).toBe(403);
  });

  it("an operator changes the tailnet and the firewall, reads the settings but cannot change them or run the init script", async () => {
    for (const m of ["login", "logout", "up", "down", "set"]) expect(await access("operator", "ubus", "meshwrt", m), m).toBe(true);
    expect(await access("operator", "uci", "firewall", "write")).toBe(true);
    expect(await access("operator", "uci", "meshwrt", "read")).toBe(true);
    expect(await access("operator", "uci", "meshwrt", "write")).toBe(false);
    expect(await access("operator", "ubus", "luci", "setInitAction")).toBe(false);
    expect(await page("operator", "/sharing")).toBe(200);
  });

  it("an administrator may do everything, and every API method is in the file exactly once", async () => {
    for (const m of Object.keys(METHODS)) expect(await access("root", "ubus", "meshwrt", m), m).toBe(true);
    expect(await access("root", "uci", "meshwrt", "write")).toBe(true);
    expect(await access("root", "ubus", "luci", "setInitAction")).toBe(true);
    expect(await page("root", "/sharing")).toBe(200);
    const groups = JSON.parse(readFileSync(ACL, "utf8")) as Groups;
    const listed = Object.values(groups["luci-app-meshwrt"]!).flatMap((p) => (typeof p === "object" ? (p.ubus?.meshwrt ?? []) : []));
    expect(listed.slice().sort()).toEqual(Object.keys(METHODS).sort());
  });

  it("the methods that change the router are the write part's", () => {
    const write = (JSON.parse(readFileSync(ACL, "utf8")) as Groups)["luci-app-meshwrt"]!.write!.ubus!.meshwrt!;
    for (const [name, m] of Object.entries(METHODS)) if (m.writes) expect(write, name).toContain(name);
  });
});
