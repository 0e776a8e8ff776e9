// The home relay region where UDP is blocked: the house's UDP is dropped in
// the internet core both ways (a firewall that lets only TCP out), so no relay
// answers STUN. Three regions of real derpers behind different delays
// (netem). As tailscale's netcheck does, meshwrt then times a GET of each
// region's /derp/latency-check over HTTPS and homes on the nearest region,
// not the lowest ID; its status lists the latencies, and the control server
// hands the phone the router's home as its NetInfo said.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../net/exec.js";
import { type Lab, startLab } from "../support/lab.js";

/** Round trips added per region (ms): 901 far, 902 near, 903 farthest. Wide apart: the emulated VM adds tens of ms under load. */
const DELAYS = [200, 100, 300];
let lab: Lab;

beforeAll(async () => {
  lab = await startLab({
    relays: DELAYS.map((delayMs) => ({ delayMs })),
    beforeJoin: async (t) => {
      const home = t.nat("home").publicIp;
      await t.internet.run(
        `nft add table ip lab_noudp && nft add chain ip lab_noudp blk '{ type filter hook forward priority -10; }' && ` +
          `nft add rule ip lab_noudp blk ip saddr ${home} meta l4proto udp drop && nft add rule ip lab_noudp blk ip daddr ${home} meta l4proto udp drop`,
      );
    },
  });
}, 600_000);

afterAll(async () => {
  if (lab) console.log((await lab.agentLog()).split("\n").filter((l) => /derp|home|region|stun|HTTPS/.test(l)).slice(-20).join("\n"));
  await lab?.stop();
});

interface Netcheck {
  nat: string;
  homeRelay?: number;
  relays: { region: number; latencyMs?: number }[];
}

describe("the home relay region with UDP blocked", () => {
  it("is the nearest region by HTTPS latency, not the lowest ID; status lists each region's latency; the phone sees the router there; relayed pings work", async () => {
    const [r901, r902, r903] = lab.relays.map((r) => r[0]!);
    const nc = await waitFor("meshwrt's home region and HTTPS latencies", async () => {
      const r = JSON.parse((await lab.cli("netcheck --json")).stdout || "{}") as Netcheck;
      return r.homeRelay && r.relays.filter((x) => x.latencyMs !== undefined).length === 3 ? r : undefined;
    }, 90_000, 500);
    const ms = (id: number) => nc.relays.find((r) => r.region === id)!.latencyMs!;
    console.log(`delays ${DELAYS.join("/")} ms; UDP blocked (nat ${nc.nat}); meshwrt measured over HTTPS ${nc.relays.map((r) => `${r.region}: ${r.latencyMs} ms`).join(", ")}; home ${nc.homeRelay}`);
    expect(nc.nat).toBe("udp-blocked");
    expect(await lab.agentLog()).toContain("derp: no STUN answer from any region (UDP blocked?); measuring 3 region(s) over HTTPS");
    expect(nc.homeRelay).toBe(r902!.regionId);
    expect(nc.homeRelay).not.toBe(r901!.regionId); // the lowest ID, the choice without latencies
    // Each region's figure is its round trip: at least its added delay, in the delays' order.
    expect(ms(r901!.regionId)).toBeGreaterThanOrEqual(DELAYS[0]!);
    expect(ms(r902!.regionId)).toBeGreaterThanOrEqual(DELAYS[1]!);
    expect(ms(r903!.regionId)).toBeGreaterThanOrEqual(DELAYS[2]!);
    expect(ms(r902!.regionId)).toBeLessThan(ms(r901!.regionId));
    expect(ms(r901!.regionId)).toBeLessThan(ms(r903!.regionId));
    // The plain status says the same home.
    expect(JSON.parse((await lab.cli("status --json")).stdout).homeRelay).toBe(r902!.regionId);
    // What the control server tells peers: the router's PreferredDERP.
    const peer = await lab.phone.waitForPeer("router", 60_000, (p) => p.Relay === r902!.regionCode);
    const routerIp = peer.TailscaleIPs!.find((a) => a.startsWith("100."))!;
    console.log(`tailscale status on the phone: router's relay ${peer.Relay}`);
    await waitFor("a relayed ping to the router", async () => ((await lab.t.host("phone").exec(`ping -c 1 -W 1 ${routerIp}`)).code === 0 ? true : undefined), 60_000, 250);
    expect(await lab.agentLog()).toContain(`derp: connected to region ${r902!.regionId} (${r902!.ip})`);
  }, 180_000);
});
