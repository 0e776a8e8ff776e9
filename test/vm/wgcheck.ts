// A driver of meshwrt's netlink code for the VM tests, bundled and linked
// with the same runtime as the agent: it configures kernel WireGuard,
// addresses and routes only through agent/src/netlink and agent/src/wg, and
// prints JSON for the test to compare with `wg show` and `ip`.
//   wgcheck apply SPEC.json     create/configure a device from a spec
//   wgcheck sync SPEC.json      bring the device's peers to the spec, by difference
//   wgcheck dump NAME           the device as meshwrt reads it
//   wgcheck bulk NAME N         N peers set, read back, one changed; timings
//   wgcheck incremental NAME N  a netmap of N peers through the agent's Tunnel (agent/tunnel.ts),
//                               then deltas; outside changes made with wg and ip, seen and
//                               repaired; timings, requests sent, what was noticed
//   wgcheck fresh NAME N        the link made anew and the same final netmap applied in full
//   wgcheck readcost N READS    the activity's read of an N-peer dump made up in memory, in place
//                               and decoded (test/wg/read-cost.ts): CPU ms per read; no kernel needed
//   wgcheck steady NAME N SECS  N peers applied, SECS seconds of one delta a second, a few of the
//                               agent's activity reads (a dump each, wg/activity.ts): CPU ms a second
//                               with a read every 2 s (as before) and at PeerActivity's cadence; the raw
//                               dump's CPU and the same reads decoded into objects (as before) beside it
import "../../agent/src/host/polyfills.js";
import { nativeEnv } from "../../agent/src/host/env.js";
import { native } from "../../agent/src/host/native.js";
import { formatEndpoint, formatPrefix, parseEndpoint, parsePrefix } from "../../agent/src/netaddr/ip.js";
import { NetlinkClient } from "../../agent/src/netlink/client.js";
import { Rtnl } from "../../agent/src/netlink/rtnl.js";
import { Tunnel } from "../../agent/src/agent/tunnel.js";
import { applyMapResponse, emptyNetMap, type NetMap } from "../../agent/src/control/netmap.js";
import type { MapResponse, Node } from "../../agent/src/control/tailcfg.js";
import { NLM_F_DUMP, parseMessages } from "../../agent/src/netlink/codec.js";
import { resolveFamily } from "../../agent/src/netlink/genl.js";
import { NETWORK_GROUPS, parseNetworkEvent } from "../../agent/src/netlink/events.js";
import { base64Decode, base64Encode } from "../../agent/src/util/base64.js";
import { toHex } from "../../agent/src/util/bytes.js";
import { utf8Decode, utf8Encode } from "../../agent/src/util/utf8.js";
import { peerDump } from "../../agent/src/wg/api.js";
import { getDeviceRequest, WG_GENL_NAME } from "../../agent/src/wg/genl.js";
import { KernelWireGuard } from "../../agent/src/wg/kernel.js";
import { readCost } from "../wg/read-cost.js";
import { PeerActivity } from "../../agent/src/wg/activity.js";
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
  // Needs no WireGuard: runs on the build machine too.
  if (args[0] === "readcost") {
    out(await readCost(Number(args[1] ?? 1000), Number(args[2] ?? 20), cpuMs));
    return;
  }
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
  } else if (cmd === "incremental" || cmd === "fresh") {
    await incremental(rt, wg, a!, Number(b), cmd === "fresh");
  } else if (cmd === "steady") {
    await steady(rt, wg, a!, Number(b), Number(args[3] ?? 20));
  } else {
    throw new Error(`unknown command ${cmd}`);
  }
}

/** A tailnet node as the control server sends it; the endpoint the agent would give it depends only on its ID. */
function node(i: number, extra: Partial<Node> = {}): Node {
  const a = `100.64.${i >> 8}.${i & 255}`, v6 = `fd7a:115c:a1e0::${i.toString(16)}`;
  return {
    ID: i, StableID: `n${i}`, Name: `host-${i}`, User: 1, Key: `nodekey:${i.toString(16).padStart(8, "0")}${"ab".repeat(28)}`,
    Addresses: [`${a}/32`, `${v6}/128`], AllowedIPs: [`${a}/32`, `${v6}/128`], Online: true, ...extra,
  };
}

