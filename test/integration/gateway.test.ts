// The router as a gateway, end to end in the VM: meshwrt runs on the home
// router itself (kernel WireGuard), whose LAN holds a pc, a printer
// (192.168.1.50:631) and a camera (192.168.1.60:554); Headscale has a real
// policy; the phone (alice) and bob run stock tailscaled in a cafe. Relayed
// through derper (direct paths are issue 5's).
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { boxSharedKey } from "../../agent/src/crypto/box.js";
import { blake2s } from "../../agent/src/crypto/aead.js";
import { keyFromText, keyPairFromSeed, publicKeyOf } from "../../agent/src/crypto/keys.js";
import { sealPacket } from "../../agent/src/disco/message.js";
import type { Host } from "../net/topology.js";
import { type Tailscaled, startTailscaled } from "../peers/index.js";
import { waitFor } from "../net/exec.js";
import { type Lab, startLab } from "../support/lab.js";
import { withinBudget } from "../support/budget.js";

const policy = (bobGets: string[]) =>
  JSON.stringify({
    acls: [
      { action: "accept", src: ["alice@"], dst: ["*:*"] },
      { action: "accept", src: ["bob@"], dst: bobGets },
    ],
  });

const UDP_TOOL = fileURLToPath(new URL("../net/udp-tool.mjs", import.meta.url));
const PORT_SWEEP = fileURLToPath(new URL("../net/port-sweep.mjs", import.meta.url));

/** A WireGuard handshake initiation from a key the router does not know: random, but with the mac1 the router checks first. */
function strangerInitiation(routerPublic: Uint8Array): Buffer {
  const m = randomBytes(148);
  m.writeUInt32LE(1, 0);
  const mac1Key = blake2s(Buffer.concat([Buffer.from("mac1----"), routerPublic]));
  m.set(blake2s(m.subarray(0, 116), { key: mac1Key, dkLen: 16 }), 116);
  m.fill(0, 132);
  return m;
}

/** What a LAN device or the internet host answers on a TCP port ("printer from 192.168.1.1"), or "" when the connect fails within the time. */
async function banner(h: Host, ip: string, port: number, seconds = 5): Promise<string> {
  const r = await h.exec(`timeout ${seconds} bash -c 'exec 3<>/dev/tcp/${ip}/${port} && head -n 1 <&3'`);
  return r.code === 0 ? r.stdout.trim() : "";
}

let lab: Lab;
let bob: Tailscaled;
let routerIp: string;

/** Waits until meshwrt's path to the phone is direct (the phone pinging it meanwhile); returns the path. */
async function directPathToPhone(): Promise<string> {
  return waitFor("a direct path to the phone", async () => {
    await lab.t.host("phone").exec(`ping -c 2 -i 0.2 -W 1 ${routerIp}`);
    const p = (JSON.parse((await lab.cli("peers --json")).stdout).peers as { name: string; path: string }[]).find((x) => x.name === "phone");
    return p?.path.startsWith("direct") ? p.path : undefined;
  }, 30_000, 500);
}

beforeAll(async () => {
  lab = await startLab({
    gateway: true,
    policy: policy(["192.168.1.60:554"]),
    agentConfig: "\toption advertise_exit_node '1'\n\tlist lan_device 'lan'\n",
    phoneFlags: ["--accept-routes"],
  });
  const { t, hs } = lab;
  // The LAN's resolver, as on OpenWrt: dnsmasq reading the hosts files of a directory.
  await t.host("router").spawn(
    `exec dnsmasq --keep-in-foreground --user=root --no-resolv --no-hosts --addn-hosts=${t.dir}/hosts --listen-address=192.168.1.1 --bind-interfaces --pid-file=${t.dir}/dnsmasq.pid`,
    `${t.dir}/dnsmasq.log`,
  );
  await lab.approveRoutes(["192.168.1.0/24", "0.0.0.0/0", "::/0"]);
  routerIp = (await lab.phone.waitForPeer("router")).TailscaleIPs!.find((a) => a.startsWith("100."))!;
  bob = await startTailscaled(t.host("bob"), { dir: `${t.dir}/bob`, tun: "tailscale0" });
  const bobUser = (await hs.cliJson<{ id: number; name: string }[]>("users list")).find((u) => u.name === "bob")!;
  await bob.up({ loginServer: hs.url, authKey: await hs.preAuthKey(bobUser.id), hostname: "bob", timeoutSec: 90, flags: ["--accept-routes"] });
}, 420_000);

