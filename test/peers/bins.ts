// Where the pinned real peers live (built by test/peers/install.sh, cached outside the repo).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));

function readVersions(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(join(here, "versions.env"), "utf8").split("\n")) {
    const m = /^([A-Z_]+)=("?)([^"\n]*)\2\s*$/.exec(line);
    if (m) out[m[1]!] = m[3]!;
  }
  return out;
}

export const versions = (() => {
  const v = readVersions();
  return {
    headscale: v.HEADSCALE_VERSION!,
    tailscale: v.TAILSCALE_VERSION!,
    /** The version matrix's extra clients (tailscale + tailscaled only), oldest first. */
    tailscaleMatrix: (v.TAILSCALE_MATRIX ?? "").split(/\s+/).filter(Boolean),
    /** The newest Headscale the Go proxy serves. */
    headscaleNewest: v.HEADSCALE_NEWEST!,
  };
})();

const cacheDir = () => process.env.CACHE || join(homedir(), ".cache", "meshwrt");

export interface PeerBinaries {
  headscale: string;
  tailscale: string;
  tailscaled: string;
  derper: string;
}

export function peerBinaries(): PeerBinaries {
  const cache = cacheDir();
  const ts = join(cache, "peers", `tailscale-${versions.tailscale}`);
  const hs = join(cache, "peers", `headscale-${versions.headscale}`);
  return {
    headscale: join(hs, "headscale"),
    tailscale: join(ts, "tailscale"),
    tailscaled: join(ts, "tailscaled"),
    derper: join(ts, "derper"),
  };
}

/**
 * The peers' paths; builds them first (test/peers/install.sh) when one is missing, which takes
 * minutes on a fresh machine (`make peers` does it before the tests).
 */
export function ensurePeers(): PeerBinaries {
  const b = peerBinaries();
  if (Object.values(b).every((p) => existsSync(p))) return b;
  const r = spawnSync("sh", [join(here, "install.sh")], { stdio: "inherit" });
  if (r.status !== 0) throw new Error(`test/peers/install.sh failed (exit ${r.status}); the Go peers are missing`);
  for (const p of Object.values(b)) if (!existsSync(p)) throw new Error(`peer binary missing after install: ${p}`);
  return b;
}

/** The tailscale CLI and tailscaled of one version (the pinned one or one of the matrix's). */
export function tailscaleAt(version: string): { tailscale: string; tailscaled: string } {
  const dir = join(cacheDir(), "peers", `tailscale-${version}`);
  return { tailscale: join(dir, "tailscale"), tailscaled: join(dir, "tailscaled") };
}

/** Headscale of one version (the pinned one or HEADSCALE_NEWEST). */
export function headscaleAt(version: string): string {
  return join(cacheDir(), "peers", `headscale-${version}`, "headscale");
}

/** Every matrix binary's path, built first by install.sh when one is missing (as ensurePeers). */
export function ensureMatrixPeers(): { tailscale: Record<string, { tailscale: string; tailscaled: string }>; headscaleNewest: string } {
  const all = [versions.tailscale, ...versions.tailscaleMatrix];
  const out = { tailscale: Object.fromEntries(all.map((v) => [v, tailscaleAt(v)])), headscaleNewest: headscaleAt(versions.headscaleNewest) };
  const paths = () => [...Object.values(out.tailscale).flatMap((b) => [b.tailscale, b.tailscaled]), out.headscaleNewest];
  if (paths().every((p) => existsSync(p))) return out;
  const r = spawnSync("sh", [join(here, "install.sh")], { stdio: "inherit" });
  if (r.status !== 0) throw new Error(`test/peers/install.sh failed (exit ${r.status}); the version matrix's peers are missing`);
  for (const p of paths()) if (!existsSync(p)) throw new Error(`peer binary missing after install: ${p}`);
  return out;
}
