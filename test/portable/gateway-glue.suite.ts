// The gateway as the running agent keeps it (agent/gateway-glue.ts): the
// shared subnets found on the LAN devices, meshwrt's table made of the
// netmap's ACL and the settings, the names, and the fail-closed hook when a
// lost table is refused again. nft, dnsmasq and the kernel are a double that
// records what was asked; the real nftables runs in test/gateway and
// test/openwrt/fw4.test.ts.
import { GatewayGlue, type GatewaySettings } from "../../agent/src/agent/gateway-glue.js";
import { emptyNetMap, type NetMap } from "../../agent/src/control/netmap.js";
import type { FilterRule, Node } from "../../agent/src/control/tailcfg.js";
import type { NetlinkSocket } from "../../agent/src/host/host.js";
import { parsePrefix } from "../../agent/src/netaddr/ip.js";
import { type Address, ARPHRD_NONE, type Link } from "../../agent/src/netlink/route.js";
import { untrackedVerdict, wireGuardUntrackedVerdict } from "../../agent/src/gateway/untracked.js";
import { parseUci } from "../../agent/src/openwrt/uci.js";
import { utf8Decode, utf8Encode } from "../../agent/src/util/utf8.js";
import { eq, suite } from "./check.js";

async function turn(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

const SETTINGS: GatewaySettings = {
  advertiseRoutes: [],
  lanDevices: ["br-lan", "lan2"],
  advertiseExitNode: false,
  snatSubnetRoutes: true,
  flowOffloading: false,
  acceptDns: true,
  dnsHostsFile: "/tmp/hosts/meshwrt",
  listenPort: 41641,
};

/** A double of nft, dnsmasq's directory and the kernel's links and addresses; `refuse` makes nft fail. */
function gatewayDouble(settings: Partial<GatewaySettings> = {}, tunnelType = ARPHRD_NONE) {
  const links: Link[] = [
    { index: 1, name: "lo", type: 772, up: true, mtu: 65536 },
    { index: 2, name: "br-lan", type: 1, up: true, mtu: 1500 },
    { index: 3, name: "wan", type: 1, up: true, mtu: 1500 },
  ];
  const addresses: Address[] = [
    { index: 1, prefix: parsePrefix("127.0.0.1/8") },
    { index: 2, prefix: parsePrefix("192.168.1.1/24") },
    { index: 2, prefix: parsePrefix("fe80::1/64") },
    { index: 3, prefix: parsePrefix("203.0.113.5/24") },
  ];
  const t = {
    links,
    addresses,
    scripts: [] as string[],
    runs: [] as string[],
    files: new Map<string, string>(),
    logs: [] as string[],
    notes: [] as string[],
    unloaded: 0,
    refuse: false,
    /** Whether `nft --check` takes a tproxy rule (the kernel has nft_tproxy). */
    tproxy: true,
    /** /etc/config/firewall's text; undefined: no such file. */
    firewall: undefined as string | undefined,
  };
  const glue = new GatewayGlue(
    {
      run: async (argv, input) => {
        t.runs.push(argv.join(" "));
        if (argv[0] !== "nft") return { code: 0, stderr: "" };
        if (argv.includes("--check")) return t.tproxy ? { code: 0, stderr: "" } : { code: 1, stderr: "/dev/stdin:4:28-47: Error: Could not process rule: No such file or directory" };
        if (t.refuse) return { code: 1, stderr: "Error: Could not process rule: Operation not permitted" };
        t.scripts.push(utf8Decode(input!));
        return { code: 0, stderr: "" };
      },
      writeFile: async (path, data) => void t.files.set(path, utf8Decode(data)),
      removeFile: (path) => t.files.delete(path),
      exists: (path) => path === "/tmp/hosts" || t.files.has(path),
      log: (_l, m) => t.logs.push(m),
      links: async () => t.links,
      addresses: async () => t.addresses,
      noteOnce: (m) => t.notes.push(m),
      unloaded: () => t.unloaded++,
      readFile: (path) => (path === "/etc/config/firewall" && t.firewall !== undefined ? utf8Encode(t.firewall) : null),
    },
    { ...SETTINGS, ...settings },
    { name: "meshwrt0", type: tunnelType },
  );
  return { t, glue };
}

const node = (ID: number, Name: string, Addresses: string[]) => ({ ID, Name, Addresses }) as unknown as Node;
const rule = (src: string, dst: string): FilterRule => ({ SrcIPs: [src], DstPorts: [{ IP: dst, Ports: { First: 22, Last: 22 } }] });
const wanted = (nm: Partial<NetMap>, peerApiPorts: number[] = []) => ({ netmap: { ...emptyNetMap(), ...nm }, peerApiPorts });

suite("gateway glue", (check) => {
  check("shares the LAN devices' subnets (not link-local, not the WAN's), said in the log only when they change", async () => {
    const { t, glue } = gatewayDouble();
    await glue.findSharedRoutes();
    eq(glue.sharedRoutes.map((p) => `${p.ip.join(".")}/${p.bits}`).join(" "), "192.168.1.0/24", "shared");
    await glue.findSharedRoutes();
    eq(t.logs.join(" | "), "sharing 192.168.1.0/24 (the subnets of br-lan, lan2)", "said once");
    t.addresses.push({ index: 2, prefix: parsePrefix("10.1.0.1/16") });
    await glue.findSharedRoutes();
    eq(t.logs[1], "sharing 192.168.1.0/24, 10.1.0.0/16 (the subnets of br-lan, lan2)", "said again when changed");
  });

  check("configured routes win over the LAN's, and the exit node is said", async () => {
    const { t, glue } = gatewayDouble({ advertiseRoutes: [parsePrefix("10.9.0.0/24")], advertiseExitNode: true });
    await glue.findSharedRoutes();
    eq(t.logs.join(" | "), "sharing 10.9.0.0/24, and the internet as an exit node", "log");
  });

  check("the table: the netmap's ACL in key order, forwarding only to the shared subnets, the peer API's ports", async () => {
    const { t, glue } = gatewayDouble();
    eq(glue.loaded, false, "loaded before");
    await glue.findSharedRoutes();
    // Inserted out of key order: "a" must still come first.
    await glue.setRules(wanted({ filters: new Map([["b", [rule("100.64.0.2", "192.168.1.20")]], ["a", [rule("100.64.0.1", "192.168.1.10")]]]) }, [41641]));
    eq(glue.loaded, true, "loaded");
    eq(t.scripts.length, 1, "one nft run");
    const s = t.scripts[0]!;
    const a = s.indexOf("ip saddr { 100.64.0.1 } ip daddr { 192.168.1.10 }"), b = s.indexOf("ip saddr { 100.64.0.2 } ip daddr { 192.168.1.20 }");
    eq(a >= 0 && b > a, true, `ACL in key order in:\n${s}`);
    eq(s.includes('iifname "meshwrt0" goto forward_from_tailnet') && s.includes("ip daddr != { 192.168.1.0/24 } drop"), true, "forwarding to the shared subnet only");
    eq(s.includes('iifname "meshwrt0" goto input_from_tailnet') && s.includes("tcp dport { 41641 } accept"), true, "peer API port open");
    eq(s.includes("flowtable"), false, "no flowtable when offloading is off");
    await glue.setRules(wanted({ filters: new Map([["a", [rule("100.64.0.1", "192.168.1.10")]], ["b", [rule("100.64.0.2", "192.168.1.20")]]]) }, [41641]));
    eq(t.scripts.length, 1, "the same rules are not loaded again");
  });

  check("the direct paths' port share goes into the table; refused, it is taken back out and the refusal said to the direct paths; ended, the next rules leave it out", async () => {
    const { t, glue } = gatewayDouble();
    eq(await glue.sharePort({ wgPort: 41641, agentPort: 40000 }), "meshwrt's table is not loaded yet", "before the first rules");
    await glue.setRules(wanted({}));
    eq(await glue.sharePort({ wgPort: 41641, agentPort: 40000 }), undefined, "shared");
    const shared = t.scripts[1] ?? "";
    eq(shared.includes("goto disco_to_agent") && shared.includes("udp sport 40000 udp sport set 41641"), true, `port share in:\n${shared}`);
    t.refuse = true;
    const why = await glue.sharePort({ wgPort: 41641, agentPort: 40001 });
    eq(why?.startsWith("firewall: nftables refused meshwrt's rules (Error: Could not process rule"), true, `refusal: ${why}`);
    eq(glue.failure, undefined, "the rules in force are what is wanted again: no failure");
    t.refuse = false;
    await glue.setRules(wanted({ filters: new Map([["a", [rule("100.64.0.1", "192.168.1.10")]]]) }));
    eq(t.scripts[2]?.includes("udp sport 40001"), false, "the refused share stays out");
    eq(await glue.sharePort(undefined), undefined, "ended");
    eq(t.scripts.length, 3, "ending it runs no nft");
    await glue.setRules(wanted({}));
    eq(t.scripts[3]?.includes("disco_to_agent"), false, "the next rules leave it out");
  });

  check("tproxy for the port share where nft takes it (asked once, with --check), else the rewrite after conntrack; said in the log", async () => {
    for (const has of [true, false]) {
      const { t, glue } = gatewayDouble();
      t.tproxy = has;
      await glue.setRules(wanted({}));
      eq(await glue.sharePort({ wgPort: 41641, agentPort: 40000, tproxy: true }), undefined, "shared");
      eq(await glue.sharePort({ wgPort: 41641, agentPort: 40002, tproxy: true }), undefined, "shared again");
      eq(t.runs.filter((r) => r.includes("--check")).length, 1, "asked once");
      const shared = t.scripts.at(-1) ?? "";
      eq(shared.includes("meta l4proto udp tproxy to :40002"), has, `tproxy in:\n${shared}`);
      eq(shared.includes("udp dport set 40002"), !has, `rewrite in:\n${shared}`);
      eq(t.logs.filter((l) => l.includes("reach the agent")).join(" | "), has ? "firewall: disco and STUN reach the agent by tproxy, before conntrack" : "firewall: disco and STUN reach the agent with their port rewritten after conntrack (no tproxy: /dev/stdin:4:28-47: Error: Could not process rule: No such file or directory)", "said once");
    }
  });

  check("the tunnel's packets are picked out by the interface's type, then its name, where it has no link layer (WireGuard, TUN); by the name alone where it has one", async () => {
    const picked = async (type: number) => {
      const { t, glue } = gatewayDouble({}, type);
      await glue.setRules(wanted({ self: node(1, "router.tailnet.test.", ["100.64.0.2/32"]), filters: new Map([["a", [rule("100.64.0.1", "100.64.0.2")]]]) }));
      return t.scripts[0]!.split("\n").filter((l) => /[io]ifname "meshwrt0" (goto|jump)/.test(l)).map((l) => l.trim());
    };
    eq((await picked(ARPHRD_NONE)).join(" | "),
      'meta iiftype 65534 iifname "meshwrt0" goto from_tailnet | meta iiftype 65534 iifname "meshwrt0" goto forward_from_tailnet | meta oiftype 65534 oifname "meshwrt0" goto to_tailnet_raw | meta iiftype 65534 iifname "meshwrt0" goto from_tailnet_raw', "ARPHRD_NONE");
    eq((await picked(1)).join(" | "),
      'iifname "meshwrt0" goto from_tailnet | iifname "meshwrt0" goto forward_from_tailnet | oifname "meshwrt0" goto to_tailnet_raw | iifname "meshwrt0" goto from_tailnet_raw', "Ethernet");
  });

  check("flow offloading names only the LAN devices that exist now (nft refuses a flowtable naming a missing one)", async () => {
    const { t, glue } = gatewayDouble({ flowOffloading: true });
    await glue.setRules(wanted({}));
    eq(t.scripts[0]!.includes('devices = { "meshwrt0", "br-lan" };'), true, `flowtable devices in:\n${t.scripts[0]}`);
    t.links.push({ index: 4, name: "lan2", type: 1, up: true, mtu: 1500 });
    await glue.setRules(wanted({}));
    eq(t.scripts[1]?.includes('devices = { "meshwrt0", "br-lan", "lan2" };'), true, "a device that came is named");
  });

  check("a rule the server sent that nft could not take is left out and noted; the rest loads", async () => {
    const { t, glue } = gatewayDouble();
    await glue.setRules(wanted({ filters: new Map([["base", [rule("not an address", "192.168.1.10"), rule("100.64.0.1", "192.168.1.10")]]]) }));
    eq(t.notes.length, 1, "one note");
    eq(t.scripts[0]!.includes("ip saddr { 100.64.0.1 } ip daddr { 192.168.1.10 }"), true, "the good rule");
  });

  check("refused by nft: not loaded, and the failure says so in words", async () => {
    const { t, glue } = gatewayDouble();
    t.refuse = true;
    await glue.setRules(wanted({}));
    eq(glue.loaded, false, "loaded");
    eq(glue.failure, "firewall: nftables refused meshwrt's rules (Error: Could not process rule: Operation not permitted); no peer is installed until it loads: the tunnel carries nothing", "failure");
  });

  check("fails closed: a table lost (events lost) and refused on reload tells the Running to take its peers out", async () => {
    const { t, glue } = gatewayDouble();
    const sock: NetlinkSocket = { send: () => {}, close: () => {}, onMessage: () => {}, onError: () => {} };
    glue.watch(() => sock);
    await glue.setRules(wanted({}));
    eq(t.unloaded, 0, "loaded: nothing to say");
    t.refuse = true;
    sock.onError(new Error("ENOBUFS"));
    await turn();
    eq(t.unloaded, 1, "unloaded said");
    eq(glue.loaded, false, "loaded after");
    eq(/^firewall: nftables refused meshwrt's rules after nftables events were lost \(ENOBUFS\)/.test(glue.failure ?? ""), true, `failure: ${glue.failure}`);
  });

  check("the router's own ACL-allowed flows untracked where fw4 takes untracked packets: without fw4, or with the package's zone; tracked with a zone that rejects, and said when that changes", async () => {
    const { t, glue } = gatewayDouble();
    const nm = { self: node(1, "router.tailnet.test.", ["100.64.0.2/32"]), filters: new Map([["a", [rule("100.64.0.1", "100.64.0.2")]]]) };
    await glue.setRules(wanted(nm));
    const raw = (i: number) => (t.scripts[i] ?? "").split("chain stateless_answers {\n")[1]?.split("\n  }")[0]?.trim();
    eq(raw(0), "ip daddr { 100.64.0.1 } ip saddr { 100.64.0.2 } meta l4proto { 6, 17 } th sport 22 notrack accept\n    ip daddr { 100.64.0.1 } ip saddr { 100.64.0.2 } meta l4proto { 1, 58 } notrack accept", `answers in:\n${t.scripts[0]}`);
    eq(t.scripts[0]!.includes("ip daddr { 100.64.0.2/32 } meta l4proto { 6, 17 } th dport != 61000-65535 goto stateless_requests"), true, "requests to the router's address only");
    const zone = (input: string) => `config zone 'meshwrt'\n\toption name 'meshwrt'\n\tlist device 'meshwrt0'\n\toption input '${input}'\n\toption output 'ACCEPT'\n\toption forward 'ACCEPT'\n`;
    t.firewall = zone("REJECT");
    await glue.setRules(wanted(nm));
    eq(t.scripts[1]?.includes("stateless"), false, "a zone that rejects input: every flow tracked");
    t.firewall = zone("ACCEPT");
    await glue.setRules(wanted(nm));
    eq(raw(2) === raw(0), true, "the package's zone: untracked again");
    eq(t.logs.filter((l) => l.startsWith("firewall: the router's own")).join(" | "),
      "firewall: the router's own ACL-allowed flows skip conntrack: no fw4 configuration: meshwrt's table is the tunnel's only filter | " +
      "firewall: the router's own ACL-allowed flows stay tracked: fw4 zone meshwrt's input is REJECT, not ACCEPT | " +
      "firewall: the router's own ACL-allowed flows skip conntrack: fw4 zone meshwrt accepts input and output", "said as it changed");
    t.firewall = "config zone\n\toption name 'broken";
    await glue.setRules(wanted(nm));
    eq(t.scripts[3]?.includes("stateless"), false, "an unreadable configuration: tracked");
  });

  check("untrackedVerdict: a zone that no rule names, with input and output ACCEPT; anything else keeps flows tracked", () => {
    const fw = (text: string) => parseUci(text, "firewall", "firewall");
    const zone = "config zone 'tailnet'\n\toption name 'tailnet'\n\tlist device 'meshwrt0'\n\toption input 'ACCEPT'\n\toption output 'ACCEPT'\n";
    eq(untrackedVerdict(fw(zone), "meshwrt0").ok, true, "accepting zone");
    eq(untrackedVerdict(fw(zone), "wg9").why, "no fw4 zone lists wg9", "another device");
    eq(untrackedVerdict(fw(zone.replace("option output 'ACCEPT'\n", "")), "meshwrt0").why, "fw4 zone tailnet's output is the default policy, not ACCEPT", "no output policy");
    eq(untrackedVerdict(fw(`${zone}config rule 'ssh'\n\toption src 'tailnet'\n\toption dest_port '22'\n\toption target 'REJECT'\n`), "meshwrt0").why, "fw4 rule ssh names zone tailnet", "a rule for the zone");
    eq(untrackedVerdict(fw(`${zone}config rule 'ssh'\n\toption src 'tailnet'\n\toption enabled '0'\n`), "meshwrt0").ok, true, "a disabled rule");
    eq(untrackedVerdict(fw(`${zone}config rule\n\toption name 'Allow-ICMPv6-Forward'\n\toption src 'wan'\n\toption dest '*'\n`), "meshwrt0").ok, true, "a forwarding rule (firewall4's default Allow-ICMPv6-Forward)");
    eq(untrackedVerdict(fw(`${zone}config rule\n\toption name 'quiet'\n\toption dest 'tailnet'\n\toption target 'DROP'\n`), "meshwrt0").why, "fw4 rule quiet names zone tailnet", "an output rule");
    eq(untrackedVerdict(fw(`${zone}config redirect\n\toption src '*'\n`), "meshwrt0").ok, false, "a redirect from any zone");
    eq(untrackedVerdict(fw(`${zone}config rule\n\toption name 'Allow-meshwrt-WireGuard'\n\toption src '*'\n\toption proto 'udp'\n\toption dest_port '41641'\n\toption target 'ACCEPT'\n`), "meshwrt0").ok, true, "an ACCEPT rule from every zone (the package's)");
    eq(untrackedVerdict(fw(`${zone}config rule 'wg'\n\toption src '*'\n\toption proto 'udp'\n\toption target 'REJECT'\n`), "meshwrt0").why, "fw4 rule wg names zone tailnet", "a REJECT rule from every zone");
    eq(untrackedVerdict(fw(zone.replace("option input", "option masq '1'\n\toption input")), "meshwrt0").why, "fw4 zone tailnet masquerades", "fw4 masquerading into the tunnel");
    eq(untrackedVerdict({ unreadable: "bad quote" }, "meshwrt0").why, "fw4's configuration cannot be read (bad quote)", "unreadable");
  });

  check("the WireGuard data the router receives skips conntrack without fw4, or where a plain fw4 rule accepts the port from every zone; tracked when the rule goes, and said when that changes", async () => {
    const { t, glue } = gatewayDouble();
    const nm = { self: node(1, "router.tailnet.test.", ["100.64.0.2/32"]), filters: new Map([["a", [rule("100.64.0.1", "100.64.0.2")]]]) };
    const untracked = (i: number) => (t.scripts[i] ?? "").includes("th dport 41641 @th,64,32 0x04000000 notrack accept");
    await glue.setRules(wanted(nm));
    eq(untracked(0), true, `no fw4: untracked\n${t.scripts[0]}`);
    const defaults = "config defaults\n\toption input 'REJECT'\n\toption output 'ACCEPT'\nconfig zone 'wan'\n\toption name 'wan'\n\toption input 'REJECT'\n";
    const allow = "config rule 'meshwrt_wg'\n\toption name 'Allow-meshwrt-WireGuard'\n\toption src '*'\n\toption proto 'udp'\n\toption dest_port '41641'\n\toption target 'ACCEPT'\n";
    t.firewall = defaults + allow;
    await glue.setRules(wanted(nm));
    eq(untracked(1), true, "the package's rule");
    t.firewall = defaults;
    await glue.setRules(wanted(nm));
    eq(untracked(2), false, "no rule: tracked");
    eq(t.scripts[2]!.includes("chain raw_prerouting"), false, "no raw chain left for nothing (the router's own flows stay tracked too: no meshwrt zone)");
    eq(t.logs.filter((l) => l.startsWith("firewall: WireGuard data")).join(" | "),
      "firewall: WireGuard data messages to the router skip conntrack: no fw4 configuration: nothing else filters the router's input | " +
      "firewall: WireGuard data messages to the router skip conntrack: fw4 rule Allow-meshwrt-WireGuard accepts UDP port 41641 from every zone | " +
      "firewall: WireGuard data messages to the router stay tracked: no fw4 rule accepts UDP port 41641 from every zone (src '*'), and fw4's default input is REJECT", "said as it changed");
  });

  check("wireGuardUntrackedVerdict: a plain ACCEPT rule for the port from every zone, or from each zone that rejects when fw4's default input accepts", () => {
    const fw = (text: string) => parseUci(text, "firewall", "firewall");
    const rule = (extra: string) => `config rule\n\toption name 'wg'\n\toption src '*'\n\toption proto 'udp'\n\toption dest_port '41641'\n\toption target 'ACCEPT'\n${extra}`;
    const v = (text: string, port = 41641) => wireGuardUntrackedVerdict(fw(text), port);
    eq(v(rule("")).ok, true, "the package's rule");
    eq(v(rule(""), 51820).ok, false, "another port");
    eq(v(rule("").replace("'41641'", "'41000-42000'")).ok, true, "a port range");
    eq(v(rule("").replace("'udp'", "'tcp udp'")).ok, true, "tcp and udp");
    eq(v(rule("").replace("'udp'", "'tcp'")).ok, false, "tcp only");
    eq(v(rule("\toption family 'ipv4'\n")).ok, false, "IPv4 only: IPv6 data would be refused");
    eq(v(rule("\toption src_ip '198.51.100.0/24'\n")).ok, false, "from some addresses only");
    eq(v(rule("\toption enabled '0'\n")).ok, false, "disabled");
    eq(v(rule("").replace("'ACCEPT'", "'DROP'")).ok, false, "a DROP rule");
    const zones = "config zone\n\toption name 'lan'\n\toption input 'ACCEPT'\nconfig zone\n\toption name 'wan'\n\toption input 'REJECT'\n";
    const wan = rule("").replace("'*'", "'wan'");
    eq(v(`config defaults\n\toption input 'ACCEPT'\n${zones}${wan}`).ok, true, "from wan, the only zone that rejects, default input accepting");
    eq(v(`config defaults\n\toption input 'REJECT'\n${zones}${wan}`).why, "no fw4 rule accepts UDP port 41641 from every zone (src '*'), and fw4's default input is REJECT", "interfaces in no zone would refuse it");
    eq(v(`config defaults\n\toption input 'ACCEPT'\n${zones}config zone\n\toption name 'wwan'\n${wan}`).ok, true, "a zone without its own input policy takes the default's (ACCEPT)");
    eq(v(`config defaults\n\toption input 'ACCEPT'\n${zones}config zone\n\toption name 'wwan'\n\toption input 'DROP'\n${wan}`).why, "no fw4 rule accepts UDP port 41641 from zone wwan", "a second WAN zone");
    eq(wireGuardUntrackedVerdict("absent", 41641).ok, true, "no fw4");
    eq(wireGuardUntrackedVerdict({ unreadable: "bad quote" }, 41641).ok, false, "unreadable");
  });

  check("names: none before the netmap has our node; then the hosts file and dnsmasq told; none with accept_dns off", async () => {
    const { t, glue } = gatewayDouble();
    await glue.setNames(emptyNetMap());
    eq(t.files.size, 0, "no file before self");
    await glue.setNames({ ...emptyNetMap(), self: node(1, "router.tailnet.test.", ["100.64.0.1/32"]) });
    eq(t.files.get("/tmp/hosts/meshwrt")?.split("\n")[1], "100.64.0.1 router.tailnet.test", "hosts file");
    eq(t.runs.includes("killall -HUP dnsmasq"), true, "dnsmasq told");
    await glue.stop();
    eq(t.files.size, 0, "removed at stop");
    const off = gatewayDouble({ acceptDns: false });
    await off.glue.setNames({ ...emptyNetMap(), self: node(1, "router.tailnet.test.", ["100.64.0.1/32"]) });
    eq(off.t.files.size, 0, "accept_dns off: no file");
  });
});
