// Endpoint discovery's pure parts: a STUN round and what its answers say
// about the NAT, and which servers of a relay map to ask.
import { describe, expect, it } from "vitest";
import { stunServers } from "../../agent/src/agent/direct.js";
import { formatEndpoint } from "../../agent/src/netaddr/ip.js";
import { StunProber } from "../../agent/src/stun/prober.js";

/** A binding success for `txid` with XOR-MAPPED-ADDRESS ip:port, as a STUN server sends it. */
function answer(txid: Uint8Array, ip: number[], port: number): Uint8Array {
  const b = new Uint8Array(32);
  const v = new DataView(b.buffer);
  v.setUint16(0, 0x0101);
  v.setUint16(2, 12);
  v.setUint32(4, 0x2112a442);
  b.set(txid, 8);
  v.setUint16(20, 0x0020);
  v.setUint16(22, 8);
  v.setUint16(24, 0x0001);
  v.setUint16(26, port ^ 0x2112);
  ip.forEach((x, i) => (b[28 + i] = x ^ [0x21, 0x12, 0xa4, 0x42][i]!));
  return b;
}

let n = 0;
const random = (len: number) => Uint8Array.from({ length: len }, () => ++n & 0xff);
const servers = [{ region: 900, ip: "198.18.2.2", port: 3478 }, { region: 901, ip: "198.18.3.2", port: 3478 }];

describe("a STUN round", () => {
  it("finds one public endpoint behind an endpoint-independent NAT, with each region's latency", () => {
    const p = new StunProber(random);
    const sent = p.start(servers, 1000);
    expect(sent.map((s) => s.to.ip)).toEqual(["198.18.2.2", "198.18.3.2"]);
    expect(p.receive(answer(sent[0]!.packet.subarray(8, 20), [203, 0, 113, 7], 41641), 1012)).toBe(true);
    expect(p.done(1012)).toBe(false);
    expect(p.receive(answer(sent[1]!.packet.subarray(8, 20), [203, 0, 113, 7], 41641), 1030)).toBe(true);
    expect(p.done(1030)).toBe(true);
    const r = p.result();
    expect(r.endpoints.map(formatEndpoint)).toEqual(["203.0.113.7:41641"]);
    expect(r.mapping).toBe("endpoint-independent");
    expect([...r.latencyMs]).toEqual([[900, 12], [901, 30]]);
  });

  it("calls a port per server symmetric, and no answer at all UDP blocked", () => {
    const p = new StunProber(random);
    const sent = p.start(servers, 0);
    p.receive(answer(sent[0]!.packet.subarray(8, 20), [203, 0, 113, 7], 1000), 5);
    p.receive(answer(sent[1]!.packet.subarray(8, 20), [203, 0, 113, 7], 2000), 5);
    expect(p.result().mapping).toBe("symmetric");
    p.start(servers, 10);
    expect(p.done(3009)).toBe(false);
    expect(p.done(3010)).toBe(true);
    expect(p.result().mapping).toBe("udp-blocked");
  });

  it("ignores answers to nothing it asked, and anything that is not STUN", () => {
    const p = new StunProber(random);
    p.start(servers.slice(0, 1), 0);
    expect(p.receive(answer(new Uint8Array(12), [1, 2, 3, 4], 5), 1)).toBe(false);
    expect(p.receive(Uint8Array.of(0x54, 0x53, 0xf0, 0x9f, 0x92, 0xac), 1)).toBe(false);
    expect(p.result().mapping).toBe("udp-blocked");
  });
});

describe("the relay map's STUN servers", () => {
  it("takes nodes with an IPv4 address: STUNPort 0 is 3478, -1 is none; no duplicates", () => {
    const m = {
      Regions: {
        900: { RegionID: 900, RegionCode: "test", RegionName: "Test", Nodes: [
          { Name: "a", RegionID: 900, HostName: "a", IPv4: "198.18.2.2", STUNPort: 0 },
          { Name: "b", RegionID: 900, HostName: "b", IPv4: "198.18.2.2" },
          { Name: "c", RegionID: 900, HostName: "c", IPv4: "198.18.2.3", STUNPort: -1 },
          { Name: "d", RegionID: 900, HostName: "d.example", STUNPort: 3478 },
          { Name: "e", RegionID: 900, HostName: "e", IPv4: "198.18.2.4", STUNPort: 3479 },
        ] },
      },
    };
    expect(stunServers(m as never)).toEqual([{ region: 900, ip: "198.18.2.2", port: 3478 }, { region: 900, ip: "198.18.2.4", port: 3479 }]);
    expect(stunServers(undefined)).toEqual([]);
  });
});
