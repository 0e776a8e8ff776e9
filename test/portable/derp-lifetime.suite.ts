// The relay manager over months: durations on the monotonic clock while the
// wall clock steps, a deadline on each connection attempt and on silence,
// each node of a region in turn, and a bounded send queue. The relay is a
// scripted in-memory one (a double) speaking real DERP frames; the real
// derper is exercised by the integration tests.
import { statusReply } from "../../agent/src/api/replies.js";
import { emptyNetMap } from "../../agent/src/control/netmap.js";
import { boxSeal, boxSharedKey } from "../../agent/src/crypto/box.js";
import { publicKeyOf } from "../../agent/src/crypto/keys.js";
import type { DERPMap, DERPNode } from "../../agent/src/control/tailcfg.js";
import { NODE_CONNECT_MS } from "../../agent/src/derp/connect.js";
import { encodeFrame, FRAME_KEEP_ALIVE, FRAME_SERVER_INFO, FRAME_SERVER_KEY, FrameReader, MAGIC, putSendPacketHead } from "../../agent/src/derp/frame.js";
import { CONNECT_DEADLINE_MS, DerpManager, READ_DEADLINE_MS, SEND_QUEUE_MAX } from "../../agent/src/derp/manager.js";
import { ascii } from "../../agent/src/util/bytes.js";
import type { ByteStream } from "../../agent/src/util/stream.js";
import { eq, suite } from "./check.js";

const serverPriv = new Uint8Array(32).fill(5);
const clientPriv = new Uint8Array(32).fill(6);
const peer = new Uint8Array(32).fill(0xab);
const YEAR_MS = 365 * 24 * 3600_000;

/** A relay double on an in-memory stream: answers the upgrade and the handshake unless told to stay silent; holds what is written unless told to read it. */
function relayStream(opts: { silentAtUpgrade?: boolean; reading?: boolean } = {}) {
  const st = { closed: false, queued: 0, upgraded: false, keepAlive: () => {} };
  const reader = new FrameReader();
  const s: ByteStream & { queuedBytes: number } = {
    onData: () => {},
    onClose: () => {},
    get queuedBytes() {
      return st.queued;
    },
    write(b) {
      if (st.closed) return;
      if (!st.upgraded) {
        st.upgraded = true;
        if (opts.silentAtUpgrade) return;
        const head = ascii("HTTP/1.1 101 Switching Protocols\r\nUpgrade: DERP\r\n\r\n");
        return void Promise.resolve().then(() => s.onData(new Uint8Array([...head, ...encodeFrame(FRAME_SERVER_KEY, MAGIC, publicKeyOf(serverPriv))])));
      }
      // A write of packets (one, or the bridge's batch of frames) stays queued when the relay is not reading.
      let packets = false;
      for (const f of reader.push(b)) {
        if (f.type === 0x02) {
          const shared = boxSharedKey(serverPriv, f.payload.subarray(0, 32));
          const n = new Uint8Array(24).fill(2);
          return void Promise.resolve().then(() => s.onData(encodeFrame(FRAME_SERVER_INFO, n, boxSeal(shared, n, Uint8Array.of(0x7b, 0x7d)))));
        }
        if (f.type === 0x04) packets = true;
      }
      if (packets && !opts.reading) st.queued += b.length;
    },
    close() {
      st.closed = true;
    },
  };
  st.keepAlive = () => {
    if (!st.closed) s.onData(encodeFrame(FRAME_KEEP_ALIVE));
  };
  return { s, st };
}

/** Timers on a monotonic clock the test moves, and a wall clock it steps independently. */
function clocks() {
  const c = { mono: 1_000, wall: Date.UTC(2026, 0, 1) };
  const timers: { at: number; fn: () => void; id: number }[] = [];
  let next = 0;
  const settle = async () => {
    for (let i = 0; i < 20; i++) await Promise.resolve();
  };
  return {
    c,
    setTimer: (ms: number, fn: () => void) => {
      const t = { at: c.mono + ms, fn, id: next++ };
      timers.push(t);
      return () => void (timers.includes(t) && timers.splice(timers.indexOf(t), 1));
    },
    settle,
    /** Moves the monotonic clock on by `ms`, firing what falls due in order (and the wall clock with it). */
    async advance(ms: number) {
      const until = c.mono + ms;
      await settle();
      for (;;) {
        timers.sort((a, b) => a.at - b.at || a.id - b.id);
        const t = timers[0];
        if (!t || t.at > until) break;
        timers.shift();
        c.wall += t.at - c.mono;
        c.mono = t.at;
        t.fn();
        await settle();
      }
      c.wall += until - c.mono;
      c.mono = until;
    },
  };
}

