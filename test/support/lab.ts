// The lab the tailnet and gateway tests and `make demo` stand on, inside the
// VM (whose kernel has WireGuard):
//
//   internet: control (Headscale), derp (derper: DERP over TLS + STUN), and
//             the internet host 198.51.100.1; with LabOptions.relays, regions
//             901, 902, ... of meshed derpers (derp, derp-902a, derp-902b, ...)
//             each behind its own delay (netem)
//   home NAT   -- router (meshwrt, kernel WireGuard)       (the default layout)
//   router     -- pc, printer .50, camera .60               (gateway: meshwrt IS the
//                                                             home router, LAN 192.168.1.0/24)
//   cafe NAT   -- phone (stock tailscaled with a TUN interface), laptop, bob (idle, for tests)
//   with LabOptions.ipv6, global IPv6 everywhere besides (routed; the houses' routers filter inbound)
import { execFileSync } from "node:child_process";
import type { Proc } from "../net/exec.js";
import { waitFor } from "../net/exec.js";
import { type Topology, topology } from "../net/topology.js";
import { type Derper, type Headscale, type Tailscaled, derperCert, derpMapYaml, startDerper, startHeadscale, startTailscaled } from "../peers/index.js";
import { Vm } from "../vm/vm.js";
import { startMeshwrt } from "./meshwrt.js";

export interface Lab {
  readonly vm: Vm;
  readonly t: Topology;
  /** The first relay (region 900, or the first of LabOptions.relays). */
  readonly derp: Derper;
  /** Every relay node by region, in LabOptions.relays' order. */
  readonly relays: readonly (readonly Derper[])[];
  /** The round trip (ms) added to every node of the region at this index (netem on each derper's link). */
  setRelayDelay(index: number, ms: number): Promise<void>;
  readonly hs: Headscale;
  readonly phone: Tailscaled;
  readonly authKey: string;
  /** When meshwrt was started (ms since the epoch). */
  readonly agentStartedAt: number;
  agentLog(): Promise<string>;
  /** `meshwrt ARGS` as a CLI on the router, talking to the running agent. */
  cli(args: string): Promise<{ code: number; stdout: string; stderr: string }>;
  /** meshwrt's resident memory now, in kB. */
  agentRssKb(): Promise<number>;
  /** Waits until the router advertises these routes, approves them in Headscale, and waits until the phone sees them as the router's. */
  approveRoutes(routes: string[]): Promise<void>;
  /** Stops meshwrt (SIGTERM: it removes what it added). */
  stopAgent(): Promise<void>;
  /** Starts meshwrt again with these extra UCI lines instead of LabOptions.agentConfig (same keys and state). */
  restartAgent(agentConfig: string): Promise<void>;
  stop(): Promise<void>;
}

export interface LabOptions {
  /** Block all UDP between the two houses: the relay is the only path. */
  blockUdp?: boolean;
  /** meshwrt runs on the home NAT router itself (named "router"), whose LAN has a pc, a printer and a camera. */
  gateway?: boolean;
  /** Headscale's ACL policy (HuJSON), changeable with hs.setPolicy(). Users alice (phone, router) and bob exist. */
  policy?: string;
  /** More UCI lines for meshwrt's section (each "\toption name 'value'"). */
  agentConfig?: string;
  /** Extra `tailscale up` flags for the phone. */
  phoneFlags?: string[];
  /** Relay regions 901, 902, ... instead of the one region 900: each with this many nodes (meshed; default 1) and this round trip added (ms). */
  relays?: { delayMs: number; nodes?: number }[];
  /** Runs once the relays and Headscale are up, before the phone and the router join (to break something from the start). */
  beforeJoin?: (t: Topology) => Promise<void>;
  /**
   * Global IPv6 on the internet, the home and the cafe besides IPv4 (topology's ipv6: routed, each
   * house's router filtering inbound as home routers do); the relays answer STUN on IPv6 too and
   * the DERP map lists their IPv6 addresses. Host.ip6 holds each address.
   */
  ipv6?: boolean;
  /** Headscale over HTTPS (derper's certificate, on derper's host), as most control servers are: the control connection then needs a valid certificate too. */
  controlTls?: boolean;
  /**
   * A DNS server on the internet host (dnsmasq on 198.51.100.1: INTERNET_NAME is
   * INTERNET_NAME_IP), given by Headscale as the global nameserver; the router resolves
   * through its own dnsmasq on 127.0.0.1:53 forwarding there, as OpenWrt's does.
   */
  internetDns?: boolean;
}

