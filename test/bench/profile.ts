// Where a path's CPU goes, from `perf record -a` in the 1-vCPU VM during a
// transfer: the share of CPU samples in WireGuard's crypto, in nftables, in
// conntrack and NAT, in the agents (meshwrt or tailscaled, by their command,
// userspace crypto included), in the DERP server, and idle. A share is a count of the VM's
// own samples, so it holds still where throughput does not: what slows the
// emulated CPU as a whole (this host's other work) slows every part alike.
// The crypto's share is the bytes moved per CPU second in other words (the
// CPU is busy throughout a transfer): a path that spends more elsewhere
// encrypts less in the same time.
import { median } from "./median.js";

/** The parts a sample is counted in; "rest" is the network stack, the scheduler, iperf3 and the rest. */
export const PARTS = ["crypto", "nftables", "conntrack", "agents", "derper", "idle", "rest"] as const;
export type Part = (typeof PARTS)[number];

export interface Profile {
  /** Samples perf took (all CPUs: the VM has one). */
  samples: number;
  /** Each part's share of them, in %. */
  share: Record<Part, number>;
}

/** A number for each part. */
const byPart = (f: (p: Part) => number) => Object.fromEntries(PARTS.map((p) => [p, f(p)])) as Record<Part, number>;

/** A sample's part, by its kernel symbol, or by its command for the agents, the DERP server and idle. */
function partOf(command: string, symbol: string): Part {
  if (command === "meshwrt" || command === "tailscaled") return "agents";
  if (command === "derper") return "derper";
  if (command === "swapper") return "idle";
  if (/^(chacha|poly1305|curve25519|blake2s|hchacha)/.test(symbol)) return "crypto";
  if (/^(nf_conntrack|__nf_conntrack|nf_ct_|__nf_ct_|nf_nat_|nf_confirm|hash_conntrack|ipv[46]_conntrack|ipv[46]_confirm|nf_xfrm_me_harder)/.test(symbol)) return "conntrack";
  if (/^(nft_|__nft_|nf_hook_slow|nf_tables)/.test(symbol)) return "nftables";
  return "rest";
}

/**
 * The profile in `perf report --stdio --no-children -g none -n --sort comm,sym -t '|'` output:
 * lines "  2.46%|   123|ksoftirqd/0    |[k] nft_do_chain" (share, samples, command, symbol)
 * under "#" headers. The shares are the lines' samples summed, over all of them: perf's own
 * "# Samples: 1K" is rounded.
 */
export function parseProfile(report: string): Profile {
  const count = byPart(() => 0);
  let samples = 0;
  for (const line of report.split("\n")) {
    if (line.startsWith("#") || !line.trim()) continue;
    const m = /^\s*[\d.]+%\s*\|\s*(\d+)\s*\|([^|]*)\|\s*\[[k.]\]\s+(\S+)/.exec(line);
    if (!m) throw new Error(`perf report: a line not "share|samples|command|[k] symbol": ${JSON.stringify(line)}`);
    const n = Number(m[1]);
    count[partOf(m[2]!.trim(), m[3]!)] += n;
    samples += n;
  }
  // No samples: every share 0, and the caller, seeing too few, leaves the round out.
  const share = byPart((p) => (samples ? (count[p] / samples) * 100 : 0));
  return { samples, share };
}

/** The median share of each part over several rounds of a path. */
export function medianProfile(ps: readonly Profile[]): Profile {
  if (!ps.length) throw new Error("medianProfile: no rounds");
  return {
    samples: median(ps.map((p) => p.samples)),
    share: byPart((part) => median(ps.map((p) => p.share[part]))),
  };
}

/** The table: one line a path, its parts' shares in %, the rounds and their median samples. */
export function profileTable(paths: readonly { name: string; rounds: number; profile: Profile }[]): string {
  const width = Math.max(36, ...paths.map((x) => x.name.length)) + 2;
  const head = `${"path (median of its profiled rounds)".padEnd(width + 2)}${PARTS.map((p) => p.padStart(10)).join("")}${"rounds".padStart(8)}${"samples".padStart(9)}`;
  return [
    head,
    ...paths.map((x) => `  ${x.name.padEnd(width)}${PARTS.map((p) => `${x.profile.share[p].toFixed(1)}%`.padStart(10)).join("")}${String(x.rounds).padStart(8)}${String(Math.round(x.profile.samples)).padStart(9)}`),
  ].join("\n");
}
