// The lab's join-and-ping with the router on a router's CPU: meshwrt built
// for aarch64_cortex-a53, with kernel WireGuard, in an aarch64 VM, joins a
// real Headscale, and a stock tailscaled phone pings it. Headscale, derper
// and the phone are x86 programs, so they run on this machine, each in a
// namespace of a topology the test makes; the VM's only NIC is a tap in the
// namespace of the home NAT's host "router", which forwards and masquerades
// for it (the VM is one more NAT'd device behind the home NAT).
//
//   internet: control (Headscale), derp (derper: DERP over TLS + STUN)
//   home NAT  -- router namespace -- tap -- aarch64 VM (meshwrt "router")
//   cafe NAT  -- phone (stock tailscaled with a TUN interface)
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../net/exec.js";
import { type Topology, topology } from "../net/topology.js";
import { type Headscale, type Tailscaled, startDerper, startHeadscale, startTailscaled } from "../peers/index.js";
import { makeCross } from "./cross-build.js";
import { Vm } from "./vm.js";

const TARGET = "aarch64_cortex-a53";
let t: Topology;
let hs: Headscale;
let phone: Tailscaled;
let vm: Vm;
let agentStartedAt = 0;

async function ok(cmd: string): Promise<string> {
  const r = await vm.exec(cmd, { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`vm: ${cmd}\nexit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

beforeAll(async () => {
  await makeCross(TARGET);
  t = await topology({ hosts: ["control", "derp"], nats: [{ name: "home", hosts: ["router"] }, { name: "cafe", hosts: ["phone"] }] });
  const derp = await startDerper(t.host("derp"), { dir: `${t.dir}/derper` });
  hs = await startHeadscale(t.host("control"), { dir: `${t.dir}/headscale`, derpMapYaml: derp.derpMapYaml() });
  const authKey = await hs.preAuthKey(await hs.createUser("alice"), { reusable: true });
  phone = await startTailscaled(t.host("phone"), { dir: `${t.dir}/phone`, tun: "tailscale0" });
  await phone.up({ loginServer: hs.url, authKey, hostname: "phone", timeoutSec: 90 });

  const router = t.host("router");
  vm = await Vm.boot({ cpu: "aarch64", nic: { netns: router.ns, tap: "mwvm0" }, timeoutMs: 120_000 });
  t.onDestroy(() => vm.shutdown());
  await router.run(
    "ip addr add 10.254.0.1/30 dev mwvm0 && ip link set mwvm0 up && sysctl -qw net.ipv4.ip_forward=1 && " +
      "nft add table ip vmnat && nft 'add chain ip vmnat post { type nat hook postrouting priority srcnat; }' && " +
      "nft add rule ip vmnat post ip saddr 10.254.0.0/30 oifname != mwvm0 masquerade",
  );
  mkdirSync(join(vm.share, "bin"));
  copyFileSync(join("build/out", TARGET, "meshwrt"), join(vm.share, "bin", "meshwrt"));
  copyFileSync(derp.certFile, join(vm.share, "derp.crt"));
  await ok(
    `install -m 755 ${vm.sharePath("bin/meshwrt")} /usr/local/bin/ && modprobe virtio_net && modprobe tun && ` +
      "ip link set eth0 up && ip addr add 10.254.0.2/30 dev eth0 && ip route add default via 10.254.0.1 && mkdir -p /tmp/mw",
  );
  await ok(
    `printf "config meshwrt 'main'\\n\\toption enabled '1'\\n\\toption login_server '${hs.url}'\\n\\toption auth_key '${authKey}'\\n` +
      `\\toption hostname 'router'\\n\\toption state_dir '/tmp/mw/state'\\n\\toption log_level 'debug'\\n" > /tmp/mw/meshwrt.uci`,
  );
  agentStartedAt = Date.now();
  await ok(
    `setsid meshwrt run --config /tmp/mw/meshwrt.uci --ca-file ${vm.sharePath("derp.crt")} --socket /tmp/mw/meshwrt.sock ` +
      "--ubus /tmp/mw/no-ubusd > /tmp/mw/meshwrt.log 2>&1 < /dev/null &",
  );
}, 600_000);

afterAll(async () => {
  if (vm) console.log((await vm.exec("tail -n 30 /tmp/mw/meshwrt.log", { timeoutMs: 10_000 }).catch(() => ({ stdout: "" }))).stdout);
  await t?.destroy();
});

describe("the lab's join-and-ping with meshwrt on aarch64", () => {
  it("the VM is aarch64 and meshwrt there drives the kernel's WireGuard", async () => {
    expect((await ok("uname -m")).trim()).toBe("aarch64");
    await waitFor("meshwrt's interface in the VM", async () => ((await vm.exec("wg show meshwrt0 listen-port")).code === 0 ? true : undefined), 60_000, 500);
    expect(await ok("ip -d link show meshwrt0")).toMatch(/wireguard/);
  });

  it("a stock tailscaled phone lists the router and pings its tailnet address (ICMP answered by the VM's kernel)", async () => {
    const peer = await phone.waitForPeer("router", 120_000, (p) => (p.TailscaleIPs?.length ?? 0) > 0);
    const ip = peer.TailscaleIPs!.find((a) => a.startsWith("100."))!;
    let out = "";
    await waitFor("ICMP ping over the tailnet to the aarch64 router", async () => {
      const r = await phone.cli(`ping --icmp --c 1 --timeout 5s ${ip}`);
      out = r.stdout + r.stderr;
      return r.code === 0 ? true : undefined;
    }, 120_000);
    console.log(`aarch64 router: first ping answered ${Date.now() - agentStartedAt} ms after meshwrt started: ${out.trim()}`);
    expect(out).toMatch(/pong from router \(100\.64\.\d+\.\d+\) via ICMP/);
    // The router's kernel WireGuard has a handshake with the phone, and the address is on its interface.
    expect(await ok("wg show meshwrt0 latest-handshakes")).toMatch(/\t[1-9]\d*$/m);
    expect(await ok("ip -o -4 addr show dev meshwrt0")).toContain(`inet ${ip}/32`);
  });
});
