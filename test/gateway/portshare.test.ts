// Port sharing with real nftables between two network namespaces: a host
// ("router") with a stand-in for the kernel's WireGuard socket on port P and
// the agent's socket on Q, and a peer that sends to P. Disco and STUN
// answers reach Q; everything else stays with P; what Q sends leaves from P.
// The rules are meshwrt's table with the port share in it (ruleset.ts,
// portshare.ts), as the agent loads it.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GatewayRules, removeScript, rulesetScript } from "../../agent/src/gateway/ruleset.js";
import { bindingRequest } from "../../agent/src/stun/message.js";

const P = 41641, Q = 40999;
const tag = randomBytes(3).toString("hex");
const [ns, peer] = [`mw-ps-${tag}`, `mw-pp-${tag}`];
const sh = (n: string, cmd: string) => execFileSync("ip", ["netns", "exec", n, "sh", "-c", cmd], { encoding: "utf8" });
/** meshwrt's table with the port share (P for WireGuard, Q for the agent) and no ACL or NAT; `o` changes it. */
const shareScript = (o: Partial<GatewayRules> = {}) => rulesetScript({ iface: "meshwrt0", routes: [], exitNode: false, snat: false, filter: [], portShare: { wgPort: P, agentPort: Q }, ...o });
const load = (script: string) => spawnSync("ip", ["netns", "exec", ns, "nft", "-f", "-"], { input: script, encoding: "utf8" });

/**
 * One helper process per namespace: binds the ports (IP_TRANSPARENT on those in the second
 * argument, as the agent's disco socket has it, so that tproxy may hand them datagrams: Python,
 * as Node cannot set it) and says "ready"; sends what a line on its stdin tells it and says
 * "sent"; at the end of stdin prints what arrived as JSON. The test waits for each step, so a
 * loaded machine slows it and cannot lose a datagram on the way.
 */
const UDP = `
import json,select,socket,sys,threading,time
ports,transparent=json.loads(sys.argv[1]),json.loads(sys.argv[2])
socks,got=[],[]
for p in ports:
    s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
    if p in transparent: s.setsockopt(socket.SOL_IP,19,1)
    s.bind(("0.0.0.0",p)); socks.append(s)
def rx():
    while True:
        for s in select.select(socks,[],[],0.05)[0]:
            m,a=s.recvfrom(65535); got.append({"at":s.getsockname()[1],"from":"%s:%d"%a,"hex":m.hex()})
threading.Thread(target=rx,daemon=True).start()
print("ready",flush=True)
for l in sys.stdin:
    for x in json.loads(l): socks[x["via"]].sendto(bytes.fromhex(x["hex"]),(x["ip"],x["port"]))
    print("sent",flush=True)
time.sleep(0.3); print(json.dumps(got),flush=True)`;

type Got = { at: number; from: string; hex: string }[];
type Send = { via: number; ip: string; port: number; hex: string };

/** A process in namespace `n` with sockets on `ports` (IP_TRANSPARENT on `transparent`), once they are bound. */
async function udpAt(n: string, ports: number[], transparent: number[] = []) {
  const child = spawn("ip", ["netns", "exec", n, "python3", "-c", UDP, JSON.stringify(ports), JSON.stringify(transparent)], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout! });
  const waiting: ((l: string) => void)[] = [];
  lines.on("line", (l) => waiting.shift()?.(l));
  const next = () => new Promise<string>((resolve, reject) => {
    waiting.push(resolve);
    child.once("exit", (code) => reject(new Error(`udp helper in ${n} exited (${code})`)));
  });
  expect(await next()).toBe("ready");
  return {
    async send(sends: Send[]) {
      child.stdin!.write(`${JSON.stringify(sends)}\n`);
      expect(await next()).toBe("sent");
    },
    /** What arrived at its ports, in order. */
    async received(): Promise<Got> {
      const line = next();
      child.stdin!.end();
      return JSON.parse(await line) as Got;
    },
  };
}

const DISCO = "5453f09f92ac" + "00".repeat(56);
const WG_DATA = "04000000" + "42a41221" + "00".repeat(24);
// A binding success, as a STUN server answers (the cookie at bytes 4-8).
const STUN = "0101000c" + "2112a442" + "00".repeat(12) + "0020000800011e78" + "00000000";

/**
 * fw4's WAN input as it stands on a router: only what answers the router's own traffic, and
 * `extra` (a rule that accepts a port); conntrack counts each flow's packets from here on.
 */
