// The network map: the first full MapResponse, then each delta of the map
// stream applied on top, as Tailscale's map session does (nil/absent means
// unchanged). Pure: responses and the time in, a new state and what changed out.
import { PeerMap } from "./peer-map.js";
import type { DERPMap, DNSConfig, FilterRule, MapResponse, Node, UserProfile } from "./tailcfg.js";

export interface NetMap {
  readonly self?: Node;
  readonly peers: ReadonlyMap<number, Node>;
  readonly derpMap?: DERPMap;
  readonly dns?: DNSConfig;
  readonly domain?: string;
  /** Named packet filter chunks; the filter in force is all of them in key order. */
  readonly filters: ReadonlyMap<string, readonly FilterRule[]>;
  readonly userProfiles: ReadonlyMap<number, UserProfile>;
  /** The control server's words about this node's health, each a sentence for the user. */
  readonly health: readonly string[];
}

export type Change = "self" | "peers" | "derp" | "dns" | "filter" | "health";

export const emptyNetMap = (): NetMap => ({ peers: PeerMap.of([]), filters: new Map(), userProfiles: new Map(), health: [] });

export function applyMapResponse(nm: NetMap, r: MapResponse, nowIso: string): { netmap: NetMap; changes: Set<Change> } {
  const changes = new Set<Change>();
  let { self, derpMap, dns, domain, health } = nm;
  let peers = nm.peers;
  let filters = nm.filters as Map<string, readonly FilterRule[]>;
  let userProfiles = nm.userProfiles as Map<number, UserProfile>;
  let edited: PeerMap | undefined;
  const editPeers = () => {
    if (!edited) peers = edited = PeerMap.edited(peers);
    changes.add("peers");
    return edited;
  };

  if (r.Node) {
    self = r.Node;
    changes.add("self");
  }
  // Tailscale's client: a DERPMap with no regions (only HomeParams) keeps the regions it has.
  if (r.DERPMap && Object.keys(r.DERPMap.Regions ?? {}).length) {
    derpMap = { Regions: r.DERPMap.Regions!, ...(derpMap?.HomeParams ? { HomeParams: derpMap.HomeParams } : {}) };
    changes.add("derp");
  }
  // HomeParams absent: unchanged; present (an empty RegionScore resets the scores).
  if (r.DERPMap?.HomeParams && derpMap) {
    derpMap = { ...derpMap, HomeParams: r.DERPMap.HomeParams };
    changes.add("derp");
  }
  // Absent means unchanged; an empty list means the server's warnings are over.
  if (r.Health) {
    health = r.Health;
    changes.add("health");
  }
  if (r.DNSConfig) {
    dns = r.DNSConfig;
    changes.add("dns");
  }
  if (r.Domain) domain = r.Domain;
  if (r.Peers) {
    peers = edited = PeerMap.of(r.Peers.map(keptPeer));
    changes.add("peers");
  }
  for (const p of r.PeersChanged ?? []) editPeers().set(keptPeer(p));
  for (const id of r.PeersRemoved ?? []) if (peers.has(id)) editPeers().delete(id);
  for (const c of r.PeersChangedPatch ?? []) {
    const p = peers.get(c.NodeID);
    if (!p) continue;
    editPeers().set({
      ...p,
      ...(c.DERPRegion !== undefined ? { HomeDERP: c.DERPRegion } : {}),
      ...(c.Endpoints !== undefined ? { Endpoints: c.Endpoints } : {}),
      ...(c.Key !== undefined ? { Key: c.Key } : {}),
      ...(c.DiscoKey !== undefined ? { DiscoKey: c.DiscoKey } : {}),
      ...(c.Online !== undefined ? { Online: c.Online } : {}),
      ...(c.LastSeen !== undefined ? { LastSeen: c.LastSeen } : {}),
      ...(c.KeyExpiry !== undefined ? { KeyExpiry: c.KeyExpiry } : {}),
      ...(c.KeySignature !== undefined ? { KeySignature: c.KeySignature } : {}),
    });
  }
  for (const [id, online] of Object.entries(r.OnlineChange ?? {})) {
    const p = peers.get(Number(id));
    if (p && p.Online !== online) editPeers().set({ ...p, Online: online });
  }
  for (const [id, seen] of Object.entries(r.PeerSeenChange ?? {})) {
    const p = peers.get(Number(id));
    if (!p) continue;
    const { LastSeen: _drop, ...rest } = p;
    editPeers().set(seen ? { ...p, LastSeen: nowIso } : rest);
  }
  if (r.PacketFilters) {
    filters = new Map(Object.prototype.hasOwnProperty.call(r.PacketFilters, "*") ? [] : filters);
    for (const [k, rules] of Object.entries(r.PacketFilters)) {
      if (k === "*") continue;
      if (rules) filters.set(k, rules);
      else filters.delete(k);
    }
    changes.add("filter");
  } else if (r.PacketFilter) {
    filters = new Map([["base", r.PacketFilter]]);
    changes.add("filter");
  }
  if (r.UserProfiles?.length) {
    userProfiles = new Map(userProfiles);
    for (const u of r.UserProfiles) userProfiles.set(u.ID, u);
  }
  const netmap: NetMap = {
    peers,
    filters,
    userProfiles,
    health,
    ...(self ? { self } : {}),
    ...(derpMap ? { derpMap } : {}),
    ...(dns ? { dns } : {}),
    ...(domain ? { domain } : {}),
  };
  return { netmap, changes };
}

