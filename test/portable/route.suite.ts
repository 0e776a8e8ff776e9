import { parsePrefix, formatPrefix, formatIp } from "../../agent/src/netaddr/ip.js";
import { parseMessages, Writer } from "../../agent/src/netlink/codec.js";
import { NUD_REACHABLE, parseNeighbour, RTM_NEWNEIGH } from "../../agent/src/netlink/neigh.js";
import { address, newLink, parseAddress, parseLink, parseRoute, route, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE } from "../../agent/src/netlink/route.js";
import { eq, eqBytes, hex, host16, host32, suite } from "./check.js";

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
      // (headers and the index in the host's byte order, addresses in network order).
      `${host32(40)} ${host16(RTM_NEWADDR)} ${host16(0x605)} ${host32(1)} ${host32(0)} 02200000 ${host32(5)} ${host16(8)} ${host16(2)} 64400001 ${host16(8)} ${host16(1)} 64400001`,
      "message",
    );
  });
  check("RTM_NEWLINK from the kernel: index, flags and MTU in host order (byte vector)", () => {
    // ifinfomsg{AF_UNSPEC, ARPHRD_NONE 0xfffe, index 0x0102, IFF_UP|IFF_RUNNING|IFF_NOARP, change 0},
    // IFLA_IFNAME "wg0", IFLA_MTU 1280.
    const l = parseLink(
      parseMessages(
        hex(`${host32(48)} ${host16(RTM_NEWLINK)} ${host16(0)} ${host32(0)} ${host32(0)}
          00 00 ${host16(0xfffe)} ${host32(0x0102)} ${host32(0x41 | 0x80)} ${host32(0)}
          ${host16(8)} ${host16(3)} 77673000 ${host16(8)} ${host16(4)} ${host32(1280)}`),
      )[0]!,
    );
    eq(`${l.index} ${l.name} ${l.type} ${l.up} ${l.mtu}`, "258 wg0 65534 true 1280", "link");
  });
  check("RTM_NEWNEIGH from the kernel: index and NUD state in host order (byte vector)", () => {
    // ndmsg{AF_INET, index 0x0203, state REACHABLE, flags 0, type 1}, NDA_DST 192.168.1.20, NDA_LLADDR.
    const n = parseNeighbour(
      parseMessages(
        hex(`${host32(48)} ${host16(RTM_NEWNEIGH)} ${host16(0)} ${host32(0)} ${host32(0)}
          02 000000 ${host32(0x0203)} ${host16(NUD_REACHABLE)} 00 01
          ${host16(8)} ${host16(1)} c0a80114 ${host16(10)} ${host16(2)} 020000000001 0000`),
      )[0]!,
    )!;
    eq(`${n.index} ${formatIp(n.ip)} ${n.state}`, `515 192.168.1.20 ${NUD_REACHABLE}`, "neighbour");
    eqBytes(n.mac!, "020000000001", "MAC");
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