afterAll(async () => {
  if (lab) console.log((await lab.agentLog()).split("\n").slice(-25).join("\n"));
  await lab?.stop();
}, 60_000);

describe("meshwrt on the home router: subnet routes, ACLs, MagicDNS, exit node", () => {
  it("the phone reaches the printer and the camera through the approved route; they see the router's LAN address", async () => {
    const ph = lab.t.host("phone");
    expect(await banner(ph, "192.168.1.50", 631, 20)).toBe("printer from 192.168.1.1");
    expect(await banner(ph, "192.168.1.60", 554)).toBe("camera from 192.168.1.1");
  }, 60_000);

  it("bob's ACL grants the camera only: the printer times out; a policy change takes effect within 5 seconds", async () => {
    const b = lab.t.host("bob");
    await bob.waitForPeer("router", 60_000, (x) => ((x.PrimaryRoutes as string[] | undefined) ?? []).includes("192.168.1.0/24"));
    expect(await banner(b, "192.168.1.60", 554, 20)).toBe("camera from 192.168.1.1");
    expect(await banner(b, "192.168.1.50", 631, 4)).toBe("");
    // Nor the router itself: the input chain knows the tunnel's packets (by the type of its interface, then the name).
    expect((await b.exec(`ping -c 2 -i 0.3 -W 2 ${routerIp}`)).code, "bob's ping to the router, which his ACL does not grant").not.toBe(0);
    const router = lab.t.host("router");
    expect((await router.run("nft list ruleset")).includes("th dport 631")).toBe(false);
    await lab.hs.setPolicy(policy(["192.168.1.60:554", "192.168.1.50:631"]));
    const changed = Date.now();
    await waitFor("bob reaching the printer after the policy change", async () => ((await banner(b, "192.168.1.50", 631, 1)) ? true : undefined), 30_000, 100);
    const ms = Date.now() - changed;
    expect((await router.run("nft list ruleset")).includes("th dport 631")).toBe(true);
    console.log(`the agent's last applies: ${(await lab.agentLog()).split("\n").filter((l) => l.includes("netmap applied")).slice(-3).join(" | ")}`);
    withinBudget("a policy change to bob reaching the printer", ms, 5000);
    // And the first user never lost it.
    expect(await banner(lab.t.host("phone"), "192.168.1.50", 631)).toBe("printer from 192.168.1.1");
  }, 120_000);

  it("a LAN client resolves the phone's MagicDNS name through the router's dnsmasq and pings it", async () => {
    const phoneIp = (await lab.phone.status()).Self.TailscaleIPs!.find((a) => a.startsWith("100."))!;
    const pc = lab.t.host("pc");
    // bob joined after dnsmasq started: his name proves the reload too.
    for (const [name, want] of [["phone", phoneIp], ["bob", (await bob.status()).Self.TailscaleIPs!.find((a) => a.startsWith("100."))!]] as const) {
      const fqdn = `${name}.${lab.hs.baseDomain}`;
      const got = await waitFor(`${fqdn} from the router's dnsmasq`, async () => {
        const r = await pc.exec(`busybox nslookup ${fqdn} 192.168.1.1`);
        return r.stdout.includes(want) ? r.stdout : undefined;
      }, 15_000, 250);
      expect(got).toContain(want);
    }
    await pc.run(`ping -c 1 -W 10 ${phoneIp}`);
  }, 60_000);

  it("the phone uses the router as exit node: the internet host sees the router's WAN address; without it, the cafe's", async () => {
    const { t } = lab;
    await t.internet.spawn(
      `exec node -e 'require("net").createServer(s=>{s.on("error",()=>{});s.end("internet from "+s.remoteAddress.replace(/^::ffff:/,"")+"\\n")}).listen(8080)'`,
      `${t.dir}/internet-8080.log`,
    );
    const ph = t.host("phone");
    await waitFor("the internet host listening", async () => ((await banner(t.host("pc"), t.internet.ip, 8080, 2)) ? true : undefined), 20_000, 250);
    expect(await banner(ph, t.internet.ip, 8080)).toBe(`internet from ${t.nat("cafe").publicIp}`);
    await lab.phone.cli(`set --exit-node=${routerIp}`);
    try {
      const got = await waitFor("the phone's traffic through the exit node", async () => {
        const b = await banner(ph, t.internet.ip, 8080, 3);
        return b.endsWith(t.nat("router").publicIp) ? b : undefined;
      }, 30_000, 250);
      expect(got).toBe(`internet from ${t.nat("router").publicIp}`);
    } finally {
      await lab.phone.cli("set --exit-node=");
    }
    await waitFor("the phone back on its own uplink", async () => ((await banner(ph, t.internet.ip, 8080, 3)).endsWith(t.nat("cafe").publicIp) ? true : undefined), 30_000, 250);
  }, 120_000);

  it("the CLI on the router: status and peers in words and JSON, the printer among the devices, a bad set refused, down and up", async () => {
    const router = lab.t.host("router");
    const status = await lab.cli("status");
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^meshwrt \S+: running$/m);
    expect(status.stdout).toMatch(/^name +router \(tailnet /m);
    expect(status.stdout).toMatch(/^routes +192\.168\.1\.0\/24$/m);
    expect(status.stdout).toMatch(/^exit node +offered$/m);
    const peers = JSON.parse((await lab.cli("peers --json")).stdout).peers as { name: string; online: boolean; rxBytes: number; path: string }[];
    const phone = peers.find((p) => p.name === "phone");
    expect(phone?.online).toBe(true);
    expect(phone!.rxBytes).toBeGreaterThan(0);
    expect((await lab.cli("peers")).stdout).toMatch(/^phone +100\.\S+ +linux +yes /m);
    await router.run("ping -c 1 -W 2 192.168.1.50");
    const devices = JSON.parse((await lab.cli("devices --json")).stdout).devices as { addresses: string[]; subnet: string; advertised: boolean; interface: string }[];
    expect(devices.find((d) => d.addresses.includes("192.168.1.50"))).toMatchObject({ subnet: "192.168.1.0/24", advertised: true, interface: "lan" });
    const bad = await lab.cli("set listen_port 99999");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^meshwrt: set: meshwrt\.main\.listen_port: "99999" /);
    const outputs = [status, bad, await lab.cli("status --json"), await lab.cli("netcheck")].map((r) => r.stdout + r.stderr).join("");
    expect(outputs).not.toContain(lab.authKey);
    const down = await lab.cli("down");
    expect(down.stdout).toMatch(/: stopped$/m);
    expect(await banner(lab.t.host("phone"), "192.168.1.50", 631, 3)).toBe("");
    expect((await lab.cli("up")).stdout).toMatch(/: (running|connecting)$/m);
    expect(await waitFor("the printer after up", async () => (await banner(lab.t.host("phone"), "192.168.1.50", 631, 3)) || undefined, 60_000, 250)).toBe("printer from 192.168.1.1");
    const none = await router.exec(`${process.cwd()}/build/out/meshwrt status --socket ${lab.t.dir}/nobody.sock`);
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/cannot reach the agent on .*nobody\.sock: .*ENOENT/);
  }, 120_000);

  it("exposure: with the WAN firewall open, no TCP port of the router accepts and meshwrt answers nothing from the internet: not junk on any port, a stranger's handshake, STUN, or disco pings from unknown keys", async () => {
    const router = lab.t.host("router"), inet = lab.t.internet, ph = lab.t.host("phone");
    const wan = lab.t.nat("router").publicIp;
    // The worst case: a router whose WAN zone accepts everything.
    await router.run(`nft insert rule inet meshwrt_fw input iifname "wan" accept comment "probe"`);
    // A UDP listener that must answer, so a probe that hears nothing is a finding and not a deaf probe.
    await router.spawn(`exec node ${UDP_TOOL} server 5533`, `${lab.t.dir}/bait-udp.log`);
    try {
      await waitFor("the bait listener", async () => ((await router.exec("ss -Huln 'sport = :5533'")).stdout.trim() ? true : undefined), 10_000, 100);
      // meshwrt's one TCP listener is an exit node's peer API, on its tailnet address; routed there
      // from the internet (a neighbour on the WAN can do that), it accepts nothing either.
      const listeners = (await router.run("ss -Htlnp")).split("\n").filter((l) => l.includes('"meshwrt"')).map((l) => l.trim().split(/\s+/)[3]!);
      console.log(`meshwrt's TCP listeners on the router: ${listeners.join(", ") || "none"}`);
      expect(listeners.filter((a) => !/^100\.64\.0\.\d+:\d+$/.test(a))).toEqual([]);
      for (const a of listeners) {
        const [ip, port] = a.split(":") as [string, string];
        await inet.run(`ip route replace ${ip}/32 via ${wan}`);
        try {
          const seen = (await inet.run(`node -e "const s=require('net').connect(${port},'${ip}');s.setTimeout(3000,()=>{console.log('timeout');process.exit(0)});s.on('connect',()=>{console.log('open');process.exit(0)});s.on('error',(e)=>{console.log(e.code);process.exit(0)})"`)).trim();
          console.log(`${a} from the internet, routed through the WAN: ${seen}`);
          expect(seen).not.toBe("open");
        } finally {
          await inet.run(`ip route del ${ip}/32 via ${wan}`);
        }
      }
      const udpPorts = [...new Set([41641, ...(await router.run("ss -Hulnp")).split("\n").filter((l) => l.includes('"meshwrt"')).map((l) => Number(/:(\d+)\s/.exec(l)?.[1]))])];
      console.log(`meshwrt's UDP ports on the router: ${udpPorts.join(", ")}`);
      const state = JSON.parse(await router.run(`cat ${lab.t.dir}/state/keys.json`)) as Record<string, string>;
      const routerDisco = publicKeyOf(keyFromText("privkey", state.disco!));
      const routerNode = publicKeyOf(keyFromText("privkey", state.node!));
      const phoneNode = keyFromText("nodekey", (await lab.phone.status()).Self.PublicKey!);
      const stranger = keyPairFromSeed(randomBytes(32));
      const shared = boxSharedKey(stranger.privateKey, routerDisco);
      const discoPing = (nodeKey: Uint8Array) => Buffer.from(sealPacket(stranger.publicKey, shared, randomBytes(24), { type: "ping", txid: randomBytes(12), nodeKey }));
      const stunRequest = Buffer.concat([Buffer.from("000100002112a442", "hex"), randomBytes(12)]);
      const junk = Buffer.from("probe: not a protocol anyone speaks\n");
      const probes = udpPorts.flatMap((p) => [junk, randomBytes(148), discoPing(randomBytes(32)), discoPing(phoneNode), strangerInitiation(routerNode), stunRequest].map((b) => `${p}:${b.toString("hex")}`));
      probes.push(`5533:${junk.toString("hex")}`);
      const udp = JSON.parse(await inet.run(`node ${UDP_TOOL} probe ${wan} 3000 ${probes.join(" ")}`)) as { replies: { port: number; bytes: number }[] };
      console.log(`${probes.length} datagrams to ${wan}: replies ${JSON.stringify(udp.replies)}`);
      expect(udp.replies.map((r) => r.port)).toEqual([5533]);
      // And every port, TCP and UDP: nothing accepts, only the bait answers. The sweep is longer
      // than one VM command may take (120-260 s under emulation): it runs apart and is polled.
      const sweepLog = `${lab.t.dir}/port-sweep.json`;
      await inet.spawn(`exec node ${PORT_SWEEP} ${wan}`, sweepLog);
      const sweep = JSON.parse(await waitFor("the sweep of every port", async () => (await inet.exec(`cat ${sweepLog}`)).stdout.trim() || undefined, 540_000, 2000)) as { tcpOpen: number[]; udpAnswered: number[]; ms: number };
      console.log(`every port of ${wan} in ${sweep.ms} ms: TCP open ${JSON.stringify(sweep.tcpOpen)}, UDP answered ${JSON.stringify(sweep.udpAnswered)}`);
      expect(sweep.tcpOpen).toEqual([]);
      expect(sweep.udpAnswered).toEqual([5533]);
      // The phone's session did not notice.
      expect((await ph.exec(`ping -c 2 -W 2 ${routerIp}`)).code).toBe(0);
    } finally {
      const handle = /# handle (\d+)/.exec((await router.run("nft -a list chain inet meshwrt_fw input")).split("\n").find((l) => l.includes('comment "probe"')) ?? "")?.[1];
      if (handle) await router.run(`nft delete rule inet meshwrt_fw input handle ${handle}`);
      await router.exec("pkill -f 'udp-tool.mjs server 5533'");
    }
  }, 720_000);

  it("kill -9 during a ping flood: not one ping lost; the restarted agent adopts the interface and leaves the phone's session alone", async () => {
    const router = lab.t.host("router"), ph = lab.t.host("phone");
    const direct = await directPathToPhone();
    console.log(`before the crash: ${direct}`);
    const counters = async () => new Map((await router.run("wg show meshwrt0 transfer")).trim().split("\n").map((l) => {
      const [k, rx, tx] = l.split("\t");
      return [k!, Number(rx) + Number(tx)] as const;
    }));
    const before = await counters();
    const flood = ph.exec(`ping -i 0.2 -c 60 -W 2 ${routerIp}`);
    await new Promise((r) => setTimeout(r, 2000));
    await router.run("pkill -9 -x meshwrt");
    await new Promise((r) => setTimeout(r, 3000));
    await lab.restartAgent("\toption advertise_exit_node '1'\n\tlist lan_device 'lan'\n");
    const out = (await flood).stdout;
    expect(out).toMatch(/60 packets transmitted, 60 received, 0% packet loss/);
    // The restarted agent may still be starting when the flood ends (the launch does not wait for it).
    await waitFor("the restarted agent adopting the interface", async () => (await lab.agentLog()).includes("wireguard: adopting existing interface meshwrt0") || undefined, 60_000, 500);
    const after = await counters();
    for (const [k, n] of before) expect(after.get(k), `peer ${k}: counters went on, it was not re-created`).toBeGreaterThanOrEqual(n);
    expect(await waitFor("the printer after the restart", async () => (await banner(ph, "192.168.1.50", 631, 3)) || undefined, 60_000, 250)).toBe("printer from 192.168.1.1");
  }, 180_000);

  it("derper stops: the direct path carries on, not one ping lost; it returns", async () => {
    const ph = lab.t.host("phone");
    await directPathToPhone();
    await lab.derp.stop();
    try {
      const out = (await ph.exec(`ping -i 0.2 -c 75 -W 2 ${routerIp}`)).stdout;
      expect(out).toMatch(/75 packets transmitted, 75 received, 0% packet loss/);
      expect(await banner(ph, "192.168.1.50", 631)).toBe("printer from 192.168.1.1");
    } finally {
      await lab.derp.start();
    }
  }, 120_000);

  it("after meshwrt stops, nothing of it is left: no table, route, interface or hosts file", async () => {
    const router = lab.t.host("router");
    await lab.stopAgent();
    const left = await router.exec(`nft list tables; ip -4 route show table all proto 77; ip -6 route show table all proto 77; ip link show meshwrt0; ls ${lab.t.dir}/hosts`);
    expect(left.stdout).not.toMatch(/inet meshwrt\b|meshwrt0|\bmeshwrt$/m);
    expect(left.stdout).toContain("table ip meshwrt_nat"); // the router's own NAT, untouched
  }, 60_000);

  it("advertising only the camera (/32): the camera is reachable, the printer is not", async () => {
    await lab.restartAgent("\tlist advertise_routes '192.168.1.60/32'\n");
    await lab.approveRoutes(["192.168.1.60/32"]);
    const ph = lab.t.host("phone");
    expect(await waitFor("the camera through the /32", async () => (await banner(ph, "192.168.1.60", 554, 3)) || undefined, 30_000, 250)).toBe("camera from 192.168.1.1");
    expect(await banner(ph, "192.168.1.50", 631, 4)).toBe("");
  }, 150_000);
  it("the WAN is renumbered: meshwrt re-discovers its endpoints and the phone reaches the camera again within 10 seconds", async () => {
    const ph = lab.t.host("phone");
    expect(await banner(ph, "192.168.1.60", 554)).toBe("camera from 192.168.1.1");
    const nat = lab.t.nat("router");
    const old = nat.publicIp;
    const fresh = old.replace(/\.\d+$/, ".3");
    const gw = old.replace(/\.\d+$/, ".1");
    // As a DHCP or PPPoE renewal does: the old address (and the routes through it) go, the new one comes.
    await nat.run(`ip addr del ${old}/24 dev wan && ip addr add ${fresh}/24 dev wan && ip route replace default via ${gw}`);
    const renumbered = Date.now();
    await waitFor("the camera after the WAN changed", async () => ((await banner(ph, "192.168.1.60", 554, 2)) ? true : undefined), 60_000, 100);
    const ms = Date.now() - renumbered;
    console.log(`WAN ${old} -> ${fresh}: the phone reached the camera again after ${ms} ms`);
    const endpoints = await waitFor("the new endpoint announced", async () => {
      const e = JSON.parse((await lab.cli("netcheck --json")).stdout).endpoints as string[];
      return e.some((x) => x.startsWith(`${fresh}:`)) ? e : undefined;
    }, 30_000, 500);
    expect(endpoints.some((x) => x.startsWith(`${old}:`))).toBe(false);
    withinBudget("the camera again after the WAN was renumbered", ms, 10_000);
  }, 120_000);
  it("the WAN link flaps for 3 s: the phone reaches the camera again within 10 seconds of its return", async () => {
    const ph = lab.t.host("phone"), nat = lab.t.nat("router");
    expect(await waitFor("the camera before the flap", async () => (await banner(ph, "192.168.1.60", 554, 2)) || undefined, 30_000, 250)).toBe("camera from 192.168.1.1");
    const addr = (await nat.run("ip -4 -o addr show dev wan")).match(/inet (\S+)\/24/)![1]!;
    // Down drops the routes through the link; netifd puts the default route back when it returns.
    await nat.run(`ip link set wan down && sleep 3 && ip link set wan up && ip route replace default via ${addr.replace(/\.\d+$/, ".1")}`);
    const back = Date.now();
    await waitFor("the camera after the flap", async () => ((await banner(ph, "192.168.1.60", 554, 2)) ? true : undefined), 60_000, 100);
    const ms = Date.now() - back;
    withinBudget("the camera again after a 3 s WAN link flap", ms, 10_000);
  }, 120_000);
});
