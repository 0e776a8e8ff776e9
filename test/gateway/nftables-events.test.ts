// nftables' netlink events as this machine's kernel sent them (captured with a
// socket bound to NFNLGRP_NFTABLES in a fresh network namespace, x86_64, Linux
// 6.18), and the Gateway following its table through them: a deletion by
// someone else is put back, its own atomic replace is not a deletion.
import { describe, expect, it } from "vitest";
import { Gateway } from "../../agent/src/gateway/gateway.js";
import type { NetlinkSocket } from "../../agent/src/host/host.js";
import { parseMessages } from "../../agent/src/netlink/codec.js";
import { NETLINK_NETFILTER, NFPROTO_INET, NFTABLES_GROUPS, parseNftablesEvent, TableWatch } from "../../agent/src/netlink/nftables-events.js";

const hex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));

/** meshwrt's own replace (`table inet meshwrt {}; delete table inet meshwrt; table inet meshwrt { chain input ... }` in one `nft -f`). */
const REPLACE = [
  "34000000020a00000200000099390000010000040c0001006d6573687772740008000300000000000c00040000000000000000023c000000000a00000300000099390000010000040c0001006d6573687772740008000300000000010c0004000000000000000003080002000000000070000000030a00040400000099390000010000040c0001006d657368777274000a000300696e7075740000000c000200000000000000000114000400080001000000000108000200ffffffff08000500000000010b00070066696c746572000008000a00000000010800060000000000",
  "2c0000000f0a000001000000993900000000000408000100000000040800020000003999080003006e667400",
];
/** `fw4 flush`: `nft delete table` for each table `nft list tables` gives (inet fw4, then inet meshwrt with its chain). */
const FW4_FLUSH = [
  "30000000020a000001000000e939000001000005080001006677340008000300000000000c0004000000000000000001",
  "2c0000000f0a000001000000e939000000000005080001000000000508000200000039e9080003006e667400",
  "38000000050a000001000000ea390000010000060c0001006d657368777274000a000300696e7075740000000c000200000000000000000134000000020a000001000000ea390000010000060c0001006d6573687772740008000300000000000c0004000000000000000003",
  "2c0000000f0a000001000000ea39000000000006080001000000000608000200000039ea080003006e667400",
];
/** `nft flush ruleset` with inet meshwrt and inet fw4 loaded: one transaction. */
const FLUSH_RULESET = [
  "34000000020a0000010000001a3a0000010000090c0001006d6573687772740008000300000000000c000400000000000000000430000000020a0000010000001a3a000001000009080001006677340008000300000000000c0004000000000000000005",
  "2c0000000f0a0000010000001a3a00000000000908000100000000090800020000003a1a080003006e667400",
];

const events = (datagrams: string[]) => datagrams.flatMap((d) => parseMessages(hex(d)).map(parseNftablesEvent)).filter((e) => e !== null);
const deletions = (datagrams: string[], names = ["meshwrt"]) => {
  const w = new TableWatch(NFPROTO_INET, new Set(names));
  return events(datagrams).flatMap((e) => w.take(e)).map((d) => `${d.name} by ${d.by}`);
};

describe("parseNftablesEvent", () => {
  it("reads table deletions and additions with family and name, and the generation with the process that committed it; chains are not events here", () => {
    expect(events(FW4_FLUSH)).toEqual([
      { kind: "table", added: false, family: NFPROTO_INET, name: "fw4" },
      { kind: "generation", id: 5, pid: 0x39e9, process: "nft" },
      { kind: "table", added: false, family: NFPROTO_INET, name: "meshwrt" },
      { kind: "generation", id: 6, pid: 0x39ea, process: "nft" },
    ]);
    expect(events(REPLACE).map((e) => (e.kind === "table" ? `${e.added ? "+" : "-"}${e.name}` : `gen ${e.id}`))).toEqual(["-meshwrt", "+meshwrt", "gen 4"]);
  });
  it("a truncated message says what it was reading", () => {
    const m = parseMessages(hex(FW4_FLUSH[0]!))[0]!;
    expect(() => parseNftablesEvent({ ...m, payload: m.payload.subarray(0, 2) })).toThrow(/nftables table event: 2 bytes/);
    expect(() => parseNftablesEvent({ ...m, payload: m.payload.subarray(0, 4) })).toThrow(/no NFTA_TABLE_NAME/);
  });
});

describe("TableWatch", () => {
  it("fw4 flush and nft flush ruleset delete the table; meshwrt's own atomic replace does not", () => {
    expect(deletions(FW4_FLUSH)).toEqual([`meshwrt by nft (pid ${0x39ea})`]);
    expect(deletions(FLUSH_RULESET)).toEqual([`meshwrt by nft (pid ${0x3a1a})`]);
    expect(deletions(REPLACE)).toEqual([]);
  });
  it("watches several tables: each deleted one once, at the end of its transaction", () => {
    expect(deletions(FLUSH_RULESET, ["meshwrt", "fw4"])).toEqual([`meshwrt by nft (pid ${0x3a1a})`, `fw4 by nft (pid ${0x3a1a})`]);
    expect(deletions(FW4_FLUSH, ["fw4"])).toEqual([`fw4 by nft (pid ${0x39e9})`]);
  });
});

