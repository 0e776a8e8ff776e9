// The bench's CPU profile (profile.ts): perf report's lines, as perf 6.1 printed them in the
// 1-vCPU VM during make bench's (a) and (b) rounds (the tailscaled and derper lines from its
// relayed rounds), counted in the parts the table shows.
import { describe, expect, it } from "vitest";
import { medianProfile, parseProfile, type Profile, profileTable } from "./profile.js";

/** The header and some lines of two real reports (`perf report ... -n --sort comm,sym -t '|'`). */
const REPORT = `# To display the perf.data header info, please use --header/--header-only options.
#
#
# Total Lost Samples: 0
#
# Samples: 2K of event 'cpu-clock:ppp'
# Event count (approx.): 5851703360
#
# Overhead|     Samples|Command        |Symbol                                                       
 12.02% | 351        |kworker/0:5+wg-|[k] chacha_permute
 1.95%  | 57         |kworker/0:5+wg-|[k] poly1305_blocks_x86_64
 0.62%  | 18         |kworker/0:5+wg-|[k] chacha20poly1305_crypt_sg_inplace
 0.41%  | 12         |ksoftirqd/0    |[k] nft_do_chain
 0.34%  | 6          |ksoftirqd/0    |[k] nf_hook_slow
 0.17%  | 3          |ksoftirqd/0    |[k] nft_lookup_eval
 0.06%  | 1          |ksoftirqd/0    |[k] nf_conntrack_in
 0.06%  | 1          |iperf3         |[k] nf_nat_ipv4_local_fn
 0.06%  | 1          |kworker/0:1-wg-|[k] ipv4_conntrack_local
 0.48%  | 14         |meshwrt        |[.] 0x000000000000bffb
 0.11%  | 2          |meshwrt        |[k] finish_task_switch.isra.0
 0.17%  | 15         |tailscaled     |[.] 0x00000000001ece2a
 0.22%  | 19         |derper         |[.] 0x000000000000d00e
 1.60%  | 28         |swapper        |[k] native_safe_halt
 1.14%  | 20         |iperf3         |[k] copy_user_generic_string
 0.40%  | 7          |ksoftirqd/0    |[k] tcp_ack


#
# (Tip: ...)
#
`;

describe("the bench's CPU profile", () => {
  it("counts each line's samples in its part: crypto, nftables, conntrack and NAT, the agents, the DERP server, idle, the rest", () => {
    const p = parseProfile(REPORT);
    expect(p.samples).toBe(555);
    const pct = (n: number) => (n / 555) * 100;
    expect(p.share.crypto).toBeCloseTo(pct(351 + 57 + 18), 6);
    expect(p.share.nftables).toBeCloseTo(pct(12 + 6 + 3), 6);
    expect(p.share.conntrack).toBeCloseTo(pct(3), 6);
    // A sample of the agent is the agent's, in the kernel too (a syscall's work is its cost);
    // tailscaled's userspace crypto is its own, as the kernel's is WireGuard's crypto.
    expect(p.share.agents).toBeCloseTo(pct(14 + 2 + 15), 6);
    expect(p.share.derper).toBeCloseTo(pct(19), 6);
    expect(p.share.idle).toBeCloseTo(pct(28), 6);
    expect(p.share.rest).toBeCloseTo(pct(20 + 7), 6);
  });

  it("refuses a report it cannot read, saying which line; one without samples has none", () => {
    expect(() => parseProfile(REPORT.replace(" 0.40%  | 7 ", " 0.40%  7 "))).toThrow(/a line not .*tcp_ack/);
    const none = parseProfile(REPORT.split("\n").filter((l) => l.startsWith("#")).join("\n"));
    expect(none.samples).toBe(0);
    expect(Object.values(none.share)).toEqual([0, 0, 0, 0, 0, 0, 0]);
  });

  it("takes the median of each part over the rounds, and tables them", () => {
    const round = (crypto: number, nftables: number, samples: number): Profile => ({ samples, share: { crypto, nftables, conntrack: 0, agents: 3, derper: 0, idle: 1, rest: 96 - crypto - nftables } });
    const m = medianProfile([round(40, 1, 2900), round(30, 5, 2000), round(35, 4, 3100)]);
    expect(m.share.crypto).toBe(35);
    expect(m.share.nftables).toBe(4);
    expect(m.samples).toBe(2900);
    const table = profileTable([{ name: "(b) meshwrt direct", rounds: 3, profile: m }]);
    expect(table).toMatch(/\(b\) meshwrt direct\s+35\.0%\s+4\.0%\s+0\.0%\s+3\.0%\s+0\.0%\s+1\.0%\s+57\.0%\s+3\s+2900/);
  });
});
