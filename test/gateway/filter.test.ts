// The packet filter of the control server as nftables statements, and
// meshwrt's table as a whole, loaded into a real nftables (a namespace of
// this machine) so that what the agent writes is what nft accepts.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FilterRule } from "../../agent/src/control/tailcfg.js";
import { filterStatements } from "../../agent/src/gateway/filter.js";
import { lanSubnets } from "../../agent/src/gateway/lan.js";
import { removeScript, rulesetScript } from "../../agent/src/gateway/ruleset.js";
import { formatPrefix, parsePrefix } from "../../agent/src/netaddr/ip.js";

const compile = (rules: FilterRule[]) => {
  const log: string[] = [];
  return { out: filterStatements(rules, (m) => log.push(m)), log };
};

describe("filterStatements", () => {
  it("a user's grant to one host and port: TCP and UDP with the port, ICMP without", () => {
    const { out, log } = compile([{ SrcIPs: ["100.64.0.1", "fd7a:115c:a1e0::1"], DstPorts: [{ IP: "192.168.1.60", Ports: { First: 554, Last: 554 } }] }]);
    expect(log).toEqual([]);
    expect(out).toEqual(["ip saddr { 100.64.0.1 } ip daddr { 192.168.1.60 } meta l4proto { 6, 17 } th dport 554 accept", "ip saddr { 100.64.0.1 } ip daddr { 192.168.1.60 } meta l4proto { 1, 58 } accept"]);
  });
  it("*:* (Headscale's allow-all) is every protocol of each family, named by family", () => {
    const { out } = compile([{ SrcIPs: ["*"], DstPorts: [{ IP: "*", Ports: { First: 0, Last: 65535 } }] }]);
    expect(out).toEqual([
      "meta nfproto ipv4 meta l4proto { 6, 17 } accept",
      "meta nfproto ipv4 meta l4proto { 1, 58 } accept",
      "meta nfproto ipv6 meta l4proto { 6, 17 } accept",
      "meta nfproto ipv6 meta l4proto { 1, 58 } accept",
    ]);
  });
  it("prefixes, ranges, the legacy Bits field, explicit protocols and port ranges", () => {
    const { out } = compile([
      { SrcIPs: ["100.64.0.0/10", "100.64.0.1-100.64.0.9"], DstPorts: [{ IP: "192.168.1.0", Bits: 24, Ports: { First: 8000, Last: 8080 } }], IPProto: [6] },
      { SrcIPs: ["fd7a:115c:a1e0::/48"], DstPorts: [{ IP: "fd00:1::/64", Ports: { First: 0, Last: 65535 } }], IPProto: [58] },
    ]);
    expect(out).toEqual([
      "ip saddr { 100.64.0.0/10, 100.64.0.1-100.64.0.9 } ip daddr { 192.168.1.0/24 } meta l4proto { 6 } th dport 8000-8080 accept",
      "ip6 saddr { fd7a:115c:a1e0::/48 } ip6 daddr { fd00:1::/64 } meta l4proto { 58 } accept",
    ]);
  });
  it("a source family with no destination of that family makes no statement", () => {
    expect(compile([{ SrcIPs: ["fd7a:115c:a1e0::1"], DstPorts: [{ IP: "192.168.1.50", Ports: { First: 631, Last: 631 } }] }]).out).toEqual([]);
  });
  it("garbage from the server is left out with the rule, field and reason; the rest stays", () => {
    const { out, log } = compile([
      {
        SrcIPs: ["100.64.0.1", "1.2.3.4; flush ruleset", "cap:ssh"],
        DstPorts: [
          { IP: "192.168.1.50", Ports: { First: 631, Last: 631 } },
          { IP: "not-an-ip", Ports: { First: 1, Last: 2 } },
          { IP: "192.168.1.60", Ports: { First: 9, Last: 1 } },
        ],
        IPProto: [6],
      },
    ]);
    expect(out).toEqual(["ip saddr { 100.64.0.1 } ip daddr { 192.168.1.50 } meta l4proto { 6 } th dport 631 accept"]);
    expect(log).toHaveLength(3);
    expect(log[0]).toMatch(/^packet filter rule 0 source: "1\.2\.3\.4; flush ruleset": /);
    expect(log[1]).toMatch(/^packet filter rule 0 destination 1: "not-an-ip": /);
    expect(log[2]).toBe("packet filter rule 0 destination 2: ports 9-1 are not a port range; left out");
  });
});

