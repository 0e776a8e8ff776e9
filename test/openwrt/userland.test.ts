// The OpenWrt userland that test/openwrt/build.sh builds from the pinned sources: its programs
// run from the cache with their own libraries and modules, and a missing or altered tarball
// stops the build with a message that says where it should be and what it is.
import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync, appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { openwrtUserland } from "./userland.js";

const script = fileURLToPath(new URL("build.sh", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "openwrt-userland-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function run(cmd: string, args: string[], input?: string) {
  return spawnSync(cmd, args, { encoding: "utf8", input, timeout: 10_000 });
}

/** ubusd, once its socket is there: rpcd and uhttpd started before that exit or fail. */
async function startUbusd(sock: string): Promise<ChildProcess> {
  const ubusd = spawn(openwrtUserland().bin("ubusd"), ["-s", sock], { stdio: "ignore" });
  for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(sock)) throw new Error(`ubusd made no socket at ${sock} in 5 s`);
  return ubusd;
}

describe("the OpenWrt userland built from the pinned sources", () => {
  const w = openwrtUserland();

  it("a cached build only prints where it is", () => {
    const start = Date.now();
    const r = run("sh", [script]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`OPENWRT_ROOT='${w.root}'`);
    expect(Date.now() - start).toBeLessThan(1000);
  });

  it("uci reads a config as libuci does", () => {
    const dir = join(tmp, "config");
    rmSync(dir, { recursive: true, force: true });
    spawnSync("mkdir", ["-p", dir]);
    writeFileSync(join(dir, "meshwrt"), "config meshwrt 'main'\n\toption enabled '1'\n\tlist tag a\n\tlist tag b\n");
    const r = run(w.bin("uci"), ["-c", dir, "show", "meshwrt"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe("meshwrt.main=meshwrt\nmeshwrt.main.enabled='1'\nmeshwrt.main.tag='a' 'b'\n");
  });

  it("ucode loads the modules fw4 and LuCI import", () => {
    const mods = ["fs", "uci", "ubus", "uloop", "rtnl", "html", "lucihttp", "luci.core"];
    const src = mods.map((m, i) => `import * as m${i} from "${m}";`).join(" ") + ' print("loaded");';
    const r = run(w.bin("ucode"), ["-e", src]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("loaded");
  });

  it("LuCI's catalogs are compiled: luci.core translates from the German one", () => {
    const dir = join(w.root, "usr/lib/lua/luci/i18n");
    const src = `import * as core from "luci.core"; core.load_catalog("de", "${dir}"); core.change_catalog("de"); print(core.translate("Save & Apply"));`;
    const r = run(w.bin("ucode"), ["-e", src]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("Speichern & Anwenden");
  });

  it("rpcd registers its objects on a real ubusd", async () => {
    const sock = join(tmp, "ubus.sock");
    const ubusd = await startUbusd(sock);
    const rpcd = spawn(w.bin("rpcd"), ["-s", sock], { stdio: "ignore" });
    try {
      let list = "";
      for (let i = 0; i < 50 && !list.includes("session"); i++) {
        await new Promise((r) => setTimeout(r, 100));
        list = run(w.bin("ubus"), ["-s", sock, "list"]).stdout;
      }
      expect(list.split("\n")).toEqual(expect.arrayContaining(["session", "uci", "file", "luci", "rc"]));
    } finally {
      rpcd.kill();
      ubusd.kill();
    }
  });

  it("uhttpd serves LuCI's files and passes ubus JSON-RPC to rpcd's session checks", async () => {
    const sock = join(tmp, "ubus-http.sock");
    const port = 20000 + Math.floor(Math.random() * 20000);
    const ubusd = await startUbusd(sock);
    const rpcd = spawn(w.bin("rpcd"), ["-s", sock], { stdio: "ignore" });
    const uhttpd = spawn(w.bin("uhttpd"), ["-f", "-p", `127.0.0.1:${port}`, "-h", join(w.root, "www"), "-u", "/ubus", "-U", sock], { stdio: "ignore" });
    try {
      const base = `http://127.0.0.1:${port}`;
      let js: Response | undefined;
      for (let i = 0; i < 50 && !js; i++) {
        await new Promise((r) => setTimeout(r, 100));
        js = await fetch(`${base}/luci-static/resources/luci.js`).catch(() => undefined);
      }
      expect(js?.status).toBe(200);
      const rpc = async (params: unknown[]) => {
        const r = await fetch(`${base}/ubus`, { method: "POST", body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "call", params }) });
        return (await r.json()) as { result?: unknown[]; error?: unknown };
      };
      const anon = "0".repeat(32);
      // A wrong password: rpcd itself answers, through uhttpd and ubusd (6: permission denied).
      let login: { result?: unknown[] } = {};
      for (let i = 0; i < 50 && !login.result; i++) {
        login = await rpc([anon, "session", "login", { username: "root", password: "wrong" }]);
        if (!login.result) await new Promise((r) => setTimeout(r, 100));
      }
      expect(login).toEqual({ jsonrpc: "2.0", id: 1, result: [6] });
      // Anything else on a session nobody logged in to: uhttpd's access check refuses it.
      expect(await rpc([anon, "session", "list", {}])).toEqual({ jsonrpc: "2.0", id: 1, error: { code: -32002, message: "Access denied" } });
    } finally {
      uhttpd.kill();
      rpcd.kill();
      ubusd.kill();
    }
  });

  it("the package managers run: opkg and apk-tools 3", () => {
    expect(run(w.bin("apk"), ["--version"]).stdout).toMatch(/^apk-tools 3\./);
    const opkg = run(w.bin("opkg"), ["--version"]);
    expect(opkg.stdout + opkg.stderr).toMatch(/opkg version/);
  });

  it("LuCI, fw4 and the shell libraries sit where a router keeps them", () => {
    const has = (d: string) => readdirSync(join(w.root, d));
    expect(has("www/luci-static/resources")).toEqual(expect.arrayContaining(["luci.js", "form.js", "rpc.js", "uci.js", "ui.js"]));
    expect(has("www/luci-static")).toContain("bootstrap");
    expect(has("usr/share/ucode/luci")).toContain("uhttpd.uc");
    expect(has("usr/share/firewall4")).toContain("main.uc");
    expect(has("lib/functions")).toContain("procd.sh");
    expect(has("etc")).toContain("rc.common");
  });
});

describe("build.sh refuses sources it cannot vouch for", () => {
  const real = run("sh", [script]).stdout.match(/^OPENWRT_SRC='(.*)'$/m)?.[1];

  function copyOfSources(): string {
    const dir = mkdtempSync(join(tmp, "src-"));
    for (const f of readdirSync(real!)) if (f !== "base-files") copyFileSync(join(real!, f), join(dir, f));
    return dir;
  }

  it("names the directory, the repository and the commit of a missing tarball", () => {
    const dir = copyOfSources();
    rmSync(join(dir, "ubus-3cc98db1a422.tar.gz"));
    const r = spawnSync("sh", [script], { encoding: "utf8", env: { ...process.env, OPENWRT_SRC: dir } });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`${dir}/ubus-3cc98db1a422.tar.gz is missing`);
    expect(r.stderr).toContain("https://github.com/openwrt/ubus at commit 3cc98db1a422");
  });

  it("names a tarball whose checksum is wrong", () => {
    const dir = copyOfSources();
    appendFileSync(join(dir, "uci-66127cd76c5d.tar.gz"), "x");
    const r = spawnSync("sh", [script], { encoding: "utf8", env: { ...process.env, OPENWRT_SRC: dir } });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`checksum mismatch in ${dir} for: uci-66127cd76c5d.tar.gz`);
  });

  it("names a missing source directory", () => {
    const dir = join(tmp, "nowhere");
    const r = spawnSync("sh", [script], { encoding: "utf8", env: { ...process.env, OPENWRT_SRC: dir } });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`no OpenWrt source directory ${dir}`);
  });
});
