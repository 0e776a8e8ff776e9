// The control plane's cost in the runtime that ships (QuickJS, our C host):
// a full netmap of N peers as the server sends it (JSON bytes) taken through
// what the agent computes for it — parsing (a node at a time), schema check, netmap, the peers followed
// by difference (agent/tunnel.ts), path discovery's peer list, the netlink
// messages, the routes, the MagicDNS hosts file and the nftables script —
// then deltas the way a tailnet sends them: a node joins (1-peer delta), a
// node goes offline (presence only), and a steady run of one delta a second
// (presence, endpoints, now and then a join or a leave) with the CPU time
// it took (utime + stime: on a shared machine the wall clock counts others' work).
// Each step also times its stages apart (stages: parse, netmap, follow, disco,
// filter, hosts, tunnel). The kernel is a counting sink: netlink round trips are the
// kernel's time and not counted (the VM suite times them against the real
// kernel). Prints one JSON line: milliseconds per step, the peer changes,
// messages and bytes it sent, and the process's peak resident memory
// (VmHWM) after each step; RSS (VmRSS) at the end.
//
// Usage: netmapscale [PEERS [STEADY_DELTAS]]   (defaults 1000, 20)
import "../../agent/src/host/polyfills.js";
import { Tunnel } from "../../agent/src/agent/tunnel.js";
import { applyMapResponse, emptyNetMap, homeRegion, keptPeer, type NetMap } from "../../agent/src/control/netmap.js";
import { type MapResponse, type Node, parseMapResponse } from "../../agent/src/control/tailcfg.js";
import { hostsFile } from "../../agent/src/dns/hosts.js";
import { filterStatements } from "../../agent/src/gateway/filter.js";
import { rulesetScript } from "../../agent/src/gateway/ruleset.js";
import { native } from "../../agent/src/host/native.js";
import { parseEndpoint, parsePrefix } from "../../agent/src/netaddr/ip.js";
import type { Address, Route } from "../../agent/src/netlink/route.js";
import { DiscoManager } from "../../agent/src/paths/manager.js";
import { utf8Decode, utf8Encode } from "../../agent/src/util/utf8.js";
import type { WireGuardApi } from "../../agent/src/wg/api.js";
import { encodeSetDevice } from "../../agent/src/wg/genl.js";
import type { Device, DeviceChange } from "../../agent/src/wg/model.js";

const n = native();

function status(field: string): number {
  const s = utf8Decode(n.readFile("/proc/self/status") ?? new Uint8Array());
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(s)?.[1] ?? 0);
}

/** utime + stime of this process, in ms (clock ticks of 10 ms, as on every Linux the targets run). */
function cpuMs(): number {
  const s = utf8Decode(n.readFile("/proc/self/stat") ?? new Uint8Array());
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
}

const hex64 = (i: number) => i.toString(16).padStart(64, "0");

/** 32 bytes as hex that look random (a disco key must be a usable Curve25519 point), the same for the same i. */
function randomHex64(i: number): string {
  let x = (i * 2654435761) >>> 0 || 1, out = "";
  for (let k = 0; k < 8; k++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out += x.toString(16).padStart(8, "0");
  }
  return out;
}

function node(i: number, extra: Partial<Node> = {}): Node {
  const a = `100.64.${i >> 8}.${i & 255}`;
  const v6 = `fd7a:115c:a1e0::${i.toString(16)}`;
  return {
    ID: i, StableID: `n${i}`, Name: `host-${i}.tailnet.example.`, User: 1 + (i % 7),
    Key: `nodekey:${hex64(i)}`, Machine: `mkey:${hex64(i + 1)}`, DiscoKey: `discokey:${randomHex64(i)}`,
    KeyExpiry: "2027-05-01T00:00:00Z", Addresses: [`${a}/32`, `${v6}/128`], AllowedIPs: [`${a}/32`, `${v6}/128`],
    Endpoints: [`198.51.${i >> 8}.${i & 255}:41641`, `192.168.${i & 255}.2:41641`], HomeDERP: 900,
    Hostinfo: { OS: i % 3 ? "android" : "linux", Hostname: `host-${i}` }, Online: true, MachineAuthorized: true, ...extra,
  };
}

