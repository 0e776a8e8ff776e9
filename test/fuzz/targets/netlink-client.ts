// netlink/client.ts with wg/genl.ts behind it: kernel replies to a pending
// wireguard dump (seq 7) and a link change (seq 8), as whole datagrams; the
// dump, once done, is decoded into a device.
import { NetlinkClient } from "../../../agent/src/netlink/client.js";
import { NLM_F_DUMP, NLM_F_MULTI, NLMSG_DONE, NLMSG_ERROR, Writer } from "../../../agent/src/netlink/codec.js";
import { concat } from "../../../agent/src/util/bytes.js";
import { decodeDevice, encodeSetDevice } from "../../../agent/src/wg/genl.js";
import type { Target } from "../runner.js";

function message(type: number, flags: number, seq: number, body: (w: Writer) => void): Uint8Array {
  const w = new Writer();
  const at = w.begin(type, flags, seq);
  body(w);
  w.end(at);
  return w.finish();
}

const [body] = encodeSetDevice({ name: "wg0", listenPort: 41641, peers: [{ publicKey: new Uint8Array(32).fill(2), allowedIps: [{ ip: Uint8Array.of(100, 64, 0, 2), bits: 32 }] }] });
const part = message(0x1b, NLM_F_MULTI, 7, (w) => w.raw(Uint8Array.of(0, 1, 0, 0)).raw(body!));
const done = message(NLMSG_DONE, NLM_F_MULTI, 7, (w) => w.raw(new Uint8Array(4)));
const ack = (seq: number, errno: number) => message(NLMSG_ERROR, 0, seq, (w) => {
  const e = new Uint8Array(20);
  const v = new DataView(e.buffer);
  v.setInt32(0, -errno, true);
  v.setUint32(4, 16, true);
  v.setUint32(12, seq, true);
  w.raw(e);
});
const event = message(16, 0, 0, (w) => w.raw(new Uint8Array(16)));

export const netlinkClient: Target = {
  name: "netlink client",
  seeds: [concat(part, part, done, ack(8, 0)), concat(event, ack(7, 1), ack(8, 17)), concat(part, done)],
  clean: /^(wireguard get wg0|link set wg0|netlink|wireguard)/,
  parse: async (datagram, report) => {
    const c = new NetlinkClient(() => {}, (n) => `errno ${n}`, 7);
    const dump = c.request(0x1b, NLM_F_DUMP, () => {}, "wireguard get wg0").then(decodeDevice);
    const change = c.request(16, 0, () => {}, "link set wg0");
    c.receive(datagram);
    c.failAll(new Error("closed"));
    await Promise.all([dump.catch(report), change.catch(report)]);
  },
};
