import { DirectPaths, REPIN_AFTER_MS } from "../../agent/src/paths/direct.js";
import type { Node } from "../../agent/src/control/tailcfg.js";
import { keyPairFromSeed, keyToText } from "../../agent/src/crypto/keys.js";
import { type Endpoint, formatEndpoint, type IpBytes, parseEndpoint, parsePrefix, prefixContains } from "../../agent/src/netaddr/ip.js";
import { type LoopbackPort, RelayBridge } from "../../agent/src/paths/bridge.js";
import { latin1 } from "../../agent/src/util/bytes.js";
import { DiscoManager, type PeerActivity } from "../../agent/src/paths/manager.js";
import { eq, suite } from "./check.js";

/** A loopback socket double: datagrams the test queues are read by the bridge when it is told they wait. */
type PortDouble = LoopbackPort & { sent: number[][]; connected: number[]; closed: boolean; kernelDrops: number; arrive(...d: Uint8Array[]): void };

function harness() {
  const opened: PortDouble[] = [];
  const relayed: [number, number[], number][] = [];
  const bridge = new RelayBridge(
    {
      openLoopback: (wgPort) => {
        const queue: Uint8Array[] = [];
        const p: PortDouble = {
          port: 40000 + opened.length,
          sent: [],
          connected: [wgPort],
          closed: false,
          kernelDrops: 0,
          drops: () => p.kernelDrops,
          connect: (port) => void p.connected.push(port),
          send: (d) => (p.sent.push([...d]), true),
          readInto: (buf, off) => {
            const d = queue.shift();
            if (!d) return null;
            buf.set(d.subarray(0, buf.length - off), off);
            return Math.min(d.length, buf.length - off);
          },
          close: () => void (p.closed = true),
          onReadable: () => {},
          arrive: (...d) => {
            queue.push(...d);
            p.onReadable();
          },
        };
        opened.push(p);
        return p;
      },
      sendRelayed: (peer, id, frames, packets) => relayed.push([id === latin1(peer) ? peer[0]! : -1, [...frames], packets]),
      log: () => {},
    },
    41641,
  );
  return { bridge, opened, relayed };
}

/** SendPacket frames for peer key `k` (all bytes k) around each packet, as the relay must receive them. */
const framed = (k: number, ...packets: number[][]) =>
  packets.flatMap((d) => {
    const n = 32 + d.length;
    return [4, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff, ...new Array<number>(32).fill(k), ...d];
  });

