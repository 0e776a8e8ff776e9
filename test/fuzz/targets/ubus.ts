// ubus/message.ts and blobmsg.ts: what ubusd sends on its socket.
import { encodeBlobmsgTable, decodeBlobmsgTable } from "../../../agent/src/ubus/blobmsg.js";
import { ATTR, attr, decodeMessage, encodeMessage, MessageFramer, MSG } from "../../../agent/src/ubus/message.js";
import { concat } from "../../../agent/src/util/bytes.js";
import { chunks } from "../chunks.js";
import type { Target } from "../runner.js";

const table = encodeBlobmsgTable({ name: "meshwrt", up: true, peers: [{ id: 1, ip: "100.64.0.2", rx: 2 ** 40 }, null], ratio: 0.5, big: 2n ** 60n, nested: { a: { b: [] } } });
const seeds = [
  encodeMessage({ type: MSG.HELLO, seq: 0, peer: 0x1234 }, []),
  encodeMessage({ type: MSG.STATUS, seq: 3, peer: 1 }, [attr.u32(ATTR.STATUS, 0), attr.u32(ATTR.OBJID, 0x55)]),
  encodeMessage({ type: MSG.DATA, seq: 4, peer: 1 }, [attr.u32(ATTR.OBJID, 0x55), attr.nested(ATTR.DATA, table)]),
  encodeMessage({ type: MSG.INVOKE, seq: 5, peer: 2 }, [attr.u32(ATTR.OBJID, 9), attr.string(ATTR.METHOD, "status"), attr.nested(ATTR.DATA, table), attr.u8(ATTR.NO_REPLY, false), attr.string(ATTR.USER, "root")]),
  encodeMessage({ type: MSG.NOTIFY, seq: 6, peer: 2 }, [attr.u32(ATTR.OBJID, 9), attr.u8(ATTR.ACTIVE, true), attr.nested(ATTR.SUBSCRIBERS, concat(attr.u32(ATTR.OBJID, 1), attr.u32(ATTR.OBJID, 2)))]),
  encodeMessage({ type: MSG.LOOKUP, seq: 7, peer: 3 }, [attr.string(ATTR.OBJPATH, "network.interface"), attr.u32(ATTR.OBJID, 3), attr.u32(ATTR.OBJTYPE, 4), attr.nested(ATTR.SIGNATURE, table)]),
];

export const ubus: Target = {
  name: "ubus messages",
  seeds: [...seeds, concat(...seeds)],
  clean: /^(ubus|blob)/,
  parse: (input) => {
    const framer = new MessageFramer();
    return chunks(input).flatMap((c) => framer.push(c)).map((m) => {
      const msg = decodeMessage(m);
      return msg.attrs.data ? decodeBlobmsgTable(msg.attrs.data) : msg;
    });
  },
};

export const blobmsg: Target = {
  name: "blobmsg",
  seeds: [table, encodeBlobmsgTable({}), encodeBlobmsgTable({ s: "x".repeat(40), n: -1, d: [1.5, [true, "é"]] })],
  clean: /^blobmsg: /,
  parse: (b) => decodeBlobmsgTable(b),
};
