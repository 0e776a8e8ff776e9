// meshwrt's packages as a user installs them: the output directory of `make package`
// (build/out/packages) added as a feed to the real package managers, built from OpenWrt's
// pinned sources (test/openwrt/build.sh): opkg for an OpenWrt 24.10-style root and apk-tools 3
// for a 25.12-style one. Each installs meshwrt and luci-app-meshwrt by name, resolving their
// dependencies from a feed of clearly named test stubs (the router's libc, kmod-wireguard,
// nftables, ca-bundle, luci-base), upgrades them to the next release keeping a changed
// /etc/config/meshwrt and the node's keys, and removes them. Roots are offline, as in
// OpenWrt's image build: IPKG_INSTROOT is set, the maintainer scripts run on this machine and
// must only enable the service inside the root, never start anything. Every target's
// packages install in a root of its architecture and the binary answers --version, under
// qemu-user for the router CPUs.
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { baseRoot, nextRelease, raiseApk, raiseIpk, readPackages, writeApkIndex, writeOpkgIndex, writeStubFeeds } from "../openwrt/package-feed.js";
import type { PackageInfo } from "../openwrt/package-feed.js";
import { openwrtUserland } from "../openwrt/userland.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
// PACKAGE_FEED=<dir> tests another feed, such as one an OpenWrt SDK built from openwrt-package/.
const FEED = process.env.PACKAGE_FEED ?? join(ROOT, "build/out/packages");
const QEMU: Record<string, string | undefined> = {
  x86_64: undefined,
  "aarch64_cortex-a53": "qemu-aarch64-static",
  "arm_cortex-a7_neon-vfpv4": "qemu-arm-static",
  mipsel_24kc: "qemu-mipsel-static",
  mips_24kc: "qemu-mips-static",
};
const APPS = ["meshwrt", "luci-app-meshwrt"];