/**
 * A peer as the netmap keeps it: the fields the agent reads and nothing else. A server sends far
 * more (Hostinfo's services and network report, capabilities, the machine key, tags), and a
 * router keeps a node for every peer of the tailnet. AllowedIPs is the very list of Addresses
 * when the two are equal (most nodes), the legacy DERP field becomes HomeDERP. The strings are
 * the parsed response's own, not copies.
 */
export function keptPeer(n: Node): Node {
  // Kept already (the map session keeps each node as it parses it): not copied again.
  if (n instanceof KeptNode) return n;
  const k = new KeptNode() as Node;
  // Assigned in one order: QuickJS shares one shape between objects built alike.
  k.ID = n.ID;
  k.StableID = n.StableID;
  k.Name = n.Name;
  k.User = n.User;
  k.Key = n.Key;
  k.Addresses = n.Addresses;
  k.AllowedIPs = sameList(n.AllowedIPs, n.Addresses) ? n.Addresses : n.AllowedIPs;
  if (n.KeyExpiry) k.KeyExpiry = n.KeyExpiry;
  if (n.DiscoKey) k.DiscoKey = n.DiscoKey;
  if (n.Endpoints?.length) k.Endpoints = n.Endpoints;
  const home = homeRegion(n);
  if (home) k.HomeDERP = home;
  if (n.Hostinfo?.OS) k.Hostinfo = hostinfoOf(n.Hostinfo.OS);
  if (n.PrimaryRoutes?.length) k.PrimaryRoutes = n.PrimaryRoutes;
  if (n.Online !== undefined) k.Online = n.Online;
  if (n.LastSeen) k.LastSeen = n.LastSeen;
  if (n.Expired) k.Expired = n.Expired;
  return k;
}

/** A node as keptPeer made it (the class marks it; its fields are a Node's own). */
class KeptNode {}

/** One Hostinfo per OS, shared by the peers that run it (an object costs ~140 bytes in QuickJS). */
const hostinfos = new Map<string, Readonly<Node["Hostinfo"]>>();
function hostinfoOf(os: string): Node["Hostinfo"] {
  let h = hostinfos.get(os);
  if (!h) {
    h = Object.freeze({ OS: os });
    // Bounded: a server that names a new OS per node gets its own objects past 64.
    if (hostinfos.size < 64) hostinfos.set(os, h);
  }
  return h;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The packet filter in force: every chunk, in key order. */
export function packetFilter(nm: NetMap): FilterRule[] {
  return [...nm.filters.keys()].sort().flatMap((k) => [...nm.filters.get(k)!]);
}

/** A peer's home DERP region: HomeDERP, or the legacy "127.3.3.40:N" form. */
export function homeRegion(n: Node): number {
  if (n.HomeDERP) return n.HomeDERP;
  const m = /^127\.3\.3\.40:(\d+)$/.exec(n.DERP ?? "");
  return m ? Number(m[1]) : 0;
}
