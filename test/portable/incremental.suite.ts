// The tunnel's kernel state kept by difference (agent/tunnel.ts): a netmap
// sequence applied delta by delta leaves exactly what a full apply of the
// last netmap leaves on a fresh device, a delta sends only what it changed,
// and changes made by someone else are seen and repaired by a reconcile.
// The kernel here is the in-memory double (memory-kernel.ts); the VM suite
// checks the same against the real one.
import { Tunnel } from "../../agent/src/agent/tunnel.js";
import { applyMapResponse, emptyNetMap, type NetMap } from "../../agent/src/control/netmap.js";
import type { MapResponse, Node } from "../../agent/src/control/tailcfg.js";
import { parseEndpoint, parsePrefix } from "../../agent/src/netaddr/ip.js";
import { latin1, toHex } from "../../agent/src/util/bytes.js";
import { readPeers } from "../../agent/src/wg/api.js";
import { keyFromText } from "../../agent/src/crypto/keys.js";
import { eq, suite } from "./check.js";
import { MemoryLink, MemoryWireGuard } from "./memory-kernel.js";

const hex64 = (i: number) => i.toString(16).padStart(64, "0");
const node = (i: number, extra: Partial<Node> = {}): Node => ({
  ID: i, StableID: `n${i}`, Name: `host-${i}.tailnet.example.`, User: 1, Key: `nodekey:${hex64(i)}`, DiscoKey: `discokey:${hex64(i + 1000)}`,
  Addresses: [`100.64.0.${i}/32`, `fd7a:115c:a1e0::${i.toString(16)}/128`], AllowedIPs: [`100.64.0.${i}/32`, `fd7a:115c:a1e0::${i.toString(16)}/128`],
  Endpoints: [`198.51.100.${i}:41641`], HomeDERP: 900, Online: true, ...extra,
});

/** A device and link as the agent keeps them; the endpoint each peer gets is its relay socket, 127.0.0.1:(40000 + ID). */
function rig() {
  const wg = new MemoryWireGuard(), link = new MemoryLink(7);
  const tunnel = new Tunnel({
    wg, name: "mw0", rtnl: link, index: 7,
    wanted: { acceptRoutes: true, endpointFor: (n) => parseEndpoint(`127.0.0.1:${40000 + n.ID}`), log: () => {} },
    note: () => {},
  });
  return { wg, link, tunnel };
}

type Rig = ReturnType<typeof rig>;
const SELF = node(1);

async function step(r: Rig, nm: NetMap, reconcile = false) {
  return r.tunnel.apply(r.tunnel.follow(nm.peers), nm.self?.Addresses ?? [], true, reconcile);
}

/** The same netmap applied in full on a fresh device: what incremental must equal. */
async function fresh(nm: NetMap): Promise<Rig> {
  const r = rig();
  await step(r, nm);
  return r;
}

function same(a: Rig, b: Rig, what: string) {
  eq(a.wg.text(), b.wg.text(), `${what}: WireGuard peers`);
  eq(a.link.text(), b.link.text(), `${what}: addresses and routes`);
}

const next = (nm: NetMap, r: MapResponse) => applyMapResponse(nm, r, "2026-12-05T05:00:00Z").netmap;

