// The MagicDNS hosts file that dnsmasq reads: every node's name with its
// addresses, the extra records, and nothing the server sent that is not a
// name or an address.
import { describe, expect, it } from "vitest";
import { emptyNetMap, type NetMap } from "../../agent/src/control/netmap.js";
import type { Node } from "../../agent/src/control/tailcfg.js";
import { hostsFile } from "../../agent/src/dns/hosts.js";

const node = (ID: number, Name: string, Addresses: string[]) => ({ ID, Name, Addresses }) as unknown as Node;

describe("hostsFile", () => {
  it("self, peers and A/AAAA extra records, one line per address", () => {
    const nm: NetMap = {
      ...emptyNetMap(),
      self: node(1, "router.tailnet.test.", ["100.64.0.1/32", "fd7a:115c:a1e0::1/128"]),
      peers: new Map([[2, node(2, "Phone.tailnet.test.", ["100.64.0.2/32"])]]),
      dns: { ExtraRecords: [{ Name: "nas.tailnet.test", Value: "100.64.0.9" }, { Name: "x.tailnet.test", Type: "CNAME", Value: "nas" }] },
    };
    const log: string[] = [];
    expect(hostsFile(nm, (m) => log.push(m))).toBe(
      "# meshwrt: the tailnet's names (MagicDNS), rewritten on every change\n" +
        "100.64.0.1 router.tailnet.test\nfd7a:115c:a1e0::1 router.tailnet.test\n100.64.0.2 phone.tailnet.test\n100.64.0.9 nas.tailnet.test\n",
    );
    expect(log).toEqual([]);
  });
  it("a name or address that would not be one is left out and said", () => {
    const nm: NetMap = {
      ...emptyNetMap(),
      peers: new Map([
        [2, node(2, "evil\n1.2.3.4 bank.example.", ["100.64.0.2/32"])],
        [3, node(3, "ok.tailnet.test.", ["100.64.0.3/32", "nonsense"])],
      ]),
    };
    const log: string[] = [];
    expect(hostsFile(nm, (m) => log.push(m)).split("\n").slice(1)).toEqual(["100.64.0.3 ok.tailnet.test", ""]);
    expect(log).toHaveLength(2);
    expect(log[0]).toBe('node 2: name "evil\\n1.2.3.4 bank.example." is not a DNS name; left out');
    expect(log[1]).toMatch(/^node 3: address "nonsense": .+; left out$/);
  });
  it("a line is written once: an extra record that repeats a node's line, an address a node lists twice", () => {
    const nm: NetMap = {
      ...emptyNetMap(),
      peers: new Map([
        [2, node(2, "nas.tailnet.test.", ["100.64.0.9/32", "100.64.0.9/32"])],
        [3, node(3, "nas2.tailnet.test.", ["100.64.0.10/32"])],
      ]),
      dns: { ExtraRecords: [{ Name: "nas.tailnet.test", Value: "100.64.0.9" }, { Name: "nas.tailnet.test", Value: "0.64.0.9" }, { Name: "nas.tailnet.test", Value: "100.64.0.10" }] },
    };
    expect(hostsFile(nm, () => {}).split("\n").slice(1)).toEqual(["100.64.0.9 nas.tailnet.test", "100.64.0.10 nas2.tailnet.test", "0.64.0.9 nas.tailnet.test", "100.64.0.10 nas.tailnet.test", ""]);
  });
  it("no nodes: the extra records alone", () => {
    const nm: NetMap = { ...emptyNetMap(), dns: { ExtraRecords: [{ Name: "nas.tailnet.test", Value: "100.64.0.9" }] } };
    expect(hostsFile(nm, () => {})).toBe("# meshwrt: the tailnet's names (MagicDNS), rewritten on every change\n100.64.0.9 nas.tailnet.test\n");
  });
});
