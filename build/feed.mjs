#!/usr/bin/env node
// `make package`: the feed a user adds to a router, one directory per OpenWrt architecture,
// laid out as OpenWrt's own package feeds are:
//   <out>/<arch>/meshwrt_<version>_<arch>.ipk, luci-app-meshwrt_<version>_all.ipk,
//               Packages, Packages.gz          (opkg, OpenWrt 24.10)
//   <out>/<arch>/meshwrt-<version>.apk, luci-app-meshwrt-<version>.apk,
//               packages.adb                   (apk-tools 3, OpenWrt 25.12, by `apk mkndx`)
// luci-app-meshwrt is built once (architecture all / noarch) and the same files are put in
// every architecture's directory. The packages are unsigned: opkg needs its signature
// check off for this feed, apk --allow-untrusted.
// Prints a table of sizes and fails when a binary is over 1 MiB or meshwrt + luci-app
// installed is over 1.5 MB.
//
// Usage: node build/feed.mjs --apk PATH-OF-apk [--bin-dir build/out] [--out DIR]
//                            [--luci-dir DIR] [--epoch SECONDS] ARCH...
// where <bin-dir>/<ARCH>/meshwrt is each architecture's binary (`make cross`).
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync, gzipSync } from "node:zlib";
import { writeApkIndex } from "./apk.mjs";
import { BUDGET, PackageError, luciPackage, meshwrtPackage, readFeedMakefile, sourceDateEpoch } from "./package.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
// Issue 14: each binary at most 1 MiB.
export const BINARY_BUDGET = 1_048_576;

function parseArgs(argv) {
  const opts = { binDir: join(ROOT, "build", "out"), out: join(ROOT, "build", "out", "packages"), luciDir: join(ROOT, "luci-app"), arches: [] };
  const names = { "--apk": "apk", "--bin-dir": "binDir", "--out": "out", "--luci-dir": "luciDir", "--epoch": "epoch" };
  for (let i = 0; i < argv.length; i++) {
    const key = names[argv[i]];
    if (key && i + 1 < argv.length) opts[key] = argv[++i];
    else if (!argv[i].startsWith("-")) opts.arches.push(argv[i]);
    else throw new PackageError(`usage: node build/feed.mjs --apk PATH [--bin-dir DIR] [--out DIR] [--luci-dir DIR] [--epoch SECONDS] ARCH... (at ${argv[i]})`);
  }
  if (!opts.apk) throw new PackageError("--apk PATH is required: apk-tools 3 writes the .apk files (test/openwrt/build.sh builds it)");
  if (!opts.arches.length) throw new PackageError("name at least one architecture (x86_64, mips_24kc, ...)");
  return opts;
}

// The index OpenWrt's scripts/ipkg-make-index.sh writes: each package's control, with
// Filename, Size and SHA256sum put before Description, and a blank line after each.
function controlOf(ipk) {
  // An .ipk is a gzip'd tar; control.tar.gz inside holds ./control. Read with our own tar walk.
  const members = untar(gunzipSync(readFileSync(ipk)));
  const control = untar(gunzipSync(members.get("./control.tar.gz")));
  return control.get("./control").toString("utf8");
}