/**
 * The full map as the control server's bytes, made a node at a time: the generator's own objects
 * would otherwise be the process's peak, not the agent's.
 */
function mapBytes(peers: number): Uint8Array {
  const parts: string[] = [];
  for (let i = 2; i < peers + 2; i++) parts.push(JSON.stringify(node(i)));
  let text = JSON.stringify({
    Node: node(1), Peers: [], Domain: "tailnet.example",
    DERPMap: { Regions: { "900": { RegionID: 900, RegionCode: "lab", Nodes: [{ Name: "900a", RegionID: 900, HostName: "derp.example" }] } } },
    PacketFilter: [{ SrcIPs: ["100.64.0.0/10", "fd7a:115c:a1e0::/48"], DstPorts: [{ IP: "*", Ports: { First: 0, Last: 65535 } }] }],
  }).replace('"Peers":[]', `"Peers":[${parts.join(",")}]`);
  parts.length = 0;
  // ASCII only: a byte per character (utf8Encode's number array would cost 16 bytes a byte).
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  text = "";
  return bytes;
}

/** The kernel as a sink: set-device requests encoded as the kernel client would and counted, dumps empty. */
class CountingWireGuard implements WireGuardApi {
  readonly kind = "kernel";
  messages = 0;
  bytes = 0;
  async get(name: string): Promise<Device> {
    return { name, ifindex: 5, listenPort: 41641, fwmark: 0, peers: [] };
  }
  async set(change: DeviceChange): Promise<void> {
    for (const m of encodeSetDevice(change)) {
      this.messages++;
      this.bytes += m.length;
    }
  }
}

class CountingLink {
  requests = 0;
  async addresses(): Promise<Address[]> { return []; }
  async ownRoutes(): Promise<Route[]> { return []; }
  async addAddress(): Promise<void> { this.requests++; }
  async removeAddress(): Promise<void> { this.requests++; }
  async addRoute(): Promise<void> { this.requests++; }
  async removeRoute(): Promise<void> { this.requests++; }
}

/** Wall-clock ms of each stage of an apply, in order: the JSON parsed and checked, the netmap, the peers followed (tunnel.follow), path discovery's peers, the packet filter's script, the hosts file, the kernel sink (tunnel.apply). */
interface Stages { parse: number; netmap: number; follow: number; disco: number; filter: number; hosts: number; tunnel: number }

interface Step { ms: number; cpuMs: number; peakKb: number; changes: number; messages: number; bytes: number; stages: Stages }

const wg = new CountingWireGuard();
const link = new CountingLink();
const relay = parseEndpoint("127.0.0.1:40000");
const tunnel = new Tunnel({ wg, name: "tailscale0", rtnl: link, index: 5, wanted: { acceptRoutes: true, endpointFor: () => relay, log: () => {} }, note: () => {} });
const disco = new DiscoManager({
  random: (k) => new Uint8Array(k), ourNodeKey: new Uint8Array(32).fill(1), ourDiscoPrivate: new Uint8Array(32).fill(2).map((b, k) => b + k), ourDiscoPublic: new Uint8Array(32).fill(3), ourEndpoints: () => [],
});
let script = "", hosts = "";

/** A message as the map session holds it: its bytes, let go once parsed. */
interface Message {
  bytes?: Uint8Array;
}

/** As the map session takes a message: parsed and checked a node at a time, each node kept as the netmap keeps it, the bytes then let go (control/session.ts). */
function parsed(m: Message): MapResponse {
  const raw = m.bytes!;
  m.bytes = undefined;
  return parseMapResponse(raw, keptPeer);
}

