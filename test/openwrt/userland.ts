// Where OpenWrt's real userland lives: built from the pinned sources by test/openwrt/build.sh
// (once, into the cache; a cached run prints the paths at once). The daemons run as on a router,
// with an rpath to the tree's own libraries, so they need no LD_LIBRARY_PATH.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const script = fileURLToPath(new URL("build.sh", import.meta.url));

export interface OpenwrtUserland {
  /** The router-like tree: usr/{bin,sbin,lib,share}, www (LuCI), etc, lib, sbin. */
  root: string;
  /** The path of one of its programs (ubusd, ubus, uci, rpcd, uhttpd, ucode, procd, opkg, apk, fw4, ...). */
  bin(name: string): string;
  /** What build.sh printed: OPENWRT_ROOT, OPENWRT_PATH, OPENWRT_SH (busybox ash), OPENWRT_SRC. */
  env: Record<string, string>;
}

let built: OpenwrtUserland | undefined;

/** Parses build.sh's `NAME='value'` lines. */
export function parseAssignments(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z_][A-Z0-9_]*)='([^']*)'$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

/** Builds the userland on first use in this process (about a minute on a fresh machine). */
export function openwrtUserland(): OpenwrtUserland {
  if (built) return built;
  const r = spawnSync("sh", [script], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  if (r.status !== 0) throw new Error(`test/openwrt/build.sh failed (exit ${r.status}); see its message above`);
  const env = parseAssignments(r.stdout);
  const root = env.OPENWRT_ROOT;
  if (!root) throw new Error(`test/openwrt/build.sh printed no OPENWRT_ROOT: ${JSON.stringify(r.stdout)}`);
  const dirs = ["usr/sbin", "usr/bin", "sbin", "bin"].map((d) => join(root, d));
  built = {
    root,
    env,
    bin(name: string): string {
      for (const d of dirs) {
        const p = join(d, name);
        if (existsSync(p)) return p;
      }
      throw new Error(`no ${name} in the OpenWrt userland at ${root} (looked in ${dirs.join(", ")})`);
    },
  };
  return built;
}