function statefulWan(extra = ""): void {
  sh(ns, `sysctl -qw net.netfilter.nf_conntrack_acct=1; nft -f - <<'EOF'
table inet statefulwan {
  chain input { type filter hook input priority filter; policy drop; iif "lo" accept; ct state established,related accept; ${extra} }
}
EOF`);
}

/** The packets conntrack counted in the original direction of the one flow whose line holds `match`. */
function originalPackets(match: string): number {
  const flow = sh(ns, "cat /proc/net/nf_conntrack").split("\n").filter((l) => l.includes(match));
  expect(flow, `one flow with ${match}`).toHaveLength(1);
  return Number(/packets=(\d+)/.exec(flow[0]!)![1]);
}

beforeAll(() => {
  execFileSync("ip", ["netns", "add", ns]);
  execFileSync("ip", ["netns", "add", peer]);
  execFileSync("sh", ["-c", `ip link add mwps${tag} netns ${ns} type veth peer name mwpp${tag} netns ${peer}`]);
  sh(ns, `ip link set lo up; ip addr add 10.9.0.1/24 dev mwps${tag}; ip link set mwps${tag} up`);
  sh(peer, `ip link set lo up; ip addr add 10.9.0.2/24 dev mwpp${tag}; ip link set mwpp${tag} up`);
  expect(load(shareScript()).stderr).toBe("");
});
afterAll(() => {
  spawnSync("ip", ["netns", "del", ns]);
  spawnSync("ip", ["netns", "del", peer]);
});

