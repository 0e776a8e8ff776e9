// What the package-manager tests need around meshwrt's own packages: their metadata read
// with the formats' own tools, a feed of clearly named test stubs for the dependencies a
// router's base image provides (so the resolver runs for real), a newer release of a
// package (the same contents, its version raised, rebuilt with the formats' own tools), and
// an offline root seeded like OpenWrt's base-files.
import { execFileSync } from "node:child_process";
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { OpenwrtUserland } from "./userland.js";

export interface PackageInfo {
  file: string;
  format: "ipk" | "apk";
  name: string;
  version: string;
  arch: string;
  depends: string[];
}

function sh(script: string, args: string[] = []): string {
  return execFileSync("sh", ["-c", script, "sh", ...args], { encoding: "utf8", maxBuffer: 64 << 20 });
}

/** The control fields of an .ipk (an OpenWrt gzip'd tar of control.tar.gz and data.tar.gz). */
export function ipkControl(file: string): Record<string, string> {
  const text = sh('tar -xzOf "$1" ./control.tar.gz | tar -xzO ./control', [file]);
  const fields: Record<string, string> = {};
  let last = "";
  for (const line of text.split("\n")) {
    if (/^\s/.test(line) && last) fields[last] += "\n" + line;
    else {
      const m = /^([A-Za-z0-9-]+):\s?(.*)$/.exec(line);
      if (m) fields[(last = m[1]!)] = m[2]!;
    }
  }
  return fields;
}

/** "libc, kmod-wireguard (>= 1.0)" and "libc kmod-wireguard>=1.0" -> names only. */
function dependNames(list: string[]): string[] {
  return list.map((d) => d.trim().split(/[\s<>=~(]/)[0]!).filter(Boolean);
}

/** The `info:` section of an apk v3 package or index entry, as `apk adbdump` prints it. */
export function apkInfo(w: OpenwrtUserland, file: string): { fields: Record<string, string>; lists: Record<string, string[]> } {
  const text = execFileSync(w.bin("apk"), ["adbdump", file], { encoding: "utf8" });
  const fields: Record<string, string> = {};
  const lists: Record<string, string[]> = {};
  let inInfo = false;
  let list = "";
  for (const line of text.split("\n")) {
    if (/^info:/.test(line)) inInfo = true;
    else if (/^\S/.test(line)) inInfo = false;
    if (!inInfo) continue;
    let m = /^ {2}([a-z-]+):\s*(?:#.*)?$/.exec(line);
    if (m) {
      list = m[1]!;
      lists[list] = [];
      continue;
    }
    m = /^ {2}([a-z-]+): (.*)$/.exec(line);
    if (m) {
      list = "";
      fields[m[1]!] = m[2]!;
      continue;
    }
    m = /^ {4}- (.*)$/.exec(line);
    if (m && list) lists[list]!.push(m[1]!);
  }
  return { fields, lists };
}

/** Every .ipk and .apk under dir, with name, version, architecture and dependencies. */
export function readPackages(w: OpenwrtUserland, dir: string): PackageInfo[] {
  const out: PackageInfo[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".ipk")) {
        const c = ipkControl(p);
        out.push({ file: p, format: "ipk", name: c.Package!, version: c.Version!, arch: c.Architecture!, depends: dependNames((c.Depends ?? "").split(",")) });
      } else if (e.name.endsWith(".apk")) {
        const { fields, lists } = apkInfo(w, p);
        out.push({ file: p, format: "apk", name: fields.name!, version: fields.version!, arch: fields.arch!, depends: dependNames(lists.depends ?? []) });
      }
    }
  };
  walk(dir);
  return out;
}

/** The next release of a version, as OpenWrt numbers them: 0.1.0-r1 -> 0.1.0-r2. */
export function nextRelease(version: string): string {
  const m = /^(.*-r?)(\d+)$/.exec(version);
  if (!m) throw new Error(`cannot raise the release of version ${version} (expected <version>-r<N>)`);
  return `${m[1]}${Number(m[2]) + 1}`;
}

/** An opkg feed index (the fields OpenWrt's ipkg-make-index writes) for the .ipk files in dir. */
export function writeOpkgIndex(dir: string): void {
  const entries = readdirSync(dir).filter((f) => f.endsWith(".ipk")).sort().map((f) => {
    const p = join(dir, f);
    const c = ipkControl(p);
    const head = Object.entries(c).filter(([k]) => k !== "Description").map(([k, v]) => `${k}: ${v}`);
    const sum = createHash("sha256").update(readFileSync(p)).digest("hex");
    return [...head, `Filename: ${f}`, `Size: ${statSync(p).size}`, `SHA256sum: ${sum}`, `Description: ${c.Description ?? ""}`].join("\n") + "\n";
  });
  writeFileSync(join(dir, "Packages"), entries.join("\n"));
}

/** An apk feed index made by apk-tools itself. */
export function writeApkIndex(w: OpenwrtUserland, dir: string): void {
  const files = readdirSync(dir).filter((f) => f.endsWith(".apk")).map((f) => join(dir, f));
  execFileSync(w.bin("apk"), ["mkndx", "--allow-untrusted", "--output", join(dir, "packages.adb"), ...files], { stdio: "pipe" });
}

const STUB_DESCRIPTION = "test stub: an empty package standing in for the router's own (meshwrt's install test)";

/**
 * Feeds of empty stand-ins for the named packages (libc, kmod-wireguard, nftables, ca-bundle,
 * luci-base, ...), version 0-test-stub / 0-r0, architecture all / noarch, each with an index,
 * in dir/ipk and dir/apk.
 */
