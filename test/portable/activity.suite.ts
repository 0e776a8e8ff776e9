// Peer activity from the kernel's counters (wg/activity.ts): which peers are
// worth disco heartbeats, and where received traffic came from.
import { formatEndpoint, parseEndpoint, parsePrefix } from "../../agent/src/netaddr/ip.js";
import { ACTIVE_MS, PeerActivity, READ_CADENCE } from "../../agent/src/wg/activity.js";
import { peerDump } from "../../agent/src/wg/api.js";
import type { Peer } from "../../agent/src/wg/model.js";
import { eq, suite } from "./check.js";

const peer = (rx: bigint, tx: bigint, ep?: string): Peer => ({
  publicKey: new Uint8Array(32), persistentKeepalive: 0, allowedIps: [parsePrefix("100.64.0.2/32")], lastHandshakeMs: 0, rxBytes: rx, txBytes: tx,
  ...(ep ? { endpoint: parseEndpoint(ep) } : {}),
});
const read = (p: Peer) => peerDump([["aa", p]]);

suite("peer activity", (check) => {
  check("a peer first seen idle stays idle until its counters move; then active for 45 s", () => {
    const a = new PeerActivity();
    a.update(read(peer(0n, 0n)), 1000);
    eq(a.of("aa", 1000).active, false, "new and idle");
    eq(a.anyActive(1000), false, "nobody active");
    a.update(read(peer(0n, 148n)), 3000);
    eq(a.of("aa", 3000).active, true, "moved");
    a.update(read(peer(0n, 148n)), 5000);
    eq(a.of("aa", 3000 + ACTIVE_MS - 1).active, true, "still within 45 s of the move");
    eq(a.of("aa", 3000 + ACTIVE_MS).active, false, "idle 45 s after");
    eq(a.of("bb", 3000).active, false, "an unknown peer");
  });
  check("reads as often as a path needs while they are cheap; the dearer a read (more peers), the further apart, within bounds", () => {
    const cadence = (costMs: number, moving: boolean) => {
      const a = new PeerActivity();
      a.update(read(peer(0n, 0n)), 1000);
      a.took(costMs);
      a.update(read(peer(0n, moving ? 1n : 0n)), 2000);
      a.took(costMs);
      return a.nextReadMs(2000);
    };
    eq(`${cadence(5, true)} ${cadence(5, false)}`, "1000 2000", "a few peers: every second while one is active, every 2 s idle");
    eq(`${cadence(300, true)} ${cadence(300, false)}`, "3000 15000", "reads of 300 ms: 10% of the time active, 2% idle");
    eq(`${cadence(2000, true)} ${cadence(2000, false)}`, `${READ_CADENCE.active.ceilingMs} ${READ_CADENCE.idle.ceilingMs}`, "never further apart than 5 s active, 30 s idle");
    const a = new PeerActivity();
    a.update(read(peer(0n, 0n)), 1000);
    a.took(400);
    eq(a.nextReadMs(1000), 20_000, "one slow read");
    for (let t = 2000; t < 12_000; t += 1000) {
      a.update(read(peer(0n, 0n)), t);
      a.took(4);
    }
    eq(a.nextReadMs(12_000), 2000, "the cost is an average of the last reads: once they are cheap again, every 2 s");
  });
  check("the status's counters are the last read's, kept without the read; a peer gone from the device is forgotten", () => {
    const a = new PeerActivity();
    const read = { ...peer(10n, 20n), lastHandshakeMs: 1_700_000_000_000 };
    a.update(peerDump([["aa", read], ["bb", peer(0n, 0n)]]), 1000);
    eq(JSON.stringify(a.counters("aa"), (_k, v) => (typeof v === "bigint" ? Number(v) : v)), '{"rxBytes":10,"txBytes":20,"lastHandshakeMs":1700000000000}', "counters");
    a.update(peerDump([["aa", { ...read, txBytes: 30n }]]), 2000);
    eq(a.counters("aa")!.txBytes, 30n, "the next read's");
    eq(a.counters("bb"), undefined, "gone");
    eq(a.of("aa", 2000).received, undefined, "sending alone received nothing");
  });
  check("received bytes that grew came from the endpoint read with them", () => {
    const a = new PeerActivity();
    a.update(read(peer(10n, 0n, "127.0.0.1:40001")), 1000);
    eq(a.of("aa", 1000).received, undefined, "nothing received since the first read");
    a.update(read(peer(90n, 0n, "198.51.100.7:41641")), 2000);
    const r = a.of("aa", 2000).received!;
    eq(r.at, 2000, "when");
    eq(formatEndpoint(r.from!), "198.51.100.7:41641", "from");
    a.update(read(peer(90n, 50n, "127.0.0.1:40001")), 3000);
    eq(formatEndpoint(a.of("aa", 3000).received!.from!), "198.51.100.7:41641", "sending alone does not move it");
  });
});
