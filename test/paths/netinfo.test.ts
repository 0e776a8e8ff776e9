// What a STUN round tells the control server about the network
// (Hostinfo.NetInfo), as tailscale's netcheck reports it: nothing before a
// round ran, the NAT's mapping only when two servers could tell it.
import { describe, expect, it } from "vitest";
import { type NetcheckFacts, netInfoFacts } from "../../agent/src/paths/direct.js";

const facts = (f: Partial<NetcheckFacts>): NetcheckFacts => ({ mapping: "unknown", latencyMs: new Map(), udp: false, ipv6: false, osHasIpv6: false, ...f });

describe("NetInfo from the netcheck", () => {
  it("says nothing before a STUN round ran", () => {
    expect(netInfoFacts(facts({ osHasIpv6: true }))).toEqual({});
  });

  it("an IPv6 answer and an endpoint-independent NAT: UDP and IPv6 work, the mapping does not vary", () => {
    expect(netInfoFacts(facts({ mapping: "endpoint-independent", udp: true, ipv6: true, osHasIpv6: true }))).toEqual({
      MappingVariesByDestIP: false, WorkingUDP: true, WorkingIPv6: true, OSHasIPv6: true,
    });
  });

  it("a symmetric NAT varies its mapping; IPv4 answers only: IPv6 does not work", () => {
    expect(netInfoFacts(facts({ mapping: "symmetric", udp: true, osHasIpv6: true }))).toEqual({
      MappingVariesByDestIP: true, WorkingUDP: true, WorkingIPv6: false, OSHasIPv6: true,
    });
  });

  it("UDP blocked: no answer at all, said as such, and no guess at the mapping", () => {
    expect(netInfoFacts(facts({ mapping: "udp-blocked" }))).toEqual({ WorkingUDP: false, WorkingIPv6: false, OSHasIPv6: false });
  });
});
