// Network topologies for tests, built from network namespaces, veth links, bridges and nftables.
//
//   const t = await topology({
//     hosts: ["control", "derp"],                       // public hosts on the "internet"
//     nats: [
//       { name: "home", type: "port-restricted", hosts: ["a"], printer: true, camera: true },
//       { name: "cgnat", type: "symmetric", hosts: ["b"] },
//       { name: "hotel", firewall: "drop-udp", hosts: ["c"] },
//     ],
//   });
//   await t.host("a").run("ping -c1 " + t.host("control").ip);
//   await t.destroy();
//
// Addresses: the internet core (namespace "inet") routes between /24 links 198.18.K.0/24 (core
// .1, the attached namespace .2) and has its own host address 198.51.100.1 ("the internet
// host"). A NAT router's public address is its link's .2; its LAN is 192.168.N.0/24 (router .1,
// hosts .10, .11, ..., printer .50 with TCP 631, camera .60 with TCP 554, no agent on either;
// each answers a connection with its name and the address it came from: "printer from 192.168.1.10").
//
// NAT types (nftables masquerade, so filtering is conntrack's: address-and-port-dependent):
//   "port-restricted": endpoint-independent mapping (the source port is kept for every
//                      destination), port-restricted filtering.
//   "symmetric":       a different public port for each destination (masquerade fully-random),
//                      port-restricted filtering.
// firewall "drop-udp": the router forwards no UDP at all (TCP still passes).
//
// IPv6 (TopologySpec.ipv6; otherwise every namespace has IPv6 off): routed, no NAT66, as an ISP
// delegates a prefix. Link K is 2001:db8:18:K::/64 (core ::1, the namespace ::2); a NAT's LAN
// 192.168.N.0/24 is also 2001:db8:168:N::/64 (router ::1, each host the same last number as
// its IPv4 address: .10 is ::10). Each NAT router filters IPv6 as a home router does: its
// forward chain (table inet) lets in from the WAN only what answers traffic from inside.
// Like a home router, a NAT drops new connections from the WAN to itself. That matters for
// hole punching: the drop happens before conntrack confirms the entry, so an early datagram
// from a peer leaves no entry behind that would clash with (and move) the later outbound mapping.
//
// Every namespace name carries a run-unique prefix "mw-PID-RAND-". destroy() stops every process
// started through the topology and deletes every namespace; a process-exit hook does the same if
// a test dies first, and a new topology sweeps namespaces left by runs whose process is gone.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { type Exec, type ExecResult, type Proc, type Runner, hostRunner, inNs, pidAlive, run, runnerFrom, sh, type Spawn } from "./exec.js";

export type NatType = "port-restricted" | "symmetric";

export interface NatSpec {
  name: string;
  /** Default "port-restricted". */
  type?: NatType;
  /** "drop-udp": forward no UDP in either direction. */
  firewall?: "none" | "drop-udp";
  /** Hosts on this NAT's LAN (namespaces that will run agents or tools). */
  hosts?: string[];
  /** Third octet of the LAN 192.168.N.0/24; default: the NAT's position + 1. */
  lan?: number;
  /** A device with a TCP listener on 631 at .50 (no agent). */
  printer?: boolean;
  /** A device with a TCP listener on 554 at .60 (no agent). */
  camera?: boolean;
}

export interface TopologySpec {
  /** Hosts directly on the internet (public addresses). */
  hosts?: string[];
  nats?: NatSpec[];
  /** Global IPv6 on the internet and on every LAN besides IPv4 (see above); off: no IPv6 anywhere. */
  ipv6?: boolean;
}

export interface TopologyOptions {
  /** Runs every command; default: this host (sh -c). */
  exec?: Exec;
  /** Starts long-lived processes in a namespace; default: child processes (host) or setsid via exec. */
  spawn?: Spawn;
}