/** The deltas after the full map: joins, leaves, a subnet advertised and withdrawn, a re-key, presence. */
function deltas(count: number): MapResponse[] {
  return [
    { PeersRemoved: [5] },
    { PeersChanged: [node(6, { AllowedIPs: [...node(6).AllowedIPs!, "192.168.66.0/24"] })] },
    { PeersChanged: [node(7, { Key: `nodekey:${"77".repeat(32)}` })] },
    { PeersChanged: [node(8, { Expired: true })] },
    { OnlineChange: { "9": false }, PeerSeenChange: { "10": true } },
    { PeersChanged: [node(count + 10), node(count + 11)], PeersRemoved: [11, 12] },
  ];
}

const ms = (t: number) => Math.round((n.mono() - t) * 10) / 10;

/**
 * The agent's way with the kernel, against the real one: a full netmap, a one-peer delta (timed,
 * with the requests it sent), a presence delta, more deltas; then a peer removed with `wg` and a
 * route deleted with `ip`, noticed the way the agent notices them (the next dump, the route event)
 * and repaired by a reconcile. `fresh` applies the same final netmap to a new link in one go.
 */
async function incremental(rt: Rtnl, wg: KernelWireGuard, name: string, count: number, fresh: boolean): Promise<void> {
  const old = await rt.link(name);
  if (fresh && old) await rt.deleteLink(old.index);
  const link = (fresh ? undefined : old) ?? (await rt.createWireGuard(name, 1280));
  await wg.set({ name, privateKey: new Uint8Array(32).fill(9), listenPort: 41700 });
  await rt.setLink(link.index, true);
  const tunnel = new Tunnel({
    wg, name, rtnl: rt, index: link.index,
    wanted: { acceptRoutes: true, endpointFor: (nd) => parseEndpoint(`198.51.${(nd.ID >> 8) & 255}.${nd.ID & 255}:${10000 + nd.ID}`), log: () => {} },
    note: (_s, m) => n.write(2, utf8Encode(`wgcheck: ${m}\n`)),
  });
  const self = node(1, { Addresses: ["100.64.0.1/32", "fd7a:115c:a1e0::1/128"] });
  let nm: NetMap = applyMapResponse(emptyNetMap(), { Node: self, Peers: Array.from({ length: count }, (_, i) => node(i + 2)) }, "2026-12-05T00:00:00Z").netmap;
  const step = (reconcile = false) => tunnel.apply(tunnel.follow(nm.peers), nm.self!.Addresses, true, reconcile);
  const next = (r: MapResponse) => (nm = applyMapResponse(nm, r, "2026-12-05T00:00:00Z").netmap);
  if (fresh) {
    // The same netmaps as below, in the same order, then applied once.
    next({ PeersChanged: [node(count + 5)] });
    next({ OnlineChange: { "3": false }, PeerSeenChange: { "4": true } });
    for (const d of [...deltas(count).slice(1), deltas(count)[0]!]) next(d);
    let t = n.mono();
    await step(true);
    out({ fullMs: ms(t) });
    return;
  }
  let t = n.mono();
  await step(true);
  const fullMs = ms(t);
  // Route and address events of our link from here on, as the agent follows them.
  const lost: string[] = [];
  const events = env.netlink(0, NETWORK_GROUPS);
  events.onMessage = (d) => {
    for (const m of parseMessages(d)) {
      const ev = parseNetworkEvent(m);
      if (ev && ev.kind !== "link" && !ev.added && tunnel.router.lostOurs(ev)) lost.push(ev.kind === "route" ? formatPrefix(ev.route.dst) : formatPrefix(ev.address.prefix));
    }
  };
  const stats = () => ({ sets: tunnel.peers.stats.sets, peers: tunnel.peers.stats.peersSent, dumps: tunnel.peers.stats.dumps + tunnel.router.stats.dumps, routes: tunnel.router.stats.requests });
  const before = stats();
  next({ PeersChanged: [node(count + 5)] });
  t = n.mono();
  await step();
  const deltaMs = ms(t);
  const afterDelta = stats();
  next({ OnlineChange: { "3": false }, PeerSeenChange: { "4": true } });
  t = n.mono();
  await step();
  const onlineMs = ms(t);
  const afterOnline = stats();
  for (const d of deltas(count).slice(1)) {
    next(d);
    await step();
  }
  next(deltas(count)[0]!);
  await step();
  // Someone else: `wg set ... peer X remove` and `ip route del`.
  const victim = wgKey(node(20).Key);
  const sh = async (argv: string[]) => {
    const r = await env.run(argv);
    if (r.code !== 0) throw new Error(`${argv.join(" ")}: exit ${r.code}: ${r.stderr}`);
  };
  await sh(["wg", "set", name, "peer", b64(victim), "remove"]);
  await sh(["ip", "route", "del", "100.64.0.30/32", "dev", name]);
  await new Promise<void>((res) => env.setTimer(300, res));
  const peerSeen = tunnel.peers.changedOutside(await wg.readPeers(name));
  t = n.mono();
  const repaired = await step(true);
  events.close();
  out({
    fullMs, deltaMs, onlineMs, reconcileMs: ms(t),
    delta: { sets: afterDelta.sets - before.sets, peers: afterDelta.peers - before.peers, dumps: afterDelta.dumps - before.dumps, routes: afterDelta.routes - before.routes },
    online: { sets: afterOnline.sets - afterDelta.sets, dumps: afterOnline.dumps - afterDelta.dumps, routes: afterOnline.routes - afterDelta.routes },
    outside: { peerSeen, routesLost: lost, repairedPeers: repaired.sent, repairedRoutes: repaired.routed },
  });
}