export function writeStubFeeds(w: OpenwrtUserland, dir: string, names: string[]): { ipk: string; apk: string } {
  const ipk = join(dir, "ipk");
  const apk = join(dir, "apk");
  mkdirSync(ipk, { recursive: true });
  mkdirSync(apk, { recursive: true });
  for (const name of names) {
    const t = mkdtempSync(join(dir, "stub-"));
    mkdirSync(join(t, "control"));
    mkdirSync(join(t, "data"));
    writeFileSync(join(t, "control", "control"), `Package: ${name}\nVersion: 0-test-stub\nArchitecture: all\nDescription: ${STUB_DESCRIPTION}\n`);
    writeFileSync(join(t, "debian-binary"), "2.0\n");
    sh(
      'cd "$1" && tar --numeric-owner --owner=0 --group=0 -czf control.tar.gz -C control ./control && ' +
        "tar --numeric-owner --owner=0 --group=0 -czf data.tar.gz -C data . && " +
        'tar --numeric-owner --owner=0 --group=0 -czf "$2" ./debian-binary ./data.tar.gz ./control.tar.gz',
      [t, join(ipk, `${name}_0-test-stub_all.ipk`)],
    );
    rmSync(t, { recursive: true });
    execFileSync(w.bin("apk"), ["mkpkg", "--info", `name:${name}`, "--info", "version:0-r0", "--info", "arch:noarch",
      "--info", `description:${STUB_DESCRIPTION}`, "--output", join(apk, `${name}-0-r0.apk`)], { stdio: "pipe" });
  }
  writeOpkgIndex(ipk);
  writeApkIndex(w, apk);
  return { ipk, apk };
}

/** The same .ipk with its Version raised, written into dir (outer and inner archives as opkg reads them). */
export function raiseIpk(file: string, version: string, dir: string): string {
  const t = mkdtempSync(join(dir, "raise-"));
  sh(
    'cd "$1" && tar -xzf "$2" && mkdir c && tar -xzf control.tar.gz -C c && ' +
      'sed -i "s/^Version: .*/Version: $3/" c/control && ' +
      "tar --numeric-owner --owner=0 --group=0 -czf control.tar.gz -C c . && rm -rf c",
    [t, file, version],
  );
  const name = ipkControl(file).Package!;
  const arch = ipkControl(file).Architecture!;
  const out = join(dir, `${name}_${version}_${arch}.ipk`);
  sh('cd "$1" && tar --numeric-owner --owner=0 --group=0 -czf "$2" ./debian-binary ./data.tar.gz ./control.tar.gz', [t, out]);
  rmSync(t, { recursive: true });
  return out;
}

/**
 * The same .apk with its version raised: its files (`apk extract`), metadata and scripts
 * (`apk adbdump`) put back together by `apk mkpkg`.
 */
export function raiseApk(w: OpenwrtUserland, file: string, version: string, dir: string): string {
  const t = mkdtempSync(join(dir, "raise-"));
  const files = join(t, "files");
  mkdirSync(files);
  const apk = w.bin("apk");
  execFileSync(apk, ["extract", "--allow-untrusted", "--destination", files, file], { stdio: "pipe" });
  const dump = execFileSync(apk, ["adbdump", file], { encoding: "utf8" });
  const { fields, lists } = apkInfo(w, file);
  const args = ["mkpkg", "--files", files];
  for (const [k, v] of Object.entries(fields)) {
    if (k === "hashes" || k === "installed-size" || k === "file-size" || k === "build-time") continue;
    args.push("--info", `${k}:${k === "version" ? version : v}`);
  }
  for (const [k, v] of Object.entries(lists)) if (v.length) args.push("--info", `${k}:${v.join(" ")}`);
  // scripts:\n  post-install: |\n    line...  (a block scalar indented by four)
  const scripts = /^scripts:\n((?: {2}.*\n?)*)/m.exec(dump)?.[1] ?? "";
  for (const m of scripts.matchAll(/^ {2}([a-z-]+): \|[-+]?\n((?: {4}.*\n?|\n)*)/gm)) {
    const body = m[2]!.split("\n").map((l) => l.slice(4)).join("\n").replace(/\n+$/, "\n");
    const path = join(t, m[1]!);
    writeFileSync(path, body, { mode: 0o755 });
    args.push("--script", `${m[1]}:${path}`);
  }
  const out = join(dir, `${fields.name}-${version}.apk`);
  args.push("--output", out);
  execFileSync(apk, args, { stdio: "pipe" });
  rmSync(t, { recursive: true });
  return out;
}

/**
 * An empty offline root with what OpenWrt's base-files give every image and its maintainer
 * scripts use: /etc/rc.common, /etc/rc.d, /lib/functions*.sh, /usr/share/libubox/jshn.sh.
 */
export function baseRoot(w: OpenwrtUserland, dir: string): string {
  for (const d of ["etc/rc.d", "etc/config", "lib", "usr/share/libubox", "var/lock", "tmp"]) mkdirSync(join(dir, d), { recursive: true });
  copyFileSync(join(w.root, "etc/rc.common"), join(dir, "etc/rc.common"));
  cpSync(join(w.root, "lib/functions.sh"), join(dir, "lib/functions.sh"));
  cpSync(join(w.root, "lib/functions"), join(dir, "lib/functions"), { recursive: true });
  cpSync(join(w.root, "lib/config"), join(dir, "lib/config"), { recursive: true });
  copyFileSync(join(w.root, "usr/share/libubox/jshn.sh"), join(dir, "usr/share/libubox/jshn.sh"));
  return dir;
}

