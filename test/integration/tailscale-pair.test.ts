// The harness proven end to end: two real tailscaled nodes behind two different NATs join a real
// Headscale, see each other, and reach each other with `tailscale ping`: first through the real
// derper while UDP between the NATs is blocked, then directly once it flows.
//
//   internet: control (Headscale), derp (derper: DERP over TLS + STUN)
//   home NAT (port-restricted) -- a (tailscaled "node-a")
//   office NAT (port-restricted) -- b (tailscaled "node-b")
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../net/exec.js";
import { type Topology, topology } from "../net/topology.js";
import { type Derper, type Headscale, type Tailscaled, startDerper, startHeadscale, startTailscaled } from "../peers/index.js";

let t: Topology;
let derp: Derper;
let hs: Headscale;
let a: Tailscaled;
let b: Tailscaled;

const ipRe = (ip: string) => ip.replace(/\./g, "\\.");

beforeAll(async () => {
  t = await topology({
    hosts: ["control", "derp"],
    nats: [
      { name: "home", type: "port-restricted", hosts: ["a"] },
      { name: "office", type: "port-restricted", hosts: ["b"] },
    ],
  });
  derp = await startDerper(t.host("derp"), { dir: `${t.dir}/derper` });
  hs = await startHeadscale(t.host("control"), { dir: `${t.dir}/headscale`, derpMapYaml: derp.derpMapYaml() });
  const user = await hs.createUser("alice");
  const key = await hs.preAuthKey(user, { reusable: true });

  // No UDP between the two NATs at first (STUN to the derper still works): the relay is the only path.
  await t.internet.blockUdp(t.nat("home").publicIp, t.nat("office").publicIp);

  [a, b] = await Promise.all([
    startTailscaled(t.host("a"), { dir: `${t.dir}/ts-a` }),
    startTailscaled(t.host("b"), { dir: `${t.dir}/ts-b` }),
  ]);
  await Promise.all([
    a.up({ loginServer: hs.url, authKey: key, hostname: "node-a" }),
    b.up({ loginServer: hs.url, authKey: key, hostname: "node-b" }),
  ]);
}, 120_000);

afterAll(async () => {
  await t?.destroy();
});

describe("two tailscaled behind two NATs, one Headscale, one derper", () => {
  it("both nodes are registered and each lists the other, with matching names and addresses", async () => {
    const nodes = await hs.nodes();
    expect(nodes.map((n) => n.given_name ?? n.name).sort()).toEqual(["node-a", "node-b"]);

    const [sa, sb] = await Promise.all([a.status(), b.status()]);
    expect(sa.Self.HostName).toBe("node-a");
    expect(sb.Self.HostName).toBe("node-b");
    for (const s of [sa, sb]) {
      expect(s.BackendState).toBe("Running");
      expect(s.Self.TailscaleIPs?.[0]).toMatch(/^100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.\d+\.\d+$/);
      expect(s.MagicDNSSuffix).toBe("tailnet.test");
    }

    const bSeenByA = await a.waitForPeer("node-b", 30_000, (p) => p.Online);
    const aSeenByB = await b.waitForPeer("node-a", 30_000, (p) => p.Online);
    expect(bSeenByA.TailscaleIPs).toEqual(sb.Self.TailscaleIPs);
    expect(aSeenByB.TailscaleIPs).toEqual(sa.Self.TailscaleIPs);
    expect(bSeenByA.DNSName).toBe("node-b.tailnet.test.");
    expect(aSeenByB.DNSName).toBe("node-a.tailnet.test.");
    // Each chose our relay as its home region (known once its netcheck has run).
    const withHome = await a.waitForPeer("node-b", 20_000, (p) => p.Relay !== "");
    expect(withHome.Relay).toBe(derp.regionCode);
  });

  it("with UDP blocked between the NATs, tailscale ping goes through the DERP relay", async () => {
    const bIp = (await b.status()).Self.TailscaleIPs![0]!;
    // --until-direct (the default) keeps pinging while looking for a direct path; with no UDP
    // between the NATs it never finds one, so every pong comes back through the relay.
    const r = await a.ping(bIp, { count: 4, untilDirect: true });
    console.log(`relayed:\n${r.output}`);
    expect(r.pongs.length, r.output).toBe(4);
    for (const p of r.pongs) {
      expect(p.node).toBe("node-b");
      expect(p.ip).toBe(bIp);
      expect(p.via).toBe(`DERP(${derp.regionCode})`);
    }
    expect(r.output).toContain(`via DERP(${derp.regionCode})`);
    expect(r.output).toContain("direct connection not established");
    expect(r.code).not.toBe(0);
    const peer = (await a.waitForPeer("node-b", 5_000));
    expect(peer.CurAddr, "no direct address while UDP is blocked").toBe("");
  });

  it("once UDP flows, tailscale ping goes direct to the other NAT's public address", async () => {
    await t.internet.unblockUdp();
    const bIp = (await b.status()).Self.TailscaleIPs![0]!;
    const office = t.nat("office").publicIp;
    let last = "";
    // Each `tailscale ping` stops at the first direct pong; disco may need a round or two.
    const direct = await waitFor(
      "a direct pong from node-b",
      async () => {
        const r = await a.ping(bIp, { count: 10, untilDirect: true });
        last = r.output;
        const pong = r.pongs.at(-1);
        return r.code === 0 && pong && !pong.via.startsWith("DERP(") ? pong : undefined;
      },
      45_000,
      500,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\nlast tailscale ping output:\n${last}`);
    });
    console.log(`direct:\n${last}`);
    expect(direct.node).toBe("node-b");
    expect(direct.via, last).toMatch(new RegExp(`^${ipRe(office)}:\\d+$`));
    expect(last).toContain(`via ${direct.via}`);

    const peer = await a.waitForPeer("node-b", 10_000, (p) => p.CurAddr !== "");
    expect(peer.CurAddr).toBe(direct.via);
  });

  it("the relay stops apart from the control server: the direct path and Headscale carry on", async () => {
    await derp.stop();
    const bIp = (await b.status()).Self.TailscaleIPs![0]!;
    const r = await a.ping(bIp, { count: 2, untilDirect: false });
    expect(r.code, r.output).toBe(0);
    expect(r.pongs.map((p) => p.via), r.output).toEqual(Array(2).fill(r.pongs[0]?.via));
    expect(r.pongs[0]?.via).toMatch(new RegExp(`^${ipRe(t.nat("office").publicIp)}:\\d+$`));
    expect((await hs.nodes()).length).toBe(2);
  });
});
