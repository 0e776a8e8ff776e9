import { parsePrefix, formatPrefix, formatIp } from "../../agent/src/netaddr/ip.js";
import { parseMessages, Writer } from "../../agent/src/netlink/codec.js";
import { address, newLink, parseAddress, parseLink, parseRoute, route, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE } from "../../agent/src/netlink/route.js";
import { eq, eqBytes, suite } from "./check.js";

function msg(type: number, body: (w: Writer) => void) {
  const w = new Writer();
  const at = w.begin(type, 0x605, 1);
  body(w);
  w.end(at);
  return w.finish();
}

suite("rtnetlink", (check) => {
  check("RTM_NEWADDR for the node's /32 (byte vector)", () => {
    eqBytes(
      msg(RTM_NEWADDR, address(5, parsePrefix("100.64.0.1/32"))),
      // nlmsghdr (40 bytes), ifaddrmsg{AF_INET, 32, 0, 0, index 5}, IFA_LOCAL and IFA_ADDRESS 100.64.0.1
      "28000000 1400 0506 01000000 00000000 02200000 05000000 0800 0200 64400001 0800 0100 64400001",
      "message",
    );
  });
  check("RTM_NEWLINK of kind wireguard parses back", () => {
    const l = parseLink(parseMessages(msg(RTM_NEWLINK, newLink("wg0", "wireguard", 1280)))[0]!);
    eq(l.name, "wg0", "name");
    eq(l.kind, "wireguard", "kind");
    eq(l.mtu, 1280, "mtu");
  });
  check("routes and addresses parse back", () => {
    const r = parseRoute(parseMessages(msg(RTM_NEWROUTE, route({ dst: parsePrefix("192.168.1.0/24"), oif: 7, metric: 10, table: 52 })))[0]!);
    eq(formatPrefix(r.dst), "192.168.1.0/24", "dst");
    eq(r.oif, 7, "oif");
    eq(r.metric, 10, "metric");
    eq(r.table, 52, "table");
    const a = parseAddress(parseMessages(msg(RTM_NEWADDR, address(9, parsePrefix("fd7a:115c:a1e0::1/128"))))[0]!);
    eq(formatIp(a.prefix.ip), "fd7a:115c:a1e0::1", "v6 address");
    eq(a.index, 9, "index");
  });
});
