// The NAT types of test/net/topology.ts, checked with real UDP datagrams: what a STUN server
// on the internet sees of hosts behind each router, and which datagrams get back in.
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sh, waitFor } from "./exec.js";
import { type Host, type Topology, topology } from "./topology.js";

const tool = fileURLToPath(new URL("./udp-tool.mjs", import.meta.url));
const node = sh(process.execPath);

let t: Topology;

/** Sends "hello" from `host`:port to each destination and returns the lines it received. */
async function probe(host: Host, port: number, dests: string[], waitMs = 700): Promise<string[]> {
  const out = await host.run(`${node} ${sh(tool)} client ${port} ${waitMs} ${dests.join(",")}`);
  return out.split("\n").filter(Boolean).sort();
}

/** The source address a server reported seeing, from the probe's lines. */
function seenBy(lines: string[], server: string): string | undefined {
  const line = lines.find((l) => l.startsWith(`${server}:3478 seen `));
  return line?.split(" ")[2];
}

beforeAll(async () => {
  t = await topology({
    hosts: ["s1", "s2"],
    nats: [
      { name: "eim", type: "port-restricted", hosts: ["a"], printer: true, camera: true },
      { name: "sym", type: "symmetric", hosts: ["b"] },
      { name: "fw", firewall: "drop-udp", hosts: ["c"] },
    ],
  });
  // s1 answers from 3478 and also sends from another port (3479); s2 only answers.
  await t.host("s1").spawn(`exec ${node} ${sh(tool)} server 3478 3479`);
  await t.host("s2").spawn(`exec ${node} ${sh(tool)} server 3478`);
  for (const s of ["s1", "s2"]) {
    await waitFor(`UDP 3478 listening on ${s}`, async () =>
      (await t.host(s).run(`ss -Hlun 'sport = :3478'`)).trim() ? true : undefined,
    );
  }
}, 60_000);

afterAll(async () => {
  await t?.destroy();
});

describe("NAT types", () => {
  it("without NAT, a server sees the host's own address and its second port gets through", async () => {
    const s1 = t.host("s1").ip;
    const lines = await probe(t.host("s2"), 40000, [`${s1}:3478`]);
    expect(seenBy(lines, s1)).toBe(`${t.host("s2").ip}:40000`);
    expect(lines).toContain(`${s1}:3479 unsolicited`);
  });

  it("endpoint-independent mapping: one public address and port toward two destinations", async () => {
    const [s1, s2] = [t.host("s1").ip, t.host("s2").ip];
    const lines = await probe(t.host("a"), 40001, [`${s1}:3478`, `${s2}:3478`]);
    const m1 = seenBy(lines, s1);
    const m2 = seenBy(lines, s2);
    expect(m1, `lines: ${lines.join(" | ")}`).toMatch(new RegExp(`^${t.nat("eim").publicIp.replace(/\./g, "\\.")}:\\d+$`));
    expect(m2).toBe(m1);
  });

  it("port-restricted filtering: a datagram from the server's other port is dropped", async () => {
    const s1 = t.host("s1").ip;
    const lines = await probe(t.host("a"), 40002, [`${s1}:3478`]);
    expect(seenBy(lines, s1)).toBeDefined();
    expect(lines.filter((l) => l.includes("unsolicited"))).toEqual([]);
  });

  it("symmetric mapping: a different public port for each destination", async () => {
    const [s1, s2] = [t.host("s1").ip, t.host("s2").ip];
    const lines = await probe(t.host("b"), 40003, [`${s1}:3478`, `${s2}:3478`]);
    const m1 = seenBy(lines, s1);
    const m2 = seenBy(lines, s2);
    expect(m1, `lines: ${lines.join(" | ")}`).toBeDefined();
    expect(m2, `lines: ${lines.join(" | ")}`).toBeDefined();
    expect(m1!.split(":")[0]).toBe(t.nat("sym").publicIp);
    expect(m2!.split(":")[0]).toBe(t.nat("sym").publicIp);
    expect(m1!.split(":")[1]).not.toBe(m2!.split(":")[1]);
    expect(lines.filter((l) => l.includes("unsolicited"))).toEqual([]);
  });

  it("the drop-udp firewall passes no UDP, and can be turned off and on at run time", async () => {
    const s1 = t.host("s1").ip;
    expect(await probe(t.host("c"), 40004, [`${s1}:3478`])).toEqual([]);
    await t.nat("fw").dropUdp(false);
    expect(seenBy(await probe(t.host("c"), 40005, [`${s1}:3478`]), s1)).toMatch(/^198\.18\./);
    await t.nat("fw").dropUdp(true);
    expect(await probe(t.host("c"), 40006, [`${s1}:3478`])).toEqual([]);
  });

  it("the internet core can block UDP between two addresses", async () => {
    const [s1, s2] = [t.host("s1").ip, t.host("s2").ip];
    await t.internet.blockUdp(t.nat("eim").publicIp, s1);
    try {
      const lines = await probe(t.host("a"), 40007, [`${s1}:3478`, `${s2}:3478`]);
      expect(seenBy(lines, s1)).toBeUndefined();
      expect(seenBy(lines, s2)).toBeDefined();
    } finally {
      await t.internet.unblockUdp();
    }
    expect(seenBy(await probe(t.host("a"), 40008, [`${s1}:3478`]), s1)).toBeDefined();
  });
});

describe("LAN devices", () => {
  const tcp = (ip: string, port: number) => `timeout 3 bash -c 'exec 3<>/dev/tcp/${ip}/${port} && cat <&3'`;

  it("a LAN host reaches the printer on TCP 631 and the camera on TCP 554", async () => {
    const nat = t.nat("eim");
    expect(nat.printer).toBe("192.168.1.50");
    expect((await t.host("a").run(tcp(nat.printer!, 631))).trim()).toBe(`printer from ${t.host("a").ip}`);
    expect((await t.host("a").run(tcp(nat.camera!, 554))).trim()).toBe(`camera from ${t.host("a").ip}`);
  });

  it("the printer is not reachable from the internet", async () => {
    const r = await t.host("s1").exec(tcp(t.nat("eim").printer!, 631));
    expect(r.code).not.toBe(0);
  });
});
