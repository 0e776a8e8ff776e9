// Direct paths through NATs, end to end in the VM: meshwrt (kernel
// WireGuard, disco on the shared WireGuard port) against a stock tailscaled
// in the same place as the reference. One VM, one Headscale, one derper:
//
//   home  NAT (port-restricted) -- router (meshwrt), ref (tailscaled)
//   dorm  NAT (symmetric)       -- router2 (meshwrt), ref2 (tailscaled)
//   cafe  NAT (port-restricted) -- phone (tailscaled)
//   hotel NAT (symmetric)       -- phone2 (tailscaled)
//
// For every (router NAT, phone NAT) cell, the phone pings the reference and
// meshwrt with `tailscale ping`; meshwrt must get a direct path wherever the
// reference does. Then UDP between home and cafe is blocked and unblocked:
// the path falls back to the relay and comes back direct. Headscale serves
// HTTPS here (with derper's certificate, on derper's host), as most do.
// Direct must also be direct in the kernel: the router's WireGuard endpoint
// for the phone is sampled during transfers and set against the relay
// bridge's counters (issue 18).
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../net/exec.js";
import { type Topology, topology } from "../net/topology.js";
import { type Derper, type Headscale, type Tailscaled, peerBinaries, startDerper, startHeadscale, startTailscaled } from "../peers/index.js";
import type { Host } from "../net/topology.js";
import type { BridgeCounters } from "../../agent/src/paths/bridge.js";
import { HEARTBEAT_MS } from "../../agent/src/paths/peer.js";
import { withinBudget } from "../support/budget.js";
import { type Meshwrt, startMeshwrt } from "../support/meshwrt.js";
import { Vm } from "../vm/vm.js";
import { execFileSync } from "node:child_process";

let vm: Vm;
let t: Topology;
let derp: Derper;
let hs: Headscale;
const agents = new Map<string, Meshwrt>();
const phones = new Map<string, Tailscaled>();
const refs: Tailscaled[] = [];

const TICKER = fileURLToPath(new URL("../net/tcp-ticker.mjs", import.meta.url));
const STREAM = fileURLToPath(new URL("../net/udp-stream.mjs", import.meta.url));

/** The relay bridge's counters on the router (status --json relayBridge); `data` counts WireGuard transport data (type 4) only. */
async function bridgeCounters(): Promise<BridgeCounters> {
  const c = JSON.parse((await agents.get("router")!.cli("status --json")).stdout).relayBridge as BridgeCounters | undefined;
  if (!c) throw new Error("status --json has no relayBridge counters");
  return c;
}

const grown = (a: BridgeCounters, b: BridgeCounters) => ({
  toKernel: { packets: b.toKernel.packets - a.toKernel.packets, data: b.toKernel.data - a.toKernel.data },
  fromKernel: { packets: b.fromKernel.packets - a.fromKernel.packets, data: b.fromKernel.data - a.fromKernel.data },
});

/** How many times the router's agent has set a direct peer's kernel endpoint back after a packet through the relay moved it (its debug log). */
const routerRepins = async () => (await agents.get("router")!.log()).split("\n").filter((l) => l.includes("moved the kernel's endpoint")).length;

/** The VM's wall clock in ms (the samples' clock; the test's own may differ). */
const vmNow = async (h: Host) => Number((await h.run("date +%s%3N")).trim());

/**
 * Samples the router's kernel WireGuard endpoint for one peer (base64 key) every 30 ms plus
 * what `wg` takes, for `seconds`, in the background inside the VM: one exec per sample and
 * nothing else (bash's EPOCHREALTIME for the time, a read timeout for the pause), as a loaded
 * emulated VM forks slowly; a sample per vm.exec would be far sparser. The returned function reads what was sampled so far: VM wall
 * clock (ms) and endpoint.
 */
