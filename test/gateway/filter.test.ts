// The packet filter of the control server as nftables statements, and
// meshwrt's table as a whole, loaded into a real nftables (a namespace of
// this machine) so that what the agent writes is what nft accepts.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FilterRule } from "../../agent/src/control/tailcfg.js";
import { allowAllPorted, filterStatements } from "../../agent/src/gateway/filter.js";
import { lanSubnets } from "../../agent/src/gateway/lan.js";
import { NAT_PORTS, removeScript, rulesetScript } from "../../agent/src/gateway/ruleset.js";
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
    // The statement the raw chains know the grant of every TCP and UDP port by, either side.
    const answers = filterStatements([{ SrcIPs: ["*"], DstPorts: [{ IP: "*", Ports: { First: 0, Last: 65535 } }] }], () => {}, "answer");
    for (const family of ["ip", "ip6"] as const) {
      expect(out).toContain(allowAllPorted(family));
      expect(answers).toContain(allowAllPorted(family));
    }
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
    const fromTailnet = /chain forward_from_tailnet \{[^}]*\}/.exec(text)?.[0] ?? "";
    expect(text).toContain('iifname "meshwrt0" goto forward_from_tailnet');
    expect(fromTailnet).toContain("ip daddr != 192.168.1.0/24 drop");
    expect(fromTailnet).toContain("ip6 daddr != fd12:3456::/64 drop");
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
  it("refuses a peer API port that is not one", () => {
    expect(() => rulesetScript({ iface: "meshwrt0", routes, exitNode: true, snat: false, filter: [], peerApiPorts: [0] })).toThrow(/peer API port 0 is not a port/);
  });
});

