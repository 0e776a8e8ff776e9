// What `status` and `peers` answer, from the agent's state: plain words for
// the problems, the path as a person reads it, and no secret anywhere.
import type { AgentView } from "../../agent/src/agent/view.js";
import { peersReply, statusReply } from "../../agent/src/api/replies.js";
import { applyMapResponse, emptyNetMap } from "../../agent/src/control/netmap.js";
import type { Node } from "../../agent/src/control/tailcfg.js";
import { parseEndpoint } from "../../agent/src/netaddr/ip.js";
import { eq, suite } from "./check.js";

const node = (id: number, name: string, extra: Partial<Node> = {}): Node => ({
  ID: id, StableID: String(id), Name: `${name}.tailnet.example.`, User: 1, Key: `nodekey:${id.toString(16).padStart(64, "0")}`,
  Addresses: [`100.64.0.${id}/32`], AllowedIPs: [`100.64.0.${id}/32`], Hostinfo: { OS: "android" }, Online: true, HomeDERP: 900, ...extra,
});

function view(extra: Partial<AgentView> = {}): AgentView {
  const { netmap } = applyMapResponse(emptyNetMap(), { Node: node(1, "router"), Peers: [node(2, "phone"), node(3, "nas", { PrimaryRoutes: ["192.168.7.0/24", "0.0.0.0/0"], Online: false })], Domain: "tailnet.example" }, "2026-11-22T10:00:00Z");
  return {
    version: "0.1.0", control: { kind: "running" }, configured: true, problems: [], netmap, homeRelay: 900, wireguard: "kernel", interfaceName: "meshwrt0",
    pathOf: (id) => (id.endsWith("02") ? { kind: "direct", endpoint: parseEndpoint("203.0.113.7:41641"), latencyMs: 12.4 } : undefined),
    wgPeerOf: () => undefined, advertisedRoutes: ["192.168.1.0/24"], exitNode: false, endpoints: [], ...extra,
  };
}

suite("status and peers replies", (check) => {
  check("a running router", () => {
    const s = statusReply(view());
    eq(s.state, "running", "state");
    eq(s.name, "router", "name");
    eq(s.tailnet, "tailnet.example", "tailnet");
    eq(s.addresses.join(), "100.64.0.1", "addresses");
    eq(JSON.stringify(s.peers), '{"total":2,"online":1,"direct":1}', "counts");
    eq(s.health.length, 0, "no problems");
  });
  check("why it is not connected, in plain words", () => {
    eq(statusReply(view({ configured: false })).state, "not-configured", "not configured");
    const login = statusReply(view({ control: { kind: "needs-login", authUrl: "https://hs.example/register/abc" } }));
    eq(login.authUrl, "https://hs.example/register/abc", "login link");
    eq(login.health[0], "Waiting for approval: open the login link to add this router to the tailnet.", "waiting");
    eq(statusReply(view({ control: { kind: "connecting", lastError: "control: /key: no answer in 20 s" } })).health[0], "Cannot reach the control server: control: /key: no answer in 20 s", "unreachable");
    eq(statusReply(view({ problems: ["the kernel has no WireGuard: install kmod-wireguard"] })).health[0], "the kernel has no WireGuard: install kmod-wireguard", "kmod missing");
  });
  check("a tailnet with device approval, and the control server's own health words", () => {
    const waiting = statusReply(view({ control: { kind: "awaiting-approval" } }));
    eq(waiting.state, "awaiting-approval", "state");
    eq(waiting.health[0], "Waiting for the tailnet's admin to approve this router in the control server.", "what to do");
    const base = view();
    const { netmap } = applyMapResponse(base.netmap, { Health: ["This node's key expires in 2 days."] }, "2026-11-22T10:00:00Z");
    eq(statusReply({ ...base, netmap }).health.join("|"), "The control server says: This node's key expires in 2 days.", "server health");
  });
  check("peers: the path as a person reads it, routes without exit routes", () => {
    const [nas, phone] = peersReply(view());
    eq(phone!.path, "direct 203.0.113.7:41641, 12 ms", "direct");
    eq(nas!.path, "relay via region 900", "relay");
    eq(nas!.routes.join(), "192.168.7.0/24", "routes");
    eq(nas!.exitNode, true, "exit node capable");
    eq(nas!.online, false, "offline");
  });
  check("no secret in any reply", () => {
    const text = JSON.stringify([statusReply(view()), peersReply(view())]);
    eq(/privkey|auth_?key|hskey/i.test(text), false, "no key material");
  });
});