describe("lanSubnets", () => {
  it("the subnets on the LAN devices, without link-local or host addresses", () => {
    const a = (device: string, p: string) => ({ device, prefix: parsePrefix(p) });
    const got = lanSubnets(
      [a("br-lan", "192.168.1.1/24"), a("br-lan", "fe80::1/64"), a("br-lan", "fd12:3456::1/64"), a("br-lan", "fd12:3456::99/128"), a("wan", "198.18.0.2/24"), a("br-lan", "192.168.1.2/24"), a("guest", "10.0.0.1/16")],
      ["br-lan", "guest"],
    );
    expect(got.map(formatPrefix)).toEqual(["192.168.1.0/24", "fd12:3456::/64", "10.0.0.0/16"]);
  });
});

describe("meshwrt's table in a real nftables", () => {
  const ns = `mw-gw-${process.pid}-${randomBytes(2).toString("hex")}`;
  const nft = (script: string) => spawnSync("ip", ["netns", "exec", ns, "nft", "-f", "-"], { input: script, encoding: "utf8" });
  const list = () => execFileSync("ip", ["netns", "exec", ns, "nft", "list", "ruleset"], { encoding: "utf8" });
  beforeAll(() => execFileSync("ip", ["netns", "add", ns]));
  afterAll(() => spawnSync("ip", ["netns", "del", ns]));
  const acl = compile([
    { SrcIPs: ["100.64.0.1"], DstPorts: [{ IP: "*", Ports: { First: 0, Last: 65535 } }] },
    { SrcIPs: ["100.64.0.2"], DstPorts: [{ IP: "192.168.1.60", Ports: { First: 554, Last: 554 } }] },
  ]).out;
  const routes = [parsePrefix("192.168.1.0/24"), parsePrefix("fd12:3456::/64")];

  it("loads, and loads again in place (one transaction: the old table goes as the new comes)", () => {
    for (const exitNode of [false, true]) {
      const r = nft(rulesetScript({ iface: "meshwrt0", routes, exitNode, snat: true, filter: acl }));
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
    }
    const text = list();
    expect(text.match(/table inet meshwrt /g)).toHaveLength(1);
    expect(text).toContain('ip saddr 100.64.0.2 ip daddr 192.168.1.60 meta l4proto { tcp, udp } th dport 554 accept');
    expect(text).toContain('iifname "meshwrt0" oifname != "meshwrt0" masquerade');
  });
  it("without an exit node, forwarding from the tailnet goes only to the shared subnets", () => {
    expect(nft(rulesetScript({ iface: "meshwrt0", routes, exitNode: false, snat: false, filter: acl })).status).toBe(0);
    const text = list();
    expect(text).toContain('iifname "meshwrt0" ip daddr != 192.168.1.0/24 drop');
    expect(text).toContain('iifname "meshwrt0" ip6 daddr != fd12:3456::/64 drop');
    expect(text).not.toContain("masquerade");
    // No NAT to do, no NAT hook: its mere presence makes the kernel NAT-check every new flow.
    expect(text).not.toContain("hook postrouting");
  });
  it("a table that nft refuses leaves the one in force untouched", () => {
    const before = list();
    const bad = rulesetScript({ iface: "meshwrt0", routes, exitNode: false, snat: true, filter: [...acl, "ip saddr { 300.1.1.1 } accept"] });
    expect(nft(bad).status).not.toBe(0);
    expect(list()).toBe(before);
  });
  it("is removed whole, and removing it again is harmless", () => {
    expect(nft(removeScript()).status).toBe(0);
    expect(list()).not.toContain("meshwrt");
    expect(nft(removeScript()).status).toBe(0);
  });
  it("refuses an interface name that nft could misread", () => {
    expect(() => rulesetScript({ iface: 'wg"; flush', routes, exitNode: false, snat: true, filter: [] })).toThrow(/interface name/);
  });
  it("the peer API's port is open from the tailnet ahead of the ACL (the peer API checks access itself) and closed to every other interface; a bad port is refused", () => {
    const r = nft(rulesetScript({ iface: "meshwrt0", routes, exitNode: true, snat: false, filter: acl, peerApiPorts: [41641, 41641] }));
    expect(r.stderr).toBe("");
    const input = /chain input \{[^}]*\}/.exec(list())?.[0] ?? "";
    expect(input.indexOf('iifname "meshwrt0" tcp dport 41641 accept')).toBeGreaterThan(0);
    expect(input.indexOf('iifname "meshwrt0" tcp dport 41641 accept')).toBeLessThan(input.indexOf("jump from_tailnet"));
    // From anywhere but the tunnel (and the router itself) the port answers nothing.
    expect(input.indexOf('iifname != "lo" tcp dport 41641 drop')).toBeGreaterThan(input.indexOf('iifname "meshwrt0" tcp dport 41641 accept'));
    expect(() => rulesetScript({ iface: "meshwrt0", routes, exitNode: true, snat: false, filter: [], peerApiPorts: [0] })).toThrow(/peer API port 0 is not a port/);
  });
});
