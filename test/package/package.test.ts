// The packages of `make package`: first the .ipk writer (build/package.mjs) on a placeholder
// binary and a stand-in LuCI app, unpacked with tar and checked the way opkg reads them
// (member order, GNU tar headers, control fields, conffiles, file list and modes, maintainer
// scripts); then the real feed for every target (build/feed.mjs): both formats, the
// indexes, the .apk read back by apk-tools, and the size budgets with the real binaries.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");
const SCRIPT = join(ROOT, "build", "package.mjs");
const FEED = join(ROOT, "openwrt-package", "meshwrt");
const MAKEFILE = readFileSync(join(FEED, "Makefile"), "utf8");
const PKG_JSON = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string; license: string };
const EPOCH = 1_763_800_000;
const BUDGET = 1_500_000;

const makeVar = (name: string): string => {
  const m = new RegExp(`^${name}:=(.*)$`, "m").exec(MAKEFILE);
  if (!m) throw new Error(`no ${name}:= in the feed Makefile`);
  return m[1]!.trim();
};
const makeDefine = (name: string): string[] => {
  const m = new RegExp(`^define ${name.replace(/\//g, "\\/")}\\n([\\s\\S]*?)^endef$`, "m").exec(MAKEFILE);
  if (!m) throw new Error(`no define ${name} in the feed Makefile`);
  return m[1]!.replace(/\n$/, "").split("\n");
};
const VERSION = `${makeVar("PKG_VERSION")}-r${makeVar("PKG_RELEASE")}`;

let work: string;

