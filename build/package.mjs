#!/usr/bin/env node
// Builds, without an OpenWrt SDK, the packages opkg (OpenWrt 24.10) and, with --apk,
// apk-tools 3 (OpenWrt 25.12) install:
//   meshwrt_<version>_<arch>.ipk, meshwrt-<version>.apk
//       the agent, its init script, UCI defaults, hotplug script, ubusd ACL
//   luci-app-meshwrt_<version>_all.ipk, luci-app-meshwrt-<version>.apk (noarch)
//       the LuCI page, from luci-app/ (htdocs/ and root/)
// `make package` runs build/feed.mjs, which calls this for every target.
// The .apk is written by apk-tools' own `apk mkpkg` (build/apk.mjs).
//
// The format is the one OpenWrt's scripts/ipkg-build writes: a gzip'd GNU tar holding
// ./debian-binary ("2.0\n"), ./data.tar.gz and ./control.tar.gz, in that order; the inner
// archives are GNU tars sorted by name, rooted at "./", owned by 0:0, with every mtime set
// to the source date epoch; Installed-Size is the size of the uncompressed data tar.
// The metadata (version, license, maintainer, dependencies, description, conffiles and the
// postinst script) comes from openwrt-package/meshwrt/Makefile, so the SDK package and this
// one say the same things.
//
// Usage: node build/package.mjs --binary PATH [--out DIR] [--arch ARCH] [--luci-dir DIR]
//                               [--epoch SECONDS] [--only meshwrt|luci] [--apk PATH-OF-apk]
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { buildApk } from "./apk.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const FEED_DIR = join(ROOT, "openwrt-package", "meshwrt");
// Issue 7: meshwrt's installed size, LuCI app included, at most 1.5 MB.
export const BUDGET = 1_500_000;

export class PackageError extends Error {}

// ---------------------------------------------------------------------------
// Arguments

export function parseArgs(argv) {
  const opts = { out: join(ROOT, "build", "out"), arch: "x86_64", luciDir: join(ROOT, "luci-app") };
  const names = { "--binary": "binary", "--out": "out", "--arch": "arch", "--luci-dir": "luciDir", "--epoch": "epoch", "--only": "only", "--apk": "apk" };
  for (let i = 0; i < argv.length; i++) {
    const key = names[argv[i]];
    if (!key || i + 1 >= argv.length) throw new PackageError(`usage: node build/package.mjs --binary PATH [--out DIR] [--arch ARCH] [--luci-dir DIR] [--epoch SECONDS] [--only meshwrt|luci] [--apk PATH-OF-apk] (at ${argv[i]})`);
    opts[key] = argv[++i];
  }
  if (opts.only && opts.only !== "meshwrt" && opts.only !== "luci") throw new PackageError(`--only takes meshwrt or luci, not ${opts.only}`);
  if (opts.only !== "luci" && !opts.binary) throw new PackageError("--binary PATH is required (the agent binary, e.g. build/out/meshwrt)");
  return opts;
}

