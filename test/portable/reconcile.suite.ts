import { parseEndpoint, parsePrefix } from "../../agent/src/netaddr/ip.js";
import { planPeers, type WantedPeer } from "../../agent/src/wg/reconcile.js";
import type { Device, Peer } from "../../agent/src/wg/model.js";
import { encodeSet, parseGet, parseSetAnswer } from "../../agent/src/wg/uapi.js";
import { eq, suite, throws } from "./check.js";

const k = (n: number) => new Uint8Array(32).fill(n);
const peer = (n: number, ip: string, extra: Partial<Peer> = {}): Peer => ({
  publicKey: k(n), persistentKeepalive: 0, allowedIps: [parsePrefix(ip)], lastHandshakeMs: 0, rxBytes: 0n, txBytes: 0n, ...extra,
});
const dev = (peers: Peer[]): Device => ({ name: "wg0", ifindex: 3, listenPort: 41641, fwmark: 0, peers });
const want = (n: number, ip: string, extra: Partial<WantedPeer> = {}): WantedPeer => ({ publicKey: k(n), allowedIps: [parsePrefix(ip)], ...extra });

suite("wireguard reconciler", (check) => {
  check("unchanged peers are not touched", () => {
    const current = dev([peer(1, "100.64.0.1/32", { endpoint: parseEndpoint("127.0.0.1:5000") }), peer(2, "100.64.0.2/32")]);
    eq(planPeers(current, [want(1, "100.64.0.1/32"), want(2, "100.64.0.2/32")]).length, 0, "no change");
    eq(planPeers(current, [want(1, "100.64.0.1/32", { endpoint: parseEndpoint("127.0.0.1:5000") }), want(2, "100.64.0.2/32")]).length, 0, "same endpoint");
  });
  check("add, change and remove only the differences", () => {
    const current = dev([peer(1, "100.64.0.1/32"), peer(2, "100.64.0.2/32"), peer(3, "100.64.0.3/32")]);
    const plan = planPeers(current, [
      want(1, "100.64.0.1/32"),
      want(2, "100.64.0.2/32", { endpoint: parseEndpoint("203.0.113.7:41641") }),
      want(4, "100.64.0.4/32"),
    ]);
    eq(plan.length, 3, "three changes");
    eq(plan[0]!.publicKey[0], 2, "peer 2 changes");
    eq(plan[0]!.updateOnly, true, "update-only");
    eq(plan[0]!.allowedIps, undefined, "its allowed IPs stay");
    eq(plan[1]!.publicKey[0], 4, "peer 4 is added");
    eq(plan[1]!.replaceAllowedIps, true, "with its whole set");
    eq(plan[2]!.publicKey[0], 3, "peer 3 is removed");
    eq(plan[2]!.remove, true, "remove");
  });
  check("allowed IPs compare as sets of masked prefixes", () => {
    const current = dev([{ ...peer(1, "100.64.0.1/32"), allowedIps: [parsePrefix("100.64.0.1/32"), parsePrefix("192.168.1.0/24")] }]);
    eq(planPeers(current, [{ publicKey: k(1), allowedIps: [parsePrefix("192.168.1.7/24"), parsePrefix("100.64.0.1/32")] }]).length, 0, "same set");
    const p = planPeers(current, [want(1, "100.64.0.1/32")]);
    eq(p[0]?.replaceAllowedIps, true, "a shrunk set replaces");
  });
});

suite("wireguard UAPI", (check) => {
  check("set request", () => {
    const text = encodeSet({
      name: "wg0", privateKey: k(0xaa), listenPort: 41641,
      peers: [{ publicKey: k(1), endpoint: parseEndpoint("[2001:db8::1]:51820"), replaceAllowedIps: true, allowedIps: [parsePrefix("100.64.0.1/32")] }, { publicKey: k(2), remove: true }],
    });
    eq(text, `set=1\nprivate_key=${"aa".repeat(32)}\nlisten_port=41641\npublic_key=${"01".repeat(32)}\nendpoint=[2001:db8::1]:51820\nreplace_allowed_ips=true\nallowed_ip=100.64.0.1/32\npublic_key=${"02".repeat(32)}\nremove=true\n\n`, "text");
    eq(parseSetAnswer("errno=0\n\n"), 0, "ok answer");
    throws(() => parseSetAnswer("garbage"), /unexpected answer to set/, "garbage answer");
  });
  check("get answer", () => {
    const d = parseGet("wg0", `private_key=${"aa".repeat(32)}\nlisten_port=41641\npublic_key=${"01".repeat(32)}\npreshared_key=${"00".repeat(32)}\nendpoint=203.0.113.7:41641\nlast_handshake_time_sec=1700000000\nlast_handshake_time_nsec=5000000\ntx_bytes=10\nrx_bytes=20\npersistent_keepalive_interval=25\nallowed_ip=100.64.0.1/32\nallowed_ip=fd7a:115c:a1e0::1/128\nprotocol_version=1\nerrno=0\n\n`);
    eq(d.listenPort, 41641, "port");
    eq(d.peers.length, 1, "peers");
    eq(d.peers[0]!.allowedIps.length, 2, "allowed IPs");
    eq(d.peers[0]!.lastHandshakeMs, 1700000000005, "handshake");
    eq(d.peers[0]!.presharedKey, undefined, "zero PSK is none");
    eq(d.peers[0]!.rxBytes, 20n, "rx");
    throws(() => parseGet("wg0", "listen_port=x\nerrno=0\n\n"), /listen_port: not a number/, "bad number");
    throws(() => parseGet("wg0", "errno=19\n\n"), /errno 19/, "error answer");
  });
});
