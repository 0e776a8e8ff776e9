// The LAN device sources that came with the api (main after the rebase):
// dnsmasq's lease file, rtnetlink neighbours, and the local socket's lines.
import { LineReader, parseRequest } from "../../../agent/src/api/line-protocol.js";
import { parseMessages, Writer } from "../../../agent/src/netlink/codec.js";
import { parseNeighbour, RTM_NEWNEIGH } from "../../../agent/src/netlink/neigh.js";
import { parseDhcpLeases } from "../../../agent/src/openwrt/dhcp-leases.js";
import { ascii } from "../../../agent/src/util/bytes.js";
import { chunks } from "../chunks.js";
import { mutateText } from "../mutate.js";
import type { Target } from "../runner.js";

export const dhcpLeases: Target<string> = {
  name: "dhcp leases",
  seeds: ["1700000000 02:00:00:00:00:50 192.168.1.50 printer 01:02:00:00:00:00:50\n1700000100 02:00:00:00:00:60 192.168.1.60 * *\nduid 00:01:00:01\n"],
  clean: null,
  mutate: mutateText,
  parse: (text) => parseDhcpLeases(text),
};

function neighbour(family: number, dst: Uint8Array): Uint8Array {
  const w = new Writer();
  const at = w.begin(RTM_NEWNEIGH, 0, 0);
  w.raw(Uint8Array.of(family, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0));
  w.bytes(1, dst).bytes(2, Uint8Array.of(2, 0, 0, 0, 0, 0x50));
  w.end(at);
  return w.finish();
}

export const neighbours: Target = {
  name: "netlink neighbours",
  seeds: [neighbour(2, Uint8Array.of(192, 168, 1, 50)), neighbour(10, new Uint8Array(16).fill(0xfd)), neighbour(7, new Uint8Array(6))],
  clean: /^(netlink|neighbour)/,
  parse: (b) => parseMessages(b).map(parseNeighbour),
};

export const apiLines: Target = {
  name: "local api lines",
  seeds: [ascii('{"id":1,"method":"status","args":{}}\n{"id":"x","method":"peers"}\n'), ascii('{"method":"set","args":{"hostname":"r"}}\n[1]\nnot json\n')],
  clean: /^a line longer than/,
  parse: (input) => {
    const r = new LineReader();
    return chunks(input).flatMap((c) => r.push(c)).map(parseRequest);
  },
};
