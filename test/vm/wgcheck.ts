// A driver of meshwrt's netlink code for the VM tests, bundled and linked
// with the same runtime as the agent: it configures kernel WireGuard,
// addresses and routes only through agent/src/netlink and agent/src/wg, and
// prints JSON for the test to compare with `wg show` and `ip`.
//   wgcheck apply SPEC.json     create/configure a device from a spec
//   wgcheck sync SPEC.json      bring the device's peers to the spec, by difference
//   wgcheck dump NAME           the device as meshwrt reads it
//   wgcheck bulk NAME N         N peers set, read back, one changed; timings
import "../../agent/src/host/polyfills.js";
import { nativeEnv } from "../../agent/src/host/env.js";
import { native } from "../../agent/src/host/native.js";
import { formatEndpoint, formatPrefix, parseEndpoint, parsePrefix } from "../../agent/src/netaddr/ip.js";
import { NetlinkClient } from "../../agent/src/netlink/client.js";
import { Rtnl } from "../../agent/src/netlink/rtnl.js";
import { base64Decode, base64Encode } from "../../agent/src/util/base64.js";
import { utf8Decode, utf8Encode } from "../../agent/src/util/utf8.js";
import { KernelWireGuard } from "../../agent/src/wg/kernel.js";
import type { Device, PeerChange } from "../../agent/src/wg/model.js";
import { planPeers, type WantedPeer } from "../../agent/src/wg/reconcile.js";

const n = native();
const env = nativeEnv("warn");

function client(protocol: number): NetlinkClient {
  const s = env.netlink(protocol, 0);
  const c = new NetlinkClient((d) => s.send(d), (e) => env.describeErrno(e));
  s.onMessage = (d) => c.receive(d);
  s.onError = (e) => c.failAll(e);
  return c;
}

const b64 = base64Encode;
const unb64 = base64Decode;

const show = (d: Device) => ({
  name: d.name,
  privateKey: d.privateKey ? b64(d.privateKey) : "",
  publicKey: d.publicKey ? b64(d.publicKey) : "",
  listenPort: d.listenPort,
  peers: d.peers.map((p) => ({
    publicKey: b64(p.publicKey),
    endpoint: p.endpoint ? formatEndpoint(p.endpoint) : "",
    allowedIps: p.allowedIps.map(formatPrefix),
    keepalive: p.persistentKeepalive,
    lastHandshakeMs: p.lastHandshakeMs,
  })),
});

interface Spec {
  name: string;
  privateKey: string;
  listenPort: number;
  peers: { publicKey: string; endpoint?: string; keepalive?: number; allowedIps: string[] }[];
  addresses: string[];
  routes: { dst: string; metric?: number; table?: number }[];
}

async function main(args: string[]): Promise<void> {
  const rt = new Rtnl(client(0), (e) => env.errnoName(e));
  const wg = await KernelWireGuard.open(client(16));
  const [cmd, a, b] = args;
  if (cmd === "apply") {
    const spec = JSON.parse(utf8Decode(env.readFile(a!)!)) as Spec;
    const t0 = n.mono();
    const link = (await rt.link(spec.name)) ?? (await rt.createWireGuard(spec.name, 1280));
    const peers: PeerChange[] = spec.peers.map((p) => ({
      publicKey: unb64(p.publicKey),
      ...(p.endpoint ? { endpoint: parseEndpoint(p.endpoint) } : {}),
      ...(p.keepalive !== undefined ? { persistentKeepalive: p.keepalive } : {}),
      allowedIps: p.allowedIps.map(parsePrefix),
      replaceAllowedIps: true,
    }));
    await wg.set({ name: spec.name, privateKey: unb64(spec.privateKey), listenPort: spec.listenPort, replacePeers: true, peers });
    for (const addr of spec.addresses) await rt.addAddress(link.index, parsePrefix(addr));
    await rt.setLink(link.index, true);
    for (const r of spec.routes) await rt.addRoute({ dst: parsePrefix(r.dst), oif: link.index, ...(r.metric !== undefined ? { metric: r.metric } : {}), ...(r.table !== undefined ? { table: r.table } : {}) });
    out({ ms: n.mono() - t0, index: link.index });
  } else if (cmd === "sync") {
    const spec = JSON.parse(utf8Decode(env.readFile(a!)!)) as Spec;
    const wanted: WantedPeer[] = spec.peers.map((p) => ({
      publicKey: unb64(p.publicKey),
      ...(p.endpoint ? { endpoint: parseEndpoint(p.endpoint) } : {}),
      ...(p.keepalive !== undefined ? { persistentKeepalive: p.keepalive } : {}),
      allowedIps: p.allowedIps.map(parsePrefix),
    }));
    const plan = planPeers(await wg.get(spec.name), wanted);
    if (plan.length) await wg.set({ name: spec.name, peers: plan });
    out({ changed: plan.length });
  } else if (cmd === "dump") {
    out(show(await wg.get(a!)));
  } else if (cmd === "bulk") {
    const count = Number(b);
    const link = (await rt.link(a!)) ?? (await rt.createWireGuard(a!, 1280));
    const key = (i: number, salt: number) => {
      const k = new Uint8Array(32);
      new DataView(k.buffer).setUint32(0, i + 1);
      k[30] = salt;
      k[31] = 0x40;
      return k;
    };
    const wanted: WantedPeer[] = Array.from({ length: count }, (_, i) => ({
      publicKey: key(i, 7),
      endpoint: parseEndpoint(`198.51.100.${1 + (i % 250)}:${10000 + i}`),
      allowedIps: [parsePrefix(`100.64.${i >> 8}.${i & 255}/32`), parsePrefix(`fd7a:115c:a1e0::${(i + 1).toString(16)}/128`)],
    }));
    await wg.set({ name: a!, privateKey: key(0, 1), listenPort: 51820 });
    await rt.setLink(link.index, true);
    let t = n.mono();
    const first = planPeers(await wg.get(a!), wanted);
    await wg.set({ name: a!, peers: first });
    const setMs = n.mono() - t;
    t = n.mono();
    const back = await wg.get(a!);
    const readMs = n.mono() - t;
    wanted[count >> 1] = { ...wanted[count >> 1]!, endpoint: parseEndpoint("203.0.113.9:41641") };
    t = n.mono();
    const plan = planPeers(await wg.get(a!), wanted);
    await wg.set({ name: a!, peers: plan });
    const changeMs = n.mono() - t;
    const after = await wg.get(a!);
    const moved = after.peers.find((p) => p.publicKey.every((x, i) => x === wanted[count >> 1]!.publicKey[i]));
    out({ setMs, readMs, changeMs, planned: first.length, readBack: back.peers.length, changed: plan.length, changedEndpoint: moved?.endpoint ? formatEndpoint(moved.endpoint) : "" });
  } else {
    throw new Error(`unknown command ${cmd}`);
  }
}

const out = (v: unknown) => n.write(1, utf8Encode(`${JSON.stringify(v)}\n`));

main(n.argv.slice(1)).then(
  () => n.exit(0),
  (e: Error) => {
    n.write(2, utf8Encode(`wgcheck: ${e.message}\n`));
    n.exit(1);
  },
);
