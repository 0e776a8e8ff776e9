// The DERP client session driven by a scripted relay: greeting, boxed
// ClientInfo, ServerInfo, packets, pings, and refusal of garbage. The real
// relay (derper) is exercised by the integration tests.
import { boxOpen, boxSeal, boxSharedKey } from "../../agent/src/crypto/box.js";
import { publicKeyOf } from "../../agent/src/crypto/keys.js";
import { encodeFrame, FrameReader, FRAME_CLIENT_INFO, FRAME_PING, FRAME_RECV_PACKET, FRAME_SEND_PACKET, FRAME_SERVER_INFO, FRAME_SERVER_KEY, MAGIC, FRAME_PONG, FRAME_PEER_GONE } from "../../agent/src/derp/frame.js";
import { CONNECT_DEADLINE_MS, DerpManager, FIRST_REPORT_WAIT_MS } from "../../agent/src/derp/manager.js";
import { DerpSession } from "../../agent/src/derp/session.js";
import { latin1 } from "../../agent/src/util/bytes.js";
import { eq, eqBytes, suite, throws } from "./check.js";

const serverPriv = new Uint8Array(32).fill(5);
const clientPriv = new Uint8Array(32).fill(6);
const peer = new Uint8Array(32).fill(0xab);

function connected() {
  const out: Uint8Array[] = [];
  const s = new DerpSession(clientPriv, () => new Uint8Array(24).fill(1), (b) => out.push(b));
  s.receive(encodeFrame(FRAME_SERVER_KEY, MAGIC, publicKeyOf(serverPriv)));
  const [info] = new FrameReader().push(out.shift()!);
  const shared = boxSharedKey(serverPriv, info!.payload.subarray(0, 32));
  const n = new Uint8Array(24).fill(2);
  const events = s.receive(encodeFrame(FRAME_SERVER_INFO, n, boxSeal(shared, n, Uint8Array.of(0x7b, 0x7d))));
  return { s, out, info: info!, shared, events };
}