const w = openwrtUserland();
const tmp = mkdtempSync(join(tmpdir(), "meshwrt-install-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// `make package` writes the feed from the tree as it is (a few seconds when nothing changed;
// the first run cross-builds all five targets).
if (!process.env.PACKAGE_FEED) {
  const r = spawnSync("make", ["--no-print-directory", "package"], { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] });
  if (r.status !== 0 || !existsSync(FEED)) throw new Error(`make package did not write ${FEED} (exit ${r.status})`);
}
const packages = readPackages(w, FEED);
const provided = new Set(packages.map((p) => p.name));
const stubNames = [...new Set(packages.filter((p) => APPS.includes(p.name)).flatMap((p) => p.depends))].filter((d) => !provided.has(d)).sort();
const stubs = writeStubFeeds(w, join(tmp, "stubs"), stubNames);

/** The directories of the feed that hold this format's packages. */
function feedDirs(format: "ipk" | "apk"): string[] {
  return [...new Set(packages.filter((p) => p.format === format).map((p) => dirname(p.file)))].sort();
}

/**
 * What a user of one architecture adds as feeds: the directory with meshwrt for it, and
 * the LuCI app's directory only if that one lacks the app.
 */
function feedDirsFor(format: "ipk" | "apk", arch: string): string[] {
  const dirs = new Set(packages.filter((p) => p.format === format && p.name === "meshwrt" && p.arch === arch).map((p) => dirname(p.file)));
  const luci = packages.filter((p) => p.format === format && p.name === "luci-app-meshwrt");
  if (!luci.some((p) => dirs.has(dirname(p.file)))) for (const p of luci) dirs.add(dirname(p.file));
  return [...dirs].sort();
}

function pick(format: "ipk" | "apk", name: string, arch?: string): PackageInfo {
  const p = packages.find((q) => q.format === format && q.name === name && (arch === undefined || q.arch === arch));
  if (!p) throw new Error(`${FEED} has no ${format} of ${name}${arch ? ` for ${arch}` : ""}: ${packages.map((q) => `${q.name}/${q.arch}/${q.format}`).join(", ")}`);
  return p;
}

interface Run {
  status: number | null;
  out: string;
}

/** One offline root and the package manager that owns it. */
interface Manager {
  root: string;
  install(names: string[]): Run;
  addFeed(dir: string): void;
  upgrade(names: string[]): Run;
  remove(names: string[]): Run;
  installed(): Map<string, string>;
}

function exec(cmd: string, args: string[], env: Record<string, string>): Run {
  const r = spawnSync(cmd, args, { encoding: "utf8", env: { ...process.env, ...env }, timeout: 120_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

// A tripwire first in the package managers' PATH: what a script runs to start or reload a
// service (ubus to procd, `service`, procd itself) only records that it was called. An
// offline install must call none of them.
const tripwire = join(tmp, "tripwire");
const tripLog = join(tmp, "tripwire.log");
mkdirSync(tripwire);
for (const name of ["ubus", "service", "procd", "ubusd"]) {
  writeFileSync(join(tripwire, name), `#!/bin/sh\necho "${name} $*" >>'${tripLog}'\n`, { mode: 0o755 });
}
const offlineEnv = (root: string) => ({ IPKG_INSTROOT: root, PATH: `${tripwire}:${process.env.PATH}` });
const startedServices = () => (existsSync(tripLog) ? readFileSync(tripLog, "utf8") : "");

/** opkg as OpenWrt 24.10's image build runs it: -o ROOT, scripts forced, IPKG_INSTROOT set. */
function opkgRoot(arch: string): Manager {
  const root = baseRoot(w, mkdtempSync(join(tmp, `opkg-${arch}-`)));
  const conf = join(root, "..", `${root.split("/").pop()}.conf`);
  const feeds = [...feedDirsFor("ipk", arch), stubs.ipk];
  const write = () =>
    writeFileSync(conf, [
      "dest root /",
      "lists_dir ext /var/opkg-lists",
      "option check_signature 0",
      "arch all 1",
      "arch noarch 1",
      `arch ${arch} 10`,
      ...feeds.map((d, i) => `${existsSync(join(d, "Packages.gz")) ? "src/gz" : "src"} feed${i} file://${d}`),
      "",
    ].join("\n"));
  write();
  const opkg = (...args: string[]) => exec(w.bin("opkg"), ["-f", conf, "-o", root, "--force-postinstall", ...args], offlineEnv(root));
  const update = () => {
    const r = opkg("update");
    if (r.status !== 0) throw new Error(`opkg update failed: ${r.out}`);
  };
  update();
  return {
    root,
    install: (names) => opkg("install", ...names),
    addFeed(dir) {
      feeds.push(dir);
      write();
      update();
    },
    upgrade: (names) => opkg("upgrade", ...names),
    remove: (names) => opkg("remove", ...names),
    installed() {
      const r = opkg("list-installed");
      return new Map(r.out.split("\n").filter((l) => l.includes(" - ")).map((l) => l.split(" - ") as [string, string]));
    },
  };
}

/** apk-tools 3 as on OpenWrt 25.12 with --root: no chroot, IPKG_INSTROOT passed to the scripts. */
function apkRoot(arch: string): Manager {
  const root = baseRoot(w, mkdtempSync(join(tmp, `apk-${arch}-`)));
  const repos = [...feedDirsFor("apk", arch).map((d) => join(d, "packages.adb")), join(stubs.apk, "packages.adb")];
  let initdb = true;
  const apk = (...args: string[]) => {
    const base = ["--root", root, "--arch", arch, "--allow-untrusted", "--force-no-chroot", "--preserve-env", "--no-cache", "--no-logfile", "--no-interactive"];
    return exec(w.bin("apk"), [...base, ...repos.flatMap((r) => ["-X", r]), ...args], offlineEnv(root));
  };
  return {
    root,
    install(names) {
      const r = apk("add", ...(initdb ? ["--initdb"] : []), ...names);
      initdb = false;
      return r;
    },
    addFeed: (dir) => void repos.push(join(dir, "packages.adb")),
    upgrade: () => apk("upgrade"),
    remove: (names) => apk("del", ...names),
    installed() {
      const db = join(root, "lib/apk/db/installed");
      const text = existsSync(db) ? readFileSync(db, "utf8") : "";
      const out = new Map<string, string>();
      for (const entry of text.split("\n\n")) {
        const name = /^P:(.*)$/m.exec(entry)?.[1];
        const version = /^V:(.*)$/m.exec(entry)?.[1];
        if (name && version) out.set(name, version);
      }
      return out;
    },
  };
}

/** `meshwrt --version` from the root, on the target's CPU. */
function version(root: string, arch: string): Run {
  const qemu = QEMU[arch];
  const bin = join(root, "usr/sbin/meshwrt");
  return qemu ? exec(qemu, [bin, "--version"], {}) : exec(bin, ["--version"], {});
}

/** Processes running a program from inside this root (the scripts must start none). */
function runningFrom(root: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const exe = readlinkSync(`/proc/${pid}/exe`);
      if (exe.startsWith(root + "/")) found.push(`${pid} ${exe}`);
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

/** Bytes of the regular files under root, leaving out the package managers' own records. */
function fileBytes(root: string): Map<string, number> {
  const out = new Map<string, number>();
  const skip = new Set(["usr/lib/opkg", "lib/apk", "etc/apk", "var/opkg-lists", "tmp"]);
  const walk = (rel: string) => {
    for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (skip.has(r)) continue;
      if (e.isDirectory()) walk(r);
      else if (e.isFile()) out.set(r, lstatSync(join(root, r)).size);
    }
  };
  walk("");
  return out;
}

/** Issue 14: meshwrt and luci-app-meshwrt together install at most 1.5 MB on every target. */
const INSTALL_BUDGET = 1_500_000;

/** Installs meshwrt and its LuCI app; returns the bytes their files take in the root. */
function installApps(m: Manager): number {
  const before = fileBytes(m.root);
  const r = m.install(APPS);
  expect(r.status, r.out).toBe(0);
  let added = 0;
  for (const [f, size] of fileBytes(m.root)) if (!before.has(f)) added += size;
  return added;
}

function enabledLinks(root: string): string[] {
  return readdirSync(join(root, "etc/rc.d")).filter((f) => /^[SK]\d+meshwrt$/.test(f));
}

const LUCI_FILES = ["usr/share/luci/menu.d/luci-app-meshwrt.json", "usr/share/rpcd/acl.d/luci-app-meshwrt.json"];

for (const [format, style, make] of [["ipk", "OpenWrt 24.10, opkg", opkgRoot], ["apk", "OpenWrt 25.12, apk-tools 3", apkRoot]] as const) {
  describe(`${style}: the output directory as a feed`, () => {
    it(`has ${format === "ipk" ? "a Packages index" : "a packages.adb made by apk mkndx"} beside the packages`, () => {
      const dirs = feedDirs(format);
      expect(dirs.length).toBeGreaterThan(0);
      for (const d of dirs) {
        const index = format === "ipk" ? ["Packages", "Packages.gz"] : ["packages.adb"];
        expect(index.some((f) => existsSync(join(d, f))), `${d} has no ${index.join(" or ")}`).toBe(true);
      }
    });

    it("installs within 1.5 MB, upgrades keeping the configuration and the keys, and removes meshwrt on x86_64", () => {
      const m = make("x86_64");
      // base-files' /etc/group, in which add_group_and_user creates the group of meshwrt's
      // ubus ACL (USERID :meshwrt: Require-User for opkg, meshwrt.rusers for apk).
      writeFileSync(join(m.root, "etc/group"), "root:x:0:\n");
      expect(installApps(m)).toBeLessThanOrEqual(INSTALL_BUDGET);
      expect(readFileSync(join(m.root, "etc/group"), "utf8")).toMatch(/^meshwrt:x:\d+:$/m);
      const v1 = pick(format, "meshwrt", "x86_64").version;
      expect(m.installed().get("meshwrt")).toBe(v1);
      expect(m.installed().get("luci-app-meshwrt")).toBe(pick(format, "luci-app-meshwrt").version);
      for (const stub of stubNames) expect(m.installed().has(stub), `dependency ${stub} resolved`).toBe(true);

      const ver = version(m.root, "x86_64");
      expect(ver.status, ver.out).toBe(0);
      expect(ver.out).toMatch(new RegExp(`^meshwrt ${v1.replace(/-r?\d+$/, "").replace(/\./g, "\\.")}\\b`));
      for (const f of ["etc/init.d/meshwrt", "etc/config/meshwrt", ...LUCI_FILES]) expect(existsSync(join(m.root, f)), f).toBe(true);
      // Offline: the service is enabled inside the root, as an image build does, and nothing runs.
      expect(enabledLinks(m.root)).toEqual(["K10meshwrt", "S95meshwrt"]);
      expect(runningFrom(m.root)).toEqual([]);
      expect(startedServices()).toBe("");

      // The user's changes: a hostname in the config, and the node's keys written by the agent.
      const uci = (...args: string[]) => exec(w.bin("uci"), ["-c", join(m.root, "etc/config"), ...args], {});
      expect(uci("set", "meshwrt.main.hostname=lab-router").status).toBe(0);
      expect(uci("commit", "meshwrt").status).toBe(0);
      const keys = join(m.root, "etc/meshwrt/keys.json");
      mkdirSync(dirname(keys), { recursive: true, mode: 0o700 });
      writeFileSync(keys, '{"machine":"privkey:test","node":"privkey:test"}\n', { mode: 0o600 });

      const next = join(tmp, `next-${format}`);
      mkdirSync(next, { recursive: true });
      const v2 = nextRelease(v1);
      for (const name of APPS) {
        const p = pick(format, name, name === "meshwrt" ? "x86_64" : undefined);
        if (format === "ipk") raiseIpk(p.file, nextRelease(p.version), next);
        else raiseApk(w, p.file, nextRelease(p.version), next);
      }
      if (format === "ipk") writeOpkgIndex(next);
      else writeApkIndex(w, next);
      m.addFeed(next);
      const u = m.upgrade(APPS);
      expect(u.status, u.out).toBe(0);
      expect(m.installed().get("meshwrt")).toBe(v2);
      expect(uci("get", "meshwrt.main.hostname").out.trim()).toBe("lab-router");
      expect(readFileSync(keys, "utf8")).toBe('{"machine":"privkey:test","node":"privkey:test"}\n');
      expect(version(m.root, "x86_64").status).toBe(0);
      expect(runningFrom(m.root)).toEqual([]);
      expect(startedServices()).toBe("");

      const d = m.remove(["luci-app-meshwrt", "meshwrt"]);
      expect(d.status, d.out).toBe(0);
      expect(m.installed().has("meshwrt")).toBe(false);
      for (const f of ["usr/sbin/meshwrt", "etc/init.d/meshwrt", ...LUCI_FILES]) expect(existsSync(join(m.root, f)), f).toBe(false);
      expect(enabledLinks(m.root)).toEqual([]);
      expect(startedServices()).toBe("");
      // The node's identity outlives the package: a reinstall is the same node.
      expect(readFileSync(keys, "utf8")).toContain("privkey:test");
    });

    for (const arch of Object.keys(QEMU).filter((a) => a !== "x86_64")) {
      it(`installs on ${arch} within 1.5 MB and the binary runs there (${QEMU[arch]}, emulated)`, () => {
        const wanted = pick(format, "meshwrt", arch);
        const m = make(arch);
        const bytes = installApps(m);
        console.log(`${style}, ${arch}: meshwrt + luci-app-meshwrt installed ${bytes} bytes (budget ${INSTALL_BUDGET})`);
        expect(bytes).toBeLessThanOrEqual(INSTALL_BUDGET);
        expect(m.installed().get("meshwrt")).toBe(wanted.version);
        expect(lstatSync(join(m.root, "usr/sbin/meshwrt")).isFile()).toBe(true);
        const ver = version(m.root, arch);
        expect(ver.status, ver.out).toBe(0);
        expect(ver.out).toMatch(/^meshwrt \d/);
      });
    }
  });
}
