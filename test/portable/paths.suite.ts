// Path discovery for one peer, driven by time and disco messages.
import { formatEndpoint, parseEndpoint } from "../../agent/src/netaddr/ip.js";
import { HEARTBEAT_MS, type PathAction, PeerPaths, PING_INTERVAL_MS, RECEIVED_FRESH_MS, UNANSWERED_MS } from "../../agent/src/paths/peer.js";
import { eq, suite } from "./check.js";

function make() {
  let n = 0;
  return new PeerPaths({
    txid: () => Uint8Array.of(++n, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    ourNodeKey: new Uint8Array(32).fill(1),
    ourEndpoints: () => [parseEndpoint("198.51.100.1:41641")],
  });
}
const show = (acts: PathAction[]) =>
  acts.map((a) => (a.kind === "endpoint" ? `endpoint ${a.endpoint ? formatEndpoint(a.endpoint) : "relay"}` : `${a.kind} ${a.message.type}${a.kind === "udp" ? ` ${formatEndpoint(a.to)}` : ""}`)).join("; ");
const relayed = (acts: PathAction[]) => acts.some((a) => a.kind === "endpoint" && !a.endpoint);
const txidOf = (a: PathAction) => (a.kind !== "endpoint" && a.message.type === "ping" ? a.message.txid : new Uint8Array(12));

/** Paths whose first ping to `ep` at 0 was answered at 10: direct since then. */
function directTo(ep: ReturnType<typeof parseEndpoint>): PeerPaths {
  const p = make();
  p.setKnownEndpoints([ep]);
  const [ping] = p.tick(0, true);
  p.onPong({ type: "pong", txid: txidOf(ping!), src: ep }, ep, 10);
  return p;
}

suite("peer paths", (check) => {
  const phone = parseEndpoint("203.0.113.7:41641");
  check("an active peer: ping its endpoints, send CallMeMaybe, go direct on the pong", () => {
    const p = make();
    p.setKnownEndpoints([phone]);
    const first = p.tick(0, true);
    eq(show(first), "udp ping 203.0.113.7:41641; derp call-me-maybe", "discovery");
    eq(show(p.onPong({ type: "pong", txid: txidOf(first[0]!), src: parseEndpoint("198.51.100.1:41641") }, phone, 12)), "endpoint 203.0.113.7:41641", "direct");
    eq(p.status.kind === "direct" ? p.status.latencyMs : -1, 12, "latency");
  });
  check("endpoints as the server sent them: a malformed one skipped, a later list adding to the earlier one", () => {
    const p = make();
    p.setKnownEndpoints(["203.0.113.7:41641", "not an endpoint", "[2001:db8::7]:41641"]);
    p.setKnownEndpoints(["192.0.2.9:41641"]);
    eq(show(p.tick(0, true)), "udp ping 203.0.113.7:41641; udp ping [2001:db8::7]:41641; udp ping 192.0.2.9:41641; derp call-me-maybe", "pinged");
  });
  check("an idle peer gets no pings", () => {
    const p = make();
    p.setKnownEndpoints([phone]);
    eq(p.tick(0, false).length, 0, "nothing sent");
  });
  check("a pong from another address, or an unknown txid, is ignored", () => {
    const p = make();
    p.setKnownEndpoints([phone]);
    const [ping] = p.tick(0, true);
    eq(p.onPong({ type: "pong", txid: txidOf(ping!), src: phone }, parseEndpoint("203.0.113.8:41641"), 5).length, 0, "wrong source");
    eq(p.onPong({ type: "pong", txid: new Uint8Array(12).fill(9), src: phone }, phone, 5).length, 0, "unknown txid");
  });
  check("their ping is answered with our view of their address, and pinged back", () => {
    const p = make();
    const acts = p.onPing({ type: "ping", txid: new Uint8Array(12), nodeKey: new Uint8Array(32) }, phone, 0);
    eq(show(acts), "udp pong 203.0.113.7:41641; udp ping 203.0.113.7:41641", "pong and ping back");
    const viaDerp = p.onPing({ type: "ping", txid: new Uint8Array(12), nodeKey: new Uint8Array(32) }, { derpRegion: 900 }, 0);
    eq(viaDerp[0]!.kind === "derp" && viaDerp[0]!.message.type === "pong" ? formatEndpoint(viaDerp[0]!.message.src) : "", "127.3.3.40:900", "pong over DERP names the region");
  });
  check("heartbeats while active, fallback to the relay once one goes unanswered", () => {
    const p = directTo(phone);
    const beat = HEARTBEAT_MS + 10;
    eq(show(p.tick(beat, true)), "udp ping 203.0.113.7:41641", "heartbeat");
    eq(show(p.tick(beat + UNANSWERED_MS - 1, true)), "", "its answer is still awaited");
    eq(show(p.tick(beat + UNANSWERED_MS, true)), "endpoint relay", "fallback at once, though the last pong is younger than the trust window");
    eq(p.status.kind, "relay", "status relay");
  });
  check("the path goes dead: on the relay within 5 s at one tick a second, wherever in the heartbeat cycle it died", () => {
    for (let died = 3_000; died < 3_000 + HEARTBEAT_MS; died += 250) {
      const p = make();
      p.setKnownEndpoints([phone]);
      let t = 0;
      for (; t <= 20_000 && !(t > died && p.status.kind === "relay"); t += 1_000) {
        // A ping sent before the path died is answered within 5 ms; after, never.
        for (const a of p.tick(t, true)) if (a.kind === "udp" && a.message.type === "ping" && t + 5 < died) p.onPong({ type: "pong", txid: a.message.txid, src: phone }, phone, t + 5);
      }
      eq(t - 1_000 - died <= 5_000, true, `died at ${died} ms: on the relay after ${t - 1_000 - died} ms`);
    }
  });
  check("a busy path: the kernel keeps receiving over it, so an unanswered heartbeat does not cost it; once receipts stop, it does", () => {
    const p = directTo(phone);
    const beat = HEARTBEAT_MS + 10;
    eq(show(p.tick(beat, true, { at: beat, from: phone })), "udp ping 203.0.113.7:41641", "heartbeat");
    const late = beat + UNANSWERED_MS + 500;
    eq(relayed(p.tick(late, true, { at: late - 1000, from: phone })), false, "unanswered, but received over it a second ago: still direct");
    eq(relayed(p.tick(late, true, { at: late - 1000, from: parseEndpoint("127.0.0.1:40000") })), true, "received, but from the relay's bridge: no proof of the direct path");
  });
  check("receipts read as direct while the relay bridge carries the peer's packets prove nothing: back to the relay", () => {
    const p = directTo(phone);
    const beat = HEARTBEAT_MS + 10;
    p.tick(beat, true, { at: beat, from: phone });
    const late = beat + UNANSWERED_MS + 500;
    eq(relayed(p.tick(late, true, { at: late - 100, from: phone, relayedAt: late - 2_000 })), true, "the bridge carried one 2 s ago");
    const q = directTo(phone);
    q.tick(beat, true, { at: beat, from: phone });
    eq(relayed(q.tick(late, true, { at: late - 100, from: phone, relayedAt: late - RECEIVED_FRESH_MS })), false, "the bridge's last one 2.5 s old: the receipts are the direct path's");
  });
  check("receipts that stopped: back to the relay once they are 2.5 s old", () => {
    const p = directTo(phone);
    const beat = HEARTBEAT_MS + 10;
    p.tick(beat, true, { at: beat, from: phone });
    eq(relayed(p.tick(beat + RECEIVED_FRESH_MS - 1, true, { at: beat, from: phone })), false, "received 2.5 s ago less a moment");
    eq(relayed(p.tick(beat + RECEIVED_FRESH_MS, true, { at: beat, from: phone })), true, "no longer");
  });
  check("a heartbeat answered late, within 1.5 s, keeps the path", () => {
    const p = directTo(phone);
    const [beat] = p.tick(HEARTBEAT_MS + 10, true);
    eq(show(p.tick(HEARTBEAT_MS + 1010, true)), "", "awaited");
    eq(p.onPong({ type: "pong", txid: txidOf(beat!), src: phone }, phone, HEARTBEAT_MS + 1400).length, 0, "answered: same path");
    eq(show(p.tick(HEARTBEAT_MS + 1900, true)), "", "no fallback");
    eq(p.status.kind, "direct", "still direct");
  });
  check("an idle peer keeps its direct path; once active again, a heartbeat tests it first", () => {
    const p = directTo(phone);
    eq(p.tick(60_000, false).length, 0, "idle: nothing sent, nothing changed");
    eq(p.status.kind, "direct", "still direct while idle");
    const [beat] = p.tick(60_010, true);
    eq(show([beat!]), "udp ping 203.0.113.7:41641", "heartbeat on activity");
    eq(p.onPong({ type: "pong", txid: txidOf(beat!), src: phone }, phone, 60_020).length, 0, "answered: same path, nothing to change");
    eq(p.status.kind, "direct", "direct");
  });
  check("on the relay, an active peer's candidates are probed every 2.5 s, so an opened path is found within 5 s", () => {
    const p = make();
    p.setKnownEndpoints([phone]);
    eq(show(p.tick(0, true)), "udp ping 203.0.113.7:41641; derp call-me-maybe", "first probe");
    eq(show(p.tick(PING_INTERVAL_MS - 1, true)), "", "not yet");
    eq(show(p.tick(PING_INTERVAL_MS, true)), "udp ping 203.0.113.7:41641", "again");
  });
  check("CallMeMaybe pings every endpoint at once", () => {
    const p = make();
    eq(show(p.onCallMeMaybe([phone, parseEndpoint("[2001:db8::7]:41641")], 0)), "udp ping 203.0.113.7:41641; udp ping [2001:db8::7]:41641", "pings");
  });
  check("UDP over IPv4 blocked between the houses, IPv6 open: the IPv6 candidate's pong makes the path direct over IPv6", () => {
    const p = make();
    const v6 = parseEndpoint("[2001:db8:168:2::10]:41641");
    p.setKnownEndpoints([phone, v6]);
    const pings = p.tick(0, true);
    eq(show(pings), "udp ping 203.0.113.7:41641; udp ping [2001:db8:168:2::10]:41641; derp call-me-maybe", "both families pinged");
    eq(show(p.onPong({ type: "pong", txid: txidOf(pings[1]!), src: parseEndpoint("[2001:db8:168:1::10]:41641") }, v6, 30)), "endpoint [2001:db8:168:2::10]:41641", "direct over IPv6");
    // The IPv4 ping stays lost: heartbeats go to the IPv6 path only.
    eq(show(p.tick(HEARTBEAT_MS + 30, true)), "udp ping [2001:db8:168:2::10]:41641", "heartbeat over IPv6");
  });
  check("both families answer: IPv6 wins a near tie (it needs no NAT), IPv4 a clear lead", () => {
    const v6 = parseEndpoint("[2001:db8::7]:41641");
    const race = (v4Ms: number, v6Ms: number) => {
      const p = make();
      p.setKnownEndpoints([phone, v6]);
      const [ping4, ping6] = p.tick(0, true);
      p.onPong({ type: "pong", txid: txidOf(ping4!), src: phone }, phone, v4Ms);
      p.onPong({ type: "pong", txid: txidOf(ping6!), src: v6 }, v6, v6Ms);
      return p.status.kind === "direct" ? formatEndpoint(p.status.endpoint) : "relay";
    };
    eq(race(10, 11), "[2001:db8::7]:41641", "10 ms over IPv4, 11 ms over IPv6");
    eq(race(10, 20), "203.0.113.7:41641", "10 ms over IPv4, 20 ms over IPv6");
  });
});