/** The public name the lab's internet DNS server answers (LabOptions.internetDns), and its address. */
export const INTERNET_NAME = "www.example.test";
export const INTERNET_NAME_IP = "198.51.100.1";


export async function startLab(o: LabOptions = {}): Promise<Lab> {
  execFileSync("make", ["--no-print-directory", "build/out/meshwrt"], { stdio: "inherit" });
  // Two emulated CPUs: the VM holds the whole lab (Headscale, derper, three
  // tailscaleds, meshwrt), which in life runs on separate machines. Test
  // files run two at a time (test/lanes.mjs), so the host's two cores are
  // shared with the other lane's file, whose VM waits on the network as often.
  const vm = await Vm.boot({ memoryMb: 1024, cpus: 2 });
  let t: Topology | undefined;
  let agent: Proc | undefined;
  try {
    const home = o.gateway ? { name: "router", hosts: ["pc"], printer: true, camera: true } : { name: "home", hosts: ["router"] };
    // Relay host names: the first is "derp" as in the one-region lab.
    const relayNames = (o.relays ?? [{ delayMs: 0 }]).map((r, i) => Array.from({ length: r.nodes ?? 1 }, (_, j) => (i || j ? `derp-${901 + i}${"abcdefgh"[j]}` : "derp")));
    t = await topology({ hosts: ["control", ...relayNames.flat()], nats: [home, { name: "cafe", hosts: ["phone", "laptop", "bob"] }], ...(o.ipv6 ? { ipv6: true } : {}) }, { exec: (c) => vm.exec(c, { timeoutMs: 120_000 }) });
    const topo0 = t;
    const relays = o.relays ? await startRelays(topo0, relayNames) : [[await startDerper(t.host("derp"), { dir: `${t.dir}/derper` })]];
    const derp = relays[0]![0]!;
    // One file for meshwrt's --ca-file: every relay's self-signed certificate.
    const caFile = o.relays ? `${t.dir}/relays-ca.pem` : derp.certFile;
    const setRelayDelay = async (index: number, ms: number) => {
      for (const d of relays[index] ?? []) await d.host.run(`tc qdisc replace dev eth0 root netem delay ${ms}ms`);
    };
    for (const [i, r] of (o.relays ?? []).entries()) await setRelayDelay(i, r.delayMs);
    if (o.internetDns) {
      await t.internet.spawn(`exec dnsmasq --keep-in-foreground --user=root --no-resolv --no-hosts --address=/${INTERNET_NAME}/${INTERNET_NAME_IP} --listen-address=${t.internet.ip} --bind-interfaces --log-queries --pid-file=${t.dir}/dnsmasq-internet.pid`, `${t.dir}/dnsmasq-internet.log`);
      await t.host("router").spawn(`exec dnsmasq --keep-in-foreground --user=root --no-resolv --no-hosts --server=${t.internet.ip} --listen-address=127.0.0.1 --bind-interfaces --log-queries --pid-file=${t.dir}/dnsmasq-router.pid`, `${t.dir}/dnsmasq-router.log`);
    }
    const hs = await startHeadscale(t.host(o.controlTls ? "derp" : "control"), {
      dir: `${t.dir}/headscale`, derpMapYaml: derpMapYaml(relays.flat()), ...(o.policy ? { policy: o.policy } : {}),
      ...(o.internetDns ? { nameservers: [t.internet.ip] } : {}),
      ...(o.controlTls ? { tls: { certFile: derp.certFile, keyFile: derp.keyFile } } : {}),
    });
    const authKey = await hs.preAuthKey(await hs.createUser("alice"), { reusable: true });
    await hs.createUser("bob");
    if (o.blockUdp) await t.internet.blockUdp(t.nat(home.name).publicIp, t.nat("cafe").publicIp);
    await o.beforeJoin?.(t);
    await vm.exec("modprobe tun");
    // Go's TLS trusts SSL_CERT_FILE: the test's certificate, as meshwrt's --ca-file.
    const phone = await startTailscaled(t.host("phone"), { dir: `${t.dir}/phone`, tun: "tailscale0", ...(o.controlTls ? { env: { SSL_CERT_FILE: derp.certFile } } : {}) });
    await phone.up({ loginServer: hs.url, authKey, hostname: "phone", timeoutSec: 90, ...(o.phoneFlags ? { flags: o.phoneFlags } : {}) });
    const router = t.host("router");
    const topo = t;
    await router.run(`mkdir -p ${t.dir}/hosts`);
    const launch = (extra: string) =>
      startMeshwrt(router, {
        dir: topo.dir, loginServer: hs.url, authKey, hostname: "router", caFile,
        extra: `\toption dns_hosts_file '${topo.dir}/hosts/meshwrt'\n${extra}`,
      });
    const agentStartedAt = Date.now();
    let m = await launch(o.agentConfig ?? "");
    agent = m.proc;
    return {
      vm, t: topo, derp, relays, setRelayDelay, hs, phone, authKey, agentStartedAt,
      cli: (args) => m.cli(args),
      agentLog: () => m.log(),
      agentRssKb: async () => Number(/VmRSS:\s+(\d+)/.exec((await vm.exec(`cat /proc/$(pgrep -x meshwrt | head -n 1)/status`)).stdout)?.[1] ?? NaN),
      async approveRoutes(routes) {
        const node = await waitFor(`the router advertising ${routes.join(", ")} in Headscale`, async () => {
          const n = await hs.node("router").catch(() => undefined);
          const have = (n?.available_routes as string[] | undefined) ?? [];
          return routes.every((r) => have.includes(r)) ? n : undefined;
        }, 60_000, 500);
        await hs.approveRoutes(node, routes);
        const subnets = routes.filter((r) => !r.endsWith("/0")).sort();
        await phone.waitForPeer("router", 60_000, (x) => JSON.stringify(((x.PrimaryRoutes as string[] | null) ?? []).slice().sort()) === JSON.stringify(subnets));
      },
      async stopAgent() {
        await m.proc.stop();
      },
      async restartAgent(agentConfig) {
        await m.proc.stop();
        m = await launch(agentConfig);
        agent = m.proc;
      },
      async stop() {
        await m.proc.stop();
        await topo.destroy();
        await vm.shutdown();
      },
    };
  } catch (e) {
    await agent?.stop().catch(() => {});
    await t?.destroy().catch(() => {});
    await vm.shutdown();
    throw e;
  }
}

/** Derpers for LabOptions.relays: certificates first (the nodes of a region mesh, and each must trust the others'), then one derper per host. */
async function startRelays(t: Topology, names: string[][]): Promise<Derper[][]> {
  const certs = [];
  for (const n of names.flat()) certs.push((await derperCert(t.host(n), `${t.dir}/${n}`)).certFile);
  const caBundle = `${t.dir}/relays-ca.pem`, keyFile = `${t.dir}/derp-mesh.key`;
  await t.host("derp").run(`cat ${certs.join(" ")} > ${caBundle} && openssl rand -hex 32 > ${keyFile}`);
  const out: Derper[][] = [];
  for (const [i, region] of names.entries()) {
    const regionId = 901 + i;
    const nodes: Derper[] = [];
    for (const [j, n] of region.entries()) {
      const others = region.filter((x) => x !== n).map((x) => t.host(x).ip);
      nodes.push(await startDerper(t.host(n), {
        dir: `${t.dir}/${n}`, regionId, regionCode: `r${regionId}`, nodeName: `${regionId}${"abcdefgh"[j]}`,
        ...(others.length ? { mesh: { with: others, keyFile, caBundle } } : {}),
      }));
    }
    out.push(nodes);
  }
  return out;
}
