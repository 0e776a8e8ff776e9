// Generic netlink: the family header and resolving a family by name through
// the "nlctrl" controller, as `wg` does for "wireguard".
import { attrMap, getStr, getU16, getU32, type Message, NetlinkDecodeError, parseAttrs, type Writer } from "./codec.js";
import type { NetlinkClient } from "./client.js";

export const GENL_ID_CTRL = 0x10;
export const GENL_HDRLEN = 4;
const CTRL_CMD_GETFAMILY = 3;
const CTRL_ATTR_FAMILY_ID = 1;
const CTRL_ATTR_FAMILY_NAME = 2;
const CTRL_ATTR_VERSION = 3;
const CTRL_ATTR_MCAST_GROUPS = 7;
const CTRL_ATTR_MCAST_GRP_NAME = 1;
const CTRL_ATTR_MCAST_GRP_ID = 2;

export interface GenlFamily {
  readonly name: string;
  readonly id: number;
  readonly version: number;
  readonly multicastGroups: ReadonlyMap<string, number>;
}

export function genlHeader(w: Writer, cmd: number, version: number): void {
  w.raw(Uint8Array.of(cmd, version, 0, 0));
}

/** The attributes of a generic netlink message, after its 4-byte header. */
export function genlPayload(m: Message, what: string): Uint8Array {
  if (m.payload.length < GENL_HDRLEN) throw new NetlinkDecodeError(`${what}: want a ${GENL_HDRLEN}-byte genl header, got ${m.payload.length}`);
  return m.payload.subarray(GENL_HDRLEN);
}

export async function resolveFamily(client: NetlinkClient, name: string): Promise<GenlFamily> {
  const answer = await client.request(
    GENL_ID_CTRL,
    0,
    (w) => {
      genlHeader(w, CTRL_CMD_GETFAMILY, 1);
      w.str(CTRL_ATTR_FAMILY_NAME, name);
    },
    `generic netlink family "${name}"`,
  );
  if (answer.length === 0) throw new Error(`generic netlink family "${name}": no answer`);
  return parseFamily(answer[0]!);
}

export function parseFamily(m: Message): GenlFamily {
  const attrs = attrMap(genlPayload(m, "nlctrl family"), "nlctrl family");
  const id = attrs.get(CTRL_ATTR_FAMILY_ID);
  const name = attrs.get(CTRL_ATTR_FAMILY_NAME);
  if (!id || !name) throw new NetlinkDecodeError("nlctrl family: missing id or name");
  const version = attrs.get(CTRL_ATTR_VERSION);
  const groups = new Map<string, number>();
  const mc = attrs.get(CTRL_ATTR_MCAST_GROUPS);
  if (mc) {
    for (const g of parseAttrs(mc, "nlctrl multicast groups")) {
      const ga = attrMap(g.data, "nlctrl multicast group");
      const gn = ga.get(CTRL_ATTR_MCAST_GRP_NAME);
      const gi = ga.get(CTRL_ATTR_MCAST_GRP_ID);
      if (gn && gi) groups.set(getStr(gn), getU32(gi, "nlctrl multicast group id"));
    }
  }
  return {
    name: getStr(name),
    id: getU16(id, "nlctrl family id"),
    version: version ? getU32(version, "nlctrl family version") : 1,
    multicastGroups: groups,
  };
}
