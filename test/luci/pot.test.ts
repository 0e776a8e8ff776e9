// The page's translation template is what the views hold: every _('...') string,
// as LuCI's i18n-scan extracts them (node test/luci/pot.mjs rewrites it).
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const POT = join(import.meta.dirname, "..", "..", "luci-app", "po", "templates", "meshwrt.pot");

describe("luci-app-meshwrt's translation template", () => {
  it("po/templates/meshwrt.pot lists every string the views translate", () => {
    const r = spawnSync(process.execPath, [join(import.meta.dirname, "pot.mjs"), "--check"], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("the tailnet's log out is not LuCI's own \"Log out\" (the session's)", () => {
    const ids = [...readFileSync(POT, "utf8").matchAll(/^msgid "(.*)"$/gm)].map((m) => m[1]);
    expect(ids).toContain("Log out of the tailnet");
    expect(ids).not.toContain("Log out");
  });
});
