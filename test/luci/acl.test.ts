// luci-app-meshwrt's rpcd ACL file, read by the test's rpcd double: what a
// read-only user and an administrator may call, and that the auth key's
// config is out of the read-only user's reach.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LUCI_BASE, Session, readAclDir } from "./harness/acl.js";
import { METHODS } from "../../agent/src/api/methods.js";

const groups = { ...LUCI_BASE, ...readAclDir(join(import.meta.dirname, "../../luci-app/root/usr/share/rpcd/acl.d")) };
const admin = new Session(groups, { read: ["*"], write: ["*"] });
const viewer = new Session(groups, { read: ["luci-base", "luci-app-meshwrt"], write: [] });

describe("luci-app-meshwrt's ACL", () => {
  it("a read-only user calls status, peers, netcheck, devices and ping, and nothing that changes the router", () => {
    for (const m of ["status", "peers", "netcheck", "devices", "ping"]) expect(viewer.access("ubus", "meshwrt", m), m).toBe(true);
    for (const m of ["login", "logout", "up", "down", "set"]) expect(viewer.access("ubus", "meshwrt", m), m).toBe(false);
    expect(viewer.access("ubus", "uci", "set")).toBe(false);
    expect(viewer.access("uci", "firewall", "write")).toBe(false);
  });

  it("a read-only user cannot read /etc/config/meshwrt (it holds the auth key), only the firewall's config", () => {
    expect(viewer.access("uci", "meshwrt", "read")).toBe(false);
    expect(viewer.access("uci", "firewall", "read")).toBe(true);
    expect(viewer.pageAccess(["luci-app-meshwrt"])).toBe("readonly");
    expect(viewer.pageAccess(["luci-app-meshwrt-config"])).toBe("denied");
  });

  it("an administrator may do everything, and every API method is in the file exactly once", () => {
    for (const m of Object.keys(METHODS)) expect(admin.access("ubus", "meshwrt", m), m).toBe(true);
    expect(admin.access("uci", "meshwrt", "write")).toBe(true);
    expect(admin.pageAccess(["luci-app-meshwrt-config"])).toBe("writable");
    const listed = Object.values(groups["luci-app-meshwrt"]!).flatMap((p) => (typeof p === "object" ? (p.ubus?.meshwrt ?? []) : []));
    expect(listed.slice().sort()).toEqual(Object.keys(METHODS).sort());
  });

  it("the methods that change the router are the write part's, and the others the read part's, as the agent sorts them", () => {
    const write = groups["luci-app-meshwrt"]!.write!.ubus!.meshwrt!;
    const read = groups["luci-app-meshwrt"]!.read!.ubus!.meshwrt!;
    for (const [name, m] of Object.entries(METHODS)) expect(m.writes ? write : read, name).toContain(name);
  });
});