describe("the router's own ACL-allowed flows untracked, in a real kernel", () => {
  // Two namespaces over a veth: the router's end is named as the tunnel, the peer's is a tailnet node.
  const tag = randomBytes(2).toString("hex");
  const [router, peer] = [`mw-sl-${tag}`, `mw-sp-${tag}`];
  const sh = (n: string, cmd: string) => execFileSync("ip", ["netns", "exec", n, "sh", "-c", cmd], { encoding: "utf8" });
  const tcp = (n: string, ip: string, port: number) => spawnSync("ip", ["netns", "exec", n, "timeout", "3", "bash", "-c", `exec 3<>/dev/tcp/${ip}/${port} && head -n 1 <&3`], { encoding: "utf8" }).stdout.trim();
  /** The router's conntrack entries for the peer, one line each. */
  const flows = () => sh(router, "cat /proc/net/nf_conntrack").split("\n").filter((l) => l.includes("100.64.0.1"));
  const serve = (n: string, ip: string, port: number) => spawn("ip", ["netns", "exec", n, process.execPath, "-e", `require("net").createServer((s)=>s.end("hello from ${ip}:${port}\\n")).listen(${port},"${ip}")`], { stdio: "ignore" });
  // The peer may reach the router's TCP 7000 and ping it; nothing else.
  const rules: FilterRule[] = [{ SrcIPs: ["100.64.0.1"], DstPorts: [{ IP: "100.64.0.2", Ports: { First: 7000, Last: 7000 } }], IPProto: [6, 1] }];
  const servers: ReturnType<typeof spawn>[] = [];
  /** `f` until it answers (a server just spawned may not listen yet), at most 3 s. */
  const waitForLine = (f: () => string) => {
    for (let i = 0; i < 30; i++) {
      const got = f();
      if (got) return got;
      execFileSync("sleep", ["0.1"]);
    }
    return "";
  };

  beforeAll(async () => {
    execFileSync("ip", ["netns", "add", router]);
    execFileSync("ip", ["netns", "add", peer]);
    execFileSync("sh", ["-c", `ip link add mwtun${tag} netns ${router} type veth peer name mwp${tag} netns ${peer}`]);
    sh(router, `ip link set lo up; ip addr add 100.64.0.2/24 dev mwtun${tag}; ip link set mwtun${tag} up`);
    sh(peer, `ip link set lo up; ip addr add 100.64.0.1/24 dev mwp${tag}; ip link set mwp${tag} up`);
    const log = (m: string) => expect.fail(m);
    const script = rulesetScript({
      iface: `mwtun${tag}`, routes: [], exitNode: false, snat: false,
      filter: filterStatements(rules, log),
      stateless: { self: [parsePrefix("100.64.0.2/32")], answers: filterStatements(rules, log, "answer") },
    });
    const r = spawnSync("ip", ["netns", "exec", router, "nft", "-f", "-"], { input: script, encoding: "utf8" });
    expect(r.stderr).toBe("");
    servers.push(serve(router, "100.64.0.2", 7000), serve(router, "100.64.0.2", 7001), serve(peer, "100.64.0.1", 8000));
    await new Promise((r) => setTimeout(r, 500));
  });
  afterAll(() => {
    for (const s of servers) s.kill();
    spawnSync("ip", ["netns", "del", router]);
    spawnSync("ip", ["netns", "del", peer]);
  });

  it("the answer side of a rule: the addresses swapped and the ports on the source side", () => {
    expect(filterStatements(rules, () => {}, "answer")).toEqual([
      "ip daddr { 100.64.0.1 } ip saddr { 100.64.0.2 } meta l4proto { 6 } th sport 7000 accept",
      "ip daddr { 100.64.0.1 } ip saddr { 100.64.0.2 } meta l4proto { 1 } accept",
    ]);
  });

  it("what the ACL allows to the router, and the router's answers, pass with no conntrack entry; the ACL still holds", () => {
    expect(tcp(peer, "100.64.0.2", 7000)).toBe("hello from 100.64.0.2:7000");
    expect(sh(peer, "ping -c 2 -i 0.2 -W 1 100.64.0.2 >/dev/null && echo ok").trim()).toBe("ok");
    expect(flows()).toEqual([]);
    // Not allowed: the router's port 7001, untracked or not.
    expect(tcp(peer, "100.64.0.2", 7001)).toBe("");
  });

  it("no chain of meshwrt's is crossed by every packet to the router: flows are judged at their first packet, in a NAT chain, and the untracked ones in the raw chain", () => {
    const chains = sh(router, "nft list table inet meshwrt").match(/type \w+ hook input [^;]*/g);
    expect(chains).toEqual(["type nat hook input priority 100"]);
    // from_tailnet is the forward path's too, and the NAT chain never sees an untracked packet.
    expect(sh(router, "nft list chain inet meshwrt from_tailnet")).not.toContain("untracked");
    expect(sh(router, "nft list chain inet meshwrt from_tailnet")).toContain("drop");
  });

  it("a flow the router opens that the ACL does not allow back is tracked, and its answers come in as established; so is its ping (ICMP stays tracked but for echoes to the router)", () => {
    expect(tcp(router, "100.64.0.1", 8000)).toBe("hello from 100.64.0.1:8000");
    expect(sh(router, "ping -c 2 -i 0.2 -W 1 100.64.0.1 >/dev/null && echo ok").trim()).toBe("ok");
    const tracked = flows();
    expect(tracked.length).toBe(2);
    expect(tracked.some((l) => /^ipv4 +2 tcp .* dport=8000 /.test(l))).toBe(true);
    expect(tracked.some((l) => /^ipv4 +2 icmp .* type=8 /.test(l))).toBe(true);
  });

  it("the answers to masqueraded flows (NAT_PORTS) stay tracked, so conntrack can give them back", () => {
    const script = sh(router, "nft list chain inet meshwrt from_tailnet_raw");
    expect(script).toContain(`meta l4proto { tcp, udp } th dport != ${NAT_PORTS} goto stateless_requests`);
    // And it loads where /etc/protocols is missing (a minimal root, as the aarch64 VM's was): no protocol looked up by name.
    const stateless = { self: [parsePrefix("100.64.0.2/32"), parsePrefix("fd7a:115c:a1e0::2/128")], answers: filterStatements(rules, () => {}, "answer") };
    const all = rulesetScript({ iface: `mwtun${tag}`, routes: [parsePrefix("192.168.1.0/24")], exitNode: false, snat: true, filter: filterStatements(rules, () => {}), stateless, offload: [] });
    const bare = spawnSync("unshare", ["-m", "sh", "-c", `mount --bind /dev/null /etc/protocols && ip netns add ${router}-p && ip netns exec ${router}-p nft -c -f -; r=$?; ip netns del ${router}-p; exit $r`], { input: all, encoding: "utf8" });
    expect(bare.stderr).toBe("");
    expect(bare.status).toBe(0);
    // A request to the router's port inside that range, which the ACL would allow, is tracked.
    const inRange = Number(NAT_PORTS.split("-")[0]) + 7;
    const widened = rulesetScript({
      iface: `mwtun${tag}`, routes: [], exitNode: false, snat: false,
      filter: filterStatements([{ SrcIPs: ["100.64.0.1"], DstPorts: [{ IP: "100.64.0.2", Ports: { First: 0, Last: 65535 } }], IPProto: [6] }], () => {}),
      stateless: { self: [parsePrefix("100.64.0.2/32")], answers: filterStatements([{ SrcIPs: ["100.64.0.1"], DstPorts: [{ IP: "100.64.0.2", Ports: { First: 0, Last: 65535 } }], IPProto: [6] }], () => {}, "answer") },
    });
    expect(spawnSync("ip", ["netns", "exec", router, "nft", "-f", "-"], { input: widened, encoding: "utf8" }).stderr).toBe("");
    servers.push(serve(router, "100.64.0.2", inRange));
    const before = flows().length;
    expect(waitForLine(() => tcp(peer, "100.64.0.2", inRange))).toBe(`hello from 100.64.0.2:${inRange}`);
    expect(flows().filter((l) => l.includes(`dport=${inRange} `))).toHaveLength(1);
    expect(flows().length).toBe(before + 1);
  });

  it("under the default policy, allow all, the raw chains leave the router's own TCP and UDP untracked at once, and still track the masqueraded flows' ports", () => {
    const all = [{ SrcIPs: ["*"], DstPorts: [{ IP: "*", Ports: { First: 0, Last: 65535 } }] }];
    const script = rulesetScript({
      iface: `mwtun${tag}`, routes: [], exitNode: false, snat: false,
      filter: filterStatements(all, () => {}),
      stateless: { self: [parsePrefix("100.64.0.2/32")], answers: filterStatements(all, () => {}, "answer") },
    });
    expect(spawnSync("ip", ["netns", "exec", router, "nft", "-f", "-"], { input: script, encoding: "utf8" }).stderr).toBe("");
    expect(sh(router, "nft list chain inet meshwrt from_tailnet_raw")).toContain(`th dport != ${NAT_PORTS} notrack accept`);
    const before = flows().length;
    // 7001, which the rule of the tests above left out, and the router's own flow out.
    expect(waitForLine(() => tcp(peer, "100.64.0.2", 7001))).toBe("hello from 100.64.0.2:7001");
    expect(tcp(router, "100.64.0.1", 8000)).toBe("hello from 100.64.0.1:8000");
    expect(flows().length).toBe(before);
    const inRange = Number(NAT_PORTS.split("-")[0]) + 7;
    expect(tcp(peer, "100.64.0.2", inRange)).toBe(`hello from 100.64.0.2:${inRange}`);
    expect(flows().length).toBe(before + 1);
  });

  it("the peer API's port is open from the tailnet ahead of the ACL (the peer API checks access itself), to the router itself, and closed to every other interface", async () => {
    // A LAN host that routes to the router's tailnet address, as a neighbour may.
    const lan = `mw-sn-${tag}`;
    execFileSync("ip", ["netns", "add", lan]);
    try {
      execFileSync("sh", ["-c", `ip link add mwlan${tag} netns ${router} type veth peer name mwln${tag} netns ${lan}`]);
      sh(router, `ip addr add 192.168.77.1/24 dev mwlan${tag}; ip link set mwlan${tag} up`);
      sh(lan, `ip link set lo up; ip addr add 192.168.77.2/24 dev mwln${tag}; ip link set mwln${tag} up; ip route add 100.64.0.0/24 via 192.168.77.1`);
      const log = (m: string) => expect.fail(m);
      const script = (peerApiPorts: number[]) => rulesetScript({
        iface: `mwtun${tag}`, routes: [], exitNode: false, snat: false, filter: filterStatements(rules, log), peerApiPorts,
        stateless: { self: [parsePrefix("100.64.0.2/32")], answers: filterStatements(rules, log, "answer") },
      });
      const load = (text: string) => spawnSync("ip", ["netns", "exec", router, "nft", "-f", "-"], { input: text, encoding: "utf8" }).stderr;
      expect(load(script([7002]))).toBe("");
      servers.push(serve(router, "100.64.0.2", 7002));
      // The ACL grants the peer port 7000 only.
      expect(waitForLine(() => tcp(peer, "100.64.0.2", 7002))).toBe("hello from 100.64.0.2:7002");
      expect(tcp(router, "100.64.0.2", 7002)).toBe("hello from 100.64.0.2:7002");
      expect(tcp(lan, "100.64.0.2", 7002)).toBe("");
      // What makes the difference: without the port the LAN host gets in, and the peer does not.
      expect(load(script([]))).toBe("");
      expect(tcp(lan, "100.64.0.2", 7002)).toBe("hello from 100.64.0.2:7002");
      expect(tcp(peer, "100.64.0.2", 7002)).toBe("");
    } finally {
      spawnSync("ip", ["netns", "del", lan]);
    }
  });
});
