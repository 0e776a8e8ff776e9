// Peer activity from the kernel's counters (wg/activity.ts): which peers are
// worth disco heartbeats, and where received traffic came from.
import { formatEndpoint, parseEndpoint, parsePrefix } from "../../agent/src/netaddr/ip.js";
import { ACTIVE_MS, PeerActivity } from "../../agent/src/wg/activity.js";
import type { Peer } from "../../agent/src/wg/model.js";
import { eq, suite } from "./check.js";

const peer = (rx: bigint, tx: bigint, ep?: string): Peer => ({
  publicKey: new Uint8Array(32), persistentKeepalive: 0, allowedIps: [parsePrefix("100.64.0.2/32")], lastHandshakeMs: 0, rxBytes: rx, txBytes: tx,
  ...(ep ? { endpoint: parseEndpoint(ep) } : {}),
});
const read = (p: Peer) => new Map([["aa", p]]);

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
