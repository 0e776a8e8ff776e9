// netlink/codec.ts, route.ts and genl.ts, and wg/genl.ts: datagrams the
// kernel answers with, whole, as the client receives them.
import { concat } from "../../../agent/src/util/bytes.js";
import { parsePrefix, parseEndpoint } from "../../../agent/src/netaddr/ip.js";
import { NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_MULTI, NLMSG_DONE, NLMSG_ERROR, parseError, parseMessages, Writer } from "../../../agent/src/netlink/codec.js";
import { parseNetworkEvent } from "../../../agent/src/netlink/events.js";
import { RTM_DELROUTE, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE } from "../../../agent/src/netlink/route.js";
import { parseFamily } from "../../../agent/src/netlink/genl.js";
import { decodeDevice, encodeSetDevice } from "../../../agent/src/wg/genl.js";
import type { Target } from "../runner.js";

// Every decode error names its message: netlink, a link, address or route, nlctrl, wireguard.
const CLEAN = /^(netlink|link|address|route|nlctrl|wireguard)/;

function message(type: number, flags: number, body: (w: Writer) => void): Uint8Array {
  const w = new Writer();
  const at = w.begin(type, flags, 7);
  body(w);
  w.end(at);
  return w.finish();
}

const link = message(RTM_NEWLINK, 0, (w) => {
  w.raw(Uint8Array.of(0, 0, 1, 0, 3, 0, 0, 0, 0x43, 0x10, 1, 0, 0, 0, 0, 0));
  w.str(3, "eth0").u32(4, 1500).bytes(1, Uint8Array.of(2, 0, 0, 0, 0, 1));
  w.nest(18, () => w.str(1, "wireguard"));
});
const addr4 = message(RTM_NEWADDR, 0, (w) => {
  w.raw(Uint8Array.of(2, 24, 0, 0, 3, 0, 0, 0));
  w.bytes(2, Uint8Array.of(192, 168, 1, 1)).bytes(1, Uint8Array.of(192, 168, 1, 1));
});
const addr6 = message(RTM_NEWADDR, 0, (w) => {
  w.raw(Uint8Array.of(10, 64, 0, 0, 3, 0, 0, 0));
  w.bytes(1, parsePrefix("fd00::1").ip);
});
const route = message(RTM_NEWROUTE, 0, (w) => {
  w.raw(Uint8Array.of(2, 24, 0, 0, 254, 77, 0, 1, 0, 0, 0, 0));
  w.bytes(1, Uint8Array.of(10, 1, 0, 0)).u32(4, 3).bytes(5, Uint8Array.of(10, 0, 0, 1)).u32(6, 100).u32(15, 254);
});
const route6 = message(RTM_DELROUTE, 0, (w) => {
  w.raw(Uint8Array.of(10, 0, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0));
  w.u32(4, 2);
});

export const netlinkEvents: Target = {
  name: "netlink events",
  seeds: [link, addr4, addr6, route, route6, concat(link, addr4, route)],
  clean: CLEAN,
  parse: (b) => parseMessages(b).map(parseNetworkEvent),
};

function errorMessage(flags: number, tlvs: (w: Writer) => void): Uint8Array {
  return message(NLMSG_ERROR, flags, (w) => {
    const e = new Uint8Array(4 + 16 + 4);
    const v = new DataView(e.buffer);
    v.setInt32(0, -17, true);
    v.setUint32(4, 20, true);
    v.setUint32(12, 7, true);
    w.raw(e);
    tlvs(w);
  });
}

export const netlinkErrors: Target = {
  name: "netlink errors",
  seeds: [
    errorMessage(0, () => {}),
    errorMessage(NLM_F_ACK_TLVS, (w) => w.str(1, "Interface exists").u32(2, 20)),
    message(NLMSG_ERROR, NLM_F_ACK_TLVS | NLM_F_CAPPED, (w) => {
      w.raw(Uint8Array.of(0xfe, 0xff, 0xff, 0xff, 36, 0, 0, 0, 16, 0, 5, 0, 7, 0, 0, 0, 0, 0, 0, 0));
      w.str(1, "capped");
    }),
    message(NLMSG_DONE, NLM_F_MULTI, (w) => w.raw(new Uint8Array(4))),
  ],
  clean: CLEAN,
  parse: (b) => parseMessages(b).map(parseError),
};

const family = message(0x10, 0, (w) => {
  w.raw(Uint8Array.of(1, 2, 0, 0));
  w.u16(1, 0x1b).str(2, "wireguard").u32(3, 1);
  w.nest(7, () => w.nest(1, () => w.str(1, "config").u32(2, 9)));
});

export const genlFamily: Target = {
  name: "genl family",
  seeds: [family],
  clean: CLEAN,
  parse: (b) => parseMessages(b).map(parseFamily),
};

/** A get-device dump part: the genl header, then the attributes a set body has, plus counters. */
function dumpPart(body: Uint8Array, extra: (w: Writer) => void = () => {}): Uint8Array {
  return message(0x1b, NLM_F_MULTI, (w) => {
    w.raw(Uint8Array.of(0, 1, 0, 0));
    w.raw(body);
    extra(w);
  });
}

const key = (n: number) => new Uint8Array(32).fill(n);
const bodies = [...encodeSetDevice(
  {
    name: "wg0",
    privateKey: key(1),
    listenPort: 41641,
    peers: [
      { publicKey: key(2), presharedKey: key(3), endpoint: parseEndpoint("203.0.113.7:41641"), persistentKeepalive: 25, allowedIps: [parsePrefix("100.64.0.2/32"), parsePrefix("192.168.2.0/24")] },
      { publicKey: key(4), endpoint: parseEndpoint("[2001:db8::1]:51820"), allowedIps: Array.from({ length: 40 }, (_, i) => parsePrefix(`fd00::${i + 1}/128`)) },
    ],
  },
  600,
)];
const peerCounters = dumpPart(new Uint8Array(0), (w) => {
  w.str(2, "wg0").u32(1, 5);
  w.nest(8, () =>
    w.nest(0, () => {
      const hs = new Uint8Array(16);
      new DataView(hs.buffer).setBigInt64(0, 1_700_000_000n, true);
      w.bytes(1, key(9)).bytes(6, hs).u64(7, 1234n).u64(8, 5678n);
    }),
  );
});

export const wgDevice: Target = {
  name: "wireguard device dump",
  seeds: [concat(...bodies.map((b) => dumpPart(b))), peerCounters, dumpPart(bodies[0]!)],
  clean: CLEAN,
  parse: (b) => {
    const parts = parseMessages(b);
    return parts.length ? decodeDevice(parts) : null;
  },
};