async function sampleKernelEndpoint(h: Host, wgKey: string, seconds: number, name: string): Promise<() => Promise<{ at: number; ep: string }[]>> {
  const log = `${t.dir}/kernel-endpoint-${name}.log`;
  await h.spawn(`exec bash -c 'exec 3<> <(:); end=$(( \${EPOCHREALTIME%.*} + ${seconds} )); while [ \${EPOCHREALTIME%.*} -lt $end ]; do echo "@$EPOCHREALTIME"; wg show meshwrt0 endpoints; read -t 0.03 -u 3; done'`, log);
  return async () => {
    const samples: { at: number; ep: string }[] = [];
    let at = 0;
    for (const l of (await h.run(`cat ${log}`)).split("\n")) {
      if (l.startsWith("@")) at = Math.round(Number(l.slice(1)) * 1000);
      else if (l.startsWith(`${wgKey}\t`)) samples.push({ at, ep: l.split("\t")[1] ?? "" });
    }
    return samples;
  };
}

/** Runs of consecutive samples off `want`, each timed from its first sample to the next sample at `want` (or to the last sample: open). */
function runsOff(samples: { at: number; ep: string }[], want: string): { at: number; ms: number; ep: string; open: boolean }[] {
  const runs: { at: number; ms: number; ep: string; open: boolean }[] = [];
  let start: { at: number; ep: string } | undefined;
  for (const s of samples) {
    if (s.ep !== want) start ??= s;
    else if (start) {
      runs.push({ at: start.at, ms: s.at - start.at, ep: start.ep, open: false });
      start = undefined;
    }
  }
  if (start) runs.push({ at: start.at, ms: samples.at(-1)!.at - start.at, ep: start.ep, open: true });
  return runs;
}

/**
 * Waits until meshwrt's path to the phone is direct and the router's kernel endpoint for the
 * phone is that same endpoint, at the cafe's public address (the phone pinging meanwhile), and
 * the phone's `tailscale ping` is answered direct as well: direct at both ends.
 */
async function phoneDirectInKernel() {
  const phone = phones.get("phone")!;
  const routerIp = (await phone.waitForPeer("router")).TailscaleIPs![0]!;
  const self = (await phone.status()).Self;
  const phoneIp = self.TailscaleIPs!.find((a) => a.startsWith("100."))!;
  const wgKey = Buffer.from(self.PublicKey.replace(/^nodekey:/, ""), "hex").toString("base64");
  const router = t.host("router");
  const kernelEndpoint = async () => (await router.run("wg show meshwrt0 endpoints")).split("\n").find((l) => l.startsWith(wgKey))?.split("\t")[1] ?? "";
  const direct = await waitFor("the router direct to the phone, in its kernel too", async () => {
    await t.host("phone").exec(`ping -c 2 -i 0.2 -W 1 ${routerIp}`);
    const p = (JSON.parse((await agents.get("router")!.cli("peers --json")).stdout).peers as { name: string; endpoint?: string }[]).find((x) => x.name === "phone");
    return p?.endpoint && (await kernelEndpoint()) === p.endpoint ? p.endpoint : undefined;
  }, 60_000, 500);
  expect(direct.startsWith(`${t.nat("cafe").publicIp}:`), `the phone's direct endpoint ${direct} is the cafe's public address`).toBe(true);
  // The phone's side too: its own disco pong came over the direct path, so tailscaled sends there.
  expect(await timeToDirect(phone, routerIp, 30_000), "the phone's pongs from the router direct").toBeDefined();
  return { routerIp, phoneIp, wgKey, direct };
}

const CELLS = [
  { router: "router", ref: "ref", nat: "home", phone: "phone" },
  { router: "router", ref: "ref", nat: "home", phone: "phone2" },
  { router: "router2", ref: "ref2", nat: "dorm", phone: "phone" },
  { router: "router2", ref: "ref2", nat: "dorm", phone: "phone2" },
] as const;

