// What the agent answers to `status`, `peers`, `netcheck` and `ping`, the
// same over ubus, the local socket and the CLI's --json. Built from the
// agent's view (agent/view.ts); never carries a private key or the auth key.
import type { AgentView } from "../agent/view.js";
import { homeRegion } from "../control/netmap.js";
import type { Node } from "../control/tailcfg.js";
import type { RelayDrops } from "../derp/manager.js";
import type { BridgeCounters } from "../paths/bridge.js";
import type { PingResult } from "../paths/direct.js";
import { keyFromText } from "../crypto/keys.js";
import { formatEndpoint } from "../netaddr/ip.js";
import { toHex } from "../util/bytes.js";

export type LoginState = "stopped" | "not-configured" | "connecting" | "needs-login" | "awaiting-approval" | "key-expired" | "running";

export interface StatusReply {
  version: string;
  state: LoginState;
  authUrl?: string;
  /** Plain-words problems: each one a sentence a home user can act on. */
  health: string[];
  name?: string;
  tailnet?: string;
  addresses: string[];
  homeRelay?: number;
  /** Relayed packets dropped since the agent started: no relay connection yet, or a relay not taking what we send. */
  relayDrops?: RelayDrops;
  /** Packets through the relay bridge each way since the agent started (WireGuard data among them): what the relay carried. */
  relayBridge?: BridgeCounters;
  wireguard?: "kernel" | "wireguard-go";
  interface?: string;
  peers: { total: number; online: number; direct: number };
  advertisedRoutes: string[];
  exitNode: boolean;
  /** When the router's node key expires (by the control server's clock); absent when it never does. */
  keyExpiry?: string;
  /** Set within a week of the key expiry: the router must log in again before then. */
  keyExpiresSoon?: boolean;
  /** The node key and the tailnet-lock key, for `tailscale lock sign NODEKEY NLKEY` in a locked tailnet. */
  nodeKey?: string;
  tailnetLockKey?: string;
  /** The control server handed out a tailnet-lock signature for the current node key. */
  nodeKeySigned?: boolean;
}

export interface PeerReply {
  name: string;
  dnsName: string;
  addresses: string[];
  os: string;
  online: boolean;
  /** "direct 203.0.113.7:41641, 12 ms" or "relay via region 900". */
  path: string;
  endpoint?: string;
  latencyMs?: number;
  relayRegion?: number;
  rxBytes: number;
  txBytes: number;
  lastHandshake?: string;
  routes: string[];
  exitNode: boolean;
}

export interface NetcheckReply {
  /** "unknown" until something measures it. */
  nat: string;
  /** Our public endpoints as the control server knows them. */
  endpoints: string[];
  homeRelay?: number;
  relays: { region: number; code: string; name: string; home: boolean; latencyMs?: number }[];
}

export interface PingReply {
  peer: string;
  address: string;
  /** "direct 203.0.113.7:41641" or "relay via region 900". */
  path: string;
  latencyMs: number;
}

function loginState(v: AgentView): LoginState {
  if (!v.configured) return "not-configured";
  return v.control?.kind ?? "stopped";
}

export const nodeKeyHex = (n: Node): string => {
  try {
    return toHex(keyFromText("nodekey", n.Key));
  } catch {
    return "";
  }
};

export function statusReply(v: AgentView): StatusReply {
  const health = [...v.problems];
  const c = v.control;
  if (c?.kind === "connecting" && c.lastError) health.push(`Cannot reach the control server: ${c.lastError}`);
  if (c?.kind === "key-expired") health.push("The router's key expired: approve it again in the control server, or log in again.");
  if (c?.kind === "needs-login") health.push("Waiting for approval: open the login link to add this router to the tailnet.");
  if (c?.kind === "awaiting-approval") health.push("Waiting for the tailnet's admin to approve this router in the control server.");
  const exp = v.keyExpiry;
  if (exp?.soon) health.push(`The router's key expires in ${inWords(exp.remainingMs)} (${exp.at}): log in again (meshwrt login with a new auth key) or turn off key expiry for this router in the control server.`);
  for (const m of v.netmap.health) health.push(`The control server says: ${m}`);
  let online = 0, direct = 0;
  for (const n of v.netmap.peers.values()) {
    if (n.Online) online++;
    if (v.pathOf(nodeKeyHex(n))?.kind === "direct") direct++;
  }
  const self = v.netmap.self;
  return {
    version: v.version,
    state: loginState(v),
    ...(c?.kind === "needs-login" ? { authUrl: c.authUrl } : {}),
    health,
    ...(self ? { name: self.Name.split(".")[0]!, tailnet: v.netmap.domain ?? self.Name.split(".").slice(1).join(".").replace(/\.$/, "") } : {}),
    addresses: self?.Addresses.map((a) => a.split("/")[0]!) ?? [],
    ...(v.homeRelay ? { homeRelay: v.homeRelay } : {}),
    ...(v.relayDrops ? { relayDrops: { ...v.relayDrops } } : {}),
    ...(v.relayBridge ? { relayBridge: { toKernel: { ...v.relayBridge.toKernel }, fromKernel: { ...v.relayBridge.fromKernel } } } : {}),
    ...(v.wireguard ? { wireguard: v.wireguard, interface: v.interfaceName } : {}),
    peers: { total: v.netmap.peers.size, online, direct },
    advertisedRoutes: [...v.advertisedRoutes],
    exitNode: v.exitNode,
    ...(exp ? { keyExpiry: exp.at, keyExpiresSoon: exp.soon } : {}),
    ...(v.tailnetLock ? { nodeKey: v.tailnetLock.nodeKey, tailnetLockKey: v.tailnetLock.nlKey, nodeKeySigned: v.tailnetLock.signed } : {}),
  };
}