// The mtime of every archive member and the SourceDateEpoch field: SOURCE_DATE_EPOCH,
// else the time of the last commit (reproducible), else now.
export function sourceDateEpoch(given) {
  const text = given ?? process.env.SOURCE_DATE_EPOCH;
  if (text !== undefined && text !== "") {
    if (!/^\d+$/.test(text)) throw new PackageError(`the source date epoch must be whole seconds, not ${text}`);
    return Number(text);
  }
  try {
    const out = execFileSync("git", ["-C", ROOT, "log", "-1", "--format=%ct"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    if (/^\d+$/.test(out)) return Number(out);
  } catch {
    // not a git checkout
  }
  return Math.floor(Date.now() / 1000);
}

// ---------------------------------------------------------------------------
// The feed Makefile: plain `NAME:=value` variables and `define NAME ... endef` blocks.

export function readFeedMakefile(path = join(FEED_DIR, "Makefile")) {
  const vars = new Map();
  const defines = new Map();
  const lines = readFileSync(path, "utf8").split("\n");
  for (let i = 0; i < lines.length; i++) {
    const def = /^define\s+(\S+)\s*$/.exec(lines[i]);
    if (def) {
      const body = [];
      for (i++; i < lines.length && !/^endef\s*$/.test(lines[i]); i++) body.push(lines[i]);
      if (i >= lines.length) throw new PackageError(`${path}: define ${def[1]} has no endef`);
      defines.set(def[1], body);
      continue;
    }
    const v = /^([A-Za-z0-9_]+)\s*(?::=|\?=|=)\s*(.*?)\s*$/.exec(lines[i]);
    if (v) vars.set(v[1], v[2]);
  }
  const expand = (text, where) =>
    text.replace(/\$\(([A-Za-z0-9_]+)\)/g, (_, name) => {
      if (!vars.has(name)) throw new PackageError(`${path}: ${where} uses $(${name}), which the Makefile does not set plainly`);
      return expand(vars.get(name), where);
    });
  const need = (name) => {
    if (!vars.has(name)) throw new PackageError(`${path}: no ${name}:=`);
    return expand(vars.get(name), name);
  };
  const block = (name) => {
    if (!defines.has(name)) throw new PackageError(`${path}: no define ${name}`);
    return defines.get(name);
  };
  // A define used as a script: `$$` is the shell's `$`; a single `$` would be a make reference.
  const script = (name) => {
    const text = block(name).join("\n") + "\n";
    if (/\$(?!\$)/.test(text.replace(/\$\$/g, ""))) throw new PackageError(`${path}: define ${name} uses a make reference; write $$ for the shell's $`);
    return text.replace(/\$\$/g, "$");
  };
  // KEY:=value lines inside define Package/NAME.
  const packageFields = (name) => {
    const fields = new Map();
    for (const line of block(`Package/${name}`)) {
      const m = /^\s*([A-Z_]+)\s*(?::=|\+=)\s*(.*?)\s*$/.exec(line);
      if (m) fields.set(m[1], expand(m[2], `Package/${name} ${m[1]}`));
    }
    return fields;
  };
  return { vars, defines, need, block, script, packageFields, path };
}

// "+kmod-wireguard +nftables" -> ["kmod-wireguard", "nftables"]
function dependsList(text) {
  return text.split(/\s+/).filter(Boolean).map((d) => {
    if (!/^\+?[a-z0-9][a-z0-9._+-]*$/.test(d)) throw new PackageError(`unsupported dependency form: ${d}`);
    return d.replace(/^\+/, "");
  });
}

// ---------------------------------------------------------------------------
// The binary: is it for this architecture, and does it load shared libraries?

// OpenWrt architecture -> ELF machine and byte order ("le"/"be").
const ELF_MACHINES = { x86_64: 62, "aarch64_cortex-a53": 183, "arm_cortex-a7_neon-vfpv4": 40, mipsel_24kc: 8, mips_24kc: 8 };
const ELF_ORDER = { mips_24kc: "be" };

export function inspectBinary(buf) {
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) return { elf: false, dynamic: false };
  const is64 = buf[4] === 2;
  const le = buf[5] === 1;
  const u16 = (o) => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const u64 = (o) => Number(le ? buf.readBigUInt64LE(o) : buf.readBigUInt64BE(o));
  const machine = u16(18);
  const phoff = is64 ? u64(32) : u32(28);
  const phentsize = u16(is64 ? 54 : 42);
  const phnum = u16(is64 ? 56 : 44);
  let dynamic = false;
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 4 > buf.length) break;
    if (u32(at) === 3) dynamic = true; // PT_INTERP: run by the dynamic loader
  }
  return { elf: true, machine, order: le ? "le" : "be", dynamic };
}

// ---------------------------------------------------------------------------
// Tar, as GNU tar writes it with --format=gnu --numeric-owner (what ipkg-build runs).

const BLOCK = 512;
const RECORD = 20 * BLOCK; // GNU tar's default blocking factor

function octal(value, width) {
  // width-1 octal digits, zero-padded, then NUL
  const s = value.toString(8);
  if (s.length > width - 1) throw new PackageError(`tar field too small for ${value}`);
  return s.padStart(width - 1, "0") + "\0";
}