suite("relay bridge", (check) => {
  const a = new Uint8Array(32).fill(1), b = new Uint8Array(32).fill(2);
  check("one steady loopback endpoint per relayed peer", () => {
    const { bridge, opened } = harness();
    eq(formatEndpoint(bridge.endpointFor(a)), "127.0.0.1:40000", "first peer");
    eq(formatEndpoint(bridge.endpointFor(b)), "127.0.0.1:40001", "second peer");
    eq(formatEndpoint(bridge.endpointFor(a)), "127.0.0.1:40000", "same again");
    eq(opened.length, 2, "two sockets");
    eq(bridge.isBridgeEndpoint(bridge.endpointFor(b)), true, "recognised");
  });
  check("kernel to DERP, DERP to kernel", () => {
    const { bridge, opened, relayed } = harness();
    bridge.endpointFor(a);
    opened[0]!.arrive(Uint8Array.of(4, 0, 0, 0, 9));
    eq(JSON.stringify(relayed), JSON.stringify([[1, framed(1, [4, 0, 0, 0, 9]), 1]]), "framed for peer a");
    bridge.deliver(a, Uint8Array.of(1, 2));
    eq(JSON.stringify(opened[0]!.sent), "[[1,2]]", "sent to the kernel");
  });
  check("what waits is read a turn at a time and framed in batches that fill one TLS record (16 KB) without passing it", () => {
    const { bridge, opened, relayed } = harness();
    bridge.endpointFor(a);
    const big = new Uint8Array(1400).fill(7);
    opened[0]!.arrive(...new Array<Uint8Array>(70).fill(big));
    eq(relayed.map((r) => r[2]).join(" "), "11 11 11 11 11 9", "64 read this turn, in batches of 11 packets (15,807 bytes)");
    eq(relayed.every((r) => r[1].length === r[2] * (37 + 1400)), true, "each batch exactly its frames");
    eq(JSON.stringify(relayed[0]![1].slice(0, 37 + 1400)), JSON.stringify(framed(1, [...big])), "the first frame: head, key, packet");
    opened[0]!.onReadable();
    eq(relayed.map((r) => r[2]).join(" "), "11 11 11 11 11 9 6", "the rest at the next turn");
  });
  check("each socket points at the kernel's WireGuard port, and follows it when it moves; departed peers are closed", () => {
    const { bridge, opened } = harness();
    bridge.endpointFor(a);
    bridge.endpointFor(b);
    eq(JSON.stringify(opened.map((p) => p.connected)), "[[41641],[41641]]", "connected at the start");
    bridge.setWireGuardPort(41642);
    eq(JSON.stringify(opened.map((p) => p.connected)), "[[41641,41642],[41641,41642]]", "both moved");
    bridge.retain([b]);
    eq(opened[0]!.closed, true, "a closed");
    eq(opened[1]!.closed, false, "b kept");
  });
  check("counts what it carries each way, WireGuard data apart, and what the kernel's socket did not take", () => {
    const { bridge, opened } = harness();
    bridge.endpointFor(a);
    opened[0]!.arrive(Uint8Array.of(4, 0, 0, 0, 9, 9), Uint8Array.of(1, 0, 0, 0));
    bridge.deliver(a, Uint8Array.of(4, 0, 0, 0, 7));
    opened[0]!.send = () => false;
    bridge.deliver(a, Uint8Array.of(4, 0, 0, 0, 7));
    opened[0]!.send = () => {
      throw new Error("write: ECONNREFUSED");
    };
    bridge.deliver(a, Uint8Array.of(1));
    eq(JSON.stringify(bridge.counters), '{"toKernel":{"packets":3,"bytes":11,"data":2,"dropped":2},"fromKernel":{"packets":2,"bytes":10,"data":1,"dropped":0}}', "counters");
    bridge.endpointFor(b);
    opened[0]!.kernelDrops = 5;
    opened[1]!.kernelDrops = 2;
    eq(bridge.counters.fromKernel.dropped, 7, "what the kernel dropped at each full socket");
    bridge.retain([b]);
    opened[1]!.kernelDrops = 3;
    eq(bridge.counters.fromKernel.dropped, 8, "a closed socket's drops stay counted");
  });
  check("a peer pinned direct is reported once per pin when the bridge carries a packet for it, either way", () => {
    const { bridge, opened } = harness();
    const roamed: string[] = [];
    bridge.onRoamed = (k, evidence) => roamed.push(`${k[0]} ${evidence}`);
    bridge.deliver(a, Uint8Array.of(4));
    eq(roamed.length, 0, "on the relay: nothing to report");
    bridge.pin(a, true);
    bridge.deliver(a, Uint8Array.of(4));
    bridge.deliver(a, Uint8Array.of(4));
    eq(roamed.join(", "), "1 delivered", "once for two packets from DERP");
    opened[0]!.arrive(Uint8Array.of(4));
    opened[0]!.arrive(Uint8Array.of(4));
    bridge.deliver(a, Uint8Array.of(4));
    eq(roamed.join(", "), "1 delivered, 1 kernel", "then once for the kernel sending through the bridge: it has moved");
    bridge.pin(a, true);
    opened[0]!.arrive(Uint8Array.of(4));
    eq(roamed.join(", "), "1 delivered, 1 kernel, 1 kernel", "the kernel sending through the bridge, after a new pin");
    bridge.pin(a, false);
    bridge.deliver(a, Uint8Array.of(4));
    opened[0]!.arrive(Uint8Array.of(4));
    eq(roamed.length, 3, "back on the relay: the bridge is its endpoint");
  });
  check("a direct peer's kernel endpoint is set again after a packet through the bridge moved it, once per burst", async () => {
    const r = await directRouter();
    eq(r.set.map(show).join(" "), "203.0.113.7:41641", "direct after the pong");
    for (let i = 0; i < 5; i++) r.bridge.deliver(r.phone, Uint8Array.of(4, 0, 0, 0));
    eq(r.set.length, 1, "nothing at once: the kernel takes the packet first");
    r.advance(REPIN_AFTER_MS);
    eq(r.set.map(show).join(" "), "203.0.113.7:41641 203.0.113.7:41641", "set direct again, once for five packets");
    r.advance(REPIN_AFTER_MS);
    eq(r.set.length, 2, "no more without more packets");
    r.bridge.deliver(r.phone, Uint8Array.of(4, 0, 0, 0));
    r.advance(REPIN_AFTER_MS);
    eq(r.set.length, 3, "the next packet through the relay: again");
    eq(r.logs.filter((l) => l.includes("moved the kernel's endpoint")).length, 2, "said in the debug log");
  });
  check("a direct peer's kernel endpoint is set again at once when the kernel sends through the bridge: it has moved, and all it sends meanwhile goes by the relay", async () => {
    const r = await directRouter();
    r.bridge.deliver(r.phone, Uint8Array.of(4, 0, 0, 0));
    r.kernelSends(Uint8Array.of(4, 0, 0, 0));
    eq(r.set.map(show).join(" "), "203.0.113.7:41641 203.0.113.7:41641", "set direct again before any time passed");
    r.advance(REPIN_AFTER_MS);
    eq(r.set.length, 2, "the delivered packet's later re-pin is not made as well");
    r.kernelSends(Uint8Array.of(4, 0, 0, 0), Uint8Array.of(4, 0, 0, 0));
    eq(r.set.length, 3, "the kernel moved by no packet the bridge delivered (one still in its queue): set direct again too, once for what it sent");
  });
  check("a direct path that dies while the peer's traffic comes over the relay: on the relay within 5 s, though every re-pin makes the kernel read it as received direct", async () => {
    // What the kernel says at each read: bytes received, the endpoint direct (the re-pin set it back 100 ms after the last packet through the bridge).
    const r = await directRouter((now) => ({ active: true, received: { at: now, from: parseEndpoint("203.0.113.7:41641") } }));
    // The path dies now: no more pongs (the phone is never asked again); the phone's packets come over DERP every 50 ms.
    let t = 0;
    for (; t < 20_000 && r.set.at(-1) !== undefined; t += 50) {
      r.bridge.deliver(r.phone, Uint8Array.of(4, 0, 0, 0));
      r.advance(50);
    }
    eq(r.set.at(-1), undefined, `back on the relay (kernel endpoints set: ${r.set.map(show).join(" ")})`);
    eq(t <= 5_000, true, `within 5 s: ${t} ms`);
  });
  check("a peer's LAN address inside a route the tunnel carries is never pinged: its pong would come over the relay and look direct", async () => {
    // The phone's router shares 192.168.72.0/24 and we take the route: 192.168.72.23 is reached only through the tunnel.
    const shared = parsePrefix("192.168.72.0/24");
    const r = await directRouter(() => ({ active: true }), { endpoints: ["203.0.113.7:41641", "192.168.72.23:41641"], routedByTunnel: (ip) => prefixContains(shared, ip) });
    r.advance(10_000);
    const pinged = new Set(r.sent.map((x) => x.ip));
    eq([...pinged].sort().join(" "), "203.0.113.7", "only the phone's public address gets disco");
    const open = await directRouter(() => ({ active: true }), { endpoints: ["203.0.113.7:41641", "192.168.72.23:41641"] });
    open.advance(10_000);
    eq(open.sent.some((x) => x.ip === "192.168.72.23"), true, "without the route, its LAN address is a candidate like any other");
  });
});

