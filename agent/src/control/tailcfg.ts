// The JSON the control server and the client exchange (Tailscale's tailcfg
// package), reduced to the fields meshwrt reads or sends, and checked on the
// way in: a server that answers garbage gets an error naming the field.
import { objectMembers, parseElements, valueEnd } from "../util/json-scan.js";
import { utf8Decode } from "../util/utf8.js";

export interface Hostinfo {
  IPNVersion?: string;
  OS: string;
  OSVersion?: string;
  Distro?: string;
  DistroVersion?: string;
  Hostname: string;
  Machine?: string;
  RoutableIPs?: string[];
  RequestTags?: string[];
  NetInfo?: NetInfo;
  Userspace?: boolean;
  UserspaceRouter?: boolean;
  /** The peer API ("peerapi4", "peerapi6" with their ports; "peerapi-dns-proxy" with version 1). */
  Services?: Service[];
}

export interface Service {
  Proto: string;
  Port: number;
}

export interface NetInfo {
  MappingVariesByDestIP?: boolean;
  WorkingIPv6?: boolean;
  OSHasIPv6?: boolean;
  WorkingUDP?: boolean;
  PreferredDERP: number;
  DERPLatency?: Record<string, number>;
}

export interface RegisterRequest {
  Version: number;
  NodeKey: string;
  OldNodeKey: string;
  Auth?: { AuthKey?: string };
  Expiry: string;
  Followup: string;
  Hostinfo: Hostinfo;
  Ephemeral?: boolean;
  /** Our tailnet-lock public key, "nlpub:" and hex. */
  NLKey?: string;
  /** base64 (Go's []byte): our node-key signature re-signed for a new node key. */
  NodeKeySignature?: string;
}

export interface RegisterResponse {
  NodeKeyExpired: boolean;
  MachineAuthorized: boolean;
  AuthURL: string;
  Error: string;
  User?: { LoginName?: string; DisplayName?: string };
  /** base64: in a locked tailnet, the signature to re-sign for a new node key (the client then rotates). */
  NodeKeySignature?: string;
}

export interface MapRequest {
  Version: number;
  Compress?: string;
  KeepAlive?: boolean;
  NodeKey: string;
  DiscoKey: string;
  Stream?: boolean;
  Hostinfo: Hostinfo;
  Endpoints?: string[];
  EndpointTypes?: number[];
  OmitPeers?: boolean;
}

export interface Node {
  ID: number;
  StableID: string;
  Name: string;
  User: number;
  Key: string;
  KeyExpiry?: string;
  Machine?: string;
  DiscoKey?: string;
  Addresses: string[];
  AllowedIPs: string[];
  Endpoints?: string[];
  HomeDERP?: number;
  /** "127.3.3.40:N": the home DERP region of servers that predate HomeDERP. */
  DERP?: string;
  Hostinfo?: { OS?: string; Hostname?: string; RoutableIPs?: string[] };
  Tags?: string[];
  PrimaryRoutes?: string[];
  Online?: boolean;
  LastSeen?: string;
  MachineAuthorized?: boolean;
  Expired?: boolean;
  Cap?: number;
  /** base64: the tailnet-lock signature of this node's key. */
  KeySignature?: string;
}

export interface PeerChange {
  NodeID: number;
  DERPRegion?: number;
  Endpoints?: string[];
  Key?: string;
  DiscoKey?: string;
  Online?: boolean;
  LastSeen?: string;
  KeyExpiry?: string;
  KeySignature?: string;
}

export interface DERPNode {
  Name: string;
  RegionID: number;
  HostName: string;
  IPv4?: string;
  IPv6?: string;
  STUNPort?: number;
  STUNOnly?: boolean;
  DERPPort?: number;
  InsecureForTests?: boolean;
  CanPort80?: boolean;
}

export interface DERPRegion {
  RegionID: number;
  RegionCode: string;
  RegionName: string;
  Avoid?: boolean;
  NoMeasureNoHome?: boolean;
  Nodes: DERPNode[];
}

export interface DERPMap {
  Regions: Record<string, DERPRegion>;
  /** Region scores multiply measured latencies when the home region is chosen (absent or <= 0: 1). */
  HomeParams?: { RegionScore?: Record<string, number> };
}

/** A DERPMap as the map stream sends it: without Regions (only HomeParams) it keeps the regions we have. */
export interface DERPMapUpdate {
  Regions?: Record<string, DERPRegion>;
  HomeParams?: { RegionScore?: Record<string, number> };
}