function header(name, { mode, size, mtime, type }) {
  const h = Buffer.alloc(BLOCK);
  const nameBuf = Buffer.from(name, "utf8");
  nameBuf.copy(h, 0, 0, Math.min(100, nameBuf.length)); // a longer name went before, in ././@LongLink
  h.write(octal(mode, 8), 100, "latin1");
  h.write(octal(0, 8), 108, "latin1"); // uid
  h.write(octal(0, 8), 116, "latin1"); // gid
  h.write(octal(size, 12), 124, "latin1");
  h.write(octal(mtime, 12), 136, "latin1");
  h.write("        ", 148, "latin1"); // checksum placeholder
  h.write(type, 156, "latin1");
  h.write("ustar  \0", 257, "latin1"); // GNU magic and version; uname, gname, devices stay empty
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "latin1");
  return h;
}

function padding(len) {
  return Buffer.alloc((BLOCK - (len % BLOCK)) % BLOCK);
}

// entries: [{ name: "./etc/config/meshwrt", mode, data?: Buffer }] with directory names
// ending in "/"; written in the order given.
export function tar(entries, mtime) {
  const parts = [];
  for (const e of entries) {
    const isDir = e.name.endsWith("/");
    const data = isDir ? Buffer.alloc(0) : e.data;
    const nameLen = Buffer.byteLength(e.name, "utf8");
    if (nameLen > 100) {
      const longName = Buffer.concat([Buffer.from(e.name, "utf8"), Buffer.from([0])]);
      parts.push(header("././@LongLink", { mode: 0o644, size: longName.length, mtime: 0, type: "L" }), longName, padding(longName.length));
    }
    parts.push(header(e.name, { mode: e.mode, size: data.length, mtime, type: isDir ? "5" : "0" }));
    if (data.length) parts.push(data, padding(data.length));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  const body = Buffer.concat(parts);
  return Buffer.concat([body, Buffer.alloc((RECORD - (body.length % RECORD)) % RECORD)]);
}

const gzip = (buf) => gzipSync(buf, { level: 9 });

// A tree given as { "usr/sbin/meshwrt": { mode, data }, "etc/meshwrt/": { mode } }: adds the
// parent directories (0755 unless listed) and sorts the way `tar --sort=name` walks "."
// (depth first, names in byte order within each directory), rooted at "./".
export function treeEntries(files) {
  const nodes = new Map(); // "etc/config" -> { mode, data?, dir }
  for (const [path, f] of Object.entries(files)) {
    const dir = path.endsWith("/");
    const clean = path.replace(/\/+$/, "");
    if (!clean || clean.startsWith("/") || clean.split("/").some((p) => p === "" || p === "." || p === "..")) throw new PackageError(`bad path in package: ${path}`);
    const parts = clean.split("/");
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/");
      if (!nodes.has(parent)) nodes.set(parent, { mode: 0o755, dir: true });
      else if (!nodes.get(parent).dir) throw new PackageError(`${parent} is both a file and a directory`);
    }
    nodes.set(clean, dir ? { mode: f.mode ?? 0o755, dir: true } : { mode: f.mode, data: f.data, dir: false });
  }
  const children = new Map([["", []]]);
  for (const path of nodes.keys()) {
    const parent = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(path);
  }
  const out = [{ name: "./", mode: 0o755 }];
  const walk = (dir) => {
    const kids = (children.get(dir) ?? []).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const k of kids) {
      const n = nodes.get(k);
      out.push(n.dir ? { name: `./${k}/`, mode: n.mode } : { name: `./${k}`, mode: n.mode, data: n.data });
      if (n.dir) walk(k);
    }
  };
  walk("");
  return out;
}

// ---------------------------------------------------------------------------
// One .ipk

