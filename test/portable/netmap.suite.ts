// The map session: a full netmap, then deltas; and the schema check that
// turns a server's garbage into an error naming the field.
import { applyMapResponse, emptyNetMap, homeRegion, keptPeer, packetFilter } from "../../agent/src/control/netmap.js";
import type { PeerMap } from "../../agent/src/control/peer-map.js";
import { utf8Decode, utf8Encode } from "../../agent/src/util/utf8.js";
import { checkMapResponse, checkRegisterResponse, type Node, parseMapResponse } from "../../agent/src/control/tailcfg.js";
import { eq, suite, throws } from "./check.js";

const node = (id: number, extra: Partial<Node> = {}): Node => ({
  ID: id, StableID: `n${id}`, Name: `host${id}.tailnet.example.`, User: 1, Key: `nodekey:${id.toString(16).padStart(64, "0")}`,
  Addresses: [`100.64.0.${id}/32`], AllowedIPs: [`100.64.0.${id}/32`], ...extra,
});
const NOW = "2026-11-22T10:00:00Z";

suite("netmap", (check) => {
  check("full map, then PeersChanged, PeersRemoved and patches", () => {
    let { netmap } = applyMapResponse(emptyNetMap(), checkMapResponse({ Node: node(1), Peers: [node(2), node(3)], Domain: "tailnet.example" }), NOW);
    eq(netmap.peers.size, 2, "peers");
    eq(netmap.self?.ID, 1, "self");
    let r = applyMapResponse(netmap, checkMapResponse({ PeersChanged: [node(4)], PeersRemoved: [2] }), NOW);
    netmap = r.netmap;
    eq([...netmap.peers.keys()].sort().join(","), "3,4", "after delta");
    eq(r.changes.has("peers"), true, "peers changed");
    eq(r.changes.has("self"), false, "self unchanged");
    r = applyMapResponse(netmap, checkMapResponse({ PeersChangedPatch: [{ NodeID: 3, DERPRegion: 900, Endpoints: ["203.0.113.7:41641"], Online: true }, { NodeID: 99, Online: true }] }), NOW);
    eq(homeRegion(r.netmap.peers.get(3)!), 900, "home region from patch");
    eq(r.netmap.peers.get(3)!.Endpoints?.[0], "203.0.113.7:41641", "endpoints from patch");
    eq(r.netmap.peers.has(99), false, "a patch for an unknown peer adds nothing");
    r = applyMapResponse(r.netmap, checkMapResponse({ OnlineChange: { "3": false }, PeerSeenChange: { "4": true } }), NOW);
    eq(r.netmap.peers.get(3)!.Online, false, "online change");
    eq(r.netmap.peers.get(4)!.LastSeen, NOW, "seen now");
  });
  check("a keep-alive changes nothing", () => {
    const { netmap } = applyMapResponse(emptyNetMap(), checkMapResponse({ Node: node(1), Peers: [node(2)] }), NOW);
    const r = applyMapResponse(netmap, checkMapResponse({ KeepAlive: true }), NOW);
    eq(r.changes.size, 0, "no changes");
    eq(r.netmap.peers, netmap.peers, "same peer map");
  });
  check("packet filter chunks: named, deleted with null, reset with *", () => {
    const rule = (src: string) => ({ SrcIPs: [src], DstPorts: [{ IP: "*", Ports: { First: 0, Last: 65535 } }] });
    let nm = applyMapResponse(emptyNetMap(), checkMapResponse({ PacketFilter: [rule("100.64.0.2")] }), NOW).netmap;
    eq(packetFilter(nm)[0]!.SrcIPs[0], "100.64.0.2", "legacy filter");
    nm = applyMapResponse(nm, checkMapResponse({ PacketFilters: { extra: [rule("100.64.0.9")] } }), NOW).netmap;
    eq(packetFilter(nm).length, 2, "a named chunk adds");
    nm = applyMapResponse(nm, checkMapResponse({ PacketFilters: { base: null } }), NOW).netmap;
    eq(packetFilter(nm).map((r) => r.SrcIPs[0]).join(), "100.64.0.9", "null deletes");
    nm = applyMapResponse(nm, checkMapResponse({ PacketFilters: { "*": null, base: [rule("100.64.0.5")] } }), NOW).netmap;
    eq(packetFilter(nm).map((r) => r.SrcIPs[0]).join(), "100.64.0.5", "* resets");
  });
  check("legacy DERP string gives the home region", () => {
    eq(homeRegion(node(5, { DERP: "127.3.3.40:901" })), 901, "region");
    eq(homeRegion(node(5)), 0, "none");
  });
  check("a DERPMap with only HomeParams keeps the regions (as tailscale's map session does)", () => {
    const region = { RegionID: 900, RegionCode: "lab", RegionName: "Lab", Nodes: [{ Name: "900a", RegionID: 900, HostName: "derp.lab.example" }] };
    const nm = applyMapResponse(emptyNetMap(), checkMapResponse({ Node: node(1), DERPMap: { Regions: { "900": region } } }), NOW).netmap;
    const r = applyMapResponse(nm, checkMapResponse({ DERPMap: { HomeParams: { RegionScore: { "900": 1.5 } } } }), NOW);
    eq(Object.keys(r.netmap.derpMap?.Regions ?? {}).join(), "900", "regions kept");
    eq(r.netmap.derpMap?.HomeParams?.RegionScore?.["900"], 1.5, "region scores kept for the home choice");
    eq(r.changes.has("derp"), true, "a DERP change (the scores) to apply");
    const later = applyMapResponse(r.netmap, checkMapResponse({ DERPMap: { Regions: { "900": region } } }), NOW).netmap;
    eq(later.derpMap?.HomeParams?.RegionScore?.["900"], 1.5, "regions without HomeParams keep the scores");
    const nulls = applyMapResponse(nm, checkMapResponse({ DERPMap: { Regions: null, HomeParams: null } }), NOW);
    eq(Object.keys(nulls.netmap.derpMap?.Regions ?? {}).join(), "900", "null regions kept too");
    throws(() => checkMapResponse({ DERPMap: { HomeParams: { RegionScore: 2 } } }), /MapResponse\.DERPMap\.HomeParams\.RegionScore: want an object/, "bad HomeParams");
    throws(() => checkMapResponse({ DERPMap: { Regions: [] } }), /MapResponse\.DERPMap\.Regions: want an object, got array/, "regions as an array");
  });
  check("the server's Health: kept until the next Health, an empty one clears it", () => {
    let r = applyMapResponse(emptyNetMap(), checkMapResponse({ Node: node(1), Health: ["The node key expires in 3 days."] }), NOW);
    eq(r.netmap.health.join(), "The node key expires in 3 days.", "health");
    eq(r.changes.has("health"), true, "a health change");
    r = applyMapResponse(r.netmap, checkMapResponse({ KeepAlive: true }), NOW);
    eq(r.netmap.health.length, 1, "absent keeps it");
    r = applyMapResponse(r.netmap, checkMapResponse({ Health: [] }), NOW);
    eq(r.netmap.health.length, 0, "empty clears it");
    throws(() => checkMapResponse({ Health: ["ok", 3] }), /MapResponse\.Health\[1\]: want a string/, "bad health");
  });
  check("a peer is kept with the fields the agent reads: the server's extras dropped, AllowedIPs the list of Addresses when equal, DERP as HomeDERP", () => {
    const sent = {
      ...node(2, { Machine: "mkey:" + "1".repeat(64), DiscoKey: "discokey:" + "2".repeat(64), KeyExpiry: "2027-01-01T00:00:00Z", Endpoints: ["198.51.100.2:41641"], DERP: "127.3.3.40:7", Online: true, Tags: ["tag:router"], Cap: 113, KeySignature: "c2ln", MachineAuthorized: true, PrimaryRoutes: ["192.168.7.0/24"] }),
      Hostinfo: { OS: "linux", Hostname: "h2", Services: [{ Proto: "peerapi4", Port: 1 }], NetInfo: { PreferredDERP: 7 } },
      CapMap: { "https://tailscale.com/cap/is-admin": null }, Created: "2026-01-01T00:00:00Z", ComputedName: "h2",
    };
    const { netmap } = applyMapResponse(emptyNetMap(), checkMapResponse(JSON.parse(JSON.stringify({ Peers: [sent] }))), NOW);
    const kept = netmap.peers.get(2)!;
    eq(Object.keys(kept).sort().join(","), "Addresses,AllowedIPs,DiscoKey,Endpoints,HomeDERP,Hostinfo,ID,Key,KeyExpiry,Name,Online,PrimaryRoutes,StableID,User", "fields kept");
    eq(kept.AllowedIPs === kept.Addresses, true, "one list for equal AllowedIPs and Addresses");
    eq(homeRegion(kept), 7, "the legacy DERP region");
    eq(JSON.stringify(kept.Hostinfo), '{"OS":"linux"}', "Hostinfo: the OS");
    const routed = applyMapResponse(netmap, checkMapResponse({ PeersChanged: [node(3, { AllowedIPs: ["100.64.0.3/32", "10.3.0.0/16"] })] }), NOW).netmap.peers.get(3)!;
    eq(routed.AllowedIPs.join(","), "100.64.0.3/32,10.3.0.0/16", "AllowedIPs that differ are kept");
  });
  check("a map message's bytes decode as UTF-8, a chunk at a time: long ASCII, a character across a chunk's end, malformed bytes as U+FFFD", () => {
    const ascii = "x".repeat(20_000);
    eq(utf8Decode(Uint8Array.from(ascii, (c) => c.charCodeAt(0))), ascii, "ASCII");
    const bytes = new Uint8Array(8193);
    bytes.fill(0x61);
    bytes.set([0xc3, 0xa9], 8191); // é across the 8 KB chunk's end
    eq(utf8Decode(bytes), "a".repeat(8191) + "é", "a 2-byte character across a chunk's end");
    eq(utf8Decode(Uint8Array.from([0x68, 0xf0, 0x9f, 0x98, 0x80, 0x21, 0xff, 0xc3, 0x41])), "h\u{1f600}!\ufffd\ufffdA", "4 bytes, a bad byte, a cut sequence");
    eq(utf8Decode(new Uint8Array(0)), "", "nothing");
  });
  check("a map message parsed a node at a time is the message parsed whole: spacing, escapes, UTF-8, nulls; garbage refused", () => {
    const enc = (t: string) => utf8Encode(t);
    const whole = (t: string) => JSON.stringify(checkMapResponse(JSON.parse(t)));
    const texts = [
      JSON.stringify({ Node: node(1), Peers: [node(2), node(3)], Domain: "tailnet.example", PacketFilter: [{ SrcIPs: ["*"] }] }),
      JSON.stringify({ Peers: [node(2, { Name: 'a "quoted" \\ name ]}{[', Hostinfo: { OS: "linux", Hostname: "caf\u00e9 ✓ \u{1f600}" } })], PeersChanged: [] }, null, 2),
      ` \n\t{ "PeersChanged" : [ ${JSON.stringify(node(4))} ] , "PeersRemoved":[2,3], "Peers": null ,"KeepAlive":false}\r\n`,
      JSON.stringify({ Peers: [node(5, { Name: "\\" }), node(6, { Name: 'one " then ]}' })], OnlineChange: { "5": true } }),
      "{}",
    ];
    for (const t of texts) eq(JSON.stringify(parseMapResponse(enc(t))), whole(t), `the same message: ${t.slice(0, 40)}`);
    const kept = parseMapResponse(enc(JSON.stringify({ Peers: [node(2, { Machine: "mkey:00", Tags: ["tag:x"] })] })), keptPeer).Peers![0]!;
    eq(Object.keys(kept).includes("Machine"), false, "each node kept as it is parsed");
    eq(keptPeer(kept), kept, "and not copied again");
    for (const bad of ["", "[]", "{", '{"Peers":[{"ID":1]}', '{"Peers":[1,]}', '{"a":1 2}', '{"a":"x}', '{"Peers":[]} x', "{\"a\":tru}"]) {
      throws(() => parseMapResponse(enc(bad)), /./, `refused: ${bad}`);
      throws(() => checkMapResponse(JSON.parse(bad)), /./, `and whole: ${bad}`);
    }
    throws(() => parseMapResponse(enc(JSON.stringify({ Peers: [node(2), { ...node(3), Key: 7 }] }))), /^MapResponse\.Peers\[1\]\.Key: want a string, got number/, "a bad node named");
  });
  check("a big message's nodes found by the next node's first key, not byte by byte: the same as parsed whole, across its text windows", () => {
    const enc = (t: string) => utf8Encode(t);
    const whole = (t: string) => JSON.stringify(checkMapResponse(JSON.parse(t)));
    // 300 nodes of ~300-1,300 bytes (the 64 KB windows end inside nodes), one named in UTF-8, one holding objects that start
    // with the nodes' own first key (false ends), one longer than the search for its end (found byte by byte), and a message
    // after them that starts its objects with "ID" too (UserProfiles).
    const peers = Array.from({ length: 300 }, (_, i) => node(i + 2, { Name: `host${i}.${"x".repeat((i * 37) % 1000)}.` }));
    peers[5] = node(7, { Name: "café ✓ \u{1f600}.tailnet.example." });
    peers[6] = { ...node(8), Extra: [{ ID: 1 }, { ID: 2, Name: "}]" }] } as Node;
    peers[200] = node(202, { Name: "y".repeat(70_000) });
    const big = JSON.stringify({ Peers: peers, UserProfiles: [{ ID: 1, LoginName: "a", DisplayName: "A" }, { ID: 2, LoginName: "b", DisplayName: "B" }] });
    eq(JSON.stringify(parseMapResponse(enc(big))), whole(big), "300 nodes");
    const last = JSON.stringify({ PeersChanged: [node(2), node(3, { Name: "é" })] });
    eq(JSON.stringify(parseMapResponse(enc(last))), whole(last), "the last node, not ASCII");
    for (const bad of ['{"Peers":[{"ID":1},{"ID":2}', '{"Peers":[{"ID":1,},{"ID":2}]}', '{"Peers":[{"ID":1},{"ID":2},]}', '{"Peers":[{"ID":1}{"ID":2}]}', '{"Peers":[{"ID":1},{"ID":2}]]}']) {
      throws(() => parseMapResponse(enc(bad)), /./, `refused: ${bad}`);
    }
  });
  check("the peers map is a value with a Map's order: each delta's map a new one, the old one as it was (2,000 random joins, leaves and changes)", () => {
    let seed = 7;
    const rand = (k: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % k;
    };
    const show = (m: ReadonlyMap<number, Node>) => [...m].map(([id, n]) => `${id}:${n.Name}`).join(",") + `|${m.size}|${[...m.keys()].filter((id) => m.has(id) && m.get(id)!.ID === id).length}`;
    let nm = applyMapResponse(emptyNetMap(), checkMapResponse({ Peers: [node(2), node(3), node(4)] }), NOW).netmap;
    let model = new Map([...nm.peers]);
    const kept: [ReadonlyMap<number, Node>, string][] = [];
    for (let i = 0; i < 2000; i++) {
      const id = 2 + rand(40);
      const r = rand(3) === 0 ? { PeersRemoved: [id] } : rand(2) ? { PeersChanged: [node(id, { Name: `v${i}` })] } : { OnlineChange: { [String(id)]: i % 2 === 0 } };
      const next = applyMapResponse(nm, checkMapResponse(r), NOW).netmap;
      const m = new Map(model);
      for (const x of r.PeersRemoved ?? []) m.delete(x);
      for (const p of r.PeersChanged ?? []) m.set(p.ID, keptPeer(p));
      for (const [k, on] of Object.entries(r.OnlineChange ?? {})) if (m.has(Number(k)) && m.get(Number(k))!.Online !== on) m.set(Number(k), { ...m.get(Number(k))!, Online: on });
      if (i % 100 === 0) kept.push([nm.peers, show(nm.peers)]);
      eq(show(next.peers), show(m), `after delta ${i}`);
      nm = next;
      model = m;
    }
    for (const [m, was] of kept) eq(show(m), was, "an old map as it was");
    // A delta applied to an old map again and again (as the fuzz target does) leaves it as it was too.
    const [old, was] = kept[3]!;
    for (let i = 0; i < 3; i++) applyMapResponse({ ...emptyNetMap(), peers: old }, checkMapResponse({ PeersChanged: [node(99)], PeersRemoved: [2, 3] }), NOW);
    eq(show(old), was, "an old map a delta started from");
  });
  check("a delta's peers map names the IDs it set or removed, and only against the map it came from", () => {
    const big = 2 ** 40;
    const nm = applyMapResponse(emptyNetMap(), { Peers: [node(2), node(3), node(big), node(4)] }, NOW).netmap;
    eq(String((nm.peers as PeerMap).changedSince(emptyNetMap().peers)), "undefined", "a full map: every peer to compare");
    const d = applyMapResponse(nm, { PeersChanged: [node(5), node(3, { Name: "x" })], PeersRemoved: [big, 77], OnlineChange: { "4": true }, PeerSeenChange: { "2": false } }, NOW).netmap;
    const ids = (d.peers as PeerMap).changedSince(nm.peers);
    eq(ids ? [...ids].sort((a, b) => a - b).join(" ") : "none", `2 3 4 5 ${big}`, "set and removed (77 was not there)");
    eq([...d.peers.keys()].join(" "), "2 3 4 5", "the delta's map");
    eq(d.peers.has(big) || d.peers.has(77), false, "removed");
    eq(nm.peers.get(big)?.ID, big, "a big ID in the old map");
    eq(String((d.peers as PeerMap).changedSince(d.peers)), "undefined", "not against another map");
    const again = applyMapResponse(nm, { PeersRemoved: [2] }, NOW).netmap;
    eq(String((d.peers as PeerMap).changedSince(again.peers)), "undefined", "not against a sibling");
    eq([...((again.peers as PeerMap).changedSince(nm.peers) ?? [])].join(" "), "2", "the sibling's own");
    // Too many to list: every peer compared.
    const many = applyMapResponse(nm, { PeersChanged: Array.from({ length: 300 }, (_, i) => node(100 + i)) }, NOW).netmap;
    eq(String((many.peers as PeerMap).changedSince(nm.peers)), "undefined", "300 joins");
  });
  check("a node's every field checked, on the quick look at right nodes as on the slow walk that names a wrong one", () => {
    const wrong: Record<string, unknown> = {
      ID: "1", StableID: 1, Name: 1, User: "1", Key: 1, KeyExpiry: 1, Machine: 1, DiscoKey: 1, Addresses: ["a", 1], AllowedIPs: "a",
      Endpoints: [null], HomeDERP: "900", DERP: 1, Hostinfo: [], Tags: "t", PrimaryRoutes: [1], Online: "yes", LastSeen: 1,
      MachineAuthorized: 1, Expired: "no", Cap: 1e999, KeySignature: 1,
    };
    for (const [field, v] of Object.entries(wrong)) {
      // Infinity is written null: put back the number JSON.parse makes Infinity of.
      const bad = JSON.stringify({ Peers: [node(2), { ...node(3), [field]: v }] }).replace('"Cap":null', '"Cap":1e999');
      throws(() => parseMapResponse(utf8Encode(bad)), new RegExp(`^MapResponse\\.Peers\\[1\\]\\.${field}(\\[\\d\\])?: want`), field);
    }
    for (const [field, v] of Object.entries({ OS: 1, Hostname: true, RoutableIPs: [1] })) {
      throws(() => checkMapResponse({ Peers: [{ ...node(3), Hostinfo: { [field]: v } }] }), new RegExp(`^MapResponse\\.Peers\\[0\\]\\.Hostinfo\\.${field}`), `Hostinfo.${field}`);
    }
    throws(() => checkMapResponse({ Peers: [{ ...node(3), Key: "mkey:00" }] }), /Peers\[0\]\.Key: want a nodekey: string/, "key kind");
    eq(JSON.stringify(checkMapResponse({ Peers: [{ ID: 4, Key: "nodekey:00", Name: null }] }).Peers![0]), '{"ID":4,"Key":"nodekey:00","Name":"","StableID":"","User":0,"Addresses":[],"AllowedIPs":[]}', "Go's zero values");
  });
  check("garbage is an error that names the field", () => {
    throws(() => checkMapResponse([]), /^MapResponse: want an object, got array/, "array");
    throws(() => checkMapResponse({ Peers: [node(2), { ...node(3), Key: 7 }] }), /MapResponse\.Peers\[1\]\.Key: want a string, got number/, "key type");
    throws(() => checkMapResponse({ Peers: [{ ...node(3), Key: "mkey:00" }] }), /Peers\[0\]\.Key: want a nodekey: string/, "key kind");
    throws(() => checkMapResponse({ PacketFilter: [{ SrcIPs: ["*"], DstPorts: [{ IP: "*", Ports: 5 }] }] }), /DstPorts\[0\]\.Ports: want an object, got number/, "ports");
    throws(() => checkMapResponse({ DERPMap: { Regions: { "900": { Nodes: [{ HostName: 5 }] } } } }), /Regions\[900\]\.Nodes\[0\]\.HostName: want a string/, "derp node");
    throws(() => checkRegisterResponse("nope"), /RegisterResponse: want an object/, "register");
    eq(checkRegisterResponse({ MachineAuthorized: true }).AuthURL, "", "defaults");
  });
});
