// meshwrt behind OpenWrt's real firewall: firewall4's own default
// /etc/config/firewall, the package's uci-defaults (meshwrt.firewall) run on it
// by real uci, and fw4 (ucode, built by test/openwrt/build.sh) applying it on
// this kernel's nftables in the router's network namespace
// (test/openwrt/luci-lab.ts: ubusd, procd, meshwrt started by its init script).
// The tailnet: Headscale with an ACL, derper, a stock tailscaled phone in a
// cafe; meshwrt on wireguard-go (this kernel has no WireGuard).
//
// There is no netifd here, so fw4 cannot resolve `network 'lan'` to a device
// (it asks netifd over ubus: network.interface dump). The zones get the
// devices netifd would report instead (`list device`), which fw4 treats alike.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Proc, waitFor } from "../net/exec.js";
import { type Host, type Topology, topology } from "../net/topology.js";
import { type Headscale, type Tailscaled, startDerper, startHeadscale, startTailscaled } from "../peers/index.js";
import { withinBudget } from "../support/budget.js";
import { type LuciLab, startLuciLab } from "./luci-lab.js";

const ROOT = join(import.meta.dirname, "..", "..");
const UCI_DEFAULTS = join(ROOT, "openwrt-package", "meshwrt", "files", "meshwrt.firewall");
const TICKER = fileURLToPath(new URL("../net/tcp-ticker.mjs", import.meta.url));
// alice (the phone and the router) may reach the printer's port, the pc's port 7000 and her own devices; not the camera.
const POLICY = JSON.stringify({ acls: [{ action: "accept", src: ["alice@"], dst: ["192.168.1.50:631", "192.168.1.10:7000", "alice@:*"] }] });

let t: Topology;
let hs: Headscale;
let phone: Tailscaled;
let lab: LuciLab;
let routerIp = "";

async function banner(h: Host, ip: string, port: number, seconds: number): Promise<string> {
  const r = await h.exec(`timeout ${seconds} bash -c 'exec 3<>/dev/tcp/${ip}/${port} && head -n 1 <&3'`);
  return r.code === 0 ? r.stdout.trim() : "";
}

/** meshwrt's rule for WireGuard's data messages (type 4) to its port, as nft lists it. */
const UNTRACKED_DATA = /th dport 41641 @th,64,32 0x0*4000000 notrack accept/;
/** The data the router sends: untracked outright where fw4 accepts the port, else one sample a peer every 20 s. */
const UNTRACKED_DATA_OUT = /th sport 41641 @th,64,32 0x0*4000000 notrack accept/;

const printer = (seconds = 3) => banner(t.host("phone"), "192.168.1.50", 631, seconds);

beforeAll(async () => {
  execFileSync("make", ["--no-print-directory", "build/out/meshwrt"], { stdio: "inherit" });
  t = await topology({ hosts: ["control", "derp"], nats: [{ name: "router", hosts: ["pc"], printer: true, camera: true }, { name: "cafe", hosts: ["phone"] }] });
  // Conntrack counts each flow's packets (from its start: the WireGuard data test reads them).
  await t.host("router").run("modprobe nf_conntrack; sysctl -qw net.netfilter.nf_conntrack_acct=1");
  const derp = await startDerper(t.host("derp"), { dir: `${t.dir}/derper` });
  hs = await startHeadscale(t.host("control"), { dir: `${t.dir}/headscale`, derpMapYaml: derp.derpMapYaml(), policy: POLICY });
  const authKey = await hs.preAuthKey(await hs.createUser("alice"), { reusable: true });
  phone = await startTailscaled(t.host("phone"), { dir: `${t.dir}/phone`, tun: "tailscale0" });
  await phone.up({ loginServer: hs.url, authKey, hostname: "phone", timeoutSec: 90, flags: ["--accept-routes"] });
  const config = `config meshwrt 'main'\n\toption enabled '1'\n\toption login_server '${hs.url}'\n\toption auth_key '${authKey}'\n\toption hostname 'router'\n\tlist lan_device 'lan'\n\toption log_level 'debug'\n`;
  // No firewallConfig: firewall4's own /etc/config/firewall.
  lab = await startLuciLab({ netns: t.host("router").ns, meshwrtConfig: config, caFile: derp.certFile, users: {} });
  // As at install: the package's uci-defaults; then the devices netifd would give the zones.
  await lab.run(`sh ${UCI_DEFAULTS}`);
  await lab.run("uci add_list firewall.@zone[0].device=lan && uci add_list firewall.@zone[1].device=wan && uci commit firewall");
  await lab.run("/etc/init.d/firewall start");
  const node = await waitFor("the router advertising its LAN", async () => {
    const n = await hs.node("router").catch(() => undefined);
    return ((n?.available_routes as string[] | undefined) ?? []).includes("192.168.1.0/24") ? n : undefined;
  }, 60_000, 500);
  await hs.approveRoutes(node, ["192.168.1.0/24"]);
  const peer = await phone.waitForPeer("router", 60_000, (x) => ((x.PrimaryRoutes as string[] | null) ?? []).includes("192.168.1.0/24"));
  routerIp = peer.TailscaleIPs!.find((a) => a.startsWith("100."))!;
}, 300_000);