const show = (e: Endpoint | undefined) => (e ? formatEndpoint(e) : "relay");

/**
 * DirectPaths for a router with one peer (a phone, as a DiscoManager),
 * brought to a direct path by a real ping and pong, on a host double with a
 * clock of its own and the real bridge.
 */
async function directRouter(activity: (now: number) => PeerActivity = () => ({ active: true }), o: { endpoints?: string[]; routedByTunnel?: (ip: IpBytes) => boolean } = {}) {
  let now = 1_000;
  const timers: { at: number; fn: () => void }[] = [];
  const logs: string[] = [];
  const sent: { data: Uint8Array; ip: string; port: number }[] = [];
  let onUdp: (d: Uint8Array, ip: string, port: number) => void = () => {};
  const host = {
    bindUdp: () => {
      const u = { port: 40000, send: (data: Uint8Array, ip: string, port: number) => void sent.push({ data, ip, port }), close: () => {}, onMessage: onUdp };
      Object.defineProperty(u, "onMessage", { set: (f: typeof onUdp) => void (onUdp = f), get: () => onUdp });
      return u;
    },
    setTimer: (ms: number, fn: () => void) => {
      const t = { at: now + ms, fn };
      timers.push(t);
      return () => void (timers.includes(t) && timers.splice(timers.indexOf(t), 1));
    },
    monotonic: () => now,
    random: (n: number) => new Uint8Array(n).fill(now & 0xff),
    log: (level: string, msg: string) => void logs.push(`${level} ${msg}`),
  };
  const { bridge, opened } = harness();
  const routerNode = keyPairFromSeed(new Uint8Array(32).fill(1)), routerDisco = keyPairFromSeed(new Uint8Array(32).fill(101));
  const phoneNode = keyPairFromSeed(new Uint8Array(32).fill(2)), phoneDisco = keyPairFromSeed(new Uint8Array(32).fill(102));
  const phoneEp = parseEndpoint("203.0.113.7:41641");
  const set: (Endpoint | undefined)[] = [];
  const d = new DirectPaths({
    host: host as never, wgPort: 41641, nodeKey: routerNode.publicKey, discoPrivate: routerDisco.privateKey, discoPublic: routerDisco.publicKey,
    sendDerp: () => {}, setKernelEndpoint: async (_p, ep) => void set.push(ep), bridge, localAddresses: async () => [], ...(o.routedByTunnel ? { routedByTunnel: o.routedByTunnel } : {}),
    peerActivity: () => activity(now), onEndpoints: () => {}, sharePort: async () => undefined,
  });
  await d.start();
  const phoneAsNode: Node = {
    ID: 2, StableID: "2", Name: "phone", User: 1, Key: keyToText("nodekey", phoneNode.publicKey), DiscoKey: keyToText("discokey", phoneDisco.publicKey),
    Addresses: [], AllowedIPs: [], Endpoints: o.endpoints ?? ["203.0.113.7:41641"], HomeDERP: 900,
  } as Node;
  d.setPeers([phoneAsNode], undefined, () => 900);
  const phone = new DiscoManager({ random: (n) => new Uint8Array(n).fill(9), ourNodeKey: phoneNode.publicKey, ourDiscoPrivate: phoneDisco.privateKey, ourDiscoPublic: phoneDisco.publicKey, ourEndpoints: () => [phoneEp] });
  phone.setPeers([{ ...phoneAsNode, ID: 1, Key: keyToText("nodekey", routerNode.publicKey), DiscoKey: keyToText("discokey", routerDisco.publicKey), Endpoints: ["198.51.100.1:41641"] } as Node], () => 900);
  const advance = (ms: number) => {
    const until = now + ms;
    for (;;) {
      timers.sort((x, y) => x.at - y.at);
      const t = timers[0];
      if (!t || t.at > until) break;
      timers.shift();
      now = t.at;
      t.fn();
    }
    now = until;
  };
  // The router's tick pings the phone's endpoint; the phone's pong makes the path direct.
  advance(1_000);
  const ping = sent.find((x) => x.ip === "203.0.113.7");
  if (!ping) throw new Error("the router did not ping the phone");
  for (const o of phone.receive(ping.data, { from: parseEndpoint("198.51.100.1:41641") }, now)) {
    if (o.kind === "udp" && formatEndpoint(o.to) === "198.51.100.1:41641") onUdp(o.packet, "203.0.113.7", 41641);
  }
  await Promise.resolve();
  // The phone's loopback socket: what the kernel sends there is read by the bridge at once.
  const kernelSends = (...d: Uint8Array[]) => opened[0]!.arrive(...d);
  return { bridge, set, logs, advance, sent, kernelSends, phone: phoneNode.publicKey };
}