// control: [[field, value]...] without Installed-Size and Description; scripts: { postinst: text }
function buildIpk({ name, version, arch, control, description, conffiles, scripts, files, mtime, outDir }) {
  const dataTar = tar(treeEntries(files), mtime);
  const installedSize = dataTar.length;

  let text = "";
  for (const [k, v] of control) if (v !== undefined && v !== "") text += `${k}: ${v}\n`;
  text += `Installed-Size: ${installedSize}\n`;
  // As OpenWrt writes it: each line of the description, leading blanks turned into one space.
  text += "Description: " + description.map((l) => l.replace(/^\s*/, " ")).join("\n") + "\n";

  const controlFiles = { control: { mode: 0o644, data: Buffer.from(text) } };
  if (conffiles.length) controlFiles.conffiles = { mode: 0o644, data: Buffer.from([...conffiles].sort().join("\n") + "\n") };
  for (const [script, body] of Object.entries(scripts)) controlFiles[script] = { mode: 0o755, data: Buffer.from(body) };
  const controlTar = tar(treeEntries(controlFiles), mtime);

  const outer = tar(
    [
      { name: "./debian-binary", mode: 0o644, data: Buffer.from("2.0\n") },
      { name: "./data.tar.gz", mode: 0o644, data: gzip(dataTar) },
      { name: "./control.tar.gz", mode: 0o644, data: gzip(controlTar) },
    ],
    mtime,
  );
  const file = join(outDir, `${name}_${version.replace(/^\d+:/, "")}_${arch}.ipk`);
  const ipk = gzip(outer);
  writeFileSync(file, ipk);
  return { name, file, installedSize, ipkSize: ipk.length };
}

// OpenWrt's generated maintainer scripts: postinst and prerm source /lib/functions.sh and
// hand over to default_postinst / default_prerm, which run <pkg>.postinst-pkg /
// <pkg>.prerm-pkg and enable+start (on install) or stop+disable (on removal) the init scripts.
const POSTINST = `#!/bin/sh
[ "\${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s \${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. \${IPKG_INSTROOT}/lib/functions.sh
default_postinst $0 $@
`;
const PRERM = `#!/bin/sh
[ -s \${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. \${IPKG_INSTROOT}/lib/functions.sh
default_prerm $0 $@
`;

function maintainerScripts(mk, pkg) {
  const scripts = { postinst: POSTINST, prerm: PRERM };
  if (mk.defines.has(`Package/${pkg}/postinst`)) scripts["postinst-pkg"] = mk.script(`Package/${pkg}/postinst`);
  if (mk.defines.has(`Package/${pkg}/prerm`)) scripts["prerm-pkg"] = mk.script(`Package/${pkg}/prerm`);
  return scripts;
}

