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
    const m = /^([A-Z_]+)=(\S+)/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

export const versions = (() => {
  const v = readVersions();
  return { headscale: v.HEADSCALE_VERSION!, tailscale: v.TAILSCALE_VERSION! };
})();

export interface PeerBinaries {
  headscale: string;
  tailscale: string;
  tailscaled: string;
  derper: string;
}

export function peerBinaries(): PeerBinaries {
  const cache = process.env.CACHE || join(homedir(), ".cache", "meshwrt");
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
