import type { Node } from "../../agent/src/control/tailcfg.js";
import { formatPrefix, parseEndpoint } from "../../agent/src/netaddr/ip.js";
import { wantedPeers } from "../../agent/src/wg/wanted.js";
import { eq, suite } from "./check.js";

const node = (id: number, extra: Partial<Node> = {}): Node => ({
  ID: id, StableID: `n${id}`, Name: `n${id}`, User: 1, Key: `nodekey:${id.toString(16).padStart(64, "0")}`,
  Addresses: [`100.64.0.${id}/32`, `fd7a:115c:a1e0::${id}/128`], AllowedIPs: [`100.64.0.${id}/32`, `fd7a:115c:a1e0::${id}/128`], ...extra,
});

suite("wanted peers", (check) => {
  const logs: string[] = [];
  const opts = (acceptRoutes: boolean) => ({ acceptRoutes, endpointFor: () => parseEndpoint("127.0.0.1:40001"), log: (m: string) => logs.push(m) });
  const router = node(2, { AllowedIPs: ["100.64.0.2/32", "fd7a:115c:a1e0::2/128", "192.168.2.0/24", "0.0.0.0/0", "::/0"] });
  check("own addresses only, unless routes are accepted; never exit routes", () => {
    eq(wantedPeers([router], opts(false))[0]!.allowedIps.map(formatPrefix).join(" "), "100.64.0.2/32 fd7a:115c:a1e0::2/128", "without accept_routes");
    eq(wantedPeers([router], opts(true))[0]!.allowedIps.map(formatPrefix).join(" "), "100.64.0.2/32 fd7a:115c:a1e0::2/128 192.168.2.0/24", "with accept_routes");
  });
  check("absent AllowedIPs means the addresses (capver 112)", () => {
    const { AllowedIPs: _x, ...bare } = node(3);
    eq(wantedPeers([bare as Node], opts(false))[0]!.allowedIps.length, 2, "addresses");
  });
  check("bad keys and prefixes are logged and skipped, expired nodes left out", () => {
    const out = wantedPeers([node(4, { Key: "nodekey:xyz" }), node(5, { AllowedIPs: ["100.64.0.5/32", "300.1.1.1/32"] }), node(6, { Expired: true })], opts(true));
    eq(out.length, 1, "one peer left");
    eq(out[0]!.allowedIps.length, 1, "the bad prefix dropped");
    eq(logs.some((l) => l.startsWith("peer n4: nodekey:")), true, "bad key logged with the peer");
  });
});