// Conffiles that are files go to control's conffiles; the others (directories) go to
// /lib/upgrade/keep.d/<pkg> so that sysupgrade keeps them, as OpenWrt's package-pack.mk does.
function splitConffiles(pkg, listed, files) {
  const conffiles = [];
  const keep = [];
  for (const path of listed) {
    const f = files[path.replace(/^\//, "")];
    if (f && f.data) conffiles.push(path);
    else keep.push(path);
  }
  if (keep.length) files[`lib/upgrade/keep.d/${pkg}`] = { mode: 0o644, data: Buffer.from(keep.join("\n") + "\n") };
  return conffiles;
}

// ---------------------------------------------------------------------------
// meshwrt

export function meshwrtPackage(mk, { binary, arch, epoch, outDir, apk }) {
  const bin = readFileSync(binary);
  const info = inspectBinary(bin);
  if (info.elf && ELF_MACHINES[arch] !== undefined && info.machine !== ELF_MACHINES[arch]) {
    throw new PackageError(`${binary} is an ELF for machine ${info.machine}, not for ${arch}`);
  }
  if (info.elf && ELF_MACHINES[arch] !== undefined && info.order !== (ELF_ORDER[arch] ?? "le")) {
    throw new PackageError(`${binary} is a ${info.order === "be" ? "big" : "little"}-endian ELF, not for ${arch}`);
  }
  if (!info.elf) console.warn(`package: ${binary} is not an ELF binary (a placeholder?); packaging it anyway`);

  const version = `${mk.need("PKG_VERSION")}-r${mk.need("PKG_RELEASE")}`;
  const pkgFields = mk.packageFields("meshwrt");
  // A static binary loads no shared library: it needs only what it runs against.
  const depends = ["libc", ...dependsList(mk.need("MESHWRT_RUNTIME_DEPENDS"))];
  if (info.dynamic) depends.push(...dependsList(mk.need("MESHWRT_LIB_DEPENDS")));

  const f = (name) => readFileSync(join(FEED_DIR, "files", name));
  // The layout of `define Package/meshwrt/install` in the feed Makefile.
  const files = {
    "usr/sbin/meshwrt": { mode: 0o755, data: bin },
    "etc/init.d/meshwrt": { mode: 0o755, data: f("meshwrt.init") },
    "etc/config/meshwrt": { mode: 0o600, data: f("meshwrt.config") },
    "etc/hotplug.d/iface/80-meshwrt": { mode: 0o644, data: f("meshwrt.hotplug") },
    "etc/uci-defaults/90-meshwrt-firewall": { mode: 0o755, data: f("meshwrt.firewall") },
    "usr/share/acl.d/meshwrt.json": { mode: 0o644, data: f("meshwrt.acl.json") },
    "etc/meshwrt/": { mode: 0o700 },
  };
  const listed = mk.block("Package/meshwrt/conffiles").map((l) => l.trim()).filter(Boolean);
  const conffiles = splitConffiles("meshwrt", listed, files);
  const scripts = maintainerScripts(mk, "meshwrt");

  const ipk = buildIpk({
    name: "meshwrt",
    version,
    arch,
    control: [
      ["Package", "meshwrt"],
      ["Version", version],
      ["Depends", depends.join(", ")],
      ["Source", "feeds/meshwrt/meshwrt"],
      ["SourceName", "meshwrt"],
      ["License", mk.need("PKG_LICENSE")],
      ["Section", pkgFields.get("SECTION")],
      ["Require-User", pkgFields.get("USERID")],
      ["SourceDateEpoch", String(epoch)],
      ["URL", pkgFields.get("URL")],
      ["Maintainer", mk.need("PKG_MAINTAINER")],
      ["Architecture", arch],
    ],
    description: mk.block("Package/meshwrt/description"),
    conffiles,
    scripts,
    files,
    mtime: epoch,
    outDir,
  });
  if (!apk) return { ipk };
  return {
    ipk,
    apk: buildApk(
      {
        name: "meshwrt", version, arch, depends, description: mk.block("Package/meshwrt/description"),
        license: mk.need("PKG_LICENSE"), origin: "feeds/meshwrt/meshwrt", url: pkgFields.get("URL"), maintainer: mk.need("PKG_MAINTAINER"),
        conffiles: listed, postinst: scripts["postinst-pkg"], prerm: scripts["prerm-pkg"], files, rusers: pkgFields.get("USERID"),
      },
      { apk, outFile: join(outDir, `meshwrt-${version}.apk`), epoch },
    ),
  };
}

// ---------------------------------------------------------------------------
// luci-app-meshwrt: LuCI's layout, htdocs/ -> /www, root/ -> /, as luci.mk installs it.

function listTree(dir) {
  const out = [];
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.push({ path: relative(dir, p).split("\\").join("/"), exec: (st.mode & 0o111) !== 0, data: readFileSync(p) });
    }
  };
  if (existsSync(dir) && statSync(dir).isDirectory()) walk(dir);
  return out;
}

// Plain `NAME:=value` lines of luci-app/Makefile (luci.mk style), when there is one.
function luciMakefileVars(luciDir) {
  const path = join(luciDir, "Makefile");
  const vars = new Map();
  if (!existsSync(path)) return vars;
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const m = /^([A-Z_]+)\s*(?::=|\?=|=)\s*(.*?)\s*$/.exec(line);
    if (m && !m[2].includes("$(")) vars.set(m[1], m[2]);
  }
  return vars;
}