function untar(buf) {
  const out = new Map();
  let longName;
  for (let at = 0; at + 512 <= buf.length; ) {
    const h = buf.subarray(at, at + 512);
    if (h.every((b) => b === 0)) break;
    const size = parseInt(h.subarray(124, 136).toString("latin1").replace(/\0.*$/, "").trim() || "0", 8);
    const type = String.fromCharCode(h[156]);
    const data = buf.subarray(at + 512, at + 512 + size);
    const name = longName ?? h.subarray(0, 100).toString("utf8").replace(/\0.*$/s, "");
    longName = undefined;
    if (type === "L") longName = data.toString("utf8").replace(/\0.*$/s, "");
    else out.set(name, data);
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

export function opkgIndex(dir, ipks) {
  const entries = [...ipks].sort().map((file) => {
    const data = readFileSync(file);
    const sha = createHash("sha256").update(data).digest("hex");
    const control = controlOf(file).replace(/^Description:/m, `Filename: ${basename(file)}\nSize: ${data.length}\nSHA256sum: ${sha}\nDescription:`);
    return control + "\n";
  });
  const text = entries.join("");
  writeFileSync(join(dir, "Packages"), text);
  writeFileSync(join(dir, "Packages.gz"), gzipSync(Buffer.from(text), { level: 9 }));
}

const num = (n) => n.toLocaleString("en-US");

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const mk = readFeedMakefile();
  const epoch = sourceDateEpoch(opts.epoch);
  const out = resolve(opts.out);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });

  // luci-app-meshwrt once, then the same files into each architecture's directory.
  const luciTmp = mkdtempSync(join(out, ".luci-"));
  const luci = luciPackage(mk, { luciDir: resolve(opts.luciDir), epoch, outDir: luciTmp, apk: opts.apk });

  const rows = [];
  const problems = [];
  for (const arch of opts.arches) {
    const binary = join(resolve(opts.binDir), arch, "meshwrt");
    if (!existsSync(binary)) throw new PackageError(`no ${binary}: build it with make cross TARGET=${arch}`);
    const dir = join(out, arch);
    mkdirSync(dir);
    const m = meshwrtPackage(mk, { binary, arch, epoch, outDir: dir, apk: opts.apk });
    for (const f of [luci.ipk.file, luci.apk.file]) copyFileSync(f, join(dir, basename(f)));
    opkgIndex(dir, [m.ipk.file, join(dir, basename(luci.ipk.file))]);
    writeApkIndex(opts.apk, dir, [m.apk.file, join(dir, basename(luci.apk.file))]);

    const binBytes = statSync(binary).size;
    const installed = { ipk: m.ipk.installedSize + luci.ipk.installedSize, apk: m.apk.installedSize + luci.apk.installedSize };
    rows.push([arch, binBytes, m.ipk.ipkSize, m.apk.apkSize, installed.ipk, installed.apk]);
    if (binBytes > BINARY_BUDGET) problems.push(`${arch}: the binary is ${num(binBytes)} bytes, over ${num(BINARY_BUDGET)}`);
    const most = Math.max(installed.ipk, installed.apk);
    if (most > BUDGET) problems.push(`${arch}: meshwrt + luci-app-meshwrt install ${num(most)} bytes, over ${num(BUDGET)}`);
  }
  rmSync(luciTmp, { recursive: true, force: true });

  const head = ["target", "binary", ".ipk", ".apk", "installed (opkg)", "installed (apk)"];
  const cells = [head, ...rows.map((r) => [r[0], ...r.slice(1).map(num)])];
  const widths = head.map((_, i) => Math.max(...cells.map((c) => String(c[i]).length)));
  for (const c of cells) console.log(c.map((v, i) => (i === 0 ? String(v).padEnd(widths[i]) : String(v).padStart(widths[i]))).join("  "));
  console.log(`luci-app-meshwrt: .ipk ${num(luci.ipk.ipkSize)} bytes, .apk ${num(luci.apk.apkSize)} bytes (installed sizes above include it)`);
  console.log(`budgets: binary <= ${num(BINARY_BUDGET)} bytes, meshwrt + luci-app-meshwrt installed <= ${num(BUDGET)} bytes: ${problems.length ? "OVER" : "ok"}`);
  console.log(`feed: ${out}/<arch>/ (Packages, Packages.gz, packages.adb)`);
  if (problems.length) throw new PackageError(problems.join("; "));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (e) {
    if (!(e instanceof PackageError) && e.code !== "ENOENT" && !/apk mkpkg|mkndx/.test(e.message)) throw e;
    console.error(`package: ${e.message}`);
    process.exit(1);
  }
}
