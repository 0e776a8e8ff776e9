// Key expiry by the control server's clock and the c2n answer, under Node and
// QuickJS alike: the router's runtime parses the server's RFC 3339 times.
import type { AgentView } from "../../agent/src/agent/view.js";
import { statusReply } from "../../agent/src/api/replies.js";
import { clockDelta, flagExpiredPeers, selfExpiry, untilNextExpiry } from "../../agent/src/control/expiry.js";
import { emptyNetMap, type NetMap } from "../../agent/src/control/netmap.js";
import { c2nAnswer } from "../../agent/src/control/ping.js";
import type { Node } from "../../agent/src/control/tailcfg.js";
import { latin1 } from "../../agent/src/util/bytes.js";
import { utf8Encode } from "../../agent/src/util/utf8.js";
import { eq, suite } from "./check.js";

const T0 = Date.UTC(2026, 11, 5, 12, 0, 0);
const node = (id: number, keyExpiry?: string): Node => ({
  ID: id, StableID: String(id), Name: `n${id}.tailnet.`, User: 1, Key: `nodekey:${id.toString(16).padStart(64, "0")}`,
  Addresses: [`100.64.0.${id}/32`], AllowedIPs: [], Endpoints: ["192.0.2.1:41641"], HomeDERP: 900, ...(keyExpiry ? { KeyExpiry: keyExpiry } : {}),
});
const nm = (peers: Node[], self?: Node): NetMap => ({ ...emptyNetMap(), peers: new Map(peers.map((p) => [p.ID, p])), ...(self ? { self } : {}) });

suite("key expiry and c2n", (check) => {
  check("ControlTime and KeyExpiry as the server writes them (Go's RFC 3339 with nanoseconds)", () => {
    eq(clockDelta("2026-12-05T12:00:00.123456789Z", T0 - 86_400_000), 86_400_123, "a day behind");
    const f = flagExpiredPeers(nm([node(2, "2026-12-05T11:59:59.5Z"), node(3, "2026-12-05T12:00:01Z"), node(4, "0001-01-01T00:00:00Z")]), T0);
    eq([...f.peers.values()].map((p) => `${p.ID}:${p.Expired === true}:${p.Endpoints?.length ?? 0}`).join(" "), "2:true:0 3:false:1 4:false:1", "flagged");
    eq(untilNextExpiry(f, T0), 1000, "next expiry");
  });

  check("our key a day from expiry: a warning in status", () => {
    const netmap = nm([], node(1, "2026-12-06T13:00:00Z"));
    const exp = selfExpiry(netmap, T0)!;
    const v: AgentView = {
      version: "t", control: { kind: "running" }, configured: true, problems: [], netmap, homeRelay: 0, interfaceName: "meshwrt0",
      pathOf: () => undefined, wgPeerOf: () => undefined, advertisedRoutes: [], exitNode: false, endpoints: [], keyExpiry: exp,
    };
    const s = statusReply(v);
    eq(s.keyExpiry, "2026-12-06T13:00:00.000Z", "expiry");
    eq(s.keyExpiresSoon, true, "soon");
    eq(s.health.some((h) => h.startsWith("The router's key expires in 25 hours")), true, s.health.join("; "));
  });

  check("c2n: /echo echoes, other paths are unknown", () => {
    eq(latin1(c2nAnswer(utf8Encode("POST /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"))), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", "echo");
    eq(latin1(c2nAnswer(utf8Encode("GET /debug/netmap HTTP/1.1\r\n\r\n"))).endsWith("\r\n\r\nunknown c2n path\n"), true, "unknown");
  });
});
