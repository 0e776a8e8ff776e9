import { applyMapResponse, emptyNetMap, type NetMap } from "../../agent/src/control/netmap.js";
import type { MapResponse, Node } from "../../agent/src/control/tailcfg.js";
import { formatPrefix, maskPrefix, parseEndpoint, parsePrefix } from "../../agent/src/netaddr/ip.js";
import { latin1 } from "../../agent/src/util/bytes.js";
import { NetmapPeers, type PeersDelta } from "../../agent/src/wg/netmap-peers.js";
import { packPrefixes, packPrefixText, wantedPeers } from "../../agent/src/wg/wanted.js";
import { eq, suite } from "./check.js";

const node = (id: number, extra: Partial<Node> = {}): Node => ({
  ID: id, StableID: `n${id}`, Name: `n${id}`, User: 1, Key: `nodekey:${id.toString(16).padStart(64, "0")}`,
  Addresses: [`100.64.0.${id}/32`, `fd7a:115c:a1e0::${id}/128`], AllowedIPs: [`100.64.0.${id}/32`, `fd7a:115c:a1e0::${id}/128`], ...extra,
});

suite("wanted peers", (check) => {
  const logs: string[] = [];
  const opts = (acceptRoutes: boolean) => ({ acceptRoutes, endpointFor: () => parseEndpoint("127.0.0.1:40001"), log: (m: string) => logs.push(m) });
  const router = node(2, { AllowedIPs: ["100.64.0.2/32", "fd7a:115c:a1e0::2/128", "192.168.2.0/24", "0.0.0.0/0", "::/0"] });
  check("own addresses only, unless routes are accepted; never exit routes", () => {
    eq(wantedPeers([router], opts(false))[0]!.allowedIps.map(formatPrefix).join(" "), "100.64.0.2/32 fd7a:115c:a1e0::2/128", "without accept_routes");
    eq(wantedPeers([router], opts(true))[0]!.allowedIps.map(formatPrefix).join(" "), "100.64.0.2/32 fd7a:115c:a1e0::2/128 192.168.2.0/24", "with accept_routes");
  });
  check("absent AllowedIPs means the addresses (capver 112)", () => {
    const { AllowedIPs: _x, ...bare } = node(3);
    eq(wantedPeers([bare as Node], opts(false))[0]!.allowedIps.length, 2, "addresses");
  });
  check("bad keys and prefixes are logged and skipped, expired nodes left out", () => {
    const out = wantedPeers([node(4, { Key: "nodekey:xyz" }), node(5, { AllowedIPs: ["100.64.0.5/32", "300.1.1.1/32"] }), node(6, { Expired: true })], opts(true));
    eq(out.length, 1, "one peer left");
    eq(out[0]!.allowedIps.length, 1, "the bad prefix dropped");
    eq(logs.some((l) => l.startsWith("peer n4: nodekey:")), true, "bad key logged with the peer");
  });
  check("a prefix's text packs as its parsed and masked prefix does, and is refused as parsePrefix refuses it", () => {
    const said = (f: () => unknown) => {
      try {
        f();
        return "taken";
      } catch (e) {
        return (e as Error).message;
      }
    };
    // A packing's characters as numbers (length, bits, address bytes), for a readable failure.
    const codes = (packed: string) => Array.from(packed, (c) => c.charCodeAt(0)).join(",");
    for (const text of [
      "100.64.0.7/32", "100.64.0.7", "192.168.2.77/24", "10.1.2.3/9", "0.0.0.0/0", "255.255.255.255/31",
      "fd7a:115c:a1e0::1388/128", "fd7a:115c:a1e0:ab12:4843:cd96:6200:1/128", "FD7A:115C:A1E0::AB/64", "fd7a:115c:a1e1::ffff/47",
      "2001:db8::/32", "::/0", "::1/128", "1:2:3:4:5:6:7:8/127", "fd7a:115c:a1e0::1", "::ffff:192.0.2.1/120",
    ]) eq(codes(packPrefixText(text)), codes(packPrefixes([maskPrefix(parsePrefix(text))])), text);
    for (const bad of ["100.64.0.256/32", "100.64.0.7/33", "fd7a::1/129", "fd7a::1/", "fd7a::1/01", "fd7a:::1/128", "1:2:3:4:5:6:7:8:9/128", "fd7a::g/128", "/64", "fe80::1%eth0/64", ""]) {
      eq(said(() => packPrefixText(bad)), said(() => parsePrefix(bad)), bad);
    }
  });
});

suite("netmap peers followed by difference", (check) => {
  check("a delta followed by the nodes it changed leaves what a follow of the whole map leaves (600 random deltas)", () => {
    let seed = 99;
    const rand = (k: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % k;
    };
    // Few keys and addresses, so nodes share them; some expired, some with subnets, some keys bad.
    const peer = (id: number, v: number): Node => node(id, {
      Key: rand(12) ? `nodekey:${rand(9).toString(16).padStart(64, "0")}` : "nodekey:zz",
      Name: `n${rand(3)}`, ...(rand(4) ? {} : { AllowedIPs: [`100.64.0.${id}/32`, `10.${rand(3)}.0.0/16`] }), Endpoints: [`198.51.100.${rand(3)}:41641`],
      HomeDERP: 900 + rand(2), ...(rand(10) ? {} : { Expired: true }), ...(v % 2 ? { Online: true } : {}),
    });
    const ids = () => 2 + rand(12);
    const opts = { acceptRoutes: true, endpointFor: () => parseEndpoint("127.0.0.1:40001"), log: () => {} };
    const show = (p: NetmapPeers) => {
      const all = [...p.all()];
      return `${all.map((w) => `${w.id} ${w.packedIps} ${p.region(latin1(w.publicKey))}`).sort().join(",")} routes ${[...p.routes()].sort().join(" ")}`;
    };
    const flags = (d: PeersDelta) => `${[...d.peers].map(([k, w]) => `${k}:${w ? w.packedIps : "-"}`).sort().join(",")} names ${d.names} paths ${d.paths} routes ${d.routes ? [...d.routes].sort().join(" ") : "all"}`;
    const byDelta = new NetmapPeers(opts), whole = new NetmapPeers(opts);
    let nm: NetMap = applyMapResponse(emptyNetMap(), { Peers: [peer(2, 0), peer(3, 0)] }, "t").netmap;
    let fromDelta = 0;
    for (let i = 0; i < 600; i++) {
      const before = nm;
      const r: MapResponse = rand(3) === 0 ? { PeersRemoved: [ids()] } : rand(3) === 0 ? { OnlineChange: { [String(ids())]: rand(2) === 0 } }
        : rand(4) === 0 ? { PeersChangedPatch: [{ NodeID: ids(), DERPRegion: 900 + rand(3) }] } : { PeersChanged: [peer(ids(), i), peer(ids(), i)] };
      nm = applyMapResponse(nm, r, "t").netmap;
      if (nm.peers === before.peers || (nm.peers as { changedSince?: (m: unknown) => unknown }).changedSince?.(before.peers)) fromDelta++;
      // The same maps as plain Maps: every node compared, as a follow without a delta's list does.
      const d = byDelta.update(nm.peers), w = whole.update(new Map(nm.peers));
      eq(flags(d), flags(w), `delta ${i} (${JSON.stringify(r)}): what changed`);
      eq(show(byDelta), show(whole), `delta ${i}: the peers`);
    }
    eq(fromDelta, 600, "every map the same or telling its changes");
  });
});
