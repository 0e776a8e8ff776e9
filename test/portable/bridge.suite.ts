import { formatEndpoint } from "../../agent/src/netaddr/ip.js";
import { type LoopbackPort, RelayBridge } from "../../agent/src/paths/bridge.js";
import { eq, suite } from "./check.js";

function harness() {
  const opened: (LoopbackPort & { sent: [number[], number][]; closed: boolean })[] = [];
  const relayed: [number, number[]][] = [];
  const bridge = new RelayBridge(
    {
      openLoopback: () => {
        const p = { port: 40000 + opened.length, sent: [] as [number[], number][], closed: false, send(d: Uint8Array, port: number) { p.sent.push([[...d], port]); }, close() { p.closed = true; }, onMessage: (_d: Uint8Array, _f: number) => {} };
        opened.push(p);
        return p;
      },
      sendRelayed: (peer, data) => relayed.push([peer[0]!, [...data]]),
      log: () => {},
    },
    41641,
  );
  return { bridge, opened, relayed };
}

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
    opened[0]!.onMessage(Uint8Array.of(4, 0, 0, 0, 9), 41641);
    eq(JSON.stringify(relayed), "[[1,[4,0,0,0,9]]]", "relayed to peer a");
    bridge.deliver(a, Uint8Array.of(1, 2));
    eq(JSON.stringify(opened[0]!.sent), "[[[1,2],41641]]", "sent to the WireGuard port");
  });
  check("only the kernel's port may use the bridge; departed peers are closed", () => {
    const { bridge, opened, relayed } = harness();
    bridge.endpointFor(a);
    bridge.endpointFor(b);
    opened[0]!.onMessage(Uint8Array.of(1), 5353);
    eq(relayed.length, 0, "stranger dropped");
    bridge.retain([b]);
    eq(opened[0]!.closed, true, "a closed");
    eq(opened[1]!.closed, false, "b kept");
  });
});