suite("incremental apply", (check) => {
  check("a netmap sequence applied delta by delta leaves exactly what a full apply leaves", async () => {
    const r = rig();
    const peers = Array.from({ length: 40 }, (_, i) => node(i + 2));
    let nm = next(emptyNetMap(), { Node: SELF, Peers: peers });
    await step(r, nm);
    same(r, await fresh(nm), "full map");
    eq(r.wg.peers.size, 40, "peers in the kernel");
    const seq: MapResponse[] = [
      { PeersChanged: [node(50)] }, // a node joins
      { PeersRemoved: [3] }, // one leaves
      { PeersChanged: [node(4, { AllowedIPs: [...node(4).AllowedIPs!, "192.168.4.0/24"] })] }, // advertises a subnet
      { PeersChanged: [node(5, { Key: `nodekey:${hex64(555)}` })] }, // re-keyed
      { PeersChanged: [node(6, { Expired: true })] }, // expired: no longer a peer
      { PeersChangedPatch: [{ NodeID: 7, Endpoints: ["203.0.113.7:41641"], DERPRegion: 901 }] }, // paths only
      { OnlineChange: { "8": false }, PeerSeenChange: { "9": true } }, // presence only
      { PeersChanged: [node(4)] }, // the subnet withdrawn
      { Node: node(1, { Addresses: ["100.64.0.1/32"] }) }, // our own addresses change
      { PeersRemoved: [10, 11, 12], PeersChanged: [node(51), node(52)] },
    ];
    for (const [i, d] of seq.entries()) {
      nm = next(nm, d);
      await step(r, nm);
      same(r, await fresh(nm), `after delta ${i + 1} (${Object.keys(d).join(", ")})`);
    }
  });

  check("a one-peer delta sends that peer and its routes only; a presence delta sends nothing", async () => {
    const r = rig();
    let nm = next(emptyNetMap(), { Node: SELF, Peers: Array.from({ length: 200 }, (_, i) => node(i + 2)) });
    await step(r, nm);
    const gets = r.wg.gets, sets = r.wg.sets, req = r.link.requests, sent = r.tunnel.peers.stats.peersSent;
    nm = next(nm, { PeersChanged: [node(250)] });
    const one = await step(r, nm);
    eq(one.sent, 1, "peer changes");
    eq(one.routed, 1, "route requests (its /32; its /128 goes by the tailnet's IPv6 range, routed once)");
    eq(r.wg.sets - sets, 1, "one set-device request");
    eq(r.tunnel.peers.stats.peersSent - sent, 1, "carrying one peer");
    eq(r.wg.gets - gets, 0, "no dump of the device");
    eq(r.link.requests - req, 1, "one route request");
    eq([...r.link.routes.keys()].filter((k) => k.includes(":")).join(), "fd7a:115c:a1e0::/48", "the tailnet's IPv6 addresses: one route for the range");
    nm = next(nm, { OnlineChange: { "5": false }, PeerSeenChange: { "6": true }, PeersChangedPatch: [{ NodeID: 7, Endpoints: ["203.0.113.7:41641"] }] });
    const none = await step(r, nm);
    eq(none.sent + none.routed, 0, "nothing sent for presence and endpoints");
    eq(r.wg.sets - sets, 1, "still one set-device request");
    eq(r.wg.gets - gets, 0, "still no dump");
  });

  check("a peer removed or changed by someone else is seen in a dump and repaired by a reconcile", async () => {
    const r = rig();
    const nm = next(emptyNetMap(), { Node: SELF, Peers: Array.from({ length: 20 }, (_, i) => node(i + 2)) });
    await step(r, nm);
    const dumped = () => readPeers(r.wg, "mw0");
    eq(r.tunnel.peers.changedOutside(await dumped()), false, "no outside change yet");
    // A roaming endpoint is the kernel's own doing, not an outside change.
    const id4 = toHex(keyFromText("nodekey", node(4).Key));
    r.wg.peers.set(id4, { ...r.wg.peers.get(id4)!, endpoint: parseEndpoint("203.0.113.4:9999") });
    eq(r.tunnel.peers.changedOutside(await dumped()), false, "a roamed endpoint");
    // `wg set mw0 peer X remove`, and another peer's allowed IPs cut.
    r.wg.peers.delete(toHex(keyFromText("nodekey", node(2).Key)));
    const id3 = toHex(keyFromText("nodekey", node(3).Key));
    r.wg.peers.set(id3, { ...r.wg.peers.get(id3)!, allowedIps: [parsePrefix("100.64.0.3/32")] });
    eq(r.tunnel.peers.changedOutside(await dumped()), true, "the outside change is seen");
    await step(r, nm, true);
    same(r, await fresh(nm), "after the reconcile");
    eq(r.tunnel.peers.changedOutside(await dumped()), false, "repaired");
  });

  check("a route or address deleted by someone else is noticed from its event and restored", async () => {
    const r = rig();
    const nm = next(emptyNetMap(), { Node: SELF, Peers: [node(2), node(3)] });
    await step(r, nm);
    const gone = r.link.routes.get("100.64.0.2/32")!;
    r.link.routes.delete("100.64.0.2/32");
    eq(r.tunnel.router.lostOurs({ kind: "route", route: gone }), true, "a route of ours gone");
    eq(r.tunnel.router.lostOurs({ kind: "route", route: { ...gone, oif: 9 } }), false, "a route on another link");
    const addr = r.link.addrs.get("100.64.0.1/32")!;
    r.link.addrs.delete("100.64.0.1/32");
    eq(r.tunnel.router.lostOurs({ kind: "address", address: addr }), true, "an address of ours gone");
    await step(r, nm, true);
    same(r, await fresh(nm), "after the reconcile");
  });

  check("the routes the tunnel takes say which addresses it covers (disco sends none into it)", async () => {
    const r = rig();
    let nm = next(emptyNetMap(), { Node: SELF, Peers: [node(2), node(3, { AllowedIPs: ["100.64.0.3/32", "192.168.7.0/24"] })] });
    await step(r, nm);
    const covered = (ip: string) => r.tunnel.netmapPeers.routesContain(parsePrefix(ip).ip);
    eq([covered("100.64.0.2"), covered("192.168.7.55"), covered("fd7a:115c:a1e0::99"), covered("100.64.0.9"), covered("192.168.8.1"), covered("fd7a:115c:a1e1::1")].join(), "true,true,true,false,false,false", "the peers' addresses, a subnet, the IPv6 range");
    nm = next(nm, { PeersRemoved: [3] });
    await step(r, nm);
    eq([covered("192.168.7.55"), covered("100.64.0.3"), covered("100.64.0.2")].join(), "false,false,true", "a departed peer's routes no longer");
    nm = next(nm, { PeersChanged: [node(4, { AllowedIPs: ["100.64.0.4/32", "10.1.2.3/16", "2001:db8:1::/48", "fd7a:115c:a1e0::4/128", "fd7a:115c:a1e1::4/128"] })] });
    await step(r, nm);
    eq([...r.tunnel.netmapPeers.routes()].sort().join(" "), "10.1.0.0/16 100.64.0.2/32 100.64.0.4/32 2001:db8:1::/48 fd7a:115c:a1e0::/48 fd7a:115c:a1e1::4/128", "the routes by their text, masked; the tailnet's IPv6 addresses one range");
  });

  check("a peer's home relay follows its node, and is none once it left", async () => {
    const r = rig();
    const key = (i: number) => latin1(keyFromText("nodekey", node(i).Key));
    let nm = next(emptyNetMap(), { Node: SELF, Peers: [node(2), node(3, { HomeDERP: 901 })] });
    await step(r, nm);
    eq(`${r.tunnel.netmapPeers.region(key(2))} ${r.tunnel.netmapPeers.region(key(3))} ${r.tunnel.netmapPeers.region(key(9))}`, "900 901 0", "from the netmap");
    nm = next(nm, { PeersChangedPatch: [{ NodeID: 2, DERPRegion: 902 }] });
    eq((await step(r, nm)).sent, 0, "a new home relay is nothing the kernel has");
    eq(r.tunnel.netmapPeers.region(key(2)), 902, "the new home relay");
    nm = next(nm, { PeersRemoved: [2] });
    await step(r, nm);
    eq(r.tunnel.netmapPeers.region(key(2)), 0, "a departed peer's");
  });

  check("a failed change makes the next apply read the kernel back", async () => {
    const r = rig();
    let nm = next(emptyNetMap(), { Node: SELF, Peers: [node(2), node(3)] });
    await step(r, nm);
    r.wg.failNext = true;
    nm = next(nm, { PeersChanged: [node(4)] });
    let failed = false;
    await step(r, nm).catch(() => (failed = true));
    eq(failed, true, "the change failed");
    eq(r.tunnel.peers.needsReconcile, true, "the model is stale");
    const gets = r.wg.gets;
    await step(r, nm);
    eq(r.wg.gets - gets, 1, "a dump before the next change");
    same(r, await fresh(nm), "after the repair");
  });

  check("no peers while they are not allowed (the firewall is not loaded), all of them once they are", async () => {
    const r = rig();
    const nm = next(emptyNetMap(), { Node: SELF, Peers: [node(2), node(3)] });
    await r.tunnel.apply(r.tunnel.follow(nm.peers), nm.self!.Addresses, false, false);
    eq(r.wg.peers.size, 0, "no peer");
    eq(r.link.routes.size, 0, "no route");
    await r.tunnel.apply(r.tunnel.follow(nm.peers), nm.self!.Addresses, true, false);
    same(r, await fresh(nm), "once allowed");
    await r.tunnel.apply(r.tunnel.follow(nm.peers), nm.self!.Addresses, false, false);
    eq(r.wg.peers.size, 0, "removed when no longer allowed");
  });
});
