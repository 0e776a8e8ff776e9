// Endpoint discovery's pure parts: a STUN round and what its answers say
// about the NAT, and which servers of a relay map to ask.
import { describe, expect, it } from "vitest";
import { stunServers } from "../../agent/src/paths/direct.js";
import { formatEndpoint } from "../../agent/src/netaddr/ip.js";
import { parseBindingResponse } from "../../agent/src/stun/message.js";
import { StunProber } from "../../agent/src/stun/prober.js";
import { crc32 } from "../../agent/src/util/crc32.js";
import { stunAnswer } from "./stun-answer.js";

const hex = (s: string) => Uint8Array.from(s.replace(/\s+/g, "").match(/../g)!.map((b) => parseInt(b, 16)));

let n = 0;
const random = (len: number) => Uint8Array.from({ length: len }, () => ++n & 0xff);
const servers = [{ region: 900, ip: "198.18.2.2", port: 3478 }, { region: 901, ip: "198.18.3.2", port: 3478 }];

describe("a STUN round", () => {
  it("finds one public endpoint behind an endpoint-independent NAT, with each region's latency", () => {
    const p = new StunProber(random);
    const sent = p.start(servers, 1000);
    expect(sent.map((s) => s.to.ip)).toEqual(["198.18.2.2", "198.18.3.2"]);
    expect(p.receive(stunAnswer(sent[0]!.packet.subarray(8, 20), "203.0.113.7", 41641), 1012)).toBe(true);
    expect(p.done(1012)).toBe(false);
    expect(p.receive(stunAnswer(sent[1]!.packet.subarray(8, 20), "203.0.113.7", 41641), 1030)).toBe(true);
    expect(p.done(1030)).toBe(true);
    const r = p.result();
    expect(r.endpoints.map(formatEndpoint)).toEqual(["203.0.113.7:41641"]);
    expect(r.mapping).toBe("endpoint-independent");
    expect([...r.latencyMs]).toEqual([[900, 12], [901, 30]]);
  });

  it("calls a port per server symmetric, and no answer at all UDP blocked", () => {
    const p = new StunProber(random);
    const sent = p.start(servers, 0);
    p.receive(stunAnswer(sent[0]!.packet.subarray(8, 20), "203.0.113.7", 1000), 5);
    p.receive(stunAnswer(sent[1]!.packet.subarray(8, 20), "203.0.113.7", 2000), 5);
    expect(p.result().mapping).toBe("symmetric");
    p.start(servers, 10);
    expect(p.done(3009)).toBe(false);
    expect(p.done(3010)).toBe(true);
    expect(p.result().mapping).toBe("udp-blocked");
  });

  it("ignores answers to nothing it asked, and anything that is not STUN", () => {
    const p = new StunProber(random);
    p.start(servers.slice(0, 1), 0);
    expect(p.receive(stunAnswer(new Uint8Array(12), "1.2.3.4", 5), 1)).toBe(false);
    expect(p.receive(Uint8Array.of(0x54, 0x53, 0xf0, 0x9f, 0x92, 0xac), 1)).toBe(false);
    expect(p.result().mapping).toBe("udp-blocked");
  });
});