suite("derp session", (check) => {
  check("handshake: ClientInfo is our key and a box the server opens", () => {
    const { info, shared, events, s } = connected();
    eq(info.type, FRAME_CLIENT_INFO, "frame type");
    eqBytes(info.payload.subarray(0, 32), publicKeyOf(clientPriv), "our node key");
    const json = boxOpen(shared, info.payload.subarray(32, 56), info.payload.subarray(56));
    eq(latin1(json!), '{"version":2,"CanAckPings":true}', "client info JSON");
    eq(events[0]?.kind, "ready", "ready after server info");
    eq(s.isReady, true, "ready");
  });
  check("packets both ways, split across reads", () => {
    const { s, out } = connected();
    s.sendPacket(peer, Uint8Array.of(1, 2, 3));
    const [f] = new FrameReader().push(out.shift()!);
    eq(f!.type, FRAME_SEND_PACKET, "send frame");
    eqBytes(f!.payload, new Uint8Array([...peer, 1, 2, 3]), "dest key and payload");
    const got: string[] = [];
    s.onPacket = (src, data) => void got.push(`${src[0]!.toString(16)}: ${data.join()}`);
    const recv = encodeFrame(FRAME_RECV_PACKET, peer, Uint8Array.of(9, 8));
    s.receive(recv.subarray(0, 3));
    eq(got.length, 0, "half a frame is kept");
    eq(s.receive(recv.subarray(3)).length, 0, "a packet is no event");
    eq(got.join(" "), "ab: 9,8", "the packet and its sender");
  });
  check("a batch of frames the caller reuses once sendFrames returns: written now by the stream, or copied before it is queued", () => {
    const { s, out } = connected();
    const batch = encodeFrame(FRAME_SEND_PACKET, peer, Uint8Array.of(1, 2, 3));
    s.sendFrames(batch);
    batch.fill(0);
    eqBytes(out.shift()!, encodeFrame(FRAME_SEND_PACKET, peer, Uint8Array.of(1, 2, 3)), "without writeNow, what was queued is a copy");
    const now: string[] = [], queued: Uint8Array[] = [];
    const direct = new DerpSession(clientPriv, () => new Uint8Array(24).fill(1), (b) => queued.push(b), (b) => void now.push(b.join()));
    direct.receive(encodeFrame(FRAME_SERVER_KEY, MAGIC, publicKeyOf(serverPriv)));
    const shared = boxSharedKey(serverPriv, new FrameReader().push(queued.shift()!)[0]!.payload.subarray(0, 32));
    const n = new Uint8Array(24).fill(2);
    direct.receive(encodeFrame(FRAME_SERVER_INFO, n, boxSeal(shared, n, Uint8Array.of(0x7b, 0x7d))));
    direct.sendFrames(Uint8Array.of(4, 0, 0, 0, 0));
    eq(now.join(" "), "4,0,0,0,0", "with writeNow, written at once");
    eq(queued.length, 0, "and nothing queued");
  });
  check("frames cut anywhere across chunks come out whole; the frames after a cut one are views of their chunk, not copies", () => {
    const frames = [encodeFrame(FRAME_RECV_PACKET, new Uint8Array(32).fill(7), new Uint8Array(300).fill(1)), encodeFrame(FRAME_PING, new Uint8Array(8).fill(2)), encodeFrame(FRAME_RECV_PACKET, new Uint8Array(32).fill(8), new Uint8Array(50).fill(3))];
    const stream = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    frames.reduce((o, f) => (stream.set(f, o), o + f.length), 0);
    for (const cut of [1, 4, 5, 6, 200, frames[0]!.length - 1, frames[0]!.length, frames[0]!.length + 3]) {
      for (const cut2 of [cut + 1, cut + 7, stream.length - 2]) {
        if (cut2 <= cut || cut2 >= stream.length) continue;
        const r = new FrameReader();
        const chunks = [stream.slice(0, cut), stream.slice(cut, cut2), stream.slice(cut2)];
        const got = chunks.flatMap((c) => r.push(c));
        eq(got.map((f) => `${f.type}:${f.payload.length}`).join(" "), "5:332 18:8 5:82", `cut at ${cut} and ${cut2}`);
        eqBytes(got[2]!.payload.subarray(32), new Uint8Array(50).fill(3), `last payload, cut at ${cut} and ${cut2}`);
      }
    }
    // Cut inside the first frame: the second and third are read in place from the second chunk.
    const r = new FrameReader();
    r.push(stream.slice(0, 10));
    const second = stream.slice(10);
    const got = r.push(second);
    eq(got.length, 3, "three frames");
    eq(got[1]!.payload.buffer === second.buffer && got[2]!.payload.buffer === second.buffer, true, "views of the chunk after the cut frame");
  });
  check("ping is answered, peer-gone reported", () => {
    const { s, out } = connected();
    s.receive(encodeFrame(FRAME_PING, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)));
    const [pong] = new FrameReader().push(out.shift()!);
    eq(pong!.type, FRAME_PONG, "pong");
    const ev = s.receive(encodeFrame(FRAME_PEER_GONE, peer, Uint8Array.of(1)));
    eq(ev[0]?.kind === "peer-gone" ? ev[0].reason : -1, 1, "reason");
  });
  check("garbage is refused", () => {
    const s = new DerpSession(clientPriv, () => new Uint8Array(24), () => {});
    throws(() => s.receive(encodeFrame(FRAME_RECV_PACKET, peer)), /want the server key first/, "no greeting");
    const { s: s2 } = connected();
    throws(() => s2.receive(Uint8Array.of(5, 0xff, 0xff, 0xff, 0xff)), /above/, "oversized frame");
    throws(() => connected().s.receive(encodeFrame(FRAME_PING, Uint8Array.of(1))), /ping of 1 bytes/, "short ping");
  });
});

suite("derp manager", (check) => {
  check("a relay that is down is dialled again with backoff, never more than 4 s apart", async () => {
    const delays: number[] = [];
    const due: (() => void)[] = [];
    let dials = 0;
    const m = new DerpManager({
      dial: async () => {
        dials++;
        throw new Error("connect: ECONNREFUSED");
      },
      random: (n) => new Uint8Array(n).fill(255),
      setTimer: (ms, fn) => {
        if (ms < CONNECT_DEADLINE_MS) (delays.push(ms), due.push(fn)); // the retries, not the attempt's deadline or the idle sweep
        return () => {};
      },
      monotonic: () => 0,
      log: () => {},
    }, clientPriv);
    const node = { Name: "1a", RegionID: 1, HostName: "derp.test" };
    m.setMap({ Regions: { "1": { RegionID: 1, RegionCode: "lab", RegionName: "Lab", Nodes: [node] } } });
    eq(delays.shift(), FIRST_REPORT_WAIT_MS, "a wait for the first netcheck");
    due.shift()!(); // none came: the lowest region ID is home
    for (let i = 0; i < 12; i++) {
      for (let k = 0; k < 8; k++) await Promise.resolve();
      due.shift()?.();
    }
    eq(dials, 13, "dials: the first and 12 retries");
    eq(delays.slice(0, 5).join(" "), "1000 2000 4000 4000 4000", "the first delays (the longest jitter)");
    eq(Math.max(...delays), 4000, "the longest delay");
    m.stop();
  });
});
