// An .apk for OpenWrt 25.12 (apk-tools 3, ADB format), written by apk-tools' own
// `apk mkpkg` from a staged file tree, the way OpenWrt's include/package-pack.mk does it
// when CONFIG_USE_APK is set:
//   - the tree carries lib/apk/packages/<name>.list (every file and link, "/path", sorted),
//     <name>.conffiles (the Package/<name>/conffiles lines) and <name>.conffiles_static
//     ("<file> <sha256>" for each conffile that is a file);
//   - the scripts are post-install (default_postinst, then the package's postinst),
//     post-upgrade (the same with PKG_UPGRADE=1) and pre-deinstall (default_prerm, then
//     the package's prerm), with root= and pkgname= exported for OpenWrt's functions.sh;
//   - name, version, description (one line), arch (noarch for "all"), license, origin,
//     url, maintainer and depends go in as --info.
// File mtimes are the source date epoch, which mkpkg also takes from SOURCE_DATE_EPOCH.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

// OpenWrt's generated scripts (package-pack.mk), for package `name`; `pkg` is the
// package's own script (Package/<name>/postinst or prerm) or undefined.
const withoutShebang = (text) => (text ?? "").split("\n").filter((l) => !/^\s*#!/.test(l)).join("\n");

export function postInstall(name, postinst) {
  return [
    "#!/bin/sh",
    '[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0',
    "[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0",
    ". ${IPKG_INSTROOT}/lib/functions.sh",
    'export root="${IPKG_INSTROOT}"',
    `export pkgname="${name}"`,
    "add_group_and_user",
    "default_postinst",
  ].join("\n") + "\n" + withoutShebang(postinst);
}

export function postUpgrade(name, postinst) {
  return "#!/bin/sh\nexport PKG_UPGRADE=1\n" + withoutShebang(postInstall(name, postinst));
}

export function preDeinstall(name, prerm) {
  return [
    "#!/bin/sh",
    "[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0",
    ". ${IPKG_INSTROOT}/lib/functions.sh",
    'export root="${IPKG_INSTROOT}"',
    `export pkgname="${name}"`,
    "default_prerm",
  ].join("\n") + "\n" + withoutShebang(prerm);
}

// Writes the tree { "usr/sbin/x": { mode, data }, "etc/x/": { mode } } under dir; every
// entry (and the parents it implies, 0755) gets mtime `epoch`.
function stage(dir, files, epoch) {
  const paths = Object.keys(files).sort();
  for (const p of paths) {
    const f = files[p];
    const full = join(dir, p);
    if (p.endsWith("/")) {
      mkdirSync(full, { recursive: true });
      chmodSync(full, f.mode ?? 0o755);
    } else {
      mkdirSync(dirname(full), { recursive: true });
      writeFileSync(full, f.data);
      chmodSync(full, f.mode);
    }
  }
  // Directories last, deepest first, so that writing their contents does not move their mtime.
  const all = new Set([""]);
  for (const p of paths) {
    const parts = p.replace(/\/$/, "").split("/");
    for (let i = 1; i <= parts.length; i++) all.add(parts.slice(0, i).join("/"));
  }
  for (const p of [...all].sort((a, b) => b.length - a.length)) utimesSync(join(dir, p), epoch, epoch);
}

/**
 * Builds one .apk with `apk mkpkg`. spec: { name, version, arch ("all" for noarch), depends[],
 * description (lines), license, origin, url, maintainer, conffiles (the define's lines),
 * postinst, prerm (the package's own scripts or undefined), files (tree as above), rusers
 * (USERID, or undefined) }.
 * Returns { file, apkSize, installedSize } (installed: the bytes of its files, as apk counts).
 */
export function buildApk(spec, { apk, outFile, epoch }) {
  const work = mkdtempSync(join(tmpdir(), `meshwrt-apk-${spec.name}-`));
  try {
    const files = { ...spec.files };
    const meta = `lib/apk/packages/${spec.name}`;
    // The users and groups add_group_and_user creates (the feed Makefile's USERID), listed
    // like the package's own files, as package-pack.mk writes it before the list.
    if (spec.rusers) files[`${meta}.rusers`] = { mode: 0o644, data: Buffer.from(spec.rusers + "\n") };
    const list = Object.keys(files).filter((p) => !p.endsWith("/")).map((p) => `/${p}`).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    files[`${meta}.list`] = { mode: 0o644, data: Buffer.from(list.join("\n") + "\n") };
    if (spec.conffiles.length) {
      files[`${meta}.conffiles`] = { mode: 0o644, data: Buffer.from(spec.conffiles.join("\n") + "\n") };
      const statics = spec.conffiles.filter((c) => spec.files[c.replace(/^\//, "")]?.data).map((c) => `${c} ${createHash("sha256").update(spec.files[c.replace(/^\//, "")].data).digest("hex")}`);
      if (statics.length) files[`${meta}.conffiles_static`] = { mode: 0o644, data: Buffer.from(statics.join("\n") + "\n") };
    }
    const tree = join(work, "tree");
    mkdirSync(tree);
    stage(tree, files, epoch);

    const scripts = { "post-install": postInstall(spec.name, spec.postinst), "post-upgrade": postUpgrade(spec.name, spec.postinst), "pre-deinstall": preDeinstall(spec.name, spec.prerm) };
    const args = ["mkpkg"];
    const info = {
      name: spec.name,
      version: spec.version,
      // As make's $(strip) leaves the description: one line, single spaces.
      description: spec.description.join(" ").replace(/\s+/g, " ").trim(),
      arch: spec.arch === "all" ? "noarch" : spec.arch,
      license: spec.license,
      origin: spec.origin,
      url: spec.url,
      maintainer: spec.maintainer,
      depends: spec.depends.join(" "),
    };
    for (const [k, v] of Object.entries(info)) if (v) args.push("--info", `${k}:${v}`);
    for (const [type, body] of Object.entries(scripts)) {
      const path = join(work, type);
      writeFileSync(path, body, { mode: 0o755 });
      args.push("--script", `${type}:${path}`);
    }
    args.push("--files", tree, "--output", outFile);
    execFileSync(apk, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) } });
    let installedSize = 0;
    for (const [p, f] of Object.entries(files)) if (!p.endsWith("/")) installedSize += f.data.length;
    return { name: spec.name, file: outFile, apkSize: statSync(outFile).size, installedSize };
  } catch (e) {
    const detail = e.stderr ? `: ${String(e.stderr).trim()}` : `: ${e.message}`;
    throw new Error(`apk mkpkg for ${spec.name} ${spec.arch} failed${detail}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The apk index of every .apk in dir, made by apk-tools: dir/packages.adb. */
export function writeApkIndex(apk, dir, packages) {
  execFileSync(apk, ["mkndx", "--allow-untrusted", "--output", join(dir, "packages.adb"), ...packages], { stdio: ["ignore", "pipe", "pipe"] });
}