/** One map response through what the agent's apply does with it (agent.ts apply), the kernel a sink. */
async function apply(prev: NetMap, message: Message | string, first: boolean): Promise<{ nm: NetMap; step: Step }> {
  const m = typeof message === "string" ? { bytes: utf8Encode(message) } : message;
  const t0 = n.mono(), c0 = cpuMs();
  const m0 = wg.messages, b0 = wg.bytes, r0 = link.requests;
  let at = t0;
  const lap = () => {
    const t = n.mono(), d = t - at;
    at = t;
    return d;
  };
  const response = parsed(m);
  const parse = lap();
  const { netmap, changes } = applyMapResponse(prev, response, "2026-11-22T10:00:00Z");
  const nmMs = lap();
  const delta = tunnel.follow(netmap.peers);
  const follow = lap();
  if (delta.paths) disco.setPeers(netmap.peers.values(), homeRegion);
  const paths = lap();
  if (changes.has("filter")) {
    const rules = [...netmap.filters.values()].flat();
    script = rulesetScript({ iface: "tailscale0", routes: [parsePrefix("192.168.1.0/24")], exitNode: true, snat: true, filter: filterStatements(rules, () => {}) });
  }
  const filter = lap();
  if (delta.names || changes.has("self") || changes.has("dns")) hosts = hostsFile(netmap, () => {});
  const names = lap();
  const { sent } = await tunnel.apply(delta, netmap.self?.Addresses ?? [], true, first);
  const stages = { parse, netmap: nmMs, follow, disco: paths, filter, hosts: names, tunnel: lap() };
  const ms = n.mono() - t0;
  const bytes = wg.bytes - b0 + (changes.has("filter") ? script.length : 0) + (delta.names ? hosts.length : 0);
  return { nm: netmap, step: { ms, cpuMs: cpuMs() - c0, peakKb: status("VmHWM"), changes: sent, messages: wg.messages - m0 + link.requests - r0, bytes, stages } };
}

async function main(): Promise<void> {
  const count = Number(n.argv[1] ?? 1000);
  const steadyDeltas = Number(n.argv[2] ?? 20);
  const startKb = status("VmHWM");
  const map: Message = { bytes: mapBytes(count) };
  const size = map.bytes!.length;
  // Each step's netmap let go once the next is made, as the agent keeps only the latest (held, the old maps were ~0.2 MB of the figures).
  let { nm, step: full } = await apply(emptyNetMap(), map, true);
  let delta: Step;
  ({ nm, step: delta } = await apply(nm, JSON.stringify({ PeersChanged: [node(count + 2)] }), false));
  let online: Step;
  ({ nm, step: online } = await apply(nm, JSON.stringify({ OnlineChange: { "3": false } }), false));
  // One delta a second, as a busy tailnet sends them: mostly presence, some endpoints, a join and a leave.
  const c0 = cpuMs(), t0 = n.mono();
  let busyMs = 0;
  for (let i = 0; i < steadyDeltas; i++) {
    const id = 2 + ((i * 37) % count);
    const d = i % 10 === 9 ? { PeersChanged: [node(count + 3 + i)] }
      : i % 10 === 4 ? { PeersRemoved: [id] }
      : i % 3 === 0 ? { PeersChangedPatch: [{ NodeID: id, Endpoints: [`203.0.113.${i & 255}:41641`] }] }
      : { OnlineChange: { [String(id)]: i % 2 === 0 }, PeerSeenChange: { [String(id + 1)]: true } };
    const r = await apply(nm, JSON.stringify(d), false);
    nm = r.nm;
    busyMs += r.step.ms;
  }
  const cpu = cpuMs() - c0;
  const steady = { deltas: steadyDeltas, busyMs, cpuMs: cpu, wallMs: n.mono() - t0, cpuPercentAtOnePerSecond: (100 * cpu) / (steadyDeltas * 1000) };
  n.write(1, utf8Encode(`${JSON.stringify({ peers: count, mapBytes: size, startKb, full, delta, online, steady, rssKb: status("VmRSS"), peakKb: status("VmHWM") })}\n`));
}

main().then(
  () => n.exit(0),
  (e: Error) => {
    n.write(2, utf8Encode(`netmapscale: ${e.message}\n`));
    n.exit(1);
  },
);
