// What the agent's activity read costs in the runtime that ships, without the kernel: a
// get-device dump of N peers laid out as the kernel sends it (public key, preshared key,
// handshake, keep-alive, counters, protocol version, endpoint, allowed IPs; whole peers in
// messages of 8 kB), read the agent's way (wg/genl.ts KernelPeerDump: the outside-change check
// against the model, then the activity's counters) and, for comparison, decoded into objects
// first (decodeDevice, as every read was before). CPU ms per read, so a regression shows
// natively in seconds (test/wg/activity-read.test.ts); the VM's steady state is wgcheck steady.
import { parseEndpoint } from "../../agent/src/netaddr/ip.js";
import { type Message, Writer } from "../../agent/src/netlink/codec.js";
import { toHex } from "../../agent/src/util/bytes.js";
import { PeerActivity } from "../../agent/src/wg/activity.js";
import { peerDump, type WireGuardApi } from "../../agent/src/wg/api.js";
import { decodeDevice, encodeSockaddr, KernelPeerDump, PeerIds } from "../../agent/src/wg/genl.js";
import { KernelPeers } from "../../agent/src/wg/kernel-peers.js";
import { wantedPeer } from "../../agent/src/wg/wanted.js";
import type { Node } from "../../agent/src/control/tailcfg.js";
import type { WantedPeer } from "../../agent/src/wg/reconcile.js";

export interface ReadCost {
  peers: number;
  reads: number;
  /** CPU ms per read: in place (as the agent reads), and decoded into objects (as before). */
  inPlaceCpuMs: number;
  decodedCpuMs: number;
}

const key = (i: number) => {
  const k = new Uint8Array(32);
  new DataView(k.buffer).setUint32(0, i + 1);
  k[31] = 0x40;
  return k;
};

/** The wanted peers and the kernel's dump of them (counters moving with `round`). */
export function kernelDump(count: number, round = 0): { wanted: WantedPeer[]; parts: Message[] } {
  // The model holds what the agent's does: the netmap's nodes as wanted peers (wg/wanted.ts).
  const opts = { acceptRoutes: true, endpointFor: (nd: Node) => parseEndpoint(`198.51.${(nd.ID >> 8) & 255}.${nd.ID & 255}:${10000 + nd.ID}`), log: () => {} };
  const wanted = Array.from({ length: count }, (_, i) => {
    const n = { ID: i, Key: `nodekey:${toHex(key(i))}`, Addresses: [`100.64.${i >> 8}.${i & 255}/32`, `fd7a:115c:a1e0::${(i + 1).toString(16)}/128`] } as Node;
    return wantedPeer(n, opts)!;
  });
  const parts: Message[] = [];
  const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const timespec = new Uint8Array(16);
  new DataView(timespec.buffer).setBigInt64(0, 1_700_000_000n + BigInt(round), le);
  for (let i = 0; i < count; ) {
    const w = new Writer(8800);
    w.raw(Uint8Array.of(0, 1, 0, 0)).u32(1, 7).str(2, "mw0").u16(6, 41641);
    w.nest(8, () => {
      for (; i < count && w.length < 8000; i++) {
        const p = wanted[i]!, ips = p.allowedIps;
        w.nest(0, () => {
          w.bytes(1, p.publicKey).bytes(2, new Uint8Array(32)).bytes(6, timespec);
          w.u16(5, 0).u64(7, BigInt(1000 * i + round)).u64(8, BigInt(2000 * i + round)).u32(10, 1);
          w.bytes(4, encodeSockaddr(p.endpoint!));
          w.nest(9, () => {
            for (const a of ips) w.nest(0, () => w.u8(3, a.bits).bytes(2, a.ip).u16(1, a.ip.length === 4 ? 2 : 10));
          });
        });
      }
    });
    parts.push({ type: 0x1b, flags: 2, seq: 1, pid: 0, payload: w.finish() });
  }
  return { wanted, parts };
}

/** `reads` reads of a dump of `count` peers each way; `cpuMs` is the process's CPU time. */
export async function readCost(count: number, reads: number, cpuMs: () => number): Promise<ReadCost> {
  const { wanted } = kernelDump(count);
  // The model as a reconcile leaves it (from an empty device): only then is the outside checked.
  const sink: WireGuardApi = { kind: "kernel", get: async (name) => ({ name, ifindex: 7, listenPort: 41641, fwmark: 0, peers: [] }), set: async () => {} };
  const model = new KernelPeers(sink, "mw0");
  await model.reconcile(wanted);
  if (model.needsReconcile) throw new Error("read-cost: the model is stale");
  // The counters move between reads, as a tailnet's do: what differs from one read to the next is
  // each peer's counters and handshake, where the kernel put them.
  const dumps = [kernelDump(count, 1).parts, kernelDump(count, 2).parts];
  const time = (read: (parts: Message[]) => void) => {
    read(dumps[0]!);
    const c0 = cpuMs();
    for (let r = 0; r < reads; r++) read(dumps[r % 2]!);
    return (cpuMs() - c0) / reads;
  };
  const fail = () => {
    throw new Error("read-cost: our own peers seen as changed outside");
  };
  const ids = new PeerIds(), inPlaceActivity = new PeerActivity();
  let now = 0;
  // As running.ts refreshPeers reads: the outside check rides along the activity's pass.
  const inPlaceCpuMs = time((parts) => {
    const outside = model.outsideCheck()!;
    inPlaceActivity.update(new KernelPeerDump(parts, ids), (now += 1000), outside.peer);
    if (outside.changed()) fail();
  });
  const decodedActivity = new PeerActivity();
  const decodedCpuMs = time((parts) => {
    const dump = peerDump(decodeDevice(parts).peers.map((p) => [toHex(p.publicKey), p] as const));
    if (model.changedOutside(dump)) fail();
    decodedActivity.update(dump, (now += 1000));
  });
  return { peers: count, reads, inPlaceCpuMs: Math.round(inPlaceCpuMs * 10) / 10, decodedCpuMs: Math.round(decodedCpuMs * 10) / 10 };
}