/** A double of the Host's netlink socket and of `nft`: the Gateway's reaction, not nftables, is under test here (test/openwrt/fw4.test.ts runs the real thing). */
function gatewayWithDoubles(nftCodes: number[]) {
  const runs: string[] = [];
  const logs: string[] = [];
  const sock: NetlinkSocket = { send() {}, close() {}, onMessage() {}, onError() {} };
  const g = new Gateway(
    {
      run: async (argv, input) => {
        runs.push(`${argv.join(" ")}: ${Buffer.from(input ?? []).toString().split("\n").length} lines`);
        const code = nftCodes.shift() ?? 0;
        return { code, stderr: code ? "Error: Could not process rule: Operation not permitted" : "" };
      },
      async writeFile() {},
      removeFile() {},
      exists: () => true,
      log: (l, m) => logs.push(`${l}: ${m}`),
    },
    { iface: "meshwrt0" },
  );
  let opened = "";
  g.watch((p, groups) => {
    opened = `${p}/${groups}`;
    return sock;
  });
  expect(opened).toBe(`${NETLINK_NETFILTER}/${NFTABLES_GROUPS}`);
  const feed = (datagrams: string[]) => datagrams.forEach((d) => sock.onMessage(hex(d)));
  return { g, sock, runs, logs, feed };
}

const RULES = { routes: [], exitNode: false, snat: false, filter: [] };
const settle = () => new Promise((r) => setTimeout(r, 10));

describe("Gateway.watch (netlink and nft doubles)", () => {
  it("loads the same table again after fw4 flush; its own replace and other tables' changes cost nothing", async () => {
    const { g, runs, logs, feed } = gatewayWithDoubles([]);
    expect(await g.setRules(RULES)).toBe(true);
    feed(REPLACE);
    feed(FW4_FLUSH.slice(0, 2));
    await settle();
    expect(runs.length).toBe(1);
    feed(FW4_FLUSH.slice(2));
    await settle();
    expect(runs.length).toBe(2);
    expect(runs[1]).toBe(runs[0]);
    expect(logs.join("\n")).toMatch(/warn: firewall: table inet meshwrt was deleted by nft \(pid \d+\): loading it again\ninfo: firewall: table inet meshwrt loaded again/);
    expect(g.loaded).toBe(true);
  });
  it("lost events (ENOBUFS) load the table again too", async () => {
    const { g, sock, runs } = gatewayWithDoubles([]);
    await g.setRules(RULES);
    sock.onError(new Error("ENOBUFS"));
    await settle();
    expect(runs.length).toBe(2);
  });
  it("refused after the deletion: not loaded, status says why, and the agent is told to take its peers out", async () => {
    const { g, feed } = gatewayWithDoubles([0, 1]);
    await g.setRules(RULES);
    let told = 0;
    g.onUnloaded = () => told++;
    feed(FLUSH_RULESET);
    await settle();
    expect(told).toBe(1);
    expect(g.loaded).toBe(false);
    expect(g.failure).toMatch(/^firewall: nftables refused meshwrt's rules after table inet meshwrt was deleted by nft \(pid \d+\) \(Error: .*Operation not permitted\); no peer is installed until it loads/);
  });
  it("after stop, nothing is put back (its own removal is not a loss)", async () => {
    const { g, runs, feed } = gatewayWithDoubles([]);
    await g.setRules(RULES);
    await g.stop();
    feed(FW4_FLUSH);
    await settle();
    expect(runs.length).toBe(2);
  });
  it("rules that come after stop (a netmap still being applied) load nothing: an nft left running as the agent exits would put the table back", async () => {
    const { g, runs } = gatewayWithDoubles([]);
    await g.setRules(RULES);
    await g.stop();
    expect(await g.setRules({ ...RULES, exitNode: true })).toBe(false);
    expect(runs.length).toBe(2);
    expect(g.loaded).toBe(false);
  });
  it("rules refused, then the ones in force wanted again (the port share taken back out): no nft run, and no failure left", async () => {
    const { g, runs } = gatewayWithDoubles([0, 1]);
    await g.setRules(RULES);
    expect(await g.setRules({ ...RULES, exitNode: true })).toBe(false);
    expect(g.failure).toMatch(/^firewall: nftables refused meshwrt's rules .*; the previous rules stay in force/);
    expect(await g.setRules(RULES)).toBe(true);
    expect(runs.length).toBe(2);
    expect(g.failure).toBeUndefined();
  });
  it("a load whose nft was killed leaves the kernel's table unknown: the same rules asked again are loaded again", async () => {
    const { g, runs } = gatewayWithDoubles([0, 128 + 15]);
    await g.setRules(RULES);
    expect(await g.setRules({ ...RULES, exitNode: true })).toBe(false);
    expect(await g.setRules(RULES)).toBe(true);
    expect(runs.length).toBe(3);
    expect(await g.setRules(RULES)).toBe(true);
    expect(runs.length).toBe(3);
  });
  it("stop removes the table even when the load's answer was lost (nft killed by the SIGTERM sent to the agent's process group)", async () => {
    const { g, runs, logs } = gatewayWithDoubles([128 + 15]);
    expect(await g.setRules(RULES)).toBe(false);
    await g.stop();
    expect(runs.length).toBe(2);
    expect(logs.join("\n")).toMatch(/info: firewall: table inet meshwrt removed/);
  });
});
