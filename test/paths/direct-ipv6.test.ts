// DirectPaths over IPv6, with a host double (named as one: the lab's
// ipv6.test.ts is the real proof): a second, IPv6-only disco socket on the
// IPv4 socket's port, STUN to the relays' IPv6 addresses, the mapped IPv6
// address and the router's own global IPv6 addresses as endpoints, and disco
// to a peer's IPv6 endpoint leaving from the IPv6 socket.
import { describe, expect, it } from "vitest";
import { DirectPaths, usableV6 } from "../../agent/src/paths/direct.js";
import type { DERPMap } from "../../agent/src/control/tailcfg.js";
import { keyPairFromSeed } from "../../agent/src/crypto/keys.js";
import { parseIp } from "../../agent/src/netaddr/ip.js";
import { stunAnswer } from "./stun-answer.js";

interface SocketDouble {
  readonly bound: string;
  readonly port: number;
  readonly sent: { to: string; packet: Uint8Array }[];
  onMessage: (data: Uint8Array, ip: string, port: number) => void;
  send(data: Uint8Array, ip: string, port: number): void;
  close(): void;
}

const derpMap: DERPMap = {
  Regions: { "900": { RegionID: 900, RegionCode: "lab", RegionName: "Lab", Nodes: [{ Name: "1", RegionID: 900, HostName: "derp", IPv4: "198.18.2.2", IPv6: "2001:db8:18:2::2" }] } },
};
const peer = { Key: `nodekey:${"22".repeat(32)}`, DiscoKey: `discokey:${"33".repeat(32)}`, Endpoints: ["198.18.4.2:41641", "[2001:db8:168:2::10]:41641"] };
const own = ["192.168.1.10", "2001:db8:168:1::10", "fd00:1::1", "fd7a:115c:a1e0::5", "fe80::1", "::1"].map(parseIp);

/** DirectPaths on a host double; `ipv6: false` makes the IPv6 bind fail as on a kernel without IPv6. */
async function start(ipv6: boolean) {
  const sockets: SocketDouble[] = [];
  const binds: string[] = [];
  const logs: string[] = [];
  const announced: { addrs: string[]; types: number[] }[] = [];
  let draws = 0;
  const host = {
    bindUdp: (ip: string, port: number, opts: { v6only?: boolean } = {}) => {
      binds.push(`${ip} ${port}${opts.v6only ? " v6only" : ""}`);
      if (ip === "::" && !ipv6) throw new Error("socket udp [::]:40000: EAFNOSUPPORT (Address family not supported by protocol)");
      const s: SocketDouble = {
        bound: ip, port: port || 40000, sent: [], onMessage: () => {},
        send(packet, to, p) {
          this.sent.push({ to: to.includes(":") ? `[${to}]:${p}` : `${to}:${p}`, packet });
        },
        close() {},
      };
      sockets.push(s);
      return s;
    },
    setTimer: () => () => {},
    monotonic: () => 0,
    random: (n: number) => new Uint8Array(n).map((_, i) => (i === 0 ? ++draws : i) & 0xff),
    log: (level: string, msg: string) => void logs.push(`${level} ${msg}`),
  };
  const disco = keyPairFromSeed(new Uint8Array(32).fill(7));
  const d = new DirectPaths({
    host: host as never, wgPort: 41641, nodeKey: new Uint8Array(32).fill(1), discoPrivate: disco.privateKey, discoPublic: disco.publicKey,
    sendDerp: () => {}, setKernelEndpoint: async () => {}, localAddresses: async () => own, peerActivity: () => ({ active: true }),
    onEndpoints: (eps) => void announced.push(eps),
    sharePort: async () => undefined,
  });
  expect(await d.start()).toBe(true);
  return { d, sockets, binds, logs, announced };
}

describe("direct paths over IPv6 (host double)", () => {
  it("two disco sockets on one port, STUN over both families, IPv6 endpoints announced (STUN and local), disco to an IPv6 endpoint from the IPv6 socket", async () => {
    const { d, sockets, binds, logs, announced } = await start(true);
    expect(binds).toEqual(["0.0.0.0 0", ":: 40000 v6only"]);
    expect(logs.join("\n")).toMatch(/agent socket 40000; IPv6 too/);
    const [v4, v6] = sockets as [SocketDouble, SocketDouble];
    d.setPeers([peer as never], derpMap, () => 900);
    expect(v4.sent.map((s) => s.to)).toEqual(["198.18.2.2:3478"]);
    expect(v6.sent.map((s) => s.to)).toEqual(["[2001:db8:18:2::2]:3478"]);
    // The servers answer on the socket each was asked from.
    v4.onMessage(stunAnswer(v4.sent[0]!.packet.subarray(8, 20), "198.18.1.2", 41641), "198.18.2.2", 3478);
    v6.onMessage(stunAnswer(v6.sent[0]!.packet.subarray(8, 20), "2001:db8:168:1::10", 41641), "2001:db8:18:2::2", 3478);
    await new Promise((r) => setTimeout(r, 0));
    // As magicsock: STUN endpoints (type 2) first, then local ones (type 1): global and unique-local IPv6, not the tailnet's own range, link-local or loopback.
    expect(announced.at(-1)).toEqual({
      addrs: ["198.18.1.2:41641", "[2001:db8:168:1::10]:41641", "192.168.1.10:41641", "[fd00:1::1]:41641"],
      types: [2, 2, 1, 1],
    });
    // Disco pings to the peer: its IPv4 endpoint from the IPv4 socket, its IPv6 one from the IPv6 socket.
    v4.sent.length = v6.sent.length = 0;
    (d as unknown as { tick(): void }).tick();
    expect(v4.sent.map((s) => s.to)).toEqual(["198.18.4.2:41641"]);
    expect(v6.sent.map((s) => s.to)).toEqual(["[2001:db8:168:2::10]:41641"]);
    await d.stop();
  });

  it("without IPv6 on the host: IPv4 only, said once, no IPv6 server asked and no IPv6 address announced", async () => {
    const { d, sockets, logs, announced } = await start(false);
    expect(sockets.length).toBe(1);
    expect(logs.join("\n")).toMatch(/agent socket 40000; IPv4 only: socket udp \[::\]:40000: EAFNOSUPPORT/);
    const [v4] = sockets as [SocketDouble];
    d.setPeers([peer as never], derpMap, () => 900);
    expect(v4.sent.map((s) => s.to)).toEqual(["198.18.2.2:3478"]);
    v4.onMessage(stunAnswer(v4.sent[0]!.packet.subarray(8, 20), "198.18.1.2", 41641), "198.18.2.2", 3478);
    await new Promise((r) => setTimeout(r, 0));
    expect(announced.at(-1)?.addrs).toEqual(["198.18.1.2:41641", "192.168.1.10:41641"]);
    await d.stop();
  });

  it("which IPv6 addresses are usable endpoints, as tailscale's isUsableV6", () => {
    const usable = (s: string) => usableV6(parseIp(s));
    expect(["2001:db8::1", "2a02:8070::1", "3fff::1", "fd12::1", "fc00::1"].map(usable)).toEqual([true, true, true, true, true]);
    expect(["fd7a:115c:a1e0::1", "fe80::1", "::1", "::", "ff02::1", "4000::1", "::ffff:1.2.3.4"].map(usable)).toEqual([false, false, false, false, false, false, false]);
    expect(usableV6(parseIp("192.0.2.1"))).toBe(false);
  });
});