const node = (name: string, region: number): DERPNode => ({ Name: name, RegionID: region, HostName: `derp${name}.test` });
const map = (...regions: DERPNode[][]): DERPMap => ({
  Regions: Object.fromEntries(regions.map((nodes) => [String(nodes[0]!.RegionID), { RegionID: nodes[0]!.RegionID, RegionCode: `r${nodes[0]!.RegionID}`, RegionName: "Lab", Nodes: nodes }])),
});

function manager(k: ReturnType<typeof clocks>, dial: (n: DERPNode, connectMs?: number) => Promise<ByteStream>, logs: string[] = []) {
  const m = new DerpManager(
    {
      dial,
      random: (n) => new Uint8Array(n).fill(255),
      setTimer: k.setTimer,
      // The old field name, fed the stepping wall clock: code that still read it would misbehave here.
      ...({ now: () => k.c.wall } as object),
      monotonic: () => k.c.mono,
      log: (l, m) => void logs.push(`${l} ${m}`),
    },
    clientPriv,
  );
  // A map and the first netcheck: region 1 is the nearest.
  const setMap = m.setMap.bind(m);
  m.setMap = (dm: DERPMap) => {
    setMap(dm);
    m.netcheck({ startedAt: k.c.mono, at: k.c.mono, latencyMs: new Map([[1, 10]]) });
  };
  return m;
}