afterAll(async () => {
  if (lab) console.log((await lab.log()).split("\n").filter((l) => l.includes("meshwrt")).slice(-40).join("\n"));
  await lab?.stop();
  await t?.destroy();
}, 60_000);

describe("meshwrt with firewall4 (fw4) on nftables", () => {
  it("the package's uci-defaults on firewall4's default config, applied by fw4 reload: the meshwrt zone and its forwardings as fw4 writes them", async () => {
    expect(await lab.run("uci get firewall.meshwrt.device")).toBe("meshwrt0\n");
    const reloaded = Date.now();
    await lab.run("fw4 reload");
    console.log(`fw4 reload: ${Date.now() - reloaded} ms`);
    const rules = await lab.run("nft list table inet fw4");
    for (const line of [
      'iifname "meshwrt0" jump input_meshwrt comment "!fw4: Handle meshwrt IPv4/IPv6 input traffic"',
      'iifname "meshwrt0" jump forward_meshwrt comment "!fw4: Handle meshwrt IPv4/IPv6 forward traffic"',
      'oifname "meshwrt0" jump output_meshwrt comment "!fw4: Handle meshwrt IPv4/IPv6 output traffic"',
      'jump accept_to_lan comment "!fw4: Accept meshwrt to lan forwarding"',
      'jump accept_to_wan comment "!fw4: Accept meshwrt to wan forwarding"',
      'jump accept_to_meshwrt comment "!fw4: Accept lan to meshwrt forwarding"',
      'oifname "meshwrt0" tcp flags syn / fin,syn,rst tcp option maxseg size set rt mtu',
    ]) expect(rules, line).toContain(line);
    // fw4's defaults around it: input and forward rejected unless a zone accepts.
    expect(rules).toMatch(/chain forward \{\n\s+type filter hook forward priority filter; policy drop;/);
    // meshwrt's own table (the ACL) sits next to fw4's.
    expect(await lab.run("nft list tables")).toMatch(/^table inet meshwrt$/m);
  }, 60_000);

  it("the phone reaches the router and the printer as the ACL says, not the camera; without the meshwrt -> lan forwarding, fw4 stops the printer too", async () => {
    const ph = t.host("phone");
    await waitFor("the phone pinging the router", async () => ((await ph.exec(`ping -c 1 -W 1 ${routerIp}`)).code === 0 ? true : undefined), 60_000, 250);
    expect(await waitFor("the printer through the tunnel", async () => (await printer()) || undefined, 60_000, 250)).toBe("printer from 192.168.1.1");
    expect(await banner(ph, "192.168.1.60", 554, 4)).toBe("");
    // fw4's policy, not the agent's table, now decides: its forward chain rejects meshwrt -> lan.
    await lab.run("uci delete firewall.meshwrt_lan && uci commit firewall && fw4 reload");
    try {
      expect(await printer(4)).toBe("");
      expect((await ph.exec(`ping -c 1 -W 2 ${routerIp}`)).code).toBe(0); // input is still accepted
    } finally {
      await lab.run(`sh ${UCI_DEFAULTS} ; uci -q get firewall.meshwrt_lan || { uci set firewall.meshwrt_lan=forwarding && uci set firewall.meshwrt_lan.src=meshwrt && uci set firewall.meshwrt_lan.dest=lan && uci commit firewall; }; fw4 reload`);
    }
    expect(await waitFor("the printer again", async () => (await printer()) || undefined, 20_000, 250)).toBe("printer from 192.168.1.1");
  }, 180_000);

  it("the router's own flows with the phone, which the ACL allows both ways, skip conntrack under the package's zone, the printer's do not; a zone changed to reject input makes them tracked again at fw4 reload, and the router's own connection to the phone still gets its answers", async () => {
    const ph = t.host("phone");
    const phoneIp = (await phone.status()).Self.TailscaleIPs!.find((a) => a.startsWith("100."))!;
    // The router's conntrack entries between the phone's tailnet address and the router's, or the printer.
    const tracked = async (to: string) => (await lab.run("cat /proc/net/nf_conntrack")).split("\n").filter((l) => l.includes(`=${phoneIp} `) && l.includes(`=${to} `));
    // A service on the phone the router connects to: the ACL lets the phone reach the router on every port, so the answers need no state.
    const service = await ph.spawn(`exec node -e 'require("net").createServer((s) => s.end("phone\\n")).listen(7100)'`, `${t.dir}/phone-service.log`);
    try {
      const fromRouter = () => banner(t.host("router"), phoneIp, 7100, 4);
      await waitFor("the phone pinging the router", async () => ((await ph.exec(`ping -c 2 -i 0.3 -W 1 ${routerIp}`)).code === 0 ? true : undefined), 60_000, 250);
      expect(await waitFor("the router connecting to the phone", async () => (await fromRouter()) || undefined, 30_000, 250)).toBe("phone");
      expect(await waitFor("the printer", async () => (await printer()) || undefined, 30_000, 250)).toBe("printer from 192.168.1.1");
      expect(await tracked(routerIp), "the router's own flows with the phone").toEqual([]);
      expect((await tracked("192.168.1.50")).length, "the printer's flow (NAT needs conntrack)").toBeGreaterThan(0);
      expect(await lab.log()).toMatch(/firewall: the router's own ACL-allowed flows skip conntrack: fw4 zone meshwrt accepts input and output/);
      // A user's zone that rejects input from the tailnet: fw4 would drop the untracked answers to the router's own connection.
      await lab.run("uci set firewall.meshwrt.input=REJECT && uci commit firewall && fw4 reload");
      try {
        await waitFor("meshwrt's table without its untracked chains", async () => (!(await lab.run("nft list table inet meshwrt")).includes("stateless_answers") ? true : undefined), 10_000, 100);
        expect(await lab.log()).toMatch(/firewall: the router's own ACL-allowed flows stay tracked: fw4 zone meshwrt's input is REJECT, not ACCEPT/);
        expect(await fromRouter(), "the router connecting to the phone, its zone rejecting input").toBe("phone");
        expect((await tracked(routerIp)).length, "tracked now").toBeGreaterThan(0);
        expect((await ph.exec(`ping -c 1 -W 2 ${routerIp}`)).code, "the phone's new ping, which the zone rejects").not.toBe(0);
      } finally {
        await lab.run("uci set firewall.meshwrt.input=ACCEPT && uci commit firewall && fw4 reload");
      }
      await waitFor("the untracked chains again", async () => ((await lab.run("nft list table inet meshwrt")).includes("stateless_answers") ? true : undefined), 10_000, 100);
    } finally {
      await service.stop();
    }
  }, 180_000);

  it("the phone's WireGuard data on the direct path skips the router's conntrack under the package's Allow-meshwrt-WireGuard rule and arrives; with the rule deleted and fw4 reloaded it is tracked again, and still arrives", async () => {
    const ph = t.host("phone");
    // The direct path: WireGuard's UDP between the cafe and the router's port 41641.
    await waitFor("a direct path from the phone", async () => ((await phone.ping(routerIp, { count: 1, untilDirect: true }).catch(() => undefined))?.pongs.some((p) => !p.via.startsWith("DERP")) ? true : undefined), 60_000, 500);
    // The packets conntrack counted, both ways, on the router's flows of its WireGuard port (STUN's aside).
    const counted = async () => (await lab.run("cat /proc/net/nf_conntrack")).split("\n")
      .filter((l) => /^ipv4 .* udp /.test(l) && l.includes("=41641 ") && !l.includes("=3478 "))
      .reduce((n, l) => n + [...l.matchAll(/packets=(\d+)/g)].reduce((m, x) => m + Number(x[1]), 0), 0);
    const burst = async (what: string) => {
      const before = await counted();
      const r = await ph.exec(`ping -q -c 200 -i 0.02 -W 2 ${routerIp}`);
      expect(r.stdout, `${what}: the phone's 200 pings`).toMatch(/200 packets transmitted, 200 received/);
      return (await counted()) - before;
    };
    expect(await lab.run("nft list chain inet fw4 input")).toContain("udp dport 41641 counter packets");
    expect(await lab.run("nft list table inet meshwrt")).toMatch(UNTRACKED_DATA);
    expect(await lab.run("nft list table inet meshwrt")).toMatch(UNTRACKED_DATA_OUT);
    expect(await lab.log()).toMatch(/firewall: WireGuard data messages to the router skip conntrack: fw4 rule Allow-meshwrt-WireGuard accepts UDP port 41641 from every zone/);
    const untracked = await burst("untracked");
    // 200 data messages each way, none counted; what is counted is the handshakes and disco's pings.
    expect(untracked, "counted with the rule").toBeLessThan(60);
    await lab.run("uci delete firewall.meshwrt_wg && uci commit firewall && fw4 reload");
    try {
      await waitFor("meshwrt's table tracking WireGuard's data", async () => (!UNTRACKED_DATA.test(await lab.run("nft list table inet meshwrt")) ? true : undefined), 10_000, 100);
      expect(await lab.log()).toMatch(/firewall: WireGuard data messages to the router stay tracked: no fw4 rule accepts UDP port 41641 from every zone \(src '\*'\), and fw4's default input is REJECT/);
      expect(await lab.run("nft list chain inet meshwrt raw_output"), "sent: sampled again").toContain("goto wireguard_data_out");
      const tracked = await burst("tracked");
      console.log(`conntrack counted ${untracked} packets of the router's WireGuard flow in 200 pings with the rule, ${tracked} without`);
      expect(tracked, "counted without the rule: the phone's 200 data messages at least").toBeGreaterThanOrEqual(200);
    } finally {
      await lab.run("uci set firewall.meshwrt_wg=rule && uci set firewall.meshwrt_wg.name='Allow-meshwrt-WireGuard' && uci set firewall.meshwrt_wg.src='*' && " +
        "uci set firewall.meshwrt_wg.proto='udp' && uci set firewall.meshwrt_wg.dest_port='41641' && uci set firewall.meshwrt_wg.target='ACCEPT' && uci commit firewall && fw4 reload");
    }
    await waitFor("untracked again", async () => (UNTRACKED_DATA.test(await lab.run("nft list table inet meshwrt")) ? true : undefined), 10_000, 100);
  }, 180_000);

  it("a TCP stream from the phone to the pc over the tunnel survives fw4 reload and fw4 restart", async () => {
    const pc = t.host("pc");
    const server: Proc = await pc.spawn(`exec node ${TICKER} server 0.0.0.0 7000`, `${t.dir}/ticker-server.log`);
    try {
      await waitFor("the pc's echo server", async () => ((await pc.exec("ss -Htln 'sport = :7000'")).stdout.trim() ? true : undefined), 10_000, 100);
      const client = t.host("phone").exec(`node ${TICKER} client 192.168.1.10 7000 14`);
      await new Promise((r) => setTimeout(r, 3000));
      const r1 = Date.now();
      await lab.run("fw4 reload");
      const reloadMs = Date.now() - r1;
      await new Promise((r) => setTimeout(r, 3000));
      const r2 = Date.now();
      await lab.run("fw4 restart");
      const restartMs = Date.now() - r2;
      const out = JSON.parse((await client).stdout.trim()) as { sent: number; echoed: number; error?: string };
      console.log(`stream: ${JSON.stringify(out)}; fw4 reload ${reloadMs} ms, fw4 restart ${restartMs} ms during it`);
      expect(out.error).toBeUndefined();
      expect(out.sent).toBeGreaterThan(100);
      expect(out.echoed).toBe(out.sent);
    } finally {
      await server.stop();
    }
  }, 120_000);

  it("fw4 flush and /etc/init.d/firewall stop delete every table, meshwrt's too: meshwrt loads it again at once, and the ACL holds (printer yes, camera no) with fw4 gone; fw4 restart leaves it alone", async () => {
    const ph = t.host("phone");
    const hasTable = async () => /^table inet meshwrt$/m.test(await lab.run("nft list tables"));
    // nft monitor in the router's namespace, each event stamped as it comes (GNU date, ns): from the
    // deletion to meshwrt's table being added again. Polling with `nft list` misses a gap this short.
    const back = async (deleteCmd: string) => {
      const monitor = t.host("router").exec(`timeout 6 stdbuf -oL nft monitor tables | while read -r l; do echo "$(date +%s%N) $l"; done`);
      await new Promise((r) => setTimeout(r, 1000));
      await lab.run(`${deleteCmd} >/dev/null 2>&1`);
      const events = (await monitor).stdout.trim().split("\n").map((l) => ({ ns: BigInt(l.split(" ")[0]!), what: l.split(" ").slice(1).join(" ") }));
      const gone = events.findIndex((e) => e.what === "delete table inet meshwrt");
      const again = events.findIndex((e, i) => i > gone && e.what === "add table inet meshwrt");
      expect(gone, `nft monitor through ${deleteCmd}:\n${events.map((e) => e.what).join("\n")}`).toBeGreaterThanOrEqual(0);
      expect(again, `nft monitor through ${deleteCmd}:\n${events.map((e) => e.what).join("\n")}`).toBeGreaterThan(gone);
      expect(await hasTable(), `table inet meshwrt after ${deleteCmd}`).toBe(true);
      // With the port sharing of direct paths in it: without that the direct path was dead for over a minute.
      expect(await lab.run("nft list table inet meshwrt"), `port sharing after ${deleteCmd}`).toContain("goto disco_to_agent");
      return { ms: Number(events[again]!.ns - events[gone]!.ns) / 1e6 };
    };
    // The printer within a minute: a path switch (relay and back) may come between.
    const aclHolds = async (when: string) => {
      const from = Date.now();
      const answer = await waitFor(`the printer ${when}`, async () => (await printer()) || undefined, 60_000, 250).catch(async (e: Error) => {
        // What the router had when the printer did not answer: the tables, the peer, the agent's view.
        console.log(`${when}, no printer:\n${(await lab.exec("nft list ruleset; wg show; meshwrt status")).stdout}`);
        throw e;
      });
      expect(answer, when).toBe("printer from 192.168.1.1");
      console.log(`printer answered ${when} after ${Date.now() - from} ms`);
      expect(await banner(ph, "192.168.1.60", 554, 4), `the camera ${when}`).toBe("");
    };
    try {
      const flush = await back("fw4 flush");
      withinBudget("meshwrt's table missing after fw4 flush", flush.ms, 1000, { native: true });
      // No fw4 table now: only meshwrt's decides what comes from the tailnet.
      expect(await lab.run("nft list tables")).not.toMatch(/inet fw4/);
      await aclHolds("with fw4 flushed");
      await lab.run("/etc/init.d/firewall start");
      expect(await lab.run("nft list tables")).toMatch(/^table inet fw4$/m);
      const stop = await back("/etc/init.d/firewall stop");
      withinBudget("meshwrt's table missing after /etc/init.d/firewall stop", stop.ms, 1000, { native: true });
      await aclHolds("with the firewall stopped");
      await lab.run("/etc/init.d/firewall start");
      // fw4 restart and reload replace only fw4's own table: meshwrt's is not even reloaded.
      const handle = async () => /# handle (\d+)/.exec(await lab.run("nft -a list table inet meshwrt | head -n 1"))?.[1];
      const before = await handle();
      await lab.run("fw4 restart && fw4 reload");
      expect(await handle()).toBe(before);
      await aclHolds("after fw4 restart and reload");
      const log = await lab.log();
      expect(log).toMatch(/firewall: table inet meshwrt was deleted by nft \(pid \d+\): loading it again/);
    } finally {
      // As the other tests expect it: fw4 loaded.
      if (!/^table inet fw4$/m.test(await lab.run("nft list tables"))) await lab.run("/etc/init.d/firewall start");
    }
  }, 300_000);

  it("fails closed: when nftables refuses meshwrt's table (held by another owner), no peer is installed, nothing from the tailnet passes, and status says why", async () => {
    const ph = t.host("phone");
    await lab.run("service meshwrt stop");
    await waitFor("meshwrt's table removed", async () => (!/^table inet meshwrt$/m.test(await lab.run("nft list tables")) ? true : undefined), 20_000, 100);
    // A table of that name owned by another netlink socket: nft answers EPERM to anyone else.
    const holder = await t.host("router").spawn(`exec sh -c "(echo 'add table inet meshwrt { flags owner; }'; sleep 300) | nft -i"`, `${t.dir}/nft-owner.log`);
    try {
      // The holder's own table (flags owner), not one left behind by meshwrt: adding the flag to that one would fail and hold nothing.
      await waitFor("the owned table", async () => (/^\s*flags owner$/m.test((await lab.exec("nft list table inet meshwrt")).stdout) ? true : undefined), 10_000, 100);
      const probe = await lab.exec("echo 'table inet meshwrt {}' | nft -f -");
      expect(probe.code, `the held table refuses others: ${probe.stderr}\n${(await t.host("router").exec(`cat ${t.dir}/nft-owner.log; nft -a list table inet meshwrt`)).stdout}`).not.toBe(0);
      await lab.run("service meshwrt start");
      const s = await waitFor("the status saying why", async () => {
        const r = await lab.exec("meshwrt status --json");
        const j = r.code === 0 ? (JSON.parse(r.stdout) as { state: string; health: string[] }) : undefined;
        return j?.state === "running" && j.health.some((h) => h.includes("nftables refused")) ? j : undefined;
      }, 60_000, 250);
      console.log(`status: ${s.health.join(" | ")}`);
      expect(s.health.join(" ")).toMatch(/nftables refused meshwrt.s rules \(.*Operation not permitted\); no peer is installed until it loads: the tunnel carries nothing/);
      // Give the netmap time to arrive, then: no peer in WireGuard, and neither router nor printer answers.
      await new Promise((r) => setTimeout(r, 3000));
      expect((await lab.run("wg show meshwrt0 peers")).trim()).toBe("");
      expect((await ph.exec(`ping -c 2 -W 2 ${routerIp}`)).code).not.toBe(0);
      expect(await printer(4)).toBe("");
    } finally {
      await holder.stop();
    }
    // Once the table can be loaded again, a restart restores the tunnel.
    await lab.run("service meshwrt restart");
    expect(await waitFor("the printer after the owner went", async () => (await printer()) || undefined, 60_000, 250)).toBe("printer from 192.168.1.1");
  }, 180_000);
});