/** How long until `tailscale ping` from `phone` to `ip` answers over a direct path ("via IP:PORT"), or undefined within the time. */
async function timeToDirect(phone: Tailscaled, ip: string, withinMs: number): Promise<{ ms: number; via: string } | undefined> {
  const started = Date.now();
  return waitFor("a direct pong", async () => {
    const r = await phone.ping(ip, { count: 5, untilDirect: true, timeout: "2s" });
    const p = r.pongs.at(-1);
    return p && !p.via.startsWith("DERP(") ? { ms: Date.now() - started, via: p.via } : undefined;
  }, withinMs, 200).catch(() => undefined);
}

beforeAll(async () => {
  execFileSync("make", ["--no-print-directory", "build/out/meshwrt"], { stdio: "inherit" });
  vm = await Vm.boot({ memoryMb: 1536 });
  t = await topology(
    {
      hosts: ["derp"],
      nats: [
        { name: "home", type: "port-restricted", hosts: ["router", "ref"] },
        { name: "dorm", type: "symmetric", hosts: ["router2", "ref2"] },
        { name: "cafe", type: "port-restricted", hosts: ["phone"] },
        { name: "hotel", type: "symmetric", hosts: ["phone2"] },
      ],
    },
    { exec: (c) => vm.exec(c, { timeoutMs: 120_000 }) },
  );
  derp = await startDerper(t.host("derp"), { dir: `${t.dir}/derper` });
  hs = await startHeadscale(t.host("derp"), { dir: `${t.dir}/headscale`, derpMapYaml: derp.derpMapYaml(), tls: { certFile: derp.certFile, keyFile: derp.keyFile } });
  expect(hs.url).toMatch(/^https:/);
  const authKey = await hs.preAuthKey(await hs.createUser("alice"), { reusable: true });
  for (const name of ["router", "router2"]) {
    agents.set(name, await startMeshwrt(t.host(name), { dir: `${t.dir}/${name}`, loginServer: hs.url, authKey, hostname: name, caFile: derp.certFile }));
  }
  await vm.exec("modprobe tun");
  for (const name of ["ref", "ref2", "phone", "phone2"]) {
    // Go's TLS trusts SSL_CERT_FILE: the test's certificate, as meshwrt's --ca-file.
    // The phone on a TUN device: its own TCP connection rides the tailnet.
    const ts = await startTailscaled(t.host(name), { dir: `${t.dir}/${name}`, env: { SSL_CERT_FILE: derp.certFile }, ...(name === "phone" ? { tun: "tailscale0" } : {}) });
    await ts.up({ loginServer: hs.url, authKey, hostname: name, timeoutSec: 90 });
    if (name.startsWith("phone")) phones.set(name, ts);
    else refs.push(ts);
  }
}, 600_000);

afterAll(async () => {
  for (const [name, a] of agents) console.log(`--- ${name}\n${(await a.log()).split("\n").filter((l) => /path|endpoints|direct|stun|error|warn/.test(l)).slice(-15).join("\n")}`);
  for (const a of agents.values()) await a.proc.stop().catch(() => {});
  await t?.destroy();
  await vm?.shutdown();
}, 120_000);