describe("sharing the WireGuard port with the agent, in real nftables", () => {
  // Each way of handing disco and STUN to the agent: their port rewritten after conntrack, and
  // tproxy before it (the agent's socket transparent).
  for (const tproxy of [false, true]) {
    const how = tproxy ? "by tproxy" : "by a rewrite after conntrack";
    const share = { wgPort: P, agentPort: Q, ...(tproxy ? { tproxy } : {}) };
    const agentAt = (n: string, ports: number[]) => udpAt(n, ports, tproxy ? [Q] : []);

    it(`${how}: sends disco and STUN answers to the agent's port and leaves WireGuard's traffic alone`, async () => {
      expect(load(shareScript({ portShare: share })).stderr).toBe("");
      const [router, phone] = [await agentAt(ns, [P, Q]), await udpAt(peer, [5555])];
      await phone.send([
        { via: 0, ip: "10.9.0.1", port: P, hex: DISCO },
        { via: 0, ip: "10.9.0.1", port: P, hex: WG_DATA },
        { via: 0, ip: "10.9.0.1", port: P, hex: STUN },
        { via: 0, ip: "10.9.0.1", port: P, hex: Buffer.from(bindingRequest(new Uint8Array(12))).toString("hex") },
      ]);
      const got = await router.received();
      await phone.received();
      expect(got.filter((g) => g.at === Q).map((g) => g.hex)).toEqual([DISCO, STUN]);
      expect(got.filter((g) => g.at === P)).toHaveLength(2); // the WireGuard data and a request (not an answer)
      expect(got.every((g) => g.from === "10.9.0.2:5555")).toBe(true);
    });

    it(`${how}: the peer's answers to the agent pass a stateful WAN firewall as the WireGuard port's flow`, async () => {
      expect(load(shareScript({ portShare: share })).stderr).toBe("");
      statefulWan();
      // A port of its own: conntrack keeps the other way's flow for 30 s.
      const phonePort = tproxy ? 5563 : 5562;
      try {
        const [router, phone] = [await agentAt(ns, [Q]), await udpAt(peer, [phonePort])];
        await router.send([{ via: 0, ip: "10.9.0.2", port: phonePort, hex: DISCO }]);
        await phone.send([{ via: 0, ip: "10.9.0.1", port: P, hex: STUN }]);
        expect(await router.received()).toEqual([{ at: Q, from: `10.9.0.2:${phonePort}`, hex: STUN }]);
        expect((await phone.received()).map((g) => g.from)).toEqual([`10.9.0.1:${P}`]);
        // conntrack saw one flow, the WireGuard port's, both ways.
        expect(originalPackets(`dport=${phonePort}`)).toBe(1);
        expect(sh(ns, "cat /proc/net/nf_conntrack")).toContain(`sport=${P} dport=${phonePort}`);
      } finally {
        sh(ns, "nft delete table inet statefulwan");
      }
    });

    it(`${how}: a packet from a peer through the tunnel to the WireGuard port meets the ACL, though it looks like WireGuard data or disco`, async () => {
      expect(load(shareScript({ portShare: share })).stderr).toBe("");
      // The tunnel: a link named as meshwrt's interface (the rules know it by name); the ACL lets nothing in.
      const tun = `mwpt${tag}`;
      execFileSync("sh", ["-c", `ip link add meshwrt0 netns ${ns} type veth peer name ${tun} netns ${peer}`]);
      try {
        sh(ns, "ip addr add 10.10.0.1/24 dev meshwrt0; ip link set meshwrt0 up");
        sh(peer, `ip addr add 10.10.0.2/24 dev ${tun}; ip link set ${tun} up`);
        const [router, phone] = [await agentAt(ns, [P, Q]), await udpAt(peer, [5561])];
        await phone.send([DISCO, WG_DATA, STUN].map((hex) => ({ via: 0, ip: "10.10.0.1", port: P, hex })));
        await phone.send([{ via: 0, ip: "10.9.0.1", port: P, hex: WG_DATA }]);
        // Only what came over the WAN link: the tunnel's three were dropped.
        expect(await router.received()).toEqual([{ at: P, from: "10.9.0.2:5561", hex: WG_DATA }]);
        await phone.received();
      } finally {
        sh(ns, "ip link del meshwrt0");
      }
    });
  }

  it("by tproxy, no chain of meshwrt's at input is crossed by every packet the router receives: only a NAT chain, which sees a flow's first packet", () => {
    expect(load(shareScript({ portShare: { wgPort: P, agentPort: Q, tproxy: true } })).stderr).toBe("");
    expect(sh(ns, "nft list table inet meshwrt").match(/type \w+ hook input [^;]*/g)).toEqual(["type nat hook input priority 100"]);
    expect(load(shareScript()).stderr).toBe("");
  });

  it("sends what the agent sends from the WireGuard port, with a valid checksum", async () => {
    const [router, phone] = [await udpAt(ns, [Q]), await udpAt(peer, [5556])];
    await router.send([{ via: 0, ip: "10.9.0.2", port: 5556, hex: DISCO }]);
    const got = await phone.received();
    await router.received();
    // The peer's socket only gets datagrams whose checksum holds: arriving proves it.
    expect(got).toEqual([{ at: 5556, from: `10.9.0.1:${P}`, hex: DISCO }]);
  });

  it("WireGuard data the router sends makes the flow, so a stateful WAN firewall lets the peer's answers in at once after an idle spell", async () => {
    statefulWan();
    try {
      const [router, phone] = [await udpAt(ns, [P]), await udpAt(peer, [5557])];
      const flows = () => sh(ns, "cat /proc/net/nf_conntrack").split("\n").filter((l) => l.includes("dport=5557"));
      // No flow yet (the idle spell outlived conntrack's timeout): the firewall drops the peer's packet.
      await phone.send([{ via: 0, ip: "10.9.0.1", port: P, hex: WG_DATA.replace("42", "01") }]);
      await router.send([{ via: 0, ip: "10.9.0.2", port: 5557, hex: WG_DATA }]);
      expect(flows()).toHaveLength(1);
      await phone.send([{ via: 0, ip: "10.9.0.1", port: P, hex: WG_DATA.replace("42", "02") }]);
      expect((await router.received()).map((g) => g.hex)).toEqual([WG_DATA.replace("42", "02")]);
      expect((await phone.received()).map((g) => g.hex)).toEqual([WG_DATA]);
    } finally {
      sh(ns, "nft delete table inet statefulwan");
    }
  });

  it("WireGuard data the router sends skips conntrack but for one packet per peer endpoint a sample period, which keeps the flow open for the peer's answers", async () => {
    statefulWan();
    const sample = 3;
    expect(load(shareScript({ portShare: { wgPort: P, agentPort: Q, sampleSeconds: sample } })).stderr).toBe("");
    try {
      const [router, phone] = [await udpAt(ns, [P]), await udpAt(peer, [5558])];
      // What conntrack counted of the router's packets to the peer (its flow's original direction).
      const counted = () => originalPackets("dport=5558");
      const data = (n: number) => Array.from({ length: n }, (_, i) => ({ via: 0, ip: "10.9.0.2", port: 5558, hex: WG_DATA.replace("42", (0x10 + i).toString(16)) }));
      await router.send(data(10));
      expect(counted()).toBe(1);
      // The peer's answer passes the stateful firewall: the flow is the router's.
      await phone.send([{ via: 0, ip: "10.9.0.1", port: P, hex: WG_DATA.replace("42", "03") }]);
      // A sample period later the next packet is tracked again, and only that one.
      await new Promise((r) => setTimeout(r, (sample + 1) * 1000));
      await router.send(data(5));
      expect(counted()).toBe(2);
      await phone.send([{ via: 0, ip: "10.9.0.1", port: P, hex: WG_DATA.replace("42", "04") }]);
      expect((await router.received()).map((g) => g.hex)).toEqual([WG_DATA.replace("42", "03"), WG_DATA.replace("42", "04")]);
      expect(await phone.received()).toHaveLength(15);
    } finally {
      sh(ns, "nft delete table inet statefulwan");
      expect(load(shareScript()).stderr).toBe("");
    }
  });

  it("WireGuard data the router receives skips conntrack under meshwrt's table where fw4 accepts the port (untrackedWireGuardPort); the handshake that opened the flow is tracked, and without the option every data message is", async () => {
    // fw4's input with the package's Allow-meshwrt-WireGuard rule: established, or the port.
    statefulWan(`udp dport ${P} accept;`);
    const untracked = (yes: boolean) => load(shareScript(yes ? { untrackedWireGuardPort: P } : {}));
    expect(untracked(true).stderr).toBe("");
    try {
      const [router, phone] = [await udpAt(ns, [P]), await udpAt(peer, [5559])];
      // What conntrack counted of the peer's packets to the router (its flow's original direction).
      const counted = () => originalPackets("sport=5559");
      const HANDSHAKE = "01000000" + "00".repeat(144);
      const data = (n: number, from: number) => Array.from({ length: n }, (_, i) => ({ via: 0, ip: "10.9.0.1", port: P, hex: WG_DATA.replace("42", (from + i).toString(16)) }));
      await phone.send([{ via: 0, ip: "10.9.0.1", port: P, hex: HANDSHAKE }]);
      await phone.send(data(10, 0x10));
      expect(counted(), "the handshake only").toBe(1);
      expect(untracked(false).stderr).toBe("");
      await phone.send(data(10, 0x30));
      expect(counted(), "tracked: every data message").toBe(11);
      const got = (await router.received()).map((g) => g.hex);
      expect(got, "everything arrived, untracked or not").toEqual([HANDSHAKE, ...data(10, 0x10).map((d) => d.hex), ...data(10, 0x30).map((d) => d.hex)]);
      await phone.received();
    } finally {
      sh(ns, "nft delete table inet statefulwan");
      expect(load(shareScript()).stderr).toBe("");
    }
  });

  it("where fw4 accepts the port, the WireGuard data the router sends skips conntrack too, with no sample to keep a flow: none is made, and the peer's answers still get in", async () => {
    statefulWan(`udp dport ${P} accept;`);
    expect(load(shareScript({ untrackedWireGuardPort: P })).stderr).toBe("");
    try {
      const [router, phone] = [await udpAt(ns, [P]), await udpAt(peer, [5560])];
      const data = (n: number, ip: string, port: number) => Array.from({ length: n }, (_, i) => ({ via: 0, ip, port, hex: WG_DATA.replace("42", (0x10 + i).toString(16)) }));
      await router.send(data(10, "10.9.0.2", 5560));
      expect(sh(ns, "cat /proc/net/nf_conntrack").split("\n").filter((l) => l.includes("5560"))).toEqual([]);
      await phone.send(data(3, "10.9.0.1", P));
      expect((await router.received()).map((g) => g.hex)).toEqual(data(3, "", 0).map((d) => d.hex));
      expect(await phone.received()).toHaveLength(10);
    } finally {
      sh(ns, "nft delete table inet statefulwan");
      expect(load(shareScript()).stderr).toBe("");
    }
  });

  it("is replaced whole when started again and removed without a trace", () => {
    expect(load(shareScript({ portShare: { wgPort: P, agentPort: Q + 1 } })).status).toBe(0);
    const listed = sh(ns, "nft list table inet meshwrt");
    expect(listed).toContain(`udp sport ${Q + 1} udp sport set ${P}`);
    expect(listed).not.toContain(`udp sport ${Q} `);
    expect(load(removeScript()).status).toBe(0);
    expect(load(removeScript()).status).toBe(0);
    expect(sh(ns, "nft list tables")).not.toContain("meshwrt");
  });

  it("refuses ports that cannot be", () => {
    expect(() => shareScript({ portShare: { wgPort: 0, agentPort: Q } })).toThrow("port sharing: WireGuard port 0 is not 1-65535");
    expect(() => shareScript({ portShare: { wgPort: P, agentPort: P } })).toThrow(`port sharing: the agent's port is the WireGuard port ${P}`);
    expect(() => shareScript({ portShare: { wgPort: P, agentPort: Q, sampleSeconds: 30 } })).toThrow("port sharing: a sample every 30 s would let conntrack's 30 s UDP timeout lapse");
  });
});
