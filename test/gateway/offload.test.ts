// Flow offloading (option flow_offloading) with meshwrt's own table, as the
// agent writes it, in a real nftables: in the VM (this machine's kernel has
// no flowtables), a router namespace whose tunnel is a veth named like the
// agent's (the flowtable and the rules see a device either way), a phone on
// the tunnel side and a printer on the LAN. What a user would see: the ACL
// still decides each new connection, and the flows it let in stop passing
// the firewall's forward hook once established.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { filterStatements } from "../../agent/src/gateway/filter.js";
import { rulesetScript } from "../../agent/src/gateway/ruleset.js";
import { parsePrefix } from "../../agent/src/netaddr/ip.js";
import { sh as quote } from "../net/exec.js";
import { Vm } from "../vm/vm.js";

const tag = `${process.pid}-${randomBytes(2).toString("hex")}`;
const [router, phone, printer] = ["router", "phone", "printer"].map((n) => `mw-off-${tag}-${n}`) as [string, string, string];
const PRINTER = "192.168.99.50";
let vm: Vm;

/** A command in a namespace of the VM, `input` on its stdin. */
function sh(ns: string, cmd: string, input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const feed = input === undefined ? "" : `echo ${Buffer.from(input).toString("base64")} | base64 -d | `;
  return vm.exec(`${feed}ip netns exec ${ns} sh -c ${quote(cmd)}`, { timeoutMs: 60_000 });
}

async function must(ns: string, cmd: string, input?: string): Promise<string> {
  const r = await sh(ns, cmd, input);
  if (r.code !== 0) throw new Error(`[${ns}] ${cmd}: exit ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** The phone may reach the printer's port 5201 (iperf3), nothing else of it. */
const acl = filterStatements([{ SrcIPs: ["100.64.0.2"], DstPorts: [{ IP: PRINTER, Ports: { First: 5201, Last: 5201 } }], IPProto: [6] }], () => {});

async function load(offload: boolean): Promise<void> {
  await must(router, "nft -f -", rulesetScript({ iface: "meshwrt0", routes: [parsePrefix("192.168.99.0/24")], exitNode: false, snat: true, filter: acl, ...(offload ? { offload: ["lan0"] } : {}) }));
}

/** Bytes of TCP that reached the forward hook after meshwrt's chain so far (a probe table of the test's own). */
async function forwardedBytes(): Promise<number> {
  const out = await must(router, "nft list chain inet probe forward");
  const n = Number(/bytes (\d+)/.exec(out)?.[1]);
  if (!Number.isFinite(n)) throw new Error(`no counter in the probe chain:\n${out}`);
  return n;
}

/** 4 MB from the printer to the phone through the router (iperf3 -R: the printer sends). */
async function transfer(port: number): Promise<{ ok: boolean; said: string }> {
  await must(printer, `iperf3 -s -1 -D -p ${port} -B ${PRINTER} && sleep 0.5`);
  const r = await sh(phone, `timeout 30 iperf3 -c ${PRINTER} -p ${port} -R -n 4M --connect-timeout 3000`);
  await sh(printer, `pkill -f 'iperf3 -s -1 -D -p ${port}' || true`);
  return { ok: r.code === 0, said: `${r.stdout}${r.stderr}` };
}

beforeAll(async () => {
  vm = await Vm.boot({ cpus: 1 });
  const root = async (cmd: string) => {
    const r = await vm.exec(cmd);
    if (r.code !== 0) throw new Error(`${cmd}: exit ${r.code}: ${r.stderr}`);
  };
  await root([router, phone, printer].map((ns) => `ip netns add ${ns}`).join(" && "));
  await root(`ip -n ${router} link add meshwrt0 type veth peer name eth0 netns ${phone}`);
  await root(`ip -n ${router} link add lan0 type veth peer name eth0 netns ${printer}`);
  await must(router, "ip link set lo up && ip addr add 100.64.0.1/24 dev meshwrt0 && ip link set meshwrt0 up && ip addr add 192.168.99.1/24 dev lan0 && ip link set lan0 up && sysctl -qw net.ipv4.ip_forward=1");
  await must(phone, "ip link set lo up && ip addr add 100.64.0.2/24 dev eth0 && ip link set eth0 up && ip route add default via 100.64.0.1");
  await must(printer, `ip link set lo up && ip addr add ${PRINTER}/24 dev eth0 && ip link set eth0 up && ip route add default via 192.168.99.1`);
  await must(router, "nft -f -", "table inet probe {\n  chain forward { type filter hook forward priority filter + 10; policy accept; meta l4proto tcp counter; }\n}\n");
}, 300_000);

afterAll(async () => {
  await vm?.shutdown();
});

describe("flow offloading in meshwrt's table", () => {
  it("off: all of a transfer to the printer passes the forward hook", async () => {
    await load(false);
    const before = await forwardedBytes();
    const t = await transfer(5201);
    expect(t.ok, t.said).toBe(true);
    const n = (await forwardedBytes()) - before;
    console.log(`without flow offloading: ${n} bytes of TCP of a 4 MB transfer through the forward hook`);
    expect(n).toBeGreaterThan(4_000_000);
    expect(await must(router, "nft list flowtables")).not.toContain("flowtable ft");
  }, 120_000);

  it("on: the established flow leaves the forward hook after its first packets", async () => {
    await load(true);
    expect(await must(router, "nft list flowtables")).toMatch(/flowtable ft \{[\s\S]*devices = \{ (lan0, meshwrt0|meshwrt0, lan0) \}/);
    const before = await forwardedBytes();
    const t = await transfer(5201);
    expect(t.ok, t.said).toBe(true);
    const n = (await forwardedBytes()) - before;
    console.log(`with flow offloading: ${n} bytes of TCP of a 4 MB transfer through the forward hook`);
    expect(n).toBeLessThan(400_000);
  }, 120_000);

  it("on: the ACL still refuses a port it does not grant", async () => {
    await load(true);
    const t = await transfer(5202);
    expect(t.ok).toBe(false);
    expect(t.said).toMatch(/unable to connect|timed out/i);
  }, 120_000);

  it("nft refuses a flowtable naming a device that does not exist, and the table in force stays (so the agent names only devices it finds)", async () => {
    const r = await sh(router, "nft -f -", rulesetScript({ iface: "meshwrt0", routes: [parsePrefix("192.168.99.0/24")], exitNode: false, snat: true, filter: acl, offload: ["br-gone"] }));
    expect(r.code).not.toBe(0);
    expect(await must(router, "nft list flowtables")).toContain("lan0");
  }, 60_000);
});