export interface Host {
  readonly name: string;
  /** Network namespace name. */
  readonly ns: string;
  /** The host's address (public for internet hosts and NATs, LAN for hosts behind a NAT). */
  readonly ip: string;
  /** Its global IPv6 address (TopologySpec.ipv6): the internet link's for internet hosts and NATs, the LAN's behind a NAT. */
  readonly ip6?: string;
  /** The NAT this host sits behind, if any. */
  readonly nat?: Nat;
  /** Runs a command (sh syntax) in the namespace. */
  exec(cmd: string): Promise<ExecResult>;
  /** Like exec, but throws with the output unless it exits 0; returns stdout. */
  run(cmd: string): Promise<string>;
  /** Starts a long-lived process in the namespace; it is stopped by destroy(). Output goes to logFile (default: DIR/NAME-N.log). */
  spawn(cmd: string, logFile?: string): Promise<Proc>;
}

export interface Nat extends Host {
  readonly type: NatType;
  /** The router's public (WAN) address. */
  readonly publicIp: string;
  /** The LAN prefix, e.g. 192.168.1.0/24, and the router's LAN address. */
  readonly lanSubnet: string;
  readonly lanIp: string;
  /** Printer and camera addresses when present. */
  readonly printer?: string;
  readonly camera?: string;
  /** Turns the drop-all-UDP firewall on or off at run time. */
  dropUdp(on: boolean): Promise<void>;
}

export interface Internet extends Host {
  /** Drops UDP between two addresses (both directions) in the internet core: IPv4 addresses, so UDP over IPv6 still passes. */
  blockUdp(a: string, b: string): Promise<void>;
  /** Removes every blockUdp rule. */
  unblockUdp(): Promise<void>;
}

export interface Topology {
  readonly prefix: string;
  /** A temporary directory (where the commands run) for logs and state; removed by destroy(). */
  readonly dir: string;
  readonly runner: Runner;
  readonly internet: Internet;
  host(name: string): Host;
  nat(name: string): Nat;
  /** Registers a cleanup to run (before namespaces go) at destroy. */
  onDestroy(fn: () => Promise<void>): void;
  destroy(): Promise<void>;
}

// --- bookkeeping for the exit hook (host runner only) ---
const liveNamespaces = new Set<string>();
const livePids = new Set<number>();
const liveDirs = new Set<string>();
let hookInstalled = false;

function installExitHook(): void {
  if (hookInstalled) return;
  hookInstalled = true;
  process.on("exit", () => {
    for (const pid of livePids) {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          /* gone */
        }
      }
    }
    for (const ns of liveNamespaces) deleteNamespaceSync(ns);
    for (const dir of liveDirs) spawnSync("rm", ["-rf", dir]);
  });
}

function deleteNamespaceSync(ns: string): void {
  const pids = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8" }).stdout ?? "";
  for (const p of pids.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(p), "SIGKILL");
    } catch {
      /* gone */
    }
  }
  spawnSync("ip", ["netns", "del", ns]);
}

/** Deletes namespaces (and their processes) left by earlier runs whose process has died. */
function sweepStale(): void {
  const list = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout ?? "";
  for (const line of list.split("\n")) {
    const m = /^(mw-(\d+)-[0-9a-f]+-\S+)/.exec(line);
    if (!m) continue;
    const alive = pidAlive(Number(m[2]));
    if (!alive) deleteNamespaceSync(m[1]!);
  }
  for (const f of readdirSync("/tmp")) {
    const m = /^meshwrt-net\.(\d+)\./.exec(f);
    if (m && !pidAlive(Number(m[1]))) spawnSync("rm", ["-rf", `/tmp/${f}`]);
  }
}


const INTERNET_IP = "198.51.100.1";

