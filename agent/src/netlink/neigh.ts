// rtnetlink neighbours (linux/neighbour.h): the kernel's ARP and NDP table,
// which says which LAN devices are there and whether they answer.
import type { IpBytes } from "../netaddr/ip.js";
import { attrMap, HOST_LE, type Message, NetlinkDecodeError, type Writer } from "./codec.js";

export const RTM_NEWNEIGH = 28, RTM_GETNEIGH = 30;

export const NUD_INCOMPLETE = 0x01, NUD_REACHABLE = 0x02, NUD_STALE = 0x04, NUD_DELAY = 0x08;
export const NUD_PROBE = 0x10, NUD_FAILED = 0x20, NUD_NOARP = 0x40, NUD_PERMANENT = 0x80;

const AF_INET = 2, AF_INET6 = 10;
const NDA_DST = 1, NDA_LLADDR = 2;
const NDMSG_LEN = 12;

export interface Neighbour {
  readonly index: number;
  readonly ip: IpBytes;
  /** Absent while the kernel is still resolving it (INCOMPLETE) or after it gave up (FAILED). */
  readonly mac?: Uint8Array;
  /** NUD_* bits. */
  readonly state: number;
}

/** A dump of every family's neighbours: an all-zero ndmsg. */
export const dumpNeighbours = (w: Writer): void => void w.raw(new Uint8Array(NDMSG_LEN));

export function parseNeighbour(m: Message): Neighbour | undefined {
  const p = m.payload;
  if (p.length < NDMSG_LEN) throw new NetlinkDecodeError(`neighbour message of ${p.length} bytes`);
  const v = new DataView(p.buffer, p.byteOffset, NDMSG_LEN);
  const family = p[0]!;
  // Bridge FDB entries (AF_BRIDGE) come through the same message type: not ours.
  if (family !== AF_INET && family !== AF_INET6) return undefined;
  const index = v.getInt32(4, HOST_LE);
  const a = attrMap(p.subarray(NDMSG_LEN), `neighbour on link ${index}`);
  const dst = a.get(NDA_DST);
  const want = family === AF_INET ? 4 : 16;
  if (!dst || dst.length !== want) throw new NetlinkDecodeError(`neighbour on link ${index}: missing or ${dst?.length}-byte address`);
  const mac = a.get(NDA_LLADDR);
  return { index, ip: dst.slice(), state: v.getUint16(8, HOST_LE), ...(mac && mac.length ? { mac: mac.slice() } : {}) };
}