function run(args: string[]) {
  const r = spawnSync("node", [SCRIPT, ...args], { cwd: ROOT, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// A LuCI app in LuCI's layout with the packer's edge cases: a name longer than
// tar's 100 bytes and an executable. The real luci-app/ is packed further down.
function luciFixture(dir: string) {
  const put = (path: string, text: string, mode = 0o644) => {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), text);
    chmodSync(join(dir, path), mode);
  };
  put("htdocs/luci-static/resources/view/meshwrt/status.js", "'use strict';\n'require view';\nreturn view.extend({});\n");
  put("root/usr/share/luci/menu.d/luci-app-meshwrt.json", '{"admin/services/meshwrt":{"title":"meshwrt"}}\n');
  put("root/usr/share/rpcd/acl.d/luci-app-meshwrt.json", '{"luci-app-meshwrt":{"read":{"ubus":{"meshwrt":["status"]}}}}\n');
  put("root/usr/libexec/rpcd/meshwrt-helper", "#!/bin/sh\necho '{}'\n", 0o755);
  // Longer than tar's 100-byte name field: needs GNU tar's ././@LongLink entry.
  put(`htdocs/luci-static/resources/view/meshwrt/${"a-rather-long-directory-name/".repeat(2)}peers-table-with-a-long-name.js`, "'use strict';\n");
  put("Makefile", "LUCI_TITLE:=LuCI support for meshwrt\nLUCI_DEPENDS:=+luci-base +meshwrt\ninclude ../../luci.mk\n");
}

// The members of a tar (plain or gzip'd), with the fields tar -tv shows.
function listTar(file: string) {
  const out = execFileSync("tar", ["--numeric-owner", "-tvf", file], { encoding: "utf8" });
  return out.trim().split("\n").map((line) => {
    const [perm, owner, size, , , ...rest] = line.split(/\s+/);
    return { perm: perm!, owner: owner!, size: Number(size), name: rest.join(" ") };
  });
}

function unpack(ipk: string, into: string) {
  mkdirSync(into, { recursive: true });
  execFileSync("tar", ["-xzf", ipk, "-C", into]);
  for (const part of ["control", "data"]) {
    mkdirSync(join(into, part));
    execFileSync("tar", ["--numeric-owner", "-xpzf", join(into, `${part}.tar.gz`), "-C", join(into, part)]);
  }
}

function controlFields(text: string): [string, string][] {
  const fields: [string, string][] = [];
  for (const line of text.replace(/\n$/, "").split("\n")) {
    if (line.startsWith(" ")) fields[fields.length - 1]![1] += `\n${line}`;
    else {
      const i = line.indexOf(": ");
      fields.push([line.slice(0, i), line.slice(i + 2)]);
    }
  }
  return fields;
}

// ipkg-build runs, under fakeroot, `tar --format=gnu --numeric-owner --sort=name -cpf -
// --mtime=... .` in the package tree and in CONTROL/, then the same over ./debian-binary
// ./data.tar.gz ./control.tar.gz. GNU tar run that way over what we unpacked must give back
// our archives byte for byte (--owner=0 --group=0 stands in for fakeroot).
function sameAsIpkgBuild(ipk: string, un: string) {
  const gnu = (cwd: string, members: string[]) =>
    execFileSync("tar", ["--format=gnu", "--numeric-owner", "--owner=0", "--group=0", "--sort=name", "-cpf", "-", `--mtime=@${EPOCH}`, ...members], { cwd, maxBuffer: 64 << 20 });
  for (const part of ["data", "control"]) {
    const ours = gunzipSync(readFileSync(join(un, `${part}.tar.gz`)));
    expect(Buffer.compare(ours, gnu(join(un, part), ["."])), `${part}.tar`).toBe(0);
  }
  const outer = gunzipSync(readFileSync(ipk));
  const files = mkdtempSync(join(work, "outer-"));
  execFileSync("tar", ["-xzpf", ipk, "-C", files]);
  expect(Buffer.compare(outer, gnu(files, ["./debian-binary", "./data.tar.gz", "./control.tar.gz"])), "outer tar").toBe(0);
}

const shellcheck = (file: string) => spawnSync("shellcheck", [file], { encoding: "utf8" });
const shSyntax = (file: string) => spawnSync("sh", ["-n", file], { encoding: "utf8" });

// One build of both packages from a placeholder binary and a stand-in LuCI app.
let binary: Buffer;
let built: ReturnType<typeof run>;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "meshwrt-package-"));
  binary = Buffer.concat([Buffer.from("placeholder for build/out/meshwrt\n"), Buffer.alloc(200_000, 7)]);
  writeFileSync(join(work, "meshwrt"), binary);
  luciFixture(join(work, "luci"));
  built = run(["--binary", join(work, "meshwrt"), "--out", join(work, "out"), "--luci-dir", join(work, "luci"), "--epoch", String(EPOCH)]);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("meshwrt .ipk", () => {
  let ipk: string;
  let un: string;

  beforeAll(() => {
    ipk = join(work, "out", `meshwrt_${VERSION}_x86_64.ipk`);
    un = join(work, "meshwrt-un");
    if (built.status === 0) unpack(ipk, un);
  });

  it("builds both packages and prints their installed sizes", () => {
    expect(built.stderr).not.toMatch(/Error|at .*\.mjs/);
    expect(built.status).toBe(0);
    expect(readdirSync(join(work, "out")).sort()).toEqual([`luci-app-meshwrt_${VERSION}_all.ipk`, `meshwrt_${VERSION}_x86_64.ipk`]);
    expect(built.stdout).toMatch(new RegExp(`meshwrt_${VERSION}_x86_64\\.ipk: installed size [\\d,]+ bytes`));
    expect(built.stdout).toMatch(new RegExp(`luci-app-meshwrt_${VERSION}_all\\.ipk: installed size [\\d,]+ bytes`));
    expect(built.stdout).toMatch(/installed size, meshwrt \+ luci-app-meshwrt: [\d,]+ bytes .*budget 1,500,000 bytes: ok/);
  });

  it("the version is package.json's, released as the feed Makefile says", () => {
    expect(makeVar("PKG_VERSION")).toBe(PKG_JSON.version);
    expect(makeVar("PKG_LICENSE")).toBe(PKG_JSON.license);
  });

  it("is a gzip'd GNU tar of ./debian-binary, ./data.tar.gz, ./control.tar.gz, in ipkg-build's order", () => {
    const members = listTar(ipk);
    expect(members.map((m) => m.name)).toEqual(["./debian-binary", "./data.tar.gz", "./control.tar.gz"]);
    for (const m of members) {
      expect(m.owner).toBe("0/0");
      expect(m.perm).toBe("-rw-r--r--");
    }
    expect(readFileSync(join(un, "debian-binary"), "utf8")).toBe("2.0\n");
    // GNU format (--format=gnu): magic "ustar  \0" in every header.
    const outer = gunzipSync(readFileSync(ipk));
    expect(outer.subarray(257, 265).toString("latin1")).toBe("ustar  \0");
    expect(outer.length % 10240).toBe(0);
  });

  it("each archive is byte for byte what ipkg-build's tar commands make of the same tree", () => {
    sameAsIpkgBuild(ipk, un);
  });

  it("control: every field, in OpenWrt's order", () => {
    const text = readFileSync(join(un, "control", "control"), "utf8");
    const fields = controlFields(text);
    expect(fields.map(([k]) => k)).toEqual([
      "Package", "Version", "Depends", "Source", "SourceName", "License", "Section",
      "Require-User", "SourceDateEpoch", "Maintainer", "Architecture", "Installed-Size", "Description",
    ]);
    const f = new Map(fields);
    expect(f.get("Package")).toBe("meshwrt");
    // The feed Makefile's USERID: base-files' add_group_and_user (default_postinst) creates the
    // group meshwrt.json's ACL names.
    expect(f.get("Require-User")).toBe(":meshwrt");
    expect(makeDefine("Package/meshwrt").map((l) => l.trim())).toContain("USERID:=:meshwrt");
    expect(f.get("Version")).toBe(VERSION);
    // The placeholder is not a dynamically linked ELF: no shared-library dependencies.
    expect(f.get("Depends")).toBe("libc, kmod-wireguard, kmod-nft-tproxy, nftables, ca-bundle");
    expect(f.get("Source")).toBe("feeds/meshwrt/meshwrt");
    expect(f.get("SourceName")).toBe("meshwrt");
    expect(f.get("License")).toBe("BSD-3-Clause");
    expect(f.get("Section")).toBe("net");
    expect(f.get("SourceDateEpoch")).toBe(String(EPOCH));
    expect(f.get("Maintainer")).toBe(makeVar("PKG_MAINTAINER"));
    expect(f.get("Maintainer")).toMatch(/^.+ <[^@\s]+@[^@\s]+>$/);
    expect(f.get("Architecture")).toBe("x86_64");
    // As ipkg-build computes it: the size of the uncompressed data tar.
    const dataTar = gunzipSync(readFileSync(join(un, "data.tar.gz")));
    expect(f.get("Installed-Size")).toBe(String(dataTar.length));
    expect(built.stdout).toContain(`installed size ${dataTar.length.toLocaleString("en-US")} bytes`);
    // OpenWrt's rendering of define Package/meshwrt/description: every line begins with one space.
    const description = makeDefine("Package/meshwrt/description").map((l) => ` ${l.trimStart()}`).join("\n");
    expect(f.get("Description")).toBe(description);
    expect(text).toMatch(/\nDescription:  meshwrt joins this router/);
    expect(text.endsWith("\n")).toBe(true);
  });

  it("control.tar.gz: conffiles and OpenWrt's maintainer scripts, nothing else", () => {
    const members = listTar(join(un, "control.tar.gz"));
    expect(members.map((m) => `${m.perm} ${m.owner} ${m.name}`)).toEqual([
      "drwxr-xr-x 0/0 ./",
      "-rw-r--r-- 0/0 ./conffiles",
      "-rw-r--r-- 0/0 ./control",
      "-rwxr-xr-x 0/0 ./postinst",
      "-rwxr-xr-x 0/0 ./postinst-pkg",
      "-rwxr-xr-x 0/0 ./prerm",
      "-rwxr-xr-x 0/0 ./prerm-pkg",
    ]);
    expect(readFileSync(join(un, "control", "conffiles"), "utf8")).toBe("/etc/config/meshwrt\n");
    const postinst = readFileSync(join(un, "control", "postinst"), "utf8");
    expect(postinst.split("\n")).toEqual([
      "#!/bin/sh",
      '[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0',
      "[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0",
      ". ${IPKG_INSTROOT}/lib/functions.sh",
      "default_postinst $0 $@",
      "",
    ]);
    const prerm = readFileSync(join(un, "control", "prerm"), "utf8");
    expect(prerm.split("\n")).toEqual([
      "#!/bin/sh",
      "[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0",
      ". ${IPKG_INSTROOT}/lib/functions.sh",
      "default_prerm $0 $@",
      "",
    ]);
    // postinst-pkg is define Package/meshwrt/postinst, with make's $$ turned into $.
    const pkgScript = readFileSync(join(un, "control", "postinst-pkg"), "utf8");
    expect(pkgScript).toBe(makeDefine("Package/meshwrt/postinst").join("\n").replace(/\$\$/g, "$") + "\n");
    expect(pkgScript).toContain('[ -n "${IPKG_INSTROOT}" ] && exit 0');
    // prerm-pkg takes away the firewall zone the uci-defaults script added.
    const prermPkg = readFileSync(join(un, "control", "prerm-pkg"), "utf8");
    expect(prermPkg).toBe(makeDefine("Package/meshwrt/prerm").join("\n").replace(/\$\$/g, "$") + "\n");
    expect(prermPkg).toContain("uci -q delete firewall.$s");
    for (const s of ["postinst", "prerm", "postinst-pkg", "prerm-pkg"]) expect(shSyntax(join(un, "control", s)).status, s).toBe(0);
    // postinst and prerm are OpenWrt's own generated text; ours must pass shellcheck.
    for (const s of ["postinst-pkg", "prerm-pkg"]) {
      const sc = shellcheck(join(un, "control", s));
      expect(sc.stdout + sc.stderr, s).toBe("");
      expect(sc.status, s).toBe(0);
    }
  });

  it("data.tar.gz: the file list, modes and owners; the keys dir 0700", () => {
    const members = listTar(join(un, "data.tar.gz"));
    expect(members.map((m) => `${m.perm} ${m.owner} ${m.name}`)).toEqual([
      "drwxr-xr-x 0/0 ./",
      "drwxr-xr-x 0/0 ./etc/",
      "drwxr-xr-x 0/0 ./etc/config/",
      "-rw------- 0/0 ./etc/config/meshwrt",
      "drwxr-xr-x 0/0 ./etc/hotplug.d/",
      "drwxr-xr-x 0/0 ./etc/hotplug.d/iface/",
      "-rw-r--r-- 0/0 ./etc/hotplug.d/iface/80-meshwrt",
      "drwxr-xr-x 0/0 ./etc/init.d/",
      "-rwxr-xr-x 0/0 ./etc/init.d/meshwrt",
      "drwx------ 0/0 ./etc/meshwrt/",
      "drwxr-xr-x 0/0 ./etc/uci-defaults/",
      "-rwxr-xr-x 0/0 ./etc/uci-defaults/90-meshwrt-firewall",
      "drwxr-xr-x 0/0 ./lib/",
      "drwxr-xr-x 0/0 ./lib/upgrade/",
      "drwxr-xr-x 0/0 ./lib/upgrade/keep.d/",
      "-rw-r--r-- 0/0 ./lib/upgrade/keep.d/meshwrt",
      "drwxr-xr-x 0/0 ./usr/",
      "drwxr-xr-x 0/0 ./usr/sbin/",
      "-rwxr-xr-x 0/0 ./usr/sbin/meshwrt",
      "drwxr-xr-x 0/0 ./usr/share/",
      "drwxr-xr-x 0/0 ./usr/share/acl.d/",
      "-rw-r--r-- 0/0 ./usr/share/acl.d/meshwrt.json",
    ]);
    const data = join(un, "data");
    expect(Buffer.compare(readFileSync(join(data, "usr/sbin/meshwrt")), binary)).toBe(0);
    expect(readFileSync(join(data, "etc/init.d/meshwrt"), "utf8")).toBe(readFileSync(join(FEED, "files/meshwrt.init"), "utf8"));
    expect(readFileSync(join(data, "etc/config/meshwrt"), "utf8")).toBe(readFileSync(join(FEED, "files/meshwrt.config"), "utf8"));
    expect(readFileSync(join(data, "etc/hotplug.d/iface/80-meshwrt"), "utf8")).toBe(readFileSync(join(FEED, "files/meshwrt.hotplug"), "utf8"));
    expect(readFileSync(join(data, "etc/uci-defaults/90-meshwrt-firewall"), "utf8")).toBe(readFileSync(join(FEED, "files/meshwrt.firewall"), "utf8"));
    expect(readFileSync(join(data, "usr/share/acl.d/meshwrt.json"), "utf8")).toBe(readFileSync(join(FEED, "files/meshwrt.acl.json"), "utf8"));
    // The keys directory is not a file: sysupgrade keeps it through keep.d, as package-pack.mk arranges.
    expect(readFileSync(join(data, "lib/upgrade/keep.d/meshwrt"), "utf8")).toBe("/etc/meshwrt/\n");
  });

  it("the layout is the one Package/meshwrt/install gives the SDK package", () => {
    const modes: Record<string, string> = { INSTALL_BIN: "-rwxr-xr-x", INSTALL_CONF: "-rw-------", INSTALL_DATA: "-rw-r--r--" };
    const installed = new Map<string, string>();
    for (const line of makeDefine("Package/meshwrt/install")) {
      const m = /^\t\$\((INSTALL_BIN|INSTALL_CONF|INSTALL_DATA)\) \S+ \$\(1\)(\S+)$/.exec(line);
      if (m) installed.set(`.${m[2]}`, modes[m[1]!]!);
    }
    expect(installed.size).toBe(6);
    expect(makeDefine("Package/meshwrt/install")).toContain("\tchmod 0700 $(1)/etc/meshwrt");
    const members = new Map(listTar(join(un, "data.tar.gz")).map((m) => [m.name, m.perm]));
    for (const [path, perm] of installed) expect(members.get(path), path).toBe(perm);
    expect(makeDefine("Package/meshwrt/conffiles")).toEqual(["/etc/config/meshwrt", "/etc/meshwrt/"]);
  });

  it("the SDK package depends on WireGuard, nftables and the libraries it links", () => {
    const runtime = makeVar("MESHWRT_RUNTIME_DEPENDS").split(/\s+/);
    const libs = makeVar("MESHWRT_LIB_DEPENDS").split(/\s+/);
    expect(runtime).toEqual(expect.arrayContaining(["+kmod-wireguard", "+kmod-nft-tproxy", "+nftables"]));
    expect(libs).toContain("+libmbedtls");
    expect(makeDefine("Package/meshwrt").join("\n")).toContain("DEPENDS:=$(MESHWRT_RUNTIME_DEPENDS) $(MESHWRT_LIB_DEPENDS)");
  });

  it("a dynamically linked binary brings the library dependencies; a static one does not", () => {
    const out = join(work, "dyn");
    const dyn = run(["--binary", "/bin/true", "--out", out, "--only", "meshwrt", "--epoch", String(EPOCH)]);
    expect(dyn.status, dyn.stderr).toBe(0);
    unpack(join(out, `meshwrt_${VERSION}_x86_64.ipk`), join(out, "un"));
    const f = new Map(controlFields(readFileSync(join(out, "un", "control", "control"), "utf8")));
    expect(f.get("Depends")).toBe("libc, kmod-wireguard, kmod-nft-tproxy, nftables, ca-bundle, libmbedtls, libatomic");

    if (existsSync("/bin/busybox")) {
      const out2 = join(work, "static");
      const st = run(["--binary", "/bin/busybox", "--out", out2, "--only", "meshwrt", "--epoch", String(EPOCH)]);
      expect(st.status, st.stderr).toBe(0);
      unpack(join(out2, `meshwrt_${VERSION}_x86_64.ipk`), join(out2, "un"));
      const g = new Map(controlFields(readFileSync(join(out2, "un", "control", "control"), "utf8")));
      expect(g.get("Depends")).toBe("libc, kmod-wireguard, kmod-nft-tproxy, nftables, ca-bundle");
    }
  });

  it("refuses a binary built for another architecture", () => {
    const arm = Buffer.from(readFileSync("/bin/true"));
    arm.writeUInt16LE(183, 18); // e_machine: aarch64
    writeFileSync(join(work, "arm"), arm);
    const r = run(["--binary", join(work, "arm"), "--out", join(work, "arm-out"), "--only", "meshwrt"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("is an ELF for machine 183, not for x86_64");
  });

  it("is reproducible: the same inputs give the same bytes", () => {
    const again = join(work, "again");
    const r = run(["--binary", join(work, "meshwrt"), "--out", again, "--only", "meshwrt", "--epoch", String(EPOCH)]);
    expect(r.status).toBe(0);
    expect(Buffer.compare(readFileSync(join(again, `meshwrt_${VERSION}_x86_64.ipk`)), readFileSync(ipk))).toBe(0);
  });
});

describe("luci-app-meshwrt .ipk", () => {
  let ipk: string;
  let un: string;

  beforeAll(() => {
    ipk = join(work, "out", `luci-app-meshwrt_${VERSION}_all.ipk`);
    un = join(work, "luci-un");
    unpack(ipk, un);
  });

  it("control: architecture-independent, depends on LuCI and meshwrt", () => {
    const fields = controlFields(readFileSync(join(un, "control", "control"), "utf8"));
    expect(fields.map(([k]) => k)).toEqual([
      "Package", "Version", "Depends", "Source", "SourceName", "License", "Section",
      "SourceDateEpoch", "Maintainer", "Architecture", "Installed-Size", "Description",
    ]);
    const f = new Map(fields);
    expect(f.get("Package")).toBe("luci-app-meshwrt");
    expect(f.get("Version")).toBe(VERSION);
    expect(f.get("Depends")).toBe("libc, luci-base, meshwrt");
    expect(f.get("Section")).toBe("luci");
    expect(f.get("Architecture")).toBe("all");
    expect(f.get("SourceName")).toBe("luci-app-meshwrt");
    expect(f.get("Installed-Size")).toBe(String(gunzipSync(readFileSync(join(un, "data.tar.gz"))).length));
    expect(f.get("Description")).toMatch(/^ LuCI support for meshwrt/);
    expect(listTar(ipk).map((m) => m.name)).toEqual(["./debian-binary", "./data.tar.gz", "./control.tar.gz"]);
  });

  it("each archive is byte for byte what ipkg-build's tar commands make (long names included)", () => {
    sameAsIpkgBuild(ipk, un);
  });

  it("data: htdocs/ under /www, root/ under /, modes kept, long names intact", () => {
    const members = listTar(join(un, "data.tar.gz")).filter((m) => !m.name.endsWith("/"));
    const long = `./www/luci-static/resources/view/meshwrt/${"a-rather-long-directory-name/".repeat(2)}peers-table-with-a-long-name.js`;
    expect(long.length).toBeGreaterThan(100);
    expect(members.map((m) => `${m.perm} ${m.owner} ${m.name}`)).toEqual([
      "-rwxr-xr-x 0/0 ./usr/libexec/rpcd/meshwrt-helper",
      "-rw-r--r-- 0/0 ./usr/share/luci/menu.d/luci-app-meshwrt.json",
      "-rw-r--r-- 0/0 ./usr/share/rpcd/acl.d/luci-app-meshwrt.json",
      `-rw-r--r-- 0/0 ${long}`,
      "-rw-r--r-- 0/0 ./www/luci-static/resources/view/meshwrt/status.js",
    ]);
    expect(readFileSync(join(un, "data", long), "utf8")).toBe("'use strict';\n");
    // No Makefile, no conffiles.
    expect(existsSync(join(un, "data", "Makefile"))).toBe(false);
    expect(existsSync(join(un, "control", "conffiles"))).toBe(false);
  });

  it("maintainer scripts: OpenWrt's wrappers, and rpcd reloads for the new ACL", () => {
    expect(listTar(join(un, "control.tar.gz")).map((m) => `${m.perm} ${m.name}`)).toEqual([
      "drwxr-xr-x ./", "-rw-r--r-- ./control", "-rwxr-xr-x ./postinst", "-rwxr-xr-x ./postinst-pkg", "-rwxr-xr-x ./prerm",
    ]);
    const pkg = join(un, "control", "postinst-pkg");
    expect(readFileSync(pkg, "utf8")).toContain("/etc/init.d/rpcd reload");
    expect(shSyntax(pkg).status).toBe(0);
    const sc = shellcheck(pkg);
    expect(sc.stdout + sc.stderr).toBe("");
  });

  it("an empty luci-app/ fails with a clear message, after building meshwrt", () => {
    const empty = join(work, "empty-luci");
    mkdirSync(join(empty, "htdocs"), { recursive: true });
    const out = join(work, "no-luci");
    const r = run(["--binary", join(work, "meshwrt"), "--out", out, "--luci-dir", empty]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`package: luci-app-meshwrt not built: ${empty} has no files under htdocs/ or root/`);
    expect(r.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
    expect(readdirSync(out)).toEqual([`meshwrt_${VERSION}_x86_64.ipk`]);
    const missing = run(["--binary", join(work, "meshwrt"), "--out", out, "--luci-dir", join(work, "no-such-dir")]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain("luci-app-meshwrt not built");
  });
});

describe("luci-app-meshwrt .ipk from luci-app/", () => {
  it("holds the views, the QR encoder, the menu entry and the ACL, and nothing else (no Makefile)", () => {
    const out = mkdtempSync(join(tmpdir(), "meshwrt-luci-app-"));
    try {
      const r = run(["--only", "luci", "--out", out, "--luci-dir", join(ROOT, "luci-app"), "--epoch", String(EPOCH)]);
      expect(r.status, r.stderr).toBe(0);
      const un = join(out, "un");
      unpack(join(out, `luci-app-meshwrt_${VERSION}_all.ipk`), un);
      expect(listTar(join(un, "data.tar.gz")).filter((m) => !m.name.endsWith("/")).map((m) => `${m.perm} ${m.name}`)).toEqual([
        "-rw-r--r-- ./usr/share/luci/menu.d/luci-app-meshwrt.json",
        "-rw-r--r-- ./usr/share/rpcd/acl.d/luci-app-meshwrt.json",
        "-rw-r--r-- ./www/luci-static/resources/meshwrt/qrcode.js",
        "-rw-r--r-- ./www/luci-static/resources/view/meshwrt/overview.js",
        "-rw-r--r-- ./www/luci-static/resources/view/meshwrt/sharing.js",
      ]);
      for (const f of ["usr/share/luci/menu.d/luci-app-meshwrt.json", "usr/share/rpcd/acl.d/luci-app-meshwrt.json"]) JSON.parse(readFileSync(join(un, "data", f), "utf8"));
      const f = new Map(controlFields(readFileSync(join(un, "control", "control"), "utf8")));
      expect(f.get("Description")).toMatch(/^ LuCI page for meshwrt: the router's tailnet/);
      expect(f.get("License")).toBe("BSD-3-Clause");
      expect(Number(f.get("Installed-Size"))).toBeLessThan(64 * 1024);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

// The feed `make package` writes (build/package.mk, build/feed.mjs): every target's binary
// from `make cross`, packed as .ipk and as .apk by apk-tools' own mkpkg, with the indexes.
const FEED_TARGETS = ["x86_64", "aarch64_cortex-a53", "arm_cortex-a7_neon-vfpv4", "mipsel_24kc", "mips_24kc"];
const ELF: Record<string, { machine: number; order: "le" | "be" }> = {
  x86_64: { machine: 62, order: "le" },
  "aarch64_cortex-a53": { machine: 183, order: "le" },
  "arm_cortex-a7_neon-vfpv4": { machine: 40, order: "le" },
  mipsel_24kc: { machine: 8, order: "le" },
  mips_24kc: { machine: 8, order: "be" },
};
const BINARY_BUDGET = 1_048_576;

describe("make package: the feed for every target", () => {
  const feed = join(ROOT, "build", "out", "packages");
  let made: { status: number | null; stdout: string; stderr: string };
  let apk: string;
  beforeAll(() => {
    const r = spawnSync("make", ["--no-print-directory", "package"], { cwd: ROOT, encoding: "utf8", maxBuffer: 64 << 20 });
    made = { status: r.status, stdout: r.stdout, stderr: r.stderr };
    apk = /OPENWRT_ROOT='([^']+)'/.exec(execFileSync("sh", ["test/openwrt/build.sh"], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }))![1] + "/usr/bin/apk";
  }, 1_800_000);

  it("prints the size table and holds the budgets: each binary at most 1 MiB, each install at most 1.5 MB", () => {
    expect(made.status, made.stderr.slice(-2000)).toBe(0);
    console.log(made.stdout.split("\n").filter((l) => /^(target|x86_64|aarch64|arm_|mips|luci-app|budgets)/.test(l)).join("\n"));
    expect(made.stdout).toMatch(/^target\s+binary\s+\.ipk\s+\.apk\s+installed \(opkg\)\s+installed \(apk\)$/m);
    for (const t of FEED_TARGETS) {
      const row = new RegExp(`^${t}\\s+([\\d,]+)\\s+([\\d,]+)\\s+([\\d,]+)\\s+([\\d,]+)\\s+([\\d,]+)$`, "m").exec(made.stdout);
      expect(row, t).not.toBeNull();
      const [bin, ipk, apkSize, instOpkg, instApk] = row!.slice(1).map((n) => Number(n.replace(/,/g, "")));
      expect(bin).toBe(statSync(join(ROOT, "build", "out", t, "meshwrt")).size);
      expect(bin, `${t} binary`).toBeLessThanOrEqual(BINARY_BUDGET);
      expect(ipk).toBe(statSync(join(feed, t, `meshwrt_${VERSION}_${t}.ipk`)).size);
      expect(apkSize).toBe(statSync(join(feed, t, `meshwrt-${VERSION}.apk`)).size);
      expect(instOpkg, `${t} installed (opkg)`).toBeLessThanOrEqual(BUDGET);
      expect(instApk, `${t} installed (apk)`).toBeLessThanOrEqual(BUDGET);
    }
    expect(made.stdout).toMatch(/budgets: .*: ok$/m);
  });

  for (const t of FEED_TARGETS) {
    it(`${t}: both formats of both packages and the three indexes, the target's own binary inside`, () => {
      expect(readdirSync(join(feed, t)).sort()).toEqual([
        "Packages", "Packages.gz",
        `luci-app-meshwrt-${VERSION}.apk`, `luci-app-meshwrt_${VERSION}_all.ipk`,
        `meshwrt-${VERSION}.apk`, `meshwrt_${VERSION}_${t}.ipk`,
        "packages.adb",
      ].sort());
      const un = mkdtempSync(join(tmpdir(), `meshwrt-feed-${t}-`));
      try {
        unpack(join(feed, t, `meshwrt_${VERSION}_${t}.ipk`), un);
        const f = new Map(controlFields(readFileSync(join(un, "control", "control"), "utf8")));
        expect(f.get("Architecture")).toBe(t);
        expect(f.get("Depends")).toBe("libc, kmod-wireguard, kmod-nft-tproxy, nftables, ca-bundle");
        const bin = readFileSync(join(un, "data", "usr/sbin/meshwrt"));
        expect(Buffer.compare(bin, readFileSync(join(ROOT, "build", "out", t, "meshwrt")))).toBe(0);
        // A static ELF for the target's CPU and byte order.
        expect(bin.readUInt32BE(0)).toBe(0x7f454c46);
        const order = bin[5] === 1 ? "le" : "be";
        expect(order).toBe(ELF[t]!.order);
        expect(order === "le" ? bin.readUInt16LE(18) : bin.readUInt16BE(18)).toBe(ELF[t]!.machine);
        expect(execFileSync("file", ["-b", join(un, "data", "usr/sbin/meshwrt")], { encoding: "utf8" })).toMatch(/statically linked/);
      } finally {
        rmSync(un, { recursive: true, force: true });
      }
    });

    it(`${t}: Packages is ipkg-make-index's (control + Filename, Size, SHA256sum), Packages.gz the same text`, () => {
      const text = readFileSync(join(feed, t, "Packages"), "utf8");
      expect(gunzipSync(readFileSync(join(feed, t, "Packages.gz"))).toString("utf8")).toBe(text);
      const entries = text.trim().split(/\n\n/);
      expect(entries).toHaveLength(2);
      for (const e of entries) {
        const f = new Map(controlFields(e + "\n"));
        const file = join(feed, t, f.get("Filename")!);
        const data = readFileSync(file);
        expect(f.get("Size")).toBe(String(data.length));
        expect(f.get("SHA256sum")).toBe(createHash("sha256").update(data).digest("hex"));
        expect([...f.keys()].slice(-4)).toEqual(["Filename", "Size", "SHA256sum", "Description"]);
        expect(f.get("Architecture")).toBe(f.get("Package") === "meshwrt" ? t : "all");
      }
    });
  }

  it("the .apk: metadata, OpenWrt's scripts, the file list and conffiles as package-pack.mk makes them (read by apk adbdump)", () => {
    const dump = execFileSync(apk, ["adbdump", join(feed, "mips_24kc", `meshwrt-${VERSION}.apk`)], { encoding: "utf8" });
    expect(dump).toMatch(/^ {2}name: meshwrt$/m);
    expect(dump).toMatch(new RegExp(`^ {2}version: ${VERSION}$`, "m"));
    expect(dump).toMatch(/^ {2}arch: mips_24kc$/m);
    expect(dump).toMatch(/^ {2}origin: feeds\/meshwrt\/meshwrt$/m);
    expect(dump).toMatch(/^ {2}depends: # 5 items\n {4}- ca-bundle\n {4}- kmod-nft-tproxy\n {4}- kmod-wireguard\n {4}- libc\n {4}- nftables$/m);
    // post-install: OpenWrt's wrapper, then the package's own postinst without its #! line.
    expect(dump).toMatch(/post-install: \|\n {4}#!\/bin\/sh\n(.*\n)*? {4}export pkgname="meshwrt"\n {4}add_group_and_user\n {4}default_postinst\n {4}\[ -n "\$\{IPKG_INSTROOT\}" \] && exit 0/);
    expect(dump).toMatch(/post-upgrade: \|\n {4}#!\/bin\/sh\n {4}export PKG_UPGRADE=1\n/);
    expect(dump).toMatch(/pre-deinstall: \|\n(.*\n)*? {4}default_prerm\n(.*\n)*? {4}\tuci -q delete firewall\.\$s/);
    const files = mkdtempSync(join(tmpdir(), "meshwrt-apk-files-"));
    try {
      execFileSync(apk, ["extract", "--allow-untrusted", "--destination", files, join(feed, "mips_24kc", `meshwrt-${VERSION}.apk`)]);
      const list = readFileSync(join(files, "lib/apk/packages/meshwrt.list"), "utf8").trim().split("\n");
      expect(list).toEqual([
        "/etc/config/meshwrt", "/etc/hotplug.d/iface/80-meshwrt", "/etc/init.d/meshwrt", "/etc/uci-defaults/90-meshwrt-firewall",
        "/lib/apk/packages/meshwrt.rusers", "/lib/upgrade/keep.d/meshwrt", "/usr/sbin/meshwrt", "/usr/share/acl.d/meshwrt.json",
      ]);
      // USERID as package-pack.mk writes it, for add_group_and_user in post-install.
      expect(readFileSync(join(files, "lib/apk/packages/meshwrt.rusers"), "utf8")).toBe(":meshwrt\n");
      expect(readFileSync(join(files, "lib/apk/packages/meshwrt.conffiles"), "utf8")).toBe(makeDefine("Package/meshwrt/conffiles").join("\n") + "\n");
      const config = readFileSync(join(files, "etc/config/meshwrt"));
      expect(readFileSync(join(files, "lib/apk/packages/meshwrt.conffiles_static"), "utf8")).toBe(`/etc/config/meshwrt ${createHash("sha256").update(config).digest("hex")}\n`);
      expect(statSync(join(files, "etc/config/meshwrt")).mode & 0o777).toBe(0o600);
      expect(statSync(join(files, "etc/meshwrt")).mode & 0o777).toBe(0o700);
    } finally {
      rmSync(files, { recursive: true, force: true });
    }
    const luci = execFileSync(apk, ["adbdump", join(feed, "mips_24kc", `luci-app-meshwrt-${VERSION}.apk`)], { encoding: "utf8" });
    expect(luci).toMatch(/^ {2}arch: noarch$/m);
    expect(luci).toMatch(/rpcd reload/);
  });

  it("packages.adb (apk mkndx) indexes both packages of its directory", () => {
    for (const t of FEED_TARGETS) {
      const dump = execFileSync(apk, ["adbdump", join(feed, t, "packages.adb")], { encoding: "utf8" });
      expect(dump.match(/^ {2}- name: (\S+)$/gm)?.map((l) => l.trim()).sort(), t).toEqual(["- name: luci-app-meshwrt", "- name: meshwrt"]);
      expect(dump).toMatch(new RegExp(`arch: ${t}$`, "m"));
    }
  });

  it("a binary over 1 MiB fails the build, naming the target", () => {
    const bins = mkdtempSync(join(tmpdir(), "meshwrt-big-"));
    try {
      mkdirSync(join(bins, "x86_64"));
      writeFileSync(join(bins, "x86_64", "meshwrt"), Buffer.alloc(BINARY_BUDGET + 1, 1));
      const r = spawnSync("node", [join(ROOT, "build", "feed.mjs"), "--apk", apk, "--bin-dir", bins, "--out", join(bins, "feed"), "x86_64"], { encoding: "utf8" });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`package: x86_64: the binary is ${(BINARY_BUDGET + 1).toLocaleString("en-US")} bytes, over 1,048,576`);
      expect(r.stdout).toMatch(/budgets: .*: OVER$/m);
    } finally {
      rmSync(bins, { recursive: true, force: true });
    }
  });
});
