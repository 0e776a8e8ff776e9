// Direct over IPv6 (issue 17 item 8): a home and a phone with native IPv6
// besides their NATed IPv4, UDP over IPv4 dropped between the two houses
// (nftables in the internet core, as a carrier-grade NAT or DS-Lite leaves
// IPv4 unpunchable), each house's router filtering inbound IPv6 as home
// routers do. The relay answers STUN on IPv6 and Headscale's DERP map lists
// its IPv6 address. The phone (stock tailscaled) must reach meshwrt directly
// over IPv6, as it would reach another tailscaled; before meshwrt spoke
// IPv6 it stayed on the relay here.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../net/exec.js";
import { withinBudget } from "../support/budget.js";
import { type Lab, startLab } from "../support/lab.js";

let lab: Lab;

beforeAll(async () => {
  lab = await startLab({ ipv6: true, blockUdp: true });
}, 600_000);

afterAll(async () => {
  if (lab) console.log((await lab.agentLog()).split("\n").filter((l) => /path|endpoints|direct|stun|error|warn/.test(l)).slice(-15).join("\n"));
  await lab?.stop();
}, 120_000);

describe("IPv6 on both sides, UDP over IPv4 blocked between the houses", () => {
  it("the phone reaches the router directly over IPv6: its pings arrive, tailscale and meshwrt both say direct [IPv6]:port, the kernel peer's endpoint is IPv6", async () => {
    const { t, phone } = lab;
    const router = t.host("router"), ph = t.host("phone");
    const routerV6 = router.ip6!, phoneV6 = ph.ip6!;
    expect(routerV6).toMatch(/^2001:db8:/);
    // IPv4 between the houses is blocked for UDP: the phone's IPv4 reaches the relay only.
    const routerIp = (await phone.waitForPeer("router", 90_000)).TailscaleIPs!.find((a) => a.startsWith("100."))!;

    // Time to direct: `tailscale ping` until a pong comes other than through DERP.
    const from = Date.now();
    const direct = await waitFor("a direct pong from the router", async () => {
      const r = await phone.ping(routerIp, { count: 5, untilDirect: true, timeout: "2s" });
      const p = r.pongs.at(-1);
      return p && !p.via.startsWith("DERP(") ? p : undefined;
    }, 90_000, 250);
    const sinceLoop = Date.now() - from, sinceAgent = Date.now() - lab.agentStartedAt;
    console.log(`direct: the phone's pong came via ${direct.via} in ${direct.latency}; ${sinceLoop} ms after the phone saw the router, ${sinceAgent} ms after meshwrt started`);
    expect(direct.via).toMatch(new RegExp(`^\\[${routerV6}\\]:\\d+$`));

    // The phone's own view: tailscale status lists the router's current address as IPv6.
    const peer = await phone.waitForPeer("router", 10_000, (p) => p.CurAddr.startsWith("["));
    console.log(`tailscale status: router CurAddr ${peer.CurAddr}, Addrs ${JSON.stringify(peer.Addrs)}`);
    expect(peer.CurAddr).toMatch(new RegExp(`^\\[${routerV6}\\]:\\d+$`));

    // Pings over the tailnet arrive, and what they cost.
    const ping = await ph.exec(`ping -c 10 -i 0.2 -W 2 ${routerIp}`);
    const loss = /(\d+)% packet loss/.exec(ping.stdout)?.[1];
    const rtt = /= ([\d.]+)\/([\d.]+)\/([\d.]+)/.exec(ping.stdout);
    console.log(`ping over IPv6: ${loss}% loss, rtt min/avg/max ${rtt?.slice(1).join("/")} ms`);
    expect(loss, ping.stdout).toBe("0");

    // The router's kernel WireGuard peer points at the phone's IPv6 address.
    const phoneKey = Buffer.from((await phone.status()).Self.PublicKey.replace(/^nodekey:/, ""), "hex").toString("base64");
    const kernelEndpoint = (await router.run("wg show meshwrt0 endpoints")).split("\n").find((l) => l.startsWith(phoneKey))?.split("\t")[1];
    console.log(`wg show meshwrt0 endpoints: the phone at ${kernelEndpoint}`);
    expect(kernelEndpoint).toMatch(new RegExp(`^\\[${phoneV6}\\]:\\d+$`));

    // meshwrt says so: status counts the phone direct, peers names the IPv6 path, netcheck our IPv6 endpoint.
    const status = JSON.parse((await lab.cli("status --json")).stdout) as { peers: { direct: number } };
    expect(status.peers.direct).toBe(1);
    const peers = JSON.parse((await lab.cli("peers --json")).stdout).peers as { name: string; path: string; endpoint?: string }[];
    const mine = peers.find((p) => p.name === "phone");
    console.log(`meshwrt peers: phone ${mine?.path}`);
    expect(mine?.path).toMatch(new RegExp(`^direct \\[${phoneV6}\\]:\\d+, \\d+ ms$`));
    const netcheck = JSON.parse((await lab.cli("netcheck --json")).stdout) as { endpoints: string[] };
    console.log(`meshwrt netcheck endpoints: ${netcheck.endpoints.join(", ")}`);
    expect(netcheck.endpoints).toContain(`[${routerV6}]:41641`);
    // The relay's STUN is dual-stack (derper on ":3478" names IPv4 clients ::ffff:a.b.c.d): our IPv4 endpoint is still IPv4.
    expect(netcheck.endpoints).toContain(`${t.nat("home").publicIp}:41641`);
    expect(netcheck.endpoints.filter((e) => e.includes("::ffff:"))).toEqual([]);
    withinBudget("direct over IPv6 after the phone saw the router", sinceLoop, 15_000);
  }, 300_000);

  it("NetInfo.DERPLatency as tailscale reports it: the relay's round trip over IPv4 and over IPv6 apart, as the control server hands it to the phone", async () => {
    // The router's Hostinfo in the phone's netmap is what meshwrt sent Headscale.
    type Peer = { Name?: string; ComputedName?: string; Hostinfo?: { Hostname?: string; NetInfo?: { PreferredDERP?: number; DERPLatency?: Record<string, number> } } };
    const router = await waitFor("the router's NetInfo in the phone's netmap", async () => {
      const r = await lab.phone.cli("debug netmap");
      const peers = (JSON.parse(r.stdout || "{}") as { Peers?: Peer[] }).Peers ?? [];
      return peers.find((p) => p.Hostinfo?.Hostname === "router" || p.ComputedName === "router" || p.Name?.startsWith("router."))?.Hostinfo?.NetInfo;
    }, 30_000, 1000);
    console.log(`the router's NetInfo as the phone got it: PreferredDERP ${router.PreferredDERP}, DERPLatency ${JSON.stringify(router.DERPLatency)}`);
    expect(router.PreferredDERP).toBe(lab.derp.regionId);
    const lat = router.DERPLatency ?? {};
    expect(Object.keys(lat).sort()).toEqual([`${lab.derp.regionId}-v4`, `${lab.derp.regionId}-v6`]);
    // Seconds, as tailscale writes them: a round trip in the lab is well under one.
    for (const v of Object.values(lat)) expect(v).toBeGreaterThan(0), expect(v).toBeLessThan(1);
  }, 60_000);
});