/** "3 days", "5 hours", "12 minutes": how long until an expiry, rounded down. */
function inWords(ms: number): string {
  const [n, unit] = ms >= 2 * 86_400_000 ? [Math.floor(ms / 86_400_000), "day"] : ms >= 2 * 3_600_000 ? [Math.floor(ms / 3_600_000), "hour"] : [Math.max(1, Math.floor(ms / 60_000)), "minute"];
  return `${n} ${unit}${n === 1 ? "" : "s"}`;
}

export function peersReply(v: AgentView): PeerReply[] {
  const out: PeerReply[] = [];
  for (const n of v.netmap.peers.values()) {
    const id = nodeKeyHex(n);
    const path = v.pathOf(id);
    const wg = v.wgPeerOf(id);
    const routes = (n.PrimaryRoutes ?? []).filter((r) => !r.endsWith("/0"));
    const region = homeRegion(n) || v.homeRelay;
    out.push({
      name: n.Name.split(".")[0] ?? n.Name,
      dnsName: n.Name.replace(/\.$/, ""),
      addresses: n.Addresses.map((a) => a.split("/")[0]!),
      os: n.Hostinfo?.OS ?? "",
      online: n.Online === true,
      path: path?.kind === "direct" ? `direct ${formatEndpoint(path.endpoint)}, ${Math.round(path.latencyMs)} ms` : `relay via region ${region}`,
      ...(path?.kind === "direct" ? { endpoint: formatEndpoint(path.endpoint), latencyMs: Math.round(path.latencyMs) } : { relayRegion: region }),
      rxBytes: wg ? Number(wg.rxBytes) : 0,
      txBytes: wg ? Number(wg.txBytes) : 0,
      ...(wg && wg.lastHandshakeMs ? { lastHandshake: new Date(wg.lastHandshakeMs).toISOString() } : {}),
      routes,
      exitNode: (n.PrimaryRoutes ?? n.AllowedIPs ?? []).some((r) => r === "0.0.0.0/0" || r === "::/0"),
    });
  }
  // Code-point order: the runtime leaves out localeCompare (String normalization) to stay small.
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function netcheckReply(v: AgentView): NetcheckReply {
  const regions = Object.values(v.netmap.derpMap?.Regions ?? {}).sort((a, b) => a.RegionID - b.RegionID);
  return {
    nat: v.netcheck?.mapping ?? "unknown",
    endpoints: [...v.endpoints],
    ...(v.homeRelay ? { homeRelay: v.homeRelay } : {}),
    relays: regions.map((r) => {
      const ms = v.netcheck?.latencyMs.get(r.RegionID);
      return { region: r.RegionID, code: r.RegionCode, name: r.RegionName, home: r.RegionID === v.homeRelay, ...(ms !== undefined ? { latencyMs: Math.round(ms) } : {}) };
    }),
  };
}

export function pingReply(peer: Node, r: PingResult): PingReply {
  return {
    peer: peer.Name.split(".")[0] ?? peer.Name,
    address: peer.Addresses[0]?.split("/")[0] ?? "",
    path: r.endpoint ? `direct ${formatEndpoint(r.endpoint)}` : `relay via region ${r.relayRegion ?? homeRegion(peer)}`,
    latencyMs: Math.round(r.latencyMs * 10) / 10,
  };
}
