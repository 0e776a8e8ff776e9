// meshwrt's netlink code against the real kernel WireGuard, the same checks
// on every CPU the test VMs have (netlink.test.ts on x86_64, foreign.test.ts
// on aarch64 and mipsel): a device configured only by meshwrt reads back identically in
// `wg show` and `ip`, two namespaces configured by it carry a ping and a TCP
// stream, an unchanged peer is never touched, 1,000 peers go in and come back, and
// netmap deltas at 1,000 peers go in by difference and end where a full apply ends.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyPairFromSeed } from "../../agent/src/crypto/keys.js";
import { withinBudget } from "../support/budget.js";
import type { Vm } from "./vm.js";

/** A booted VM and where, inside it, the binaries built for its CPU are. */
export interface NetlinkTarget {
  vm: Vm;
  wgcheck: string;
  meshwrt: string;
  /** A guest command's limit (ms); an emulated CPU may need more than the 60 s default. */
  timeoutMs?: number;
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
const key = (n: number) => keyPairFromSeed(new Uint8Array(32).fill(n));

/** The suite, on the VM `boot` gives; `label` names the CPU in the title (none for x86_64). */
export function netlinkSuite(boot: () => Promise<NetlinkTarget>, label = ""): void {
  let vm: Vm;
  let WGCHECK: string;
  let MESHWRT: string;
  let timeoutMs: number | undefined;

  function spec(file: string, s: unknown): string {
    writeFileSync(join(vm.share, file), JSON.stringify(s));
    return vm.sharePath(file);
  }

  async function ok(cmd: string): Promise<string> {
    const r = await vm.exec(cmd, { timeoutMs });
    if (r.code !== 0) throw new Error(`${cmd}\nexit ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  describe(`kernel WireGuard through meshwrt's netlink${label}`, () => {
    beforeAll(async () => {
      ({ vm, wgcheck: WGCHECK, meshwrt: MESHWRT, timeoutMs } = await boot());
    }, 300_000);
    afterAll(async () => vm?.shutdown());

    it("a device configured by meshwrt reads back identically in wg show and ip", async () => {
      const s = {
        name: "mw0",
        privateKey: b64(key(1).privateKey),
        listenPort: 41641,
        peers: [
          { publicKey: b64(key(2).publicKey), endpoint: "192.0.2.7:41641", keepalive: 25, allowedIps: ["100.64.0.2/32", "192.168.50.0/24"] },
          { publicKey: b64(key(3).publicKey), endpoint: "[2001:db8::3]:51820", allowedIps: ["fd7a:115c:a1e0::3/128"] },
        ],
        addresses: ["100.64.0.1/32", "fd7a:115c:a1e0::1/128"],
        routes: [{ dst: "192.168.50.0/24", metric: 100 }, { dst: "100.64.0.2/32" }, { dst: "10.77.0.0/16", table: 52 }, { dst: "fd7a:115c:a1e0::3/128" }],
      };
      await ok(`${WGCHECK} apply ${spec("one.json", s)}`);
      const dump = (await ok("wg show mw0 dump")).trim().split("\n").map((l) => l.split("\t"));
      expect(dump[0]!.slice(0, 3)).toEqual([s.privateKey, b64(key(1).publicKey), "41641"]);
      const peers = new Map(dump.slice(1).map((p) => [p[0], p]));
      expect(peers.get(s.peers[0]!.publicKey)!.slice(2, 4)).toEqual(["192.0.2.7:41641", "100.64.0.2/32,192.168.50.0/24"]);
      expect(peers.get(s.peers[0]!.publicKey)![7]).toBe("25");
      expect(peers.get(s.peers[1]!.publicKey)!.slice(2, 4)).toEqual(["[2001:db8::3]:51820", "fd7a:115c:a1e0::3/128"]);
      expect(peers.get(s.peers[1]!.publicKey)![7]).toBe("off");
      const ours = JSON.parse(await ok(`${WGCHECK} dump mw0`));
      expect(ours.listenPort).toBe(41641);
      expect(ours.peers.map((p: { allowedIps: string[] }) => p.allowedIps.join(",")).sort()).toEqual(["100.64.0.2/32,192.168.50.0/24", "fd7a:115c:a1e0::3/128"]);
      expect(await ok("ip -o -4 addr show dev mw0")).toMatch(/inet 100\.64\.0\.1\/32 scope global mw0/);
      expect(await ok("ip -o -6 addr show dev mw0")).toMatch(/inet6 fd7a:115c:a1e0::1\/128 scope global/);
      expect(await ok("ip link show mw0")).toMatch(/mtu 1280 .*state (UNKNOWN|UP)/);
      const routes = await ok("ip route show dev mw0; ip -6 route show dev mw0; ip route show table 52");
      expect(routes).toMatch(/192\.168\.50\.0\/24 proto 77 scope link metric 100/);
      expect(routes).toMatch(/100\.64\.0\.2 proto 77 scope link/);
      expect(routes).toMatch(/fd7a:115c:a1e0::3 proto 77/);
      expect(routes).toMatch(/10\.77\.0\.0\/16 dev mw0 proto 77 scope link/);
    });

    it("two namespaces configured by meshwrt carry a ping and a TCP stream; a change elsewhere does not re-handshake", async () => {
      const a = key(11), b = key(12), c = key(13);
      const side = (me: typeof a, peer: typeof a, myIp: string, peerIp: string, underlay: string) => ({
        name: "wg0", privateKey: b64(me.privateKey), listenPort: 51820,
        peers: [{ publicKey: b64(peer.publicKey), endpoint: `${underlay}:51820`, allowedIps: [`${peerIp}/32`] }],
        addresses: [`${myIp}/32`], routes: [{ dst: `${peerIp}/32` }],
      });
      const sa = side(a, b, "10.0.0.1", "10.0.0.2", "192.0.2.2");
      await ok(`set -e
  ip netns add na; ip netns add nb
  ip link add va type veth peer name vb; ip link set va netns na; ip link set vb netns nb
  ip -n na addr add 192.0.2.1/24 dev va; ip -n nb addr add 192.0.2.2/24 dev vb
  for n in na nb; do ip -n $n link set lo up; done; ip -n na link set va up; ip -n nb link set vb up
  ip netns exec na ${WGCHECK} apply ${spec("a.json", sa)}
  ip netns exec nb ${WGCHECK} apply ${spec("b.json", side(b, a, "10.0.0.2", "10.0.0.1", "192.0.2.1"))}`);
      expect(await ok("ip netns exec na ping -c 3 -W 5 10.0.0.2")).toMatch(/3 packets transmitted, 3 received/);
      await ok("ip netns exec nb iperf3 -s -1 -D -B 10.0.0.2 >/dev/null; sleep 0.5");
      const iperf = await ok("ip netns exec na iperf3 -c 10.0.0.2 -n 10M -J");
      const end = JSON.parse(iperf).end;
      expect(end.sum_sent.bytes).toBeGreaterThanOrEqual(10 * 1024 * 1024);
      expect(end.sum_sent.retransmits ?? 0).toBeLessThan(100);
      // The receiver's count stops when the sender's does; under TCG a few MB can still be in flight.
      expect(end.sum_received.bytes).toBeGreaterThan(4 * 1024 * 1024);
      const before = await ok("ip netns exec na wg show wg0 latest-handshakes");
      // A third peer joins: only it is added; b's session is left alone.
      const grown = { ...sa, peers: [...sa.peers, { publicKey: b64(c.publicKey), endpoint: "192.0.2.3:51820", allowedIps: ["10.0.0.3/32"] }] };
      expect(JSON.parse(await ok(`ip netns exec na ${WGCHECK} sync ${spec("a2.json", grown)}`)).changed).toBe(1);
      expect(JSON.parse(await ok(`ip netns exec na ${WGCHECK} sync ${spec("a2.json", grown)}`)).changed).toBe(0);
      expect(await ok("ip netns exec na ping -c 1 -W 5 10.0.0.2")).toMatch(/1 received/);
      const after = await ok("ip netns exec na wg show wg0 latest-handshakes");
      const hs = (t: string, k: Uint8Array) => t.split("\n").find((l) => l.startsWith(b64(k)))?.split("\t")[1];
      expect(hs(after, b.publicKey)).toBe(hs(before, b.publicKey));
      expect(after.trim().split("\n")).toHaveLength(2);
    });

    it("1,000 peers are set, read back, and one change touches one peer", async () => {
      const r = JSON.parse(await ok(`${WGCHECK} bulk mwbulk 1000`));
      console.log(`1,000 peers under QuickJS in the VM${label}: set ${r.setMs.toFixed(0)} ms, read back ${r.readMs.toFixed(0)} ms, one change ${r.changeMs.toFixed(0)} ms`);
      expect(r.planned).toBe(1000);
      expect(r.readBack).toBe(1000);
      expect(r.changed).toBe(1);
      expect(r.changedEndpoint).toBe("203.0.113.9:41641");
      expect((await ok("wg show mwbulk peers")).trim().split("\n")).toHaveLength(1000);
      expect(await ok("wg show mwbulk endpoints")).toMatch(/\t203\.0\.113\.9:41641/);
    });

    it("netmap deltas at 1,000 peers: a 1-peer delta sends that peer, presence sends nothing, outside changes are repaired, and the kernel ends as a full apply leaves it", async () => {
      const long = { timeoutMs: Math.max(timeoutMs ?? 0, 600_000) };
      const run = async (cmd: string) => {
        const r = await vm.exec(cmd, long);
        if (r.code !== 0) throw new Error(`${cmd}\nexit ${r.code}: ${r.stderr}`);
        return r.stdout;
      };
      const r = JSON.parse(await run(`${WGCHECK} incremental mwinc 1000`));
      console.log(`1,000 peers through the agent's Tunnel in the VM${label}: full ${r.fullMs} ms, 1-peer delta ${r.deltaMs} ms, presence delta ${r.onlineMs} ms, reconcile ${r.reconcileMs} ms`);
      // One set-device request carrying one peer, its one route (its IPv6 address is in the tailnet's range, routed once), no dump.
      expect(r.delta).toEqual({ sets: 1, peers: 1, dumps: 0, routes: 1 });
      expect(r.online).toEqual({ sets: 0, dumps: 0, routes: 0 });
      if (!label) withinBudget("a 1-peer delta at 1,000 peers, 1-vCPU VM", r.deltaMs, 100);
      // `wg set ... peer X remove` seen in the next dump, `ip route del` in its event; both put back.
      expect(r.outside).toEqual({ peerSeen: true, routesLost: ["100.64.0.30/32"], repairedPeers: 1, repairedRoutes: 1 });
      const state = async () => ({
        peers: (await run("wg show mwinc dump")).trim().split("\n").slice(1).map((l) => {
          const f = l.split("\t");
          return [f[0], f[2], f[3]!.split(",").sort().join(","), f[7]].join(" ");
        }).sort(),
        routes: (await run("ip route show dev mwinc; ip -6 route show dev mwinc")).trim().split("\n").sort(),
        addresses: (await run("ip -o addr show dev mwinc")).trim().split("\n").map((l) => l.trim().split(/\s+/)[3]!).sort(),
      });
      const incremental = await state();
      expect(incremental.peers).toHaveLength(1000 + 1 - 1 - 1 - 2 + 2);
      expect(incremental.routes.join("\n")).toMatch(/192\.168\.66\.0\/24 proto 77/);
      await run(`${WGCHECK} fresh mwinc 1000`);
      expect(incremental).toEqual(await state());
    });

    // Issue 18's steady-state budget, in the 1-vCPU x86_64 VM only (the other CPUs' VMs are emulated apart);
    // the 5,000-peer figures are measured natively in test/native/host.test.ts.
    if (!label) it("1,000 peers' steady state (issue 18): one delta a second and the activity reads of the real device, at the old fixed 2 s and at the activity's cadence", async () => {
      const long = { timeoutMs: Math.max(timeoutMs ?? 0, 300_000) };
      const r = await vm.exec(`${WGCHECK} steady mwsteady 1000 15`, long);
      if (r.code !== 0) throw new Error(`wgcheck steady: exit ${r.code}: ${r.stderr}`);
      const st = JSON.parse(r.stdout) as { deltaCpuMsPerSecond: number; readCpuMs: number; decodedReadCpuMs: number; dumpCpuMs: number; readMs: number; waitMs: number; fixedCpuMsPerSecond: number; cadenceCpuMsPerSecond: number; rssKb: number };
      console.log(
        `1,000 peers in the VM: one delta a second ${st.deltaCpuMsPerSecond} ms CPU a second; a read of the device ${st.readMs} ms (${st.readCpuMs} ms CPU); ` +
          `with a read every 2 s ${st.fixedCpuMsPerSecond} ms CPU a second (${(st.fixedCpuMsPerSecond / 10).toFixed(1)}%), at the activity's wait of ${st.waitMs} ms ${st.cadenceCpuMsPerSecond} (${(st.cadenceCpuMsPerSecond / 10).toFixed(1)}%); RSS ${st.rssKb} kB`,
      );
      console.log(`a read of the real device: in place ${st.readCpuMs} ms CPU, decoded into objects as before ${st.decodedReadCpuMs} ms, the dump alone ${st.dumpCpuMs} ms`);
      // Both in one process, so a loaded host inflates them alike: a read that decodes objects per peer again fails here.
      expect(st.readCpuMs, "a read in place against one decoded into objects").toBeLessThan(st.decodedReadCpuMs);
      // 5% of a CPU is 50 ms of CPU time a second.
      withinBudget("steady state at 1,000 peers, CPU ms a second (5%), 1-vCPU VM", st.cadenceCpuMsPerSecond, 50);
      await vm.exec("ip link del mwsteady");
    }, 360_000);

    it("errors a user can act on: no CAP_NET_ADMIN, and an interface name taken by something else", async () => {
      const s = { name: "mwnoperm", privateKey: b64(key(5).privateKey), listenPort: 41000, peers: [], addresses: [], routes: [] };
      await ok(`install -m 644 ${spec("noperm.json", s)} /tmp/noperm.json`);
      const denied = await vm.exec(`setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all ${WGCHECK} apply /tmp/noperm.json`, { timeoutMs });
      expect(denied.code).toBe(1);
      expect(denied.stderr).toMatch(/creating mwnoperm needs CAP_NET_ADMIN: run meshwrt as root/);
      await ok(`ip link add mwtaken type dummy; printf "config meshwrt 'main'\\n\\toption enabled '1'\\n\\toption login_server 'http://127.0.0.1:1'\\n\\toption state_dir '/tmp/mwtaken'\\n" > /tmp/mwtaken.uci`);
      const r = await vm.exec(`timeout -s TERM 3 ${MESHWRT} run --config /tmp/mwtaken.uci --interface mwtaken --socket /tmp/mwtaken.sock; true`, { timeoutMs });
      expect(r.stderr).toMatch(/interface mwtaken exists and is not WireGuard \(kind dummy\): remove it or choose another name/);
    });
  });
}
