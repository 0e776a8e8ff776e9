// The lab the tailnet and gateway tests and `make demo` stand on, inside the
// VM (whose kernel has WireGuard):
//
//   internet: control (Headscale), derp (derper: DERP over TLS + STUN), and
//             the internet host 198.51.100.1
//   home NAT   -- router (meshwrt, kernel WireGuard)       (the default layout)
//   router     -- pc, printer .50, camera .60               (gateway: meshwrt IS the
//                                                             home router, LAN 192.168.1.0/24)
//   cafe NAT   -- phone (stock tailscaled with a TUN interface), laptop, bob (idle, for tests)
import { execFileSync } from "node:child_process";
import type { Proc } from "../net/exec.js";
import { waitFor } from "../net/exec.js";
import { type Topology, topology } from "../net/topology.js";
import { type Derper, type Headscale, type Tailscaled, startDerper, startHeadscale, startTailscaled } from "../peers/index.js";
import { Vm } from "../vm/vm.js";
import { startMeshwrt } from "./meshwrt.js";

export interface Lab {
  readonly vm: Vm;
  readonly t: Topology;
  readonly derp: Derper;
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
}


export async function startLab(o: LabOptions = {}): Promise<Lab> {
  execFileSync("make", ["--no-print-directory", "build/out/meshwrt"], { stdio: "inherit" });
  // Two emulated CPUs: the VM holds the whole lab (Headscale, derper, three
  // tailscaleds, meshwrt), which in life runs on separate machines; test
  // files run one at a time, so the host's two cores are free for it.
  const vm = await Vm.boot({ memoryMb: 1024, cpus: 2 });
  let t: Topology | undefined;
  let agent: Proc | undefined;
  try {
    const home = o.gateway ? { name: "router", hosts: ["pc"], printer: true, camera: true } : { name: "home", hosts: ["router"] };
    t = await topology({ hosts: ["control", "derp"], nats: [home, { name: "cafe", hosts: ["phone", "laptop", "bob"] }] }, { exec: (c) => vm.exec(c, { timeoutMs: 120_000 }) });
    const derp = await startDerper(t.host("derp"), { dir: `${t.dir}/derper` });
    const hs = await startHeadscale(t.host("control"), { dir: `${t.dir}/headscale`, derpMapYaml: derp.derpMapYaml(), ...(o.policy ? { policy: o.policy } : {}) });
    const authKey = await hs.preAuthKey(await hs.createUser("alice"), { reusable: true });
    await hs.createUser("bob");
    if (o.blockUdp) await t.internet.blockUdp(t.nat(home.name).publicIp, t.nat("cafe").publicIp);
    await vm.exec("modprobe tun");
    const phone = await startTailscaled(t.host("phone"), { dir: `${t.dir}/phone`, tun: "tailscale0" });
    await phone.up({ loginServer: hs.url, authKey, hostname: "phone", timeoutSec: 90, ...(o.phoneFlags ? { flags: o.phoneFlags } : {}) });
    const router = t.host("router");
    const topo = t;
    await router.run(`mkdir -p ${t.dir}/hosts`);
    const launch = (extra: string) =>
      startMeshwrt(router, {
        dir: topo.dir, loginServer: hs.url, authKey, hostname: "router", caFile: derp.certFile,
        extra: `\toption dns_hosts_file '${topo.dir}/hosts/meshwrt'\n${extra}`,
      });
    const agentStartedAt = Date.now();
    let m = await launch(o.agentConfig ?? "");
    agent = m.proc;
    return {
      vm, t: topo, derp, hs, phone, authKey, agentStartedAt,
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
