// control/tailcfg.ts and netmap.ts: map responses that are valid JSON with
// the wrong types and values, checked, applied to a netmap, and read the way
// the agent reads a netmap (packet filter to nftables, MagicDNS hosts, home
// regions, WireGuard peers, the ubus replies). The checker must reject what the readers cannot take.
import type { AgentView } from "../../../agent/src/agent/view.js";
import { peersReply, statusReply } from "../../../agent/src/api/replies.js";
import { applyMapResponse, emptyNetMap, homeRegion, packetFilter } from "../../../agent/src/control/netmap.js";
import { checkMapResponse, checkRegisterResponse, parseMapResponse, SchemaError } from "../../../agent/src/control/tailcfg.js";
import { JsonOutlineError } from "../../../agent/src/util/json-scan.js";
import { utf8Decode, utf8Encode } from "../../../agent/src/util/utf8.js";
import { hostsFile } from "../../../agent/src/dns/hosts.js";
import { filterStatements } from "../../../agent/src/gateway/filter.js";
import { wantedPeers } from "../../../agent/src/wg/wanted.js";
import { mutateJson } from "../json-mutate.js";
import type { Target } from "../runner.js";

const key = (kind: string, n: number) => `${kind}:${n.toString(16).padStart(2, "0").repeat(32)}`;
const node = (id: number) => ({
  ID: id, StableID: `n${id}`, Name: `node${id}.tailnet.ts.net.`, User: 1, Key: key("nodekey", id), DiscoKey: key("discokey", id),
  Addresses: [`100.64.0.${id}/32`, `fd7a:115c:a1e0::${id}/128`], AllowedIPs: [`100.64.0.${id}/32`, "192.168.2.0/24", "0.0.0.0/0"],
  Endpoints: ["203.0.113.7:41641"], HomeDERP: 1, DERP: "127.3.3.40:1", Hostinfo: { OS: "linux", Hostname: `node${id}`, RoutableIPs: ["192.168.2.0/24"] },
  PrimaryRoutes: ["192.168.2.0/24"], Online: true, LastSeen: "2026-01-01T00:00:00Z", MachineAuthorized: true, Tags: ["tag:router"],
});
const full = {
  Node: node(1),
  Peers: [node(2), node(3)],
  DERPMap: { Regions: { "1": { RegionID: 1, RegionCode: "home", RegionName: "Home", Nodes: [{ Name: "1a", RegionID: 1, HostName: "derp.example.com", IPv4: "192.0.2.1", STUNPort: 3478, DERPPort: 443 }] } } },
  DNSConfig: { Resolvers: [{ Addr: "1.1.1.1" }], Routes: { "ts.net": null }, Domains: ["tailnet.ts.net"], Proxied: true, ExtraRecords: [{ Name: "a.ts.net", Value: "100.64.0.9" }] },
  Domain: "tailnet.ts.net",
  PacketFilter: [{ SrcIPs: ["*"], DstPorts: [{ IP: "*", Ports: { First: 0, Last: 65535 } }], IPProto: [6, 17] }],
  UserProfiles: [{ ID: 1, LoginName: "a@example.com", DisplayName: "A" }],
  ControlTime: "2026-01-01T00:00:00Z",
};
const delta = {
  PeersChanged: [node(4)],
  PeersRemoved: [3],
  PeersChangedPatch: [{ NodeID: 2, DERPRegion: 2, Endpoints: ["198.51.100.1:1"], Online: false, LastSeen: "2026-01-02T00:00:00Z" }],
  OnlineChange: { "2": true },
  PeerSeenChange: { "4": true },
  PacketFilters: { "*": null, base: [{ SrcIPs: ["100.64.0.0/10"], DstPorts: [{ IP: "192.168.2.0/24", Bits: 24, Ports: { First: 22, Last: 22 } }] }] },
};

const base = applyMapResponse(emptyNetMap(), checkMapResponse(structuredClone(full)), "2026-01-01T00:00:00Z").netmap;

function view(netmap: AgentView["netmap"]): AgentView {
  return {
    version: "fuzz", control: undefined, configured: true, problems: [], netmap, homeRelay: 1, interfaceName: "meshwrt0",
    pathOf: () => undefined, wgPeerOf: () => undefined, advertisedRoutes: [], exitNode: false, endpoints: [],
  };
}

export const mapResponse: Target<unknown> = {
  name: "map response",
  seeds: [full, delta, { KeepAlive: true }],
  clean: /^MapResponse/,
  mutate: mutateJson,
  parse: (v) => {
    const r = checkMapResponse(v);
    for (const start of [emptyNetMap(), base]) {
      const nm = applyMapResponse(start, r, "2026-01-03T00:00:00Z").netmap;
      filterStatements(packetFilter(nm), () => {});
      hostsFile(nm, () => {});
      for (const p of nm.peers.values()) homeRegion(p);
      wantedPeers(nm.peers.values(), { acceptRoutes: true, endpointFor: () => undefined, log: () => {} });
      statusReply(view(nm));
      peersReply(view(nm));
    }
  },
};

/** What checkMapResponse makes of the text parsed whole, or undefined when it refuses it. */
function parsedWhole(b: Uint8Array): string | undefined {
  try {
    return JSON.stringify(checkMapResponse(JSON.parse(utf8Decode(b))));
  } catch {
    return undefined;
  }
}

/** The map session's parse a node at a time (control/tailcfg.ts parseMapResponse) must take exactly what a whole parse takes, as it does. */
export const mapMessage: Target = {
  name: "map message bytes",
  seeds: [utf8Encode(JSON.stringify(full)), utf8Encode(JSON.stringify(delta, null, 1)), utf8Encode(JSON.stringify({ Peers: [{ ...node(5), Name: 'one " then ]}', StableID: "\\", Hostinfo: { OS: "é✓" } }] }))],
  clean: /^refused: /,
  parse: (b) => {
    const whole = parsedWhole(b);
    let pieces: string;
    try {
      pieces = JSON.stringify(parseMapResponse(b));
    } catch (e) {
      if (!(e instanceof SyntaxError || e instanceof JsonOutlineError || e instanceof SchemaError)) throw e;
      if (whole !== undefined) throw new Error(`parsed whole it is taken, a node at a time refused: ${e.message}`);
      throw new Error(`refused: ${e.message}`);
    }
    if (whole === undefined) throw new Error("taken a node at a time, refused parsed whole");
    if (pieces !== whole) throw new Error(`a node at a time ${pieces.slice(0, 200)}, whole ${whole.slice(0, 200)}`);
  },
};

export const registerResponse: Target<unknown> = {
  name: "register response",
  seeds: [{ MachineAuthorized: true, User: { LoginName: "a" } }, { AuthURL: "https://login.example.com/a/b", NodeKeyExpired: false, Error: "" }],
  clean: /^RegisterResponse/,
  mutate: mutateJson,
  parse: (v) => checkRegisterResponse(v),
};