export interface DNSResolver {
  Addr?: string;
}

export interface DNSConfig {
  Resolvers?: DNSResolver[];
  Routes?: Record<string, DNSResolver[] | null>;
  Domains?: string[];
  Proxied?: boolean;
  ExtraRecords?: { Name: string; Type?: string; Value: string }[];
}

export interface PortRange {
  First: number;
  Last: number;
}

export interface FilterRule {
  SrcIPs: string[];
  DstPorts?: { IP: string; Bits?: number; Ports: PortRange }[];
  IPProto?: number[];
}

export interface UserProfile {
  ID: number;
  LoginName: string;
  DisplayName: string;
}

export interface MapResponse {
  KeepAlive?: boolean;
  Node?: Node;
  DERPMap?: DERPMapUpdate;
  Peers?: Node[];
  PeersChanged?: Node[];
  PeersRemoved?: number[];
  PeersChangedPatch?: PeerChange[];
  OnlineChange?: Record<string, boolean>;
  PeerSeenChange?: Record<string, boolean>;
  DNSConfig?: DNSConfig;
  Domain?: string;
  PacketFilter?: FilterRule[];
  PacketFilters?: Record<string, FilterRule[] | null>;
  UserProfiles?: UserProfile[];
  Health?: string[];
  ControlTime?: string;
  PingRequest?: PingRequest;
}

/** The server asks the node to show it is alive (no Types: an HTTP HEAD), to ping a tailnet IP, or to answer a c2n request. */
export interface PingRequest {
  URL: string;
  URLIsNoise?: boolean;
  Log?: boolean;
  /** "", "c2n", or a comma list of "disco", "TSMP", "ICMP", "peerapi". */
  Types?: string;
  IP?: string;
  /** base64 (Go's []byte): for c2n, the HTTP/1 request. */
  Payload?: string;
}

/** The answer POSTed for a ping of a tailnet IP. */
export interface PingResponse {
  Type: string;
  IP?: string;
  NodeIP?: string;
  NodeName?: string;
  Err?: string;
  LatencySeconds?: number;
  Endpoint?: string;
  DERPRegionID?: number;
}

/** A field of the server's JSON is not what the protocol says. */
export class SchemaError extends Error {}

type Json = unknown;
const isObj = (v: Json): v is Record<string, Json> => typeof v === "object" && v !== null && !Array.isArray(v);

function want(cond: boolean, path: string, what: string, v: Json): void {
  if (!cond) throw new SchemaError(`${path}: want ${what}, got ${v === null ? "null" : Array.isArray(v) ? "array" : typeof v}`);
}

function checkFields(o: Record<string, Json>, path: string, spec: Record<string, string>): void {
  for (const [k, kind] of Object.entries(spec)) {
    const v = o[k];
    if (v === undefined || v === null) continue;
    const p = `${path}.${k}`;
    switch (kind) {
      case "string": want(typeof v === "string", p, "a string", v); break;
      case "number": want(typeof v === "number" && Number.isFinite(v), p, "a number", v); break;
      case "boolean": want(typeof v === "boolean", p, "a boolean", v); break;
      case "strings":
        want(Array.isArray(v), p, "an array of strings", v);
        (v as Json[]).forEach((x, i) => want(typeof x === "string", `${p}[${i}]`, "a string", x));
        break;
      case "numbers":
        want(Array.isArray(v), p, "an array of numbers", v);
        (v as Json[]).forEach((x, i) => want(typeof x === "number", `${p}[${i}]`, "a number", x));
        break;
      case "object": want(isObj(v), p, "an object", v); break;
      case "array": want(Array.isArray(v), p, "an array", v); break;
    }
  }
}

const NODE: Record<string, string> = {
  ID: "number", StableID: "string", Name: "string", User: "number", Key: "string", KeyExpiry: "string", Machine: "string",
  DiscoKey: "string", Addresses: "strings", AllowedIPs: "strings", Endpoints: "strings", HomeDERP: "number", DERP: "string",
  Hostinfo: "object", Tags: "strings", PrimaryRoutes: "strings", Online: "boolean", LastSeen: "string",
  MachineAuthorized: "boolean", Expired: "boolean", Cap: "number", KeySignature: "string",
};

