// Two DiscoManagers talking to each other through their packets: only
// netmap peers are answered, and a ping/pong round trip yields a direct path.
import type { Node } from "../../agent/src/control/tailcfg.js";
import { keyPairFromSeed, keyToText } from "../../agent/src/crypto/keys.js";
import { formatEndpoint, parseEndpoint } from "../../agent/src/netaddr/ip.js";
import { type DiscoOut, DiscoManager } from "../../agent/src/paths/manager.js";
import { toHex } from "../../agent/src/util/bytes.js";
import { eq, suite } from "./check.js";

let counter = 0;
const random = (n: number) => Uint8Array.from({ length: n }, () => (counter = (counter * 31 + 7) & 0xff));

function side(seed: number, ep: string) {
  const node = keyPairFromSeed(new Uint8Array(32).fill(seed));
  const disco = keyPairFromSeed(new Uint8Array(32).fill(seed + 100));
  const m = new DiscoManager({ random, ourNodeKey: node.publicKey, ourDiscoPrivate: disco.privateKey, ourDiscoPublic: disco.publicKey, ourEndpoints: () => [parseEndpoint(ep)] });
  const asNode = (): Node => ({
    ID: seed, StableID: String(seed), Name: `n${seed}`, User: 1, Key: keyToText("nodekey", node.publicKey), DiscoKey: keyToText("discokey", disco.publicKey),
    Addresses: [], AllowedIPs: [], Endpoints: [ep], HomeDERP: 900,
  });
  return { m, node, ep: parseEndpoint(ep), asNode };
}

suite("disco manager", (check) => {
  check("ping, pong, direct; strangers get nothing", () => {
    const router = side(1, "198.51.100.1:41641");
    const phone = side(2, "203.0.113.7:41641");
    const stranger = side(3, "192.0.2.9:41641");
    router.m.setPeers([phone.asNode()], () => 900);
    phone.m.setPeers([router.asNode()], () => 900);
    const pings = phone.m.tick(0, () => ({ active: true })).filter((o): o is Extract<DiscoOut, { kind: "udp" }> => o.kind === "udp");
    eq(pings.length, 1, "the phone pings the router's endpoint");
    const answers = router.m.receive(pings[0]!.packet, { from: phone.ep }, 1);
    const pong = answers.find((o) => o.kind === "udp" && formatEndpoint(o.to) === "203.0.113.7:41641");
    eq(!!pong, true, "the router answers the phone");
    const direct = phone.m.receive((pong as Extract<DiscoOut, { kind: "udp" }>).packet, { from: router.ep }, 9);
    eq(direct.map((o) => (o.kind === "endpoint" && o.endpoint ? formatEndpoint(o.endpoint) : "")).join(), "198.51.100.1:41641", "the phone goes direct");
    eq(phone.m.status(toHex(router.node.publicKey))?.kind, "direct", "status");
    stranger.m.setPeers([router.asNode()], () => 900);
    const strangePing = stranger.m.tick(0, () => ({ active: true })).find((o) => o.kind === "udp") as Extract<DiscoOut, { kind: "udp" }>;
    eq(router.m.receive(strangePing.packet, { from: stranger.ep }, 2).length, 0, "a key outside the netmap is dropped");
    eq(router.m.receive(new Uint8Array(100), { from: stranger.ep }, 2).length, 0, "garbage is dropped");
  });
  check("over DERP the sender's node key must match its disco key", () => {
    const router = side(1, "198.51.100.1:41641");
    const phone = side(2, "203.0.113.7:41641");
    router.m.setPeers([phone.asNode()], () => 900);
    phone.m.setPeers([router.asNode()], () => 900);
    const cmm = phone.m.tick(0, () => ({ active: true })).find((o) => o.kind === "derp") as Extract<DiscoOut, { kind: "derp" }>;
    eq(router.m.receive(cmm.packet, { derpRegion: 900, derpSrc: new Uint8Array(32) }, 1).length, 0, "wrong DERP source dropped");
    const pings = router.m.receive(cmm.packet, { derpRegion: 900, derpSrc: phone.node.publicKey }, 1);
    eq(pings.map((o) => (o.kind === "udp" ? formatEndpoint(o.to) : o.kind)).join(), "203.0.113.7:41641", "CallMeMaybe makes the router ping the phone");
  });
  check("a ping of our own goes over the relay until a direct path exists, and its pong is reported", () => {
    const router = side(1, "198.51.100.1:41641");
    const phone = side(2, "203.0.113.7:41641");
    router.m.setPeers([phone.asNode()], () => 900);
    phone.m.setPeers([router.asNode()], () => 900);
    const txid = new Uint8Array(12).fill(7);
    const probe = router.m.probe(toHex(phone.node.publicKey), txid) as Extract<DiscoOut, { kind: "derp" }>;
    eq(probe.kind, "derp", "no direct path yet: over the relay");
    eq(router.m.probe("00", txid), undefined, "no such peer");
    const pong = phone.m.receive(probe.packet, { derpRegion: 900, derpSrc: router.node.publicKey }, 1)[0] as Extract<DiscoOut, { kind: "derp" }>;
    const seen: string[] = [];
    router.m.onPong = (t, via) => seen.push(`${toHex(t)} ${"derpRegion" in via ? via.derpRegion : "udp"}`);
    router.m.receive(pong.packet, { derpRegion: 900, derpSrc: phone.node.publicKey }, 2);
    eq(seen.join(), `${toHex(txid)} 900`, "the pong, by txid, with the region it came through");
  });
});