describe("a STUN answer over IPv6", () => {
  it("RFC 5769 section 2.3's sample IPv6 response: XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853 (SOFTWARE, MESSAGE-INTEGRITY and FINGERPRINT passed over)", () => {
    const b = hex(`
      0101 0048 2112a442 b7e7a701 bc34d686 fa87dfae
      8022 000b 74657374 20766563 746f7220
      0020 0014 0002 a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9
      0008 0014 a382954e 4be67bf1 1784c97c 8292c275 bfe3ed41
      8028 0004 c8fb0b4c`);
    // The vector is the RFC's: its FINGERPRINT (CRC-32 of what precedes it, XOR "STUN") holds.
    expect(((crc32(b.subarray(0, b.length - 8)) ^ 0x5354554e) >>> 0).toString(16)).toBe("c8fb0b4c");
    const r = parseBindingResponse(b)!;
    expect(formatEndpoint(r.mapped)).toBe("[2001:db8:1234:5678:11:2233:4455:6677]:32853");
    expect(Buffer.from(r.txid).toString("hex")).toBe("b7e7a701bc34d686fa87dfae");
  });

  it("a round over both families: IPv6's mapped address is an endpoint, the NAT's mapping judged by IPv4 alone, a region's latency the faster family's", () => {
    const p = new StunProber(random);
    const both = [servers[0]!, { region: 900, ip: "2001:db8:18:2::2", port: 3478 }];
    const sent = p.start(both, 0);
    p.receive(stunAnswer(sent[0]!.packet.subarray(8, 20), "203.0.113.7", 41641), 20);
    p.receive(stunAnswer(sent[1]!.packet.subarray(8, 20), "2001:db8:168:1::10", 41641), 9);
    const r = p.result();
    expect(r.endpoints.map(formatEndpoint)).toEqual(["203.0.113.7:41641", "[2001:db8:168:1::10]:41641"]);
    expect(r.mapping).toBe("unknown"); // one IPv4 server: no second view of the mapping
    expect([...r.latencyMs]).toEqual([[900, 9]]);
    // Each family apart, for NetInfo.DERPLatency's "900-v4" and "900-v6".
    expect([...r.v4Ms]).toEqual([[900, 20]]);
    expect([...r.v6Ms]).toEqual([[900, 9]]);
  });

  it("an IPv4 client named IPv4-mapped by a dual-stack server (derper on \":3478\") is the IPv4 endpoint, and counts for the NAT's mapping", () => {
    const p = new StunProber(random);
    const sent = p.start(servers, 0);
    p.receive(stunAnswer(sent[0]!.packet.subarray(8, 20), "::ffff:203.0.113.7", 41641), 10);
    p.receive(stunAnswer(sent[1]!.packet.subarray(8, 20), "::ffff:203.0.113.7", 41641), 12);
    const r = p.result();
    expect(r.endpoints.map(formatEndpoint)).toEqual(["203.0.113.7:41641"]);
    expect(r.mapping).toBe("endpoint-independent");
    // The server's family decides: these are IPv4 round trips.
    expect([...r.v4Ms]).toEqual([[900, 10], [901, 12]]);
    expect(r.v6Ms.size).toBe(0);
  });

  it("a request that could not be sent (no IPv6 route) is not waited for", () => {
    const p = new StunProber(random);
    const sent = p.start([servers[0]!, { region: 900, ip: "2001:db8:18:2::2", port: 3478 }], 0);
    p.abandon(sent[1]!.packet);
    p.receive(stunAnswer(sent[0]!.packet.subarray(8, 20), "203.0.113.7", 41641), 20);
    expect(p.done(20)).toBe(true);
  });
});

describe("the relay map's STUN servers", () => {
  it("asks each node at its IPv4 and its IPv6 address (IPv4 first); \"none\" or a name is no address", () => {
    const m = {
      Regions: {
        900: { RegionID: 900, RegionCode: "test", RegionName: "Test", Nodes: [
          { Name: "a", RegionID: 900, HostName: "a", IPv4: "198.18.2.2", IPv6: "2001:db8:18:2::2" },
          { Name: "b", RegionID: 900, HostName: "b", IPv4: "198.18.2.3", IPv6: "none" },
          { Name: "c", RegionID: 900, HostName: "c", IPv6: "2001:db8:18:3::2", STUNPort: 3479 },
          { Name: "d", RegionID: 900, HostName: "d", IPv4: "2001:db8::9", IPv6: "derp.example" },
        ] },
      },
    };
    expect(stunServers(m as never)).toEqual([
      { region: 900, ip: "198.18.2.2", port: 3478 }, { region: 900, ip: "198.18.2.3", port: 3478 },
      { region: 900, ip: "2001:db8:18:2::2", port: 3478 }, { region: 900, ip: "2001:db8:18:3::2", port: 3479 },
    ]);
  });

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

  it("measures every region (Tailscale's map has some thirty), at up to three nodes each per family, none marked NoMeasureNoHome", () => {
    const regions: Record<string, object> = {};
    for (let id = 1; id <= 12; id++) {
      regions[id] = { RegionID: id, RegionCode: `r${id}`, RegionName: `R${id}`, ...(id === 12 ? { NoMeasureNoHome: true } : {}), Nodes: "abcd".split("").map((x, i) => ({
        Name: `${id}${x}`, RegionID: id, HostName: `${id}${x}`, IPv4: `198.18.${id}.${i + 1}`, ...(i === 0 ? { IPv6: `2001:db8:18:${id}::1` } : {}),
      })) };
    }
    const s = stunServers({ Regions: regions } as never);
    const v4 = s.filter((x) => !x.ip.includes(":")), v6 = s.filter((x) => x.ip.includes(":"));
    expect(new Set(v4.map((x) => x.region))).toEqual(new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]));
    expect(v4.filter((x) => x.region === 11).map((x) => x.ip)).toEqual(["198.18.11.1", "198.18.11.2", "198.18.11.3"]);
    expect(v6.map((x) => x.region)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });
});
