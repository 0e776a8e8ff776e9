// `devices`: the LAN devices a user could share, from dnsmasq's lease file
// and the kernel's neighbour table; and `set`'s edit of the UCI file.
import { describe, expect, it } from "vitest";
import { devicesReply } from "../../agent/src/api/devices.js";
import { parseIp, parsePrefix } from "../../agent/src/netaddr/ip.js";
import { NUD_FAILED, NUD_NOARP, NUD_REACHABLE, NUD_STALE } from "../../agent/src/netlink/neigh.js";
import { setOption } from "../../agent/src/openwrt/config-edit.js";
import { parseDhcpLeases } from "../../agent/src/openwrt/dhcp-leases.js";
import { formatUci, parseUci } from "../../agent/src/openwrt/uci.js";

// As dnsmasq's lease.c writes /tmp/dhcp.leases: IPv4 leases, then the DUID and IPv6 leases.
const LEASES = `1763815200 02:00:00:00:00:50 192.168.1.50 printer 01:02:00:00:00:00:50
0 02:00:00:00:00:60 192.168.1.60 * *
1763815200 zz:00 192.168.1.70 broken *
duid 00:01:00:01:2c:5f:aa:bb:02:00:00:00:00:01
1763815200 1234 fd00::50 printer 000100012c
`;

const mac = (s: string) => Uint8Array.from(s.split(":").map((h) => parseInt(h, 16)));

describe("LAN devices", () => {
  it("reads dnsmasq's IPv4 leases and skips what is not one", () => {
    expect(parseDhcpLeases(LEASES)).toEqual([
      { expires: 1763815200, mac: "02:00:00:00:00:50", ip: "192.168.1.50", name: "printer" },
      { expires: 0, mac: "02:00:00:00:00:60", ip: "192.168.1.60" },
    ]);
  });

  it("joins leases and neighbours by MAC, with the subnet to share and whether it is shared", () => {
    const d = devicesReply({
      leases: parseDhcpLeases(LEASES),
      links: [
        { index: 1, name: "lo" }, { index: 2, name: "br-lan" }, { index: 3, name: "wan" }, { index: 4, name: "meshwrt0" },
      ] as never,
      addresses: [
        { index: 2, prefix: parsePrefix("192.168.1.1/24") }, { index: 3, prefix: parsePrefix("198.51.100.2/24") }, { index: 4, prefix: parsePrefix("100.64.0.2/32") },
      ] as never,
      neighbours: [
        { index: 2, ip: parseIp("192.168.1.50"), mac: mac("02:00:00:00:00:50"), state: NUD_REACHABLE },
        { index: 2, ip: parseIp("fd00::50"), mac: mac("02:00:00:00:00:50"), state: NUD_STALE },
        { index: 2, ip: parseIp("fe80::50"), mac: mac("02:00:00:00:00:50"), state: NUD_STALE },
        { index: 2, ip: parseIp("192.168.1.99"), state: NUD_FAILED },
        { index: 3, ip: parseIp("198.51.100.1"), mac: mac("02:00:00:00:00:01"), state: NUD_REACHABLE },
        { index: 4, ip: parseIp("100.64.0.1"), mac: mac("02:00:00:00:00:02"), state: NUD_NOARP },
      ],
      skipLinks: ["meshwrt0", "wan"],
      advertised: [parsePrefix("192.168.1.50/32")],
    });
    expect(d).toEqual([
      { name: "printer", mac: "02:00:00:00:00:50", addresses: ["192.168.1.50", "fd00::50"], interface: "br-lan", reachable: true, subnet: "192.168.1.0/24", advertised: true, leaseExpires: "2025-11-22T12:40:00.000Z" },
      { mac: "02:00:00:00:00:60", addresses: ["192.168.1.60"], reachable: false, subnet: "192.168.1.0/24", advertised: false },
    ]);
  });
});

describe("set's edit of /etc/config/meshwrt", () => {
  const FILE = `# the router's tailnet
config meshwrt 'main'
	option enabled '0'
	# a note on the server
	option login_server 'https://hs.example'

config other 'x'
	option keep 'me'
`;

  it("changes one option and keeps the rest of the file", () => {
    const p = setOption(parseUci(FILE, "meshwrt", "meshwrt"), "enabled", ["1"]);
    const text = formatUci(setOption(p, "advertise_routes", ["192.168.1.50/32", "192.168.1.60/32"]));
    const back = parseUci(text, "meshwrt", "meshwrt");
    expect(back.sections[0]!.options.get("enabled")).toBe("1");
    expect(back.sections[0]!.options.get("advertise_routes")).toEqual(["192.168.1.50/32", "192.168.1.60/32"]);
    expect(back.sections[1]!.options.get("keep")).toBe("me");
    expect(setOption(back, "login_server", []).sections[0]!.options.has("login_server")).toBe(false);
  });

  it("creates the main section when there is none, and refuses bad values naming section and option", () => {
    expect(setOption({ name: "meshwrt", sections: [] }, "hostname", ["gw"]).sections[0]).toMatchObject({ type: "meshwrt", name: "main" });
    const p = parseUci(FILE, "meshwrt", "meshwrt");
    expect(() => setOption(p, "listen_port", ["0x10"])).toThrow(/^meshwrt\.main\.listen_port: "0x10" /);
    expect(() => setOption(p, "enabled", ["1", "0"])).toThrow("meshwrt.main.enabled: takes one value, got 2");
  });
});
