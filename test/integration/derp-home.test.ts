// The home relay region by latency, beside a stock tailscaled in the same
// lab: three regions of real derpers behind different delays (netem), the
// middle one of two meshed nodes whose first is black-holed from the start.
// meshwrt homes on the nearest region as the phone's tailscaled does, works
// through the region's live node, moves to the other node when its relay goes
// silent with the TCP connection open, and moves region when the delays
// change. UDP between the houses is blocked: every ping is relayed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../net/exec.js";
import type { Host } from "../net/topology.js";
import { type Lab, startLab } from "../support/lab.js";
import { withinBudget } from "../support/budget.js";

/** Round trips added per region (ms): 901 far, 902 near (two nodes), 903 farthest; then 903 nearest. Wide apart: the emulated VM adds tens of ms under load. */
const DELAYS = [200, 100, 300];
const LATER = [200, 300, 0];
let lab: Lab;
let routerIp = "";

const blackhole = (inet: Host, ip: string, on: boolean) =>
  inet.run(on
    ? `nft add table ip lab_blackhole && nft add chain ip lab_blackhole blk '{ type filter hook forward priority -10; }' && nft add rule ip lab_blackhole blk ip daddr ${ip} drop && nft add rule ip lab_blackhole blk ip saddr ${ip} drop`
    : "nft delete table ip lab_blackhole");

beforeAll(async () => {
  lab = await startLab({
    blockUdp: true,
    relays: DELAYS.map((delayMs, i) => ({ delayMs, nodes: i === 1 ? 2 : 1 })),
    // Region 902's first node: every packet to or from it dropped, before anyone joins.
    beforeJoin: async (t) => void (await blackhole(t.internet, t.host("derp-902a").ip, true)),
  });
}, 600_000);

afterAll(async () => {
  if (lab) console.log((await lab.agentLog()).split("\n").filter((l) => /derp|home|region/.test(l)).slice(-25).join("\n"));
  await lab?.stop();
});

/** meshwrt's home region, as `meshwrt status --json` says it. */
async function routerHome(): Promise<number> {
  const r = await lab.cli("status --json");
  return Number((JSON.parse(r.stdout || "{}") as { homeRelay?: number }).homeRelay ?? 0);
}

/** The phone's home region code (tailscaled's own choice), after a re-STUN so it has measured now. */
async function phoneHome(): Promise<string> {
  await lab.phone.cli("debug restun");
  return (await lab.phone.status()).Self.Relay;
}

const ping = async () => (await lab.t.host("phone").exec(`ping -c 1 -W 1 ${routerIp}`)).code === 0;