// Fields a Node always has: when the server leaves one out (or sends a Go nil
// slice as null), it gets Go's zero value, as Go's decoder would give it.
const NODE_ZERO: readonly [string, () => Json][] = [["StableID", () => ""], ["Name", () => ""], ["User", () => 0], ["Addresses", () => []], ["AllowedIPs", () => []]];

/**
 * A node checked (path: where it is, `MapResponse.Peers` and its index, for an error). Most nodes
 * are right: they are looked over field by field by name first, and only a wrong one is checked
 * again the slow way, for the error that names its first bad field (the spec walk and its paths
 * made for every field were most of a 5,000-node message's parse in QuickJS).
 */
function checkNode(v: Json, path: string, index?: number): Node {
  if (!nodeLooksRight(v)) return checkNodeNamed(v, index === undefined ? path : `${path}[${index}]`);
  const o = v as Record<string, Json>;
  // Go's zero values, in NODE_ZERO's order (a key added is added last).
  if (o.StableID == null) o.StableID = "";
  if (o.Name == null) o.Name = "";
  if (o.User == null) o.User = 0;
  if (o.Addresses == null) o.Addresses = [];
  if (o.AllowedIPs == null) o.AllowedIPs = [];
  return o as unknown as Node;
}

const optString = (v: Json) => v === undefined || v === null || typeof v === "string";
const optNumber = (v: Json) => v === undefined || v === null || (typeof v === "number" && Number.isFinite(v));
const optBoolean = (v: Json) => v === undefined || v === null || typeof v === "boolean";
function optStrings(v: Json): boolean {
  if (v === undefined || v === null) return true;
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) if (typeof v[i] !== "string") return false;
  return true;
}

/** Whether checkNodeNamed takes the node: NODE's fields read by name (a property read by a literal name is the fast one in QuickJS). */
function nodeLooksRight(v: Json): boolean {
  if (!isObj(v)) return false;
  const o = v as { [K in keyof Node]?: Json };
  const h = o.Hostinfo as Record<string, Json> | null | undefined;
  return typeof o.ID === "number" && Number.isFinite(o.ID) && typeof o.Key === "string" && o.Key.startsWith("nodekey:") &&
    optString(o.StableID) && optString(o.Name) && optNumber(o.User) && optString(o.KeyExpiry) && optString(o.Machine) &&
    optString(o.DiscoKey) && optStrings(o.Addresses) && optStrings(o.AllowedIPs) && optStrings(o.Endpoints) && optNumber(o.HomeDERP) &&
    optString(o.DERP) && (h === undefined || h === null || (isObj(h) && optString(h.OS) && optString(h.Hostname) && optStrings(h.RoutableIPs))) &&
    optStrings(o.Tags) && optStrings(o.PrimaryRoutes) && optBoolean(o.Online) && optString(o.LastSeen) && optBoolean(o.MachineAuthorized) &&
    optBoolean(o.Expired) && optNumber(o.Cap) && optString(o.KeySignature);
}

/** A node checked against NODE field by field: throws SchemaError naming the first bad one. */
function checkNodeNamed(v: Json, path: string): Node {
  want(isObj(v), path, "a node object", v);
  const o = v as Record<string, Json>;
  checkFields(o, path, NODE);
  for (const [k, zero] of NODE_ZERO) if (o[k] === undefined || o[k] === null) o[k] = zero();
  want(typeof o.ID === "number", `${path}.ID`, "a number", o.ID);
  want(typeof o.Key === "string" && o.Key.startsWith("nodekey:"), `${path}.Key`, "a nodekey: string", o.Key);
  if (o.Hostinfo) checkFields(o.Hostinfo as Record<string, Json>, `${path}.Hostinfo`, { OS: "string", Hostname: "string", RoutableIPs: "strings" });
  return o as unknown as Node;
}

function checkNodes(v: Json, path: string): void {
  if (v === undefined || v === null) return;
  want(Array.isArray(v), path, "an array of nodes", v);
  (v as Json[]).forEach((n, i) => checkNode(n, path, i));
}