suite("derp manager over time", (check) => {
  check("the wall clock stepping 5 years forward or 10 minutes back closes no region early and keeps none late", async () => {
    const k = clocks();
    const dials: string[] = [];
    const relays: ReturnType<typeof relayStream>[] = [];
    const m = manager(k, async (n) => {
      dials.push(n.Name);
      const r = relayStream({ reading: true });
      relays.push(r);
      return r.s;
    });
    // Time passing with the relays sending their keep-alives (every 60 s, as derper does).
    const live = async (ms: number) => {
      for (; ms > 0; ms -= 60_000) {
        await k.advance(Math.min(ms, 60_000));
        for (const r of relays) r.st.keepAlive();
      }
    };
    m.setMap(map([node("1a", 1)], [node("2a", 2)]));
    await k.settle();
    m.send(2, peer, Uint8Array.of(1)); // region 2 is in use: a peer homed there
    await live(50_000);
    m.send(2, peer, Uint8Array.of(2));
    eq(m.isConnected(2), true, "region 2 connected");
    k.c.wall += 5 * YEAR_MS; // NTP's first sync on a router without an RTC
    await live(15_000);
    eq(m.isConnected(2), true, "region 2, used 15 s ago, after the wall clock jumped 5 years");
    m.send(2, peer, Uint8Array.of(3));
    k.c.wall -= 10 * 60_000;
    await live(130_000);
    eq(m.isConnected(2), false, "region 2, idle for 130 s although the wall clock went back 10 minutes");
    eq(m.isConnected(1), true, "the home region stays");
    eq(dials.join(" "), "1a 2a", "no dial beyond the first two");
    m.stop();
  });

  check("a relay that goes silent is given up after the read deadline and the region's next node is dialled; keep-alives keep it", async () => {
    const k = clocks();
    const logs: string[] = [];
    const dials: string[] = [];
    const relays: ReturnType<typeof relayStream>[] = [];
    const m = manager(k, async (n) => {
      dials.push(n.Name);
      const r = relayStream({ reading: true });
      relays.push(r);
      return r.s;
    }, logs);
    m.setMap(map([node("1a", 1), node("1b", 1)]));
    await k.settle();
    eq(m.isConnected(1), true, "connected");
    // Ten minutes of a relay that sends its keep-alive every 60 s, and the wall clock stepping meanwhile.
    for (let i = 0; i < 10; i++) {
      await k.advance(60_000);
      relays[0]!.st.keepAlive();
      k.c.wall += i % 2 ? -600_000 : 5 * YEAR_MS;
    }
    eq(dials.join(" "), "1a", "a relay that sends keep-alives is kept");
    // Then nothing at all, the TCP connection still open.
    await k.advance(READ_DEADLINE_MS - 10_000);
    eq(dials.join(" "), "1a", "still within the read deadline");
    await k.advance(30_000);
    eq(dials.join(" "), "1a 1b", "the next node, once silent beyond the deadline");
    eq(relays[0]!.st.closed, true, "the dead connection is closed");
    eq(logs.some((l) => /derp region 1: nothing heard from the relay in 1[34]\d s; connecting again/.test(l)), true, `said why: ${logs.join(" | ")}`);
    await k.settle();
    eq(m.isConnected(1), true, "connected to the second node");
    m.stop();
  });

  check("each node of a region in turn: a first node that refuses or never answers does not keep the region down", async () => {
    const k = clocks();
    const logs: string[] = [];
    const dials: string[] = [];
    const connectMs: (number | undefined)[] = [];
    const m = manager(k, async (n, ms) => {
      dials.push(n.Name);
      connectMs.push(ms);
      if (n.Name === "1a") throw new Error("connect 198.18.0.1:443: ECONNREFUSED (Connection refused)");
      if (n.Name === "1b") return new Promise<ByteStream>(() => {}); // a dial that never ends
      return relayStream({ reading: true }).s;
    }, logs);
    m.setMap(map([node("1a", 1), node("1b", 1), node("1c", 1)]));
    await k.settle();
    eq(dials.join(" "), "1a 1b", "the second node at once after the first refused");
    await k.advance(CONNECT_DEADLINE_MS - 1);
    eq(m.isConnected(1), false, "not before the deadline");
    await k.advance(1);
    eq(dials.join(" "), "1a 1b 1c", "the third node once the second missed its deadline");
    eq(m.isConnected(1), true, "connected to the third node");
    eq(logs.some((l) => l === "warn derp region 1 (derp1b.test): no connection in 30 s (dial)"), true, `the deadline is said: ${logs.join(" | ")}`);
    // The host's TCP connect: tailscale's 1.5 s per node while another is left, the host's own for the last one.
    eq(connectMs.join(" "), `${NODE_CONNECT_MS} ${NODE_CONNECT_MS} `, "the connect deadline of each node");
    m.stop();
  });

  check("a relay that accepts and never answers the upgrade fails at the deadline, naming the step", async () => {
    const k = clocks();
    const logs: string[] = [];
    const streams: ReturnType<typeof relayStream>[] = [];
    const m = manager(k, async () => {
      const r = relayStream({ silentAtUpgrade: true });
      streams.push(r);
      return r.s;
    }, logs);
    m.setMap(map([node("1a", 1)]));
    await k.advance(CONNECT_DEADLINE_MS);
    eq(logs.find((l) => l.startsWith("warn")), "warn derp region 1 (derp1a.test): no connection in 30 s (HTTP upgrade and DERP handshake)", "the step");
    eq(streams[0]!.st.closed, true, "the stream is closed");
    await k.advance(2_000);
    eq(streams.length, 2, "dialled again after the backoff");
    m.stop();
  });

  check("a relay that stops reading: the send queue stays at its cap, the rest is dropped and counted", async () => {
    const k = clocks();
    const relay = relayStream({ reading: false });
    const m = manager(k, async () => relay.s);
    m.setMap(map([node("1a", 1)]));
    await k.settle();
    const packet = new Uint8Array(1200);
    for (let i = 0; i < 1000; i++) m.send(1, peer, packet);
    // A packet goes while what waits is within the cap: a send frame is 5 + 32 + 1200 bytes.
    const sent = Math.floor(SEND_QUEUE_MAX / (packet.length + 37)) + 1;
    eq(relay.st.queued <= SEND_QUEUE_MAX + packet.length + 37, true, `queued ${relay.st.queued} bytes, cap ${SEND_QUEUE_MAX}`);
    eq(m.dropped.queueFull, 1000 - sent, "dropped for the full queue");
    eq(m.dropped.notConnected, 0, "none dropped for want of a connection");
    // What `meshwrt status --json` says: the agent's view carries the manager's counts.
    const status = statusReply({
      version: "0.1.0", control: { kind: "running" }, configured: true, problems: [], netmap: emptyNetMap(), homeRelay: 1, interfaceName: "meshwrt0",
      pathOf: () => undefined, wgPeerOf: () => undefined, advertisedRoutes: [], exitNode: false, endpoints: [], relayDrops: m.dropped,
    });
    eq(JSON.stringify(JSON.parse(JSON.stringify(status)).relayDrops), `{"notConnected":0,"queueFull":${1000 - sent}}`, "status --json");
    m.stop();
  });

  check("the bridge's batches of frames: sent whole while the queue is within its cap, then dropped and counted by their packets", async () => {
    const k = clocks();
    const relay = relayStream({ reading: false });
    const m = manager(k, async () => relay.s);
    m.sendFrames(1, new Uint8Array(10), 10);
    eq(JSON.stringify(m.dropped), '{"notConnected":10,"queueFull":0}', "no connection yet: the batch's 10 packets");
    m.setMap(map([node("1a", 1)]));
    await k.settle();
    const batch = new Uint8Array(12 * 1237);
    for (let i = 0; i < 12; i++) putSendPacketHead(batch, i * 1237, peer, 1200);
    for (let i = 0; i < 20; i++) m.sendFrames(1, batch, 12);
    const whole = Math.floor(SEND_QUEUE_MAX / batch.length) + 1;
    eq(relay.st.queued, whole * batch.length, `${whole} batches queued whole, cap ${SEND_QUEUE_MAX}`);
    eq(m.dropped.queueFull, (20 - whole) * 12, "the rest counted by their packets");
    m.stop();
  });
});
