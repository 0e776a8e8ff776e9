// The control plane's cost in the runtime that ships (QuickJS, our C host):
// a full netmap of N peers as the server sends it (JSON text) taken through
// everything the agent computes before it talks to the kernel — schema
// check, netmap, wanted WireGuard peers, the reconciler's plan, the netlink
// messages, the MagicDNS hosts file and the nftables script — then a
// 1-peer delta (a node joins) planned against the kernel state the first
// apply left. Netlink round trips are the kernel's time and not counted.
// Prints one JSON line: milliseconds for each, messages, and the process's
// peak resident memory (VmHWM) after each step.
//
// Usage: netmapscale [PEERS]   (default 1000)
import "../../agent/src/host/polyfills.js";
import { applyMapResponse, emptyNetMap, type NetMap } from "../../agent/src/control/netmap.js";
import { checkMapResponse, type Node } from "../../agent/src/control/tailcfg.js";
import { hostsFile } from "../../agent/src/dns/hosts.js";
import { filterStatements } from "../../agent/src/gateway/filter.js";
import { rulesetScript } from "../../agent/src/gateway/ruleset.js";
import { native } from "../../agent/src/host/native.js";
import { parseEndpoint, parsePrefix } from "../../agent/src/netaddr/ip.js";
import { utf8Decode, utf8Encode } from "../../agent/src/util/utf8.js";
import { encodeSetDevice } from "../../agent/src/wg/genl.js";
import type { Device, Peer } from "../../agent/src/wg/model.js";
import { planPeers } from "../../agent/src/wg/reconcile.js";
import { wantedPeers } from "../../agent/src/wg/wanted.js";

const n = native();

function peakKb(): number {
  const s = utf8Decode(n.readFile("/proc/self/status") ?? new Uint8Array());
  return Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0);
}

const hex64 = (i: number) => i.toString(16).padStart(64, "0");

function node(i: number): Node {
  const a = `100.64.${i >> 8}.${i & 255}`;
  const v6 = `fd7a:115c:a1e0::${i.toString(16)}`;
  return {
    ID: i, StableID: `n${i}`, Name: `host-${i}.tailnet.example.`, User: 1 + (i % 7),
    Key: `nodekey:${hex64(i)}`, Machine: `mkey:${hex64(i + 1)}`, DiscoKey: `discokey:${hex64(i + 2)}`,
    KeyExpiry: "2027-05-01T00:00:00Z", Addresses: [`${a}/32`, `${v6}/128`], AllowedIPs: [`${a}/32`, `${v6}/128`],
    Endpoints: [`198.51.${i >> 8}.${i & 255}:41641`, `192.168.${i & 255}.2:41641`], HomeDERP: 900,
    Hostinfo: { OS: i % 3 ? "android" : "linux", Hostname: `host-${i}` }, Online: true, MachineAuthorized: true,
  };
}

function mapJson(peers: number): string {
  const list: Node[] = [];
  for (let i = 2; i < peers + 2; i++) list.push(node(i));
  return JSON.stringify({
    Node: node(1), Peers: list, Domain: "tailnet.example",
    DERPMap: { Regions: { "900": { RegionID: 900, RegionCode: "lab", Nodes: [{ Name: "900a", RegionID: 900, HostName: "derp.example" }] } } },
    PacketFilter: [{ SrcIPs: ["100.64.0.0/10", "fd7a:115c:a1e0::/48"], DstPorts: [{ IP: "*", Ports: { First: 0, Last: 65535 } }] }],
  });
}

interface Step { ms: number; peakKb: number; changes: number; messages: number; bytes: number }

/** Everything the agent does with a map response before the kernel: returns the netmap and its plan's size. */
function applyText(prev: NetMap, text: string, device: Device): { nm: NetMap; step: Step } {
  const t0 = n.mono();
  const { netmap } = applyMapResponse(prev, checkMapResponse(JSON.parse(text)), "2026-11-22T10:00:00Z");
  const relay = parseEndpoint("127.0.0.1:40000");
  const wanted = wantedPeers(netmap.peers.values(), { acceptRoutes: true, endpointFor: () => relay, log: () => {} });
  const plan = planPeers(device, wanted);
  const messages = plan.length ? encodeSetDevice({ name: "tailscale0", peers: plan }) : [];
  const rules = [...netmap.filters.values()].flat();
  const script = rulesetScript({ iface: "tailscale0", routes: [parsePrefix("192.168.1.0/24")], exitNode: true, snat: true, filter: filterStatements(rules, () => {}) });
  const hosts = hostsFile(netmap, () => {});
  const ms = n.mono() - t0;
  const bytes = messages.reduce((s, m) => s + m.length, 0) + script.length + hosts.length;
  return { nm: netmap, step: { ms, peakKb: peakKb(), changes: plan.length, messages: messages.length, bytes } };
}

/** The device as the kernel reports it once the full map's plan was applied. */
function deviceAfter(nm: NetMap): Device {
  const relay = parseEndpoint("127.0.0.1:40000");
  const peers: Peer[] = wantedPeers(nm.peers.values(), { acceptRoutes: true, endpointFor: () => relay, log: () => {} }).map((w) => ({
    publicKey: w.publicKey, endpoint: w.endpoint, persistentKeepalive: 0, allowedIps: w.allowedIps, lastHandshakeMs: 0, rxBytes: 0n, txBytes: 0n,
  }));
  return { name: "tailscale0", ifindex: 5, listenPort: 41641, fwmark: 0, peers };
}

const count = Number(n.argv[1] ?? 1000);
const startKb = peakKb();
const text = mapJson(count);
const empty: Device = { name: "tailscale0", ifindex: 5, listenPort: 41641, fwmark: 0, peers: [] };
const full = applyText(emptyNetMap(), text, empty);
const delta = applyText(full.nm, JSON.stringify({ PeersChanged: [node(count + 2)] }), deviceAfter(full.nm));
n.write(1, utf8Encode(`${JSON.stringify({ peers: count, mapBytes: text.length, startKb, full: full.step, delta: delta.step })}\n`));
n.exit(0);