function checkRules(v: Json, path: string): void {
  if (v === undefined || v === null) return;
  want(Array.isArray(v), path, "an array of filter rules", v);
  (v as Json[]).forEach((r, i) => {
    const p = `${path}[${i}]`;
    want(isObj(r), p, "a filter rule", r);
    const o = r as Record<string, Json>;
    checkFields(o, p, { SrcIPs: "strings", IPProto: "numbers", DstPorts: "array" });
    ((o.DstPorts as Json[] | undefined) ?? []).forEach((d, j) => {
      const dp = `${p}.DstPorts[${j}]`;
      want(isObj(d), dp, "an object", d);
      const dd = d as Record<string, Json>;
      checkFields(dd, dp, { IP: "string", Bits: "number", Ports: "object" });
      want(isObj(dd.Ports), `${dp}.Ports`, "a port range", dd.Ports);
      checkFields(dd.Ports as Record<string, Json>, `${dp}.Ports`, { First: "number", Last: "number" });
    });
  });
}

function checkResolvers(v: Json, path: string): void {
  if (v === undefined || v === null) return;
  want(Array.isArray(v), path, "an array of resolvers", v);
  (v as Json[]).forEach((r, i) => {
    want(isObj(r), `${path}[${i}]`, "a resolver", r);
    checkFields(r as Record<string, Json>, `${path}[${i}]`, { Addr: "string" });
  });
}

function checkDNS(o: Record<string, Json>, path: string): void {
  checkFields(o, path, { Resolvers: "array", Routes: "object", Domains: "strings", Proxied: "boolean", ExtraRecords: "array" });
  checkResolvers(o.Resolvers, `${path}.Resolvers`);
  for (const [k, r] of Object.entries((o.Routes as Record<string, Json> | undefined) ?? {})) checkResolvers(r, `${path}.Routes[${k}]`);
  ((o.ExtraRecords as Json[] | undefined) ?? []).forEach((r, i) => {
    const p = `${path}.ExtraRecords[${i}]`;
    want(isObj(r), p, "a DNS record", r);
    const rr = r as Record<string, Json>;
    checkFields(rr, p, { Name: "string", Type: "string", Value: "string" });
    want(typeof rr.Name === "string" && typeof rr.Value === "string", p, "a Name and a Value", r);
  });
}

/**
 * One map stream message from its bytes, checked. Its nodes (Peers, PeersChanged) are parsed and
 * checked one at a time and handed to `keep`, so a message of thousands of nodes never exists as
 * one string and one parsed tree beside what the agent keeps of it (5,000 nodes: 3 MB of text,
 * 8 MB of tree in QuickJS). Throws SyntaxError (or JsonOutlineError) for bytes that are not JSON,
 * SchemaError naming the first bad field.
 */
export function parseMapResponse(bytes: Uint8Array, keep: (n: Node) => Node = (n) => n): MapResponse {
  const text = (from: number, to: number) => utf8Decode(bytes.subarray(from, to));
  const o: Record<string, Json> = {};
  let nodesChecked = true;
  objectMembers(bytes, 0, bytes.length, (keyFrom, keyTo, from) => {
    const k = JSON.parse(text(keyFrom, keyTo)) as string;
    if ((k === "Peers" || k === "PeersChanged") && bytes[from] === 0x5b) {
      const nodes: Node[] = [], where = `MapResponse.${k}`;
      const to = parseElements(bytes, from, bytes.length, (n) => nodes.push(keep(checkNode(n, where, nodes.length))));
      o[k] = nodes;
      return to;
    }
    const to = valueEnd(bytes, from, bytes.length);
    if (k === "__proto__") return to;
    o[k] = JSON.parse(text(from, to));
    if (k === "Peers" || k === "PeersChanged") nodesChecked = false;
    return to;
  });
  return checkMapResponse(o, nodesChecked);
}