describe("the home relay region by latency", () => {
  it("is the nearest region from the start, as tailscaled's, and works through the region's second node while the first is dead", async () => {
    const [r901, r902] = lab.relays;
    const home = await waitFor("meshwrt's home region", async () => (await routerHome()) || undefined, 60_000, 500);
    const phone = await waitFor("the phone's home region", async () => (await phoneHome()) || undefined, 60_000, 1000);
    const netcheck = JSON.parse((await lab.cli("netcheck --json")).stdout) as { relays: { region: number; latencyMs?: number }[] };
    console.log(`delays ${DELAYS.join("/")} ms; meshwrt measured ${netcheck.relays.map((r) => `${r.region}: ${r.latencyMs ?? "-"} ms`).join(", ")}; home: meshwrt ${home}, tailscaled r${phone.replace(/^r/, "")}`);
    expect(home).toBe(r902![0]!.regionId);
    expect(phone).toBe(r902![0]!.regionCode);
    expect(r901![0]!.regionId).not.toBe(home); // the lowest ID is not the choice
    // What the control server tells peers: the router's home as its NetInfo said.
    routerIp = (await lab.phone.waitForPeer("router", 60_000, (p) => p.Relay === r902![0]!.regionCode)).TailscaleIPs!.find((a) => a.startsWith("100."))!;
    const from = Date.now();
    await waitFor("a relayed ping through region 902's live node", async () => ((await ping()) ? true : undefined), 90_000, 500);
    console.log(`relayed ping through 902b ${Math.round((Date.now() - from) / 1000)} s after the phone saw the router's home; ${Math.round((Date.now() - lab.agentStartedAt) / 1000)} s after meshwrt started`);
    // Reaching the second node: the first costs one short connect deadline (1.5 s, as tailscale's
    // dialNodeTimeout), not the host's 10 s (before: 10.x s from the first dial to 902b).
    const reached = new RegExp(`derp: connected to region 902 \\(${r902![1]!.ip.replace(/\./g, "\\.")}\\) in ([\\d.]+) s`).exec(await lab.agentLog());
    expect(reached, "meshwrt on 902b, with the time it took").not.toBeNull();
    withinBudget("region 902's second node reached from the first dial (the first node dead)", Number(reached![1]) * 1000, 3_000);
  }, 180_000);

  it("a node gone silent with its TCP connection open is left for the region's other node, and relayed pings resume", async () => {
    const [a, b] = lab.relays[1]!;
    await blackhole(lab.t.internet, a!.ip, false);
    const home = lab.t.nat("home").publicIp;
    await b!.host.run(`nft add table inet lab_silent && nft add chain inet lab_silent out '{ type filter hook output priority 0; }' && nft add rule inet lab_silent out ip daddr ${home} tcp sport ${b!.derpPort} drop`);
    const silentFrom = Date.now();
    let noticed = 0, resumed = 0;
    try {
      await waitFor("meshwrt to say the relay went silent", async () => ((await lab.agentLog()).includes("derp region 902: nothing heard from the relay") ? true : undefined), 170_000, 1000);
      noticed = Date.now() - silentFrom;
      await waitFor("meshwrt on region 902's first node", async () => ((await lab.agentLog()).includes(`derp: connected to region 902 (${a!.ip})`) ? true : undefined), 30_000, 500);
      await waitFor("a relayed ping through the first node", async () => ((await ping()) ? true : undefined), 60_000, 250);
      resumed = Date.now() - silentFrom - noticed;
    } finally {
      await b!.host.run("nft delete table inet lab_silent");
    }
    console.log(`902b silent: noticed after ${Math.round(noticed / 1000)} s, relayed pings back through 902a ${(resumed / 1000).toFixed(1)} s later (the phone stays on 902b: the region's mesh forwards)`);
    expect(noticed).toBeLessThan(145_000);
    withinBudget("relayed pings back after the silent node was noticed", resumed, 20_000);
    expect(await routerHome()).toBe(902);
  }, 240_000);

  it("moves to a region that became much nearer, as tailscaled does", async () => {
    const r903 = lab.relays[2]![0]!;
    for (const [i, ms] of LATER.entries()) if (ms !== DELAYS[i]) await lab.setRelayDelay(i, ms);
    const changed = Date.now();
    // meshwrt measures every 30 s while it has peers.
    await waitFor("meshwrt's home to move to region 903", async () => ((await routerHome()) === r903.regionId ? true : undefined), 75_000, 1000);
    const moved = Date.now() - changed;
    const phone = await waitFor("tailscaled's home to move to region 903", async () => ((await phoneHome()) === r903.regionCode ? r903.regionCode : undefined), 75_000, 2000);
    console.log(`delays now ${LATER.join("/")} ms: meshwrt moved to ${r903.regionId} after ${Math.round(moved / 1000)} s; tailscaled: ${phone}`);
    expect(await lab.agentLog()).toMatch(/derp: region 903 \(\d+ ms\) is nearer than region 902 \(\d+ ms\)/);
    await lab.phone.waitForPeer("router", 60_000, (p) => p.Relay === r903.regionCode);
    await waitFor("a relayed ping through region 903", async () => ((await ping()) ? true : undefined), 60_000, 250);
  }, 180_000);
});