/** utime + stime of this process, in ms (clock ticks of 10 ms). */
function cpuMs(): number {
  const s = utf8Decode(n.readFile("/proc/self/stat") ?? new Uint8Array());
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
}

/**
 * The steady state of a router in a big tailnet: one netmap delta a second (presence mostly, now
 * and then a join, a leave) through the agent's Tunnel, and the agent's activity reads of the real
 * device (a dump, the outside-change check, the counters: running.ts refreshPeers). Measured apart,
 * each over `secs` seconds of deltas and a few reads, and put together for a read every 2 s (as
 * before) and for the wait PeerActivity sets after reads of that cost: CPU ms a second of each.
 */
async function steady(rt: Rtnl, wg: KernelWireGuard, name: string, count: number, secs: number): Promise<void> {
  const raw = client(16);
  const old = await rt.link(name);
  if (old) await rt.deleteLink(old.index);
  const link = await rt.createWireGuard(name, 1280);
  await wg.set({ name, privateKey: new Uint8Array(32).fill(9), listenPort: 41701 });
  await rt.setLink(link.index, true);
  const tunnel = new Tunnel({
    wg, name, rtnl: rt, index: link.index,
    wanted: { acceptRoutes: true, endpointFor: (nd) => parseEndpoint(`198.51.${(nd.ID >> 8) & 255}.${nd.ID & 255}:${10000 + nd.ID}`), log: () => {} },
    note: (_s, m) => n.write(2, utf8Encode(`wgcheck: ${m}\n`)),
  });
  let nm: NetMap = applyMapResponse(emptyNetMap(), { Node: node(1), Peers: Array.from({ length: count }, (_, i) => node(i + 2)) }, "2026-12-05T00:00:00Z").netmap;
  await tunnel.apply(tunnel.follow(nm.peers), nm.self!.Addresses, true, true);
  const sleep = (ms: number) => new Promise<void>((res) => env.setTimer(Math.max(0, ms), res));
  // One delta a second.
  let c0 = cpuMs(), t0 = n.mono();
  for (let i = 0; i < secs; i++) {
    const id = 2 + ((i * 37) % count);
    const d: MapResponse = i % 10 === 9 ? { PeersChanged: [node(count + 3 + i)] }
      : i % 10 === 4 ? { PeersRemoved: [id] }
      : { OnlineChange: { [String(id)]: i % 2 === 0 }, PeerSeenChange: { [String(id + 1)]: true } };
    nm = applyMapResponse(nm, d, "2026-12-05T00:00:00Z").netmap;
    await tunnel.apply(tunnel.follow(nm.peers), nm.self!.Addresses, true, false);
    await sleep(t0 + (i + 1) * 1000 - n.mono());
  }
  const deltaCpuMsPerSecond = ((cpuMs() - c0) * 1000) / (n.mono() - t0);
  // The activity reads, as the agent makes them.
  const activity = new PeerActivity();
  const reads = 3;
  // Steady means warm: the agent has read the device before (its peers' ids and counters kept).
  for (let i = 0; i <= reads; i++) {
    if (i === 1) (c0 = cpuMs()), (t0 = n.mono());
    const at = n.mono(), generation = tunnel.peers.generation;
    // As running.ts refreshPeers: the outside check rides along the activity's pass.
    const read = await wg.readPeers(name);
    // Nothing changes peers meanwhile, so the check must run, and find nothing, against the real kernel's dump.
    const outside = generation === tunnel.peers.generation ? tunnel.peers.outsideCheck() : undefined;
    if (!outside) throw new Error("steady: no outside check (the model is stale or moved during the read)");
    activity.update(read, n.mono(), outside.peer);
    activity.took(n.mono() - at);
    if (outside.changed()) throw new Error("steady: our own peers seen as changed outside");
  }
  const readCpuMs = (cpuMs() - c0) / reads, readMs = (n.mono() - t0) / reads;
  const waitMs = activity.nextReadMs(n.mono());
  // Of a read, what the dump itself takes (the kernel's walk, the datagrams received), decoded by nothing.
  const family = (await resolveFamily(raw, WG_GENL_NAME)).id;
  c0 = cpuMs();
  for (let i = 0; i < reads; i++) await raw.request(family, NLM_F_DUMP, getDeviceRequest(name), "steady: raw dump");
  const dumpCpuMs = (cpuMs() - c0) / reads;
  // The same reads decoded into objects first, as before the read in place (decodeDevice, a Map by
  // key hex): measured right after, in one process, so a loaded host inflates both alike.
  const decoded = new PeerActivity();
  for (let i = 0; i <= reads; i++) {
    if (i === 1) c0 = cpuMs();
    const read = peerDump(new Map((await wg.get(name)).peers.map((p) => [toHex(p.publicKey), p])));
    if (tunnel.peers.changedOutside(read)) throw new Error("steady: our own peers seen as changed outside (decoded)");
    decoded.update(read, n.mono());
  }
  const decodedReadCpuMs = (cpuMs() - c0) / reads;
  const at = (everyMs: number) => Math.round(deltaCpuMsPerSecond + (readCpuMs * 1000) / everyMs);
  const rss = /VmRSS:\s+(\d+)/.exec(utf8Decode(n.readFile("/proc/self/status") ?? new Uint8Array()))?.[1];
  out({ peers: count, deltaCpuMsPerSecond: Math.round(deltaCpuMsPerSecond), readCpuMs: Math.round(readCpuMs), dumpCpuMs: Math.round(dumpCpuMs), decodedReadCpuMs: Math.round(decodedReadCpuMs), readMs: Math.round(readMs), waitMs: Math.round(waitMs), fixedCpuMsPerSecond: at(2000), cadenceCpuMsPerSecond: at(waitMs), rssKb: Number(rss ?? 0) });
}

const wgKey = (text: string) => {
  const hex = text.slice("nodekey:".length);
  return Uint8Array.from({ length: 32 }, (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16));
};

const out = (v: unknown) => n.write(1, utf8Encode(`${JSON.stringify(v)}\n`));

main(n.argv.slice(1)).then(
  () => n.exit(0),
  (e: Error) => {
    n.write(2, utf8Encode(`wgcheck: ${e.message}\n`));
    n.exit(1);
  },
);