export function luciPackage(mk, { luciDir, epoch, outDir, apk }) {
  const files = {};
  for (const f of listTree(join(luciDir, "htdocs"))) files[`www/${f.path}`] = { mode: f.exec ? 0o755 : 0o644, data: f.data };
  for (const f of listTree(join(luciDir, "root"))) files[f.path] = { mode: f.exec ? 0o755 : 0o644, data: f.data };
  if (Object.keys(files).length === 0) {
    throw new PackageError(`luci-app-meshwrt not built: ${luciDir} has no files under htdocs/ or root/ (LuCI's layout: htdocs/luci-static/resources/view/..., root/usr/share/luci/menu.d/..., root/usr/share/rpcd/acl.d/...)`);
  }
  const lv = luciMakefileVars(luciDir);
  const version = `${mk.need("PKG_VERSION")}-r${mk.need("PKG_RELEASE")}`;
  const luciDepends = lv.has("LUCI_DEPENDS") ? dependsList(lv.get("LUCI_DEPENDS")) : ["luci-base", "meshwrt"];
  const depends = ["libc", ...new Set(["luci-base", ...luciDepends, "meshwrt"])];
  const title = lv.get("LUCI_TITLE") ?? "LuCI support for meshwrt";
  const description = [
    ` ${title}: the tailnet status, peers, login and settings of meshwrt in LuCI`,
    " (Services > meshwrt).",
  ];
  // After default_postinst ran the uci-defaults and dropped LuCI's index cache: rpcd
  // reloads so that the page's ACL applies without a reboot.
  const postinst = `#!/bin/sh
[ -n "\${IPKG_INSTROOT}" ] && exit 0
rm -rf /tmp/luci-modulecache/
[ -x /etc/init.d/rpcd ] && /etc/init.d/rpcd reload
exit 0
`;
  const license = lv.get("PKG_LICENSE") ?? mk.need("PKG_LICENSE");
  const maintainer = lv.get("PKG_MAINTAINER") ?? mk.need("PKG_MAINTAINER");
  const ipk = buildIpk({
    name: "luci-app-meshwrt",
    version,
    arch: "all",
    control: [
      ["Package", "luci-app-meshwrt"],
      ["Version", version],
      ["Depends", depends.join(", ")],
      ["Source", "feeds/meshwrt/luci-app-meshwrt"],
      ["SourceName", "luci-app-meshwrt"],
      ["License", license],
      ["Section", "luci"],
      ["SourceDateEpoch", String(epoch)],
      ["Maintainer", maintainer],
      ["Architecture", "all"],
    ],
    description,
    conffiles: [],
    scripts: { postinst: POSTINST, prerm: PRERM, "postinst-pkg": postinst },
    files,
    mtime: epoch,
    outDir,
  });
  if (!apk) return { ipk };
  return {
    ipk,
    apk: buildApk(
      { name: "luci-app-meshwrt", version, arch: "all", depends, description, license, origin: "feeds/meshwrt/luci-app-meshwrt", maintainer, conffiles: [], postinst, files },
      { apk, outFile: join(outDir, `luci-app-meshwrt-${version}.apk`), epoch },
    ),
  };
}

// ---------------------------------------------------------------------------

const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
const num = (n) => n.toLocaleString("en-US");

function report(p) {
  const rel = relative(process.cwd(), p.file);
  console.log(`${rel.startsWith("..") ? p.file : rel}: installed size ${num(p.installedSize)} bytes (${kib(p.installedSize)}), ipk ${num(p.ipkSize)} bytes`);
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const mk = readFeedMakefile();
  const epoch = sourceDateEpoch(opts.epoch);
  const outDir = resolve(opts.out);
  mkdirSync(outDir, { recursive: true });

  const built = [];
  if (opts.only !== "luci") built.push(meshwrtPackage(mk, { binary: opts.binary, arch: opts.arch, epoch, outDir, apk: opts.apk }));
  if (opts.only !== "meshwrt") built.push(luciPackage(mk, { luciDir: resolve(opts.luciDir), epoch, outDir, apk: opts.apk }));
  for (const b of built) {
    report(b.ipk);
    if (b.apk) console.log(`${b.apk.file}: installed size ${num(b.apk.installedSize)} bytes, apk ${num(b.apk.apkSize)} bytes`);
  }
  if (built.length === 2) {
    const total = built[0].ipk.installedSize + built[1].ipk.installedSize;
    console.log(`installed size, meshwrt + luci-app-meshwrt: ${num(total)} bytes (${kib(total)}); budget ${num(BUDGET)} bytes: ${total <= BUDGET ? "ok" : "OVER"}`);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (e) {
    if (!(e instanceof PackageError) && e.code !== "ENOENT") throw e;
    console.error(`package: ${e.message}`);
    process.exit(1);
  }
}