export async function topology(spec: TopologySpec, opts: TopologyOptions = {}): Promise<Topology> {
  const runner = opts.exec ? runnerFrom(opts.exec, opts.spawn) : { ...hostRunner, spawn: opts.spawn ?? hostRunner.spawn };
  const exec = runner.exec;
  if (runner.local) {
    installExitHook();
    sweepStale();
  }
  const prefix = `mw-${process.pid}-${randomBytes(2).toString("hex")}-`;
  const nsName = (n: string) => prefix + n;

  const names = new Set<string>(["inet"]);
  const claim = (n: string) => {
    if (!/^[A-Za-z0-9_-]{1,20}$/.test(n)) throw new Error(`topology: bad name ${JSON.stringify(n)}`);
    if (names.has(n)) throw new Error(`topology: name ${n} used twice`);
    names.add(n);
  };

  const dir = (await run(exec, `mktemp -d /tmp/meshwrt-net.${process.pid}.XXXXXX`, "mktemp")).trim();
  if (runner.local) liveDirs.add(dir);

  const procs: Proc[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  const created: string[] = [];
  let logCount = 0;

  const makeHost = (name: string, ns: string, ip: string, nat?: Nat, ip6?: string): Host => ({
    name,
    ns,
    ip,
    ...(ip6 ? { ip6 } : {}),
    ...(nat ? { nat } : {}),
    exec: (cmd) => exec(`${inNs(ns)}sh -c ${sh(cmd)}`),
    run: (cmd) => run(exec, `${inNs(ns)}sh -c ${sh(cmd)}`, `[${name}]`),
    spawn: async (cmd, logFile) => {
      const p = await runner.spawn(ns, cmd, logFile ?? `${dir}/${name}-${++logCount}.log`);
      procs.push(p);
      if (runner.local) livePids.add(p.pid);
      return p;
    },
  });

  // One script builds everything: one process start per topology (cheap inside a VM too).
  const script: string[] = ["set -e"];
  const addNs = (n: string) => {
    const ns = nsName(n);
    created.push(ns);
    if (runner.local) liveNamespaces.add(ns);
    script.push(
      `ip netns add ${ns}`,
      `ip -n ${ns} link set lo up`,
      // With IPv6: no duplicate address detection, so addresses work at once (nothing here can clash).
      spec.ipv6
        ? `ip netns exec ${ns} sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0`
        : `ip netns exec ${ns} sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1`,
    );
    return ns;
  };
  const nft = (ns: string, rules: string) => script.push(`ip netns exec ${ns} nft -f - <<'NFT'\n${rules}\nNFT`);

  // The internet core.
  const inetNs = addNs("inet");
  script.push(
    `ip netns exec ${inetNs} sysctl -qw net.ipv4.ip_forward=1`,
    `ip -n ${inetNs} addr add ${INTERNET_IP}/32 dev lo`,
  );
  if (spec.ipv6) script.push(`ip netns exec ${inetNs} sysctl -qw net.ipv6.conf.all.forwarding=1`);
  nft(
    inetNs,
    `table inet meshwrt {
  chain udpblock { }
  chain forward { type filter hook forward priority 0; policy accept; jump udpblock; }
}`,
  );
  let link = 0;
  /** Links a namespace to the core: its IPv4 address, and its IPv6 one with TopologySpec.ipv6. */
  const attach = (ns: string, ifname: string): { ip: string; ip6?: string } => {
    link++;
    if (link > 250) throw new Error("topology: too many internet links");
    script.push(
      `ip -n ${inetNs} link add up${link} type veth peer name ${ifname} netns ${ns}`,
      `ip -n ${inetNs} addr add 198.18.${link}.1/24 dev up${link}`,
      `ip -n ${inetNs} link set up${link} up`,
      `ip -n ${ns} addr add 198.18.${link}.2/24 dev ${ifname}`,
      `ip -n ${ns} link set ${ifname} up`,
      `ip -n ${ns} route add default via 198.18.${link}.1`,
    );
    if (!spec.ipv6) return { ip: `198.18.${link}.2` };
    script.push(
      `ip -n ${inetNs} -6 addr add 2001:db8:18:${link}::1/64 dev up${link} nodad`,
      `ip -n ${ns} -6 addr add 2001:db8:18:${link}::2/64 dev ${ifname} nodad`,
      `ip -n ${ns} -6 route add default via 2001:db8:18:${link}::1`,
    );
    return { ip: `198.18.${link}.2`, ip6: `2001:db8:18:${link}::2` };
  };

  const hosts = new Map<string, Host>();
  const nats = new Map<string, Nat>();

  for (const h of spec.hosts ?? []) {
    claim(h);
    const ns = addNs(h);
    const a = attach(ns, "eth0");
    hosts.set(h, makeHost(h, ns, a.ip, undefined, a.ip6));
  }

  const listeners: { ns: string; port: number; banner: string }[] = [];
  (spec.nats ?? []).forEach((n, i) => {
    claim(n.name);
    const type = n.type ?? "port-restricted";
    const ns = addNs(n.name);
    const wan = attach(ns, "wan");
    const publicIp = wan.ip;
    const octet = n.lan ?? i + 1;
    const lanSubnet = `192.168.${octet}.0/24`;
    const lanIp = `192.168.${octet}.1`;
    const lan6 = (host: number) => (spec.ipv6 ? `2001:db8:168:${octet}::${host}` : undefined);
    script.push(
      `ip netns exec ${ns} sysctl -qw net.ipv4.ip_forward=1`,
      `ip -n ${ns} link add lan type bridge`,
      `ip -n ${ns} addr add ${lanIp}/24 dev lan`,
      `ip -n ${ns} link set lan up`,
    );
    if (spec.ipv6) {
      script.push(
        `ip netns exec ${ns} sysctl -qw net.ipv6.conf.all.forwarding=1`,
        // Neighbour discovery floods the LAN: no MLD querier here for snooping to learn from.
        `ip -n ${ns} link set lan type bridge mcast_snooping 0`,
        `ip -n ${ns} -6 addr add ${lan6(1)}/64 dev lan nodad`,
        // The ISP routes the LAN's prefix to the router.
        `ip -n ${inetNs} -6 route add 2001:db8:168:${octet}::/64 via ${wan.ip6}`,
      );
    }
    const masq = type === "symmetric" ? "masquerade fully-random" : "masquerade";
    nft(
      ns,
      `table ip meshwrt_nat {
  chain postrouting { type nat hook postrouting priority srcnat; policy accept; oifname "wan" ${masq}; }
}
table inet meshwrt_fw {
  chain udpfilter { ${n.firewall === "drop-udp" ? "meta l4proto udp drop;" : ""} }
  chain forward {
    type filter hook forward priority 0; policy accept;
    jump udpfilter
    iifname "wan" ct state established,related accept
    iifname "wan" drop
  }
  chain input {
    type filter hook input priority 0; policy accept;
    iifname "wan" ct state new drop
  }
}`,
    );
    const dropUdp = async (on: boolean) => {
      await run(
        exec,
        `${inNs(ns)}nft ${sh(`flush chain inet meshwrt_fw udpfilter${on ? "; add rule inet meshwrt_fw udpfilter meta l4proto udp drop" : ""}`)}`,
        `nat ${n.name} dropUdp`,
      );
    };
    let next = 10;
    const lanHost = (name: string, addr: string) => {
      claim(name);
      const hns = addNs(name);
      const port = `l${next}`;
      script.push(
        `ip -n ${hns} link add eth0 type veth peer name ${port} netns ${ns}`,
        `ip -n ${ns} link set ${port} master lan up`,
        `ip -n ${hns} addr add ${addr}/24 dev eth0`,
        `ip -n ${hns} link set eth0 up`,
        `ip -n ${hns} route add default via ${lanIp}`,
      );
      if (spec.ipv6) script.push(`ip -n ${hns} -6 addr add ${lan6(next)}/64 dev eth0 nodad`, `ip -n ${hns} -6 route add default via ${lan6(1)}`);
      return hns;
    };
    const base = makeHost(n.name, ns, publicIp, undefined, wan.ip6);
    const nat: Nat = {
      ...base,
      type,
      publicIp,
      lanSubnet,
      lanIp,
      ...(n.printer ? { printer: `192.168.${octet}.50` } : {}),
      ...(n.camera ? { camera: `192.168.${octet}.60` } : {}),
      dropUdp,
    };
    nats.set(n.name, nat);
    for (const h of n.hosts ?? []) {
      const addr = `192.168.${octet}.${next}`;
      const hns = lanHost(h, addr);
      hosts.set(h, makeHost(h, hns, addr, nat, lan6(next)));
      next++;
    }
    if (n.printer) {
      next = 50;
      listeners.push({ ns: lanHost(`${n.name}-printer`, `192.168.${octet}.50`), port: 631, banner: "printer" });
    }
    if (n.camera) {
      next = 60;
      listeners.push({ ns: lanHost(`${n.name}-camera`, `192.168.${octet}.60`), port: 554, banner: "camera" });
    }
  });

  const internetBase = makeHost("internet", inetNs, INTERNET_IP);
  const internet: Internet = {
    ...internetBase,
    blockUdp: async (a, b) => {
      await run(
        exec,
        `${inNs(inetNs)}nft ${sh(
          `add rule inet meshwrt udpblock ip saddr ${a} ip daddr ${b} meta l4proto udp drop; ` +
            `add rule inet meshwrt udpblock ip saddr ${b} ip daddr ${a} meta l4proto udp drop`,
        )}`,
        "internet blockUdp",
      );
    },
    unblockUdp: async () => {
      await run(exec, `${inNs(inetNs)}nft flush chain inet meshwrt udpblock`, "internet unblockUdp");
    },
  };

  let destroyed = false;
  const t: Topology = {
    prefix,
    dir,
    runner,
    internet,
    host(name) {
      const h = hosts.get(name) ?? nats.get(name) ?? (name === "internet" ? internet : undefined);
      if (!h) throw new Error(`topology: no host ${name}`);
      return h;
    },
    nat(name) {
      const n = nats.get(name);
      if (!n) throw new Error(`topology: no NAT ${name}`);
      return n;
    },
    onDestroy(fn) {
      cleanups.push(fn);
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      const errors: string[] = [];
      for (const fn of cleanups.reverse()) {
        await fn().catch((e: unknown) => errors.push(String(e)));
      }
      await Promise.all(procs.map((p) => p.stop().catch((e: unknown) => errors.push(String(e)))));
      for (const p of procs) livePids.delete(p.pid);
      // Kill whatever else still runs in our namespaces, then delete them.
      const del = created
        .map((ns) => `for p in $(ip netns pids ${ns} 2>/dev/null); do kill -9 $p 2>/dev/null; done; ip netns del ${ns} 2>/dev/null`)
        .join("; ");
      const r = await exec(`${del}; rm -rf ${sh(dir)}; true`);
      if (r.code !== 0) errors.push(r.stderr);
      for (const ns of created) liveNamespaces.delete(ns);
      liveDirs.delete(dir);
      if (errors.length) throw new Error(`topology teardown: ${errors.join("; ")}`);
    },
  };

  try {
    await run(exec, script.join("\n"), "topology setup");
    for (const l of listeners) {
      // "printer from 192.168.1.1": who connected, as the device sees it (source NAT shows here).
      const js = `require("net").createServer(s=>{s.on("error",()=>{});s.end(${JSON.stringify(l.banner)}+" from "+s.remoteAddress.replace(/^::ffff:/,"")+"\\n")}).listen(${l.port},"0.0.0.0")`;
      const p = await runner.spawn(l.ns, `exec ${sh(process.execPath)} -e ${sh(js)}`, `${dir}/${l.banner}-${l.ns}.log`);
      procs.push(p);
      if (runner.local) livePids.add(p.pid);
    }
    // The device listeners must be up before a test uses them.
    for (const l of listeners) {
      await waitListen(exec, l.ns, l.port);
    }
  } catch (e) {
    await t.destroy().catch(() => {});
    throw e;
  }
  return t;
}

async function waitListen(exec: Exec, ns: string, port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await exec(`${inNs(ns)}ss -Hltn 'sport = :${port}'`);
    if (r.code === 0 && r.stdout.trim()) return;
    if (Date.now() > deadline) throw new Error(`topology: nothing listens on TCP ${port} in ${ns} after 10 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