/** Checks one map stream message; throws SchemaError naming the first bad field. */
export function checkMapResponse(v: Json, nodesChecked = false): MapResponse {
  want(isObj(v), "MapResponse", "an object", v);
  const o = v as Record<string, Json>;
  checkFields(o, "MapResponse", {
    KeepAlive: "boolean", Node: "object", DERPMap: "object", Peers: "array", PeersChanged: "array", PeersRemoved: "numbers",
    PeersChangedPatch: "array", OnlineChange: "object", PeerSeenChange: "object", DNSConfig: "object", Domain: "string",
    PacketFilter: "array", PacketFilters: "object", UserProfiles: "array", Health: "strings", ControlTime: "string",
    PingRequest: "object",
  });
  if (o.PingRequest) checkFields(o.PingRequest as Record<string, Json>, "MapResponse.PingRequest", { URL: "string", URLIsNoise: "boolean", Log: "boolean", Types: "string", IP: "string", Payload: "string" });
  if (o.Node) checkNode(o.Node, "MapResponse.Node");
  if (!nodesChecked) {
    checkNodes(o.Peers, "MapResponse.Peers");
    checkNodes(o.PeersChanged, "MapResponse.PeersChanged");
  }
  ((o.PeersChangedPatch as Json[] | undefined) ?? []).forEach((c, i) => {
    const p = `MapResponse.PeersChangedPatch[${i}]`;
    want(isObj(c), p, "an object", c);
    checkFields(c as Record<string, Json>, p, { NodeID: "number", DERPRegion: "number", Endpoints: "strings", Key: "string", DiscoKey: "string", Online: "boolean", LastSeen: "string", KeyExpiry: "string", KeySignature: "string" });
    want(typeof (c as Record<string, Json>).NodeID === "number", `${p}.NodeID`, "a number", (c as Record<string, Json>).NodeID);
  });
  if (o.DERPMap) {
    checkFields(o.DERPMap as Record<string, Json>, "MapResponse.DERPMap", { Regions: "object", HomeParams: "object" });
    const home = (o.DERPMap as Record<string, Json>).HomeParams;
    if (home) checkFields(home as Record<string, Json>, "MapResponse.DERPMap.HomeParams", { RegionScore: "object" });
    const regions = (o.DERPMap as Record<string, Json>).Regions ?? {};
    for (const [id, r] of Object.entries(regions as Record<string, Json>)) {
      const p = `MapResponse.DERPMap.Regions[${id}]`;
      want(isObj(r), p, "a region", r);
      checkFields(r as Record<string, Json>, p, { RegionID: "number", RegionCode: "string", RegionName: "string", Avoid: "boolean", Nodes: "array" });
      ((r as Record<string, Json>).Nodes as Json[] | undefined ?? []).forEach((n, i) => {
        want(isObj(n), `${p}.Nodes[${i}]`, "a DERP node", n);
        checkFields(n as Record<string, Json>, `${p}.Nodes[${i}]`, { Name: "string", RegionID: "number", HostName: "string", IPv4: "string", IPv6: "string", STUNPort: "number", STUNOnly: "boolean", DERPPort: "number", InsecureForTests: "boolean" });
      });
    }
  }
  if (o.DNSConfig) checkDNS(o.DNSConfig as Record<string, Json>, "MapResponse.DNSConfig");
  for (const k of ["OnlineChange", "PeerSeenChange"]) {
    for (const [id, b] of Object.entries((o[k] as Record<string, Json> | undefined) ?? {})) want(typeof b === "boolean", `MapResponse.${k}[${id}]`, "a boolean", b);
  }
  ((o.UserProfiles as Json[] | undefined) ?? []).forEach((u, i) => {
    const p = `MapResponse.UserProfiles[${i}]`;
    want(isObj(u), p, "a user profile", u);
    checkFields(u as Record<string, Json>, p, { ID: "number", LoginName: "string", DisplayName: "string" });
    want(typeof (u as Record<string, Json>).ID === "number", `${p}.ID`, "a number", (u as Record<string, Json>).ID);
  });
  checkRules(o.PacketFilter, "MapResponse.PacketFilter");
  if (o.PacketFilters) for (const [k, rules] of Object.entries(o.PacketFilters as Record<string, Json>)) checkRules(rules, `MapResponse.PacketFilters[${k}]`);
  return o as unknown as MapResponse;
}

export function checkRegisterResponse(v: Json): RegisterResponse {
  want(isObj(v), "RegisterResponse", "an object", v);
  const o = v as Record<string, Json>;
  checkFields(o, "RegisterResponse", { NodeKeyExpired: "boolean", MachineAuthorized: "boolean", AuthURL: "string", Error: "string", User: "object", NodeKeySignature: "string" });
  return {
    NodeKeyExpired: o.NodeKeyExpired === true,
    MachineAuthorized: o.MachineAuthorized === true,
    AuthURL: typeof o.AuthURL === "string" ? o.AuthURL : "",
    Error: typeof o.Error === "string" ? o.Error : "",
    ...(isObj(o.User) ? { User: o.User as RegisterResponse["User"] & object } : {}),
    ...(typeof o.NodeKeySignature === "string" && o.NodeKeySignature ? { NodeKeySignature: o.NodeKeySignature } : {}),
  };
}