describe("direct paths through NATs: meshwrt against a tailscaled reference in the same place", () => {
  it("gets a direct path in every cell where the reference does", async () => {
    const rows: string[] = [];
    for (const c of CELLS) {
      const phone = phones.get(c.phone)!;
      const refIp = (await phone.waitForPeer(c.ref, 60_000)).TailscaleIPs![0]!;
      const meshIp = (await phone.waitForPeer(c.router, 60_000)).TailscaleIPs![0]!;
      const [ref, mesh] = [await timeToDirect(phone, refIp, 20_000), await timeToDirect(phone, meshIp, 20_000)];
      const phoneNat = t.host(c.phone).nat!.type;
      rows.push(`${t.nat(c.nat).type.padEnd(16)} ${phoneNat.padEnd(16)} ${(ref ? `direct ${ref.via} ${ref.ms} ms` : "relay").padEnd(34)} ${mesh ? `direct ${mesh.via} ${mesh.ms} ms` : "relay"}`);
      if (ref) expect(mesh, `${c.router} behind ${c.nat} from ${c.phone}`).toBeDefined();
      if (mesh) expect(mesh.via).toMatch(new RegExp(`^${t.nat(c.nat).publicIp.replace(/\./g, "\\.")}:\\d+$`));
    }
    console.log(`router NAT       phone NAT        reference (tailscaled)             meshwrt\n${rows.join("\n")}`);
    // meshwrt says so too: the phone's path in `meshwrt peers`.
    const peers = JSON.parse((await agents.get("router")!.cli("peers --json")).stdout).peers as { name: string; path: string }[];
    expect(peers.find((p) => p.name === "phone")?.path).toMatch(/^direct \d+\.\d+\.\d+\.\d+:\d+, \d+ ms$/);
    const ping = await agents.get("router")!.cli("ping phone");
    expect(ping.stdout, ping.stderr).toMatch(/^pong from phone \(100\.[\d.]+\) direct \d+\.\d+\.\d+\.\d+:\d+ in [\d.]+ ms$/m);
    const netcheck = JSON.parse((await agents.get("router")!.cli("netcheck --json")).stdout);
    expect(netcheck.endpoints).toContain(`${t.nat("home").publicIp}:41641`);
    // The disco above reached the agent by tproxy: the VM's kernel has it, and the agent is root.
    expect(await agents.get("router")!.log()).toContain("firewall: disco and STUN reach the agent by tproxy, before conntrack");
  }, 600_000);

  it("direct in the kernel: while iperf3 runs on the direct path, every sample of the router's WireGuard endpoint for the phone is the phone's public address, and the relay bridge carries at most the phone's duplicates and, only where the kernel took one, a few of the router's packets", async () => {
    const router = t.host("router"), ph = t.host("phone");
    const k = await phoneDirectInKernel();
    await router.run(`iperf3 -s -1 -D -B ${k.routerIp}`);
    await waitFor("iperf3 listening", async () => ((await router.exec(`ss -Htln 'sport = :5201'`)).stdout.trim() ? true : undefined), 10_000, 100);
    const read = await sampleKernelEndpoint(router, k.wgKey, 15, "transfer");
    const tunnelSent = async () => Number(await router.run("cat /sys/class/net/meshwrt0/statistics/tx_packets"));
    const [before, sentBefore, repinsBefore] = [await bridgeCounters(), await tunnelSent(), await routerRepins()];
    const from = await vmNow(ph);
    const iperf = JSON.parse(await ph.run(`iperf3 -c ${k.routerIp} -t 6 -J`)) as { end: { sum_received: { bits_per_second: number } } };
    const until = await vmNow(ph);
    const bridge = grown(before, await bridgeCounters());
    const sentByRouter = (await tunnelSent()) - sentBefore;
    const samples = (await read()).filter((s) => s.at >= from && s.at <= until);
    const eps = [...new Set(samples.map((s) => s.ep))];
    console.log(`iperf3 phone -> router on ${k.direct}: ${(iperf.end.sum_received.bits_per_second / 1e6).toFixed(1)} Mbit/s over ${until - from} ms; ` +
      `${samples.length} samples of the kernel endpoint: ${eps.map((e) => `${e || "none"} x${samples.filter((s) => s.ep === e).length}`).join(", ")}; ` +
      `relay bridge meanwhile: ${JSON.stringify(bridge)}; the router sent ${sentByRouter} packets into the tunnel and set its kernel endpoint direct again ${(await routerRepins()) - repinsBefore} time(s)`);
    if (bridge.toKernel.data) console.log(`the phone's tailscaled on its paths meanwhile:\n${(await phones.get("phone")!.log(400)).split("\n").filter((l) => /magicsock: (disco|endpoint)|now using|pong/.test(l)).slice(-12).join("\n")}`);
    expect(samples.length).toBeGreaterThanOrEqual(10);
    expect(eps).toEqual([k.direct]);
    // The phone's side is tailscaled's: once its last pong is older than 6.5 s (magicsock's
    // trustUDPAddrDuration; two heartbeats lost in a VM starved by the transfer) it sends every
    // packet both ways until the next pong. A copy whose twin came direct is refused by the
    // kernel as a replay; one whose twin was lost, or is still queued behind the transfer,
    // is taken. Such lapses come with the host's load (12 and 83 copies in loaded runs, 0 on a
    // quiet one); a phone that had left the direct path, or never had a pong from the router,
    // would send all of its packets through the relay, not a tenth.
    const sentByPhone = (iperf.end.sum_received.bits_per_second * (until - from)) / 1000 / 8 / 1400;
    expect(bridge.toKernel.data, `WireGuard data packets from the phone through the relay, of about ${Math.round(sentByPhone)} it sent`).toBeLessThan(Math.max(20, sentByPhone / 10));
    // The router's side is meshwrt's: with nothing from the phone through the relay, not one
    // data packet of the kernel's goes out by it. A copy the kernel took moves its endpoint to
    // the relay (the kernel roams to where an authenticated packet came from) until meshwrt sets
    // it direct again, at once when the kernel is seen sending there: a few packets each time
    // (CI saw 78 of a router's packets relayed when the re-pin waited 100 ms). A router left on
    // the relay would send all of them there, not a tenth.
    if (bridge.toKernel.data === 0) expect(bridge.fromKernel.data, "WireGuard data packets to the phone through the relay").toBe(0);
    else expect(bridge.fromKernel.data, `WireGuard data packets to the phone through the relay, of ${sentByRouter} the router sent`).toBeLessThan(Math.max(20, sentByRouter / 10));
  }, 180_000);

  it("kernel roaming: the phone's network changes (tailscale debug rebind) and its next packet comes through the relay; the router's kernel endpoint is direct again within one heartbeat and a stream to the phone loses nothing", async () => {
    const router = t.host("router"), ph = t.host("phone");
    const phone = phones.get("phone")!;
    const k = await phoneDirectInKernel();
    // One way, router to phone: the phone sends nothing of its own after its one packet, so
    // only meshwrt (not the phone's next direct packet) can take the kernel back to direct.
    const SECONDS = 14, INTERVAL_MS = 20;
    const sinkLog = `${t.dir}/stream-sink.log`, sendLog = `${t.dir}/stream-send.log`;
    await ph.spawn(`exec node ${STREAM} sink ${k.phoneIp} 5003 3 ${SECONDS + 60}`, sinkLog);
    await waitFor("the stream's sink", async () => ((await ph.exec(`ss -Huln 'sport = :5003'`)).stdout.trim() ? true : undefined), 10_000, 100);
    const read = await sampleKernelEndpoint(router, k.wgKey, SECONDS + 8, "roaming");
    const before = await bridgeCounters();
    await router.spawn(`exec node ${STREAM} send ${k.phoneIp} 5003 ${SECONDS} ${INTERVAL_MS}`, sendLog);
    await new Promise((r) => setTimeout(r, 3000));
    // What tailscaled does when the phone's network changes: it forgets its best direct
    // address and sends over DERP until a disco pong confirms the path again. The ping's
    // echo request is that packet: authenticated, so the kernel moves the endpoint to where it
    // came from. Meanwhile the router's disco pongs to the phone are lost (UDP length 118: a
    // pong, 110 bytes; no WireGuard message has that size), so the phone cannot confirm its
    // path before the ping, however slowly the loaded VM starts it. The router's own
    // heartbeats and the phone's answers pass: meshwrt's path stays healthy and direct.
    const [home, cafe] = [t.nat("home").publicIp, t.nat("cafe").publicIp];
    await t.internet.run(`nft add rule inet meshwrt udpblock ip saddr ${home} ip daddr ${cafe} udp length 118 drop`);
    let rebindAt: string | undefined, pinged: string | undefined;
    try {
      [rebindAt, pinged] = (await ph.run(`date +%s%3N; ${peerBinaries().tailscale} --socket=${phone.socket} debug rebind && ping -c 1 -W 5 ${k.routerIp} >/dev/null && echo pinged`)).trim().split("\n");
    } finally {
      await t.internet.unblockUdp();
    }
    const sent = JSON.parse(await waitFor("the stream's end", async () => (await router.exec(`cat ${sendLog}`)).stdout.trim() || undefined, (SECONDS + 30) * 1000, 500)) as { sent: number };
    const got = JSON.parse(await waitFor("the sink's count", async () => (await ph.exec(`cat ${sinkLog}`)).stdout.trim() || undefined, 30_000, 500)) as { received: number; missing: string[]; maxGapMs: number };
    const bridge = grown(before, await bridgeCounters());
    const samples = (await read()).filter((s) => s.at >= Number(rebindAt));
    const runs = runsOff(samples, k.direct);
    const longest = Math.max(0, ...runs.map((r) => r.ms));
    // The stream's own pace: a loaded VM's timers fire late, so its interval is what it achieved.
    const paceMs = (SECONDS * 1000) / sent.sent;
    console.log(`rebind at ${rebindAt}: ${samples.length} samples after it, off ${k.direct}: ${JSON.stringify(runs.map((r) => ({ afterMs: r.at - Number(rebindAt), ms: r.ms, ep: r.ep || "none", ...(r.open ? { open: true } : {}) })))}; ` +
      `relay bridge: ${JSON.stringify(bridge)}; stream: sent ${sent.sent} (one per ${paceMs.toFixed(1)} ms), received ${got.received} (missing ${got.missing.join(",") || "none"}), longest gap ${got.maxGapMs} ms; ` +
      `the agent: ${await routerRepins()} re-pin(s)`);
    expect(pinged, "the phone's ping after the rebind").toBe("pinged");
    // The provocation took: a WireGuard data packet from the phone came through the relay.
    expect(bridge.toKernel.data, "WireGuard data from the phone through the relay").toBeGreaterThan(0);
    // Samples enough, and on to the stream's end (with fewer, a flip of a few hundred ms may go unseen; the bridge still counts it).
    expect(samples.length).toBeGreaterThanOrEqual(10);
    expect(samples.at(-1)!.at - Number(rebindAt), "the samples cover the stream after the rebind").toBeGreaterThanOrEqual(5000);
    // Back direct within one heartbeat of meshwrt's (2 s; tailscale's is 3 s), by the samples
    // and by what the kernel sent the relay meanwhile (the stream's packets, at its interval).
    withinBudget("the router's kernel endpoint off the phone's direct address after a packet through the relay (longest sampled run)", longest, HEARTBEAT_MS);
    withinBudget("the stream to the phone on the relay after that packet (data packets the bridge carried x the stream's pace)", bridge.fromKernel.data * paceMs, HEARTBEAT_MS);
    expect(runs.filter((r) => r.open), "the endpoint left off the direct address at the end").toEqual([]);
    expect((sent.sent - got.received) * paceMs, `stream packets lost (x the stream's pace, ms): sent ${sent.sent}, received ${got.received}`).toBeLessThanOrEqual(HEARTBEAT_MS);
  }, 180_000);

  it("UDP blocked: meshwrt on the relay; unblocked: meshwrt direct again, both timed against 5 s budgets; one TCP connection carries on through both", async () => {
    const phone = phones.get("phone")!;
    const ip = (await phone.waitForPeer("router")).TailscaleIPs![0]!;
    const router = t.host("router"), ph = t.host("phone");
    await router.spawn(`exec node ${TICKER} server ${ip} 5002`, `${t.dir}/ticker-server.log`);
    await waitFor("the echo server", async () => ((await router.exec(`ss -Htln 'sport = :5002'`)).stdout.trim() ? true : undefined), 10_000, 100);
    const tickerLog = `${t.dir}/ticker-client.log`;
    await ph.spawn(`exec node ${TICKER} client ${ip} 5002 40`, tickerLog);
    const tickingFrom = Date.now();
    await new Promise((r) => setTimeout(r, 3000));
    // meshwrt's own view of its path to the phone, from `meshwrt peers`.
    const agent = agents.get("router")!;
    const meshPath = async () => (JSON.parse((await agent.cli("peers --json")).stdout).peers as { name: string; path: string }[]).find((p) => p.name === "phone")?.path ?? "";
    await t.internet.blockUdp(t.nat("home").publicIp, t.nat("cafe").publicIp);
    const blockedAt = Date.now();
    // Both ends watched at once, each timed from the block.
    const [meshRelayMs, [relayMs, relayed]] = await Promise.all([
      waitFor("meshwrt on the relay", async () => ((await meshPath()).startsWith("relay") ? Date.now() - blockedAt : undefined), 60_000, 200),
      waitFor("pongs through the relay", async () => {
        const r = await phone.ping(ip, { count: 1, untilDirect: false, timeout: "2s" });
        return r.pongs[0]?.via.startsWith("DERP(") ? ([Date.now() - blockedAt, r.pongs[0]] as const) : undefined;
      }, 60_000, 200),
    ]);
    console.log(`blocked: the phone's pongs came through ${relayed.via}`);
    await new Promise((r) => setTimeout(r, 5000));
    await t.internet.unblockUdp();
    const unblockedAt = Date.now();
    const meshDirectMs = await waitFor("meshwrt direct again", async () => ((await meshPath()).startsWith("direct") ? Date.now() - unblockedAt : undefined), 60_000, 200);
    const back = await timeToDirect(phone, ip, 60_000);
    const bothChangesWithin = Date.now() - tickingFrom;
    console.log(`unblocked: the phone's pongs came direct from ${back?.via}; both changes within ${bothChangesWithin} ms of the stream's 40 s`);
    const ticker = JSON.parse(await waitFor("the TCP connection's tally", async () => (await ph.exec(`cat ${tickerLog}`)).stdout.trim() || undefined, 90_000, 1000)) as { sent: number; echoed: number; error?: string };
    console.log(`one TCP connection through both changes: ${JSON.stringify(ticker)}`);
    expect(ticker.error).toBeUndefined();
    // The stream spanned both changes; its count of lines is the client's timer (100 ms), which a
    // loaded machine slows (291 in 40 s at load 7.5), so it only shows the stream ran.
    expect(bothChangesWithin).toBeLessThan(40_000);
    expect(ticker.sent).toBeGreaterThan(100);
    expect(ticker.echoed).toBe(ticker.sent);
    // Issue 5's budgets are 5 s each way. meshwrt's own fallback: a heartbeat every 2 s unanswered
    // for 1.5 s with nothing received over the path for 2.5 s, plus the polling of `meshwrt
    // peers` through the VM; the exact timing is unit-tested in test/portable/paths.suite.ts.
    withinBudget("meshwrt on the relay after UDP was blocked", meshRelayMs, 5000);
    withinBudget("meshwrt direct after UDP was unblocked", meshDirectMs, 5000);
    // The phone is stock tailscaled: it waits out its 6.5 s trust in the last pong
    // (trustUDPAddrDuration) and a 3 s heartbeat, and each look is a 2 s `tailscale ping`.
    withinBudget("the phone's pongs through the relay", relayMs, 10_000);
    expect(back).toBeDefined();
    withinBudget("the phone's pongs direct again", back!.ms, 5000);
  }, 240_000);
});
