// Every parser target of the fuzz suite.
import type { Target } from "../runner.js";
import { derpFrames, derpSession } from "./derp.js";
import { discoMessage, discoPacket } from "./disco.js";
import { h2 } from "./h2.js";
import { hpack, huffman } from "./hpack.js";
import { http1, serverKey } from "./http1.js";
import { apiLines, dhcpLeases, neighbours } from "./lan.js";
import { netaddr } from "./netaddr.js";
import { mapMessage, mapResponse, registerResponse } from "./netmap.js";
import { genlFamily, netlinkErrors, netlinkEvents, wgDevice } from "./netlink.js";
import { netlinkClient } from "./netlink-client.js";
import { peerapi } from "./peerapi.js";
import { noiseHandshake, noiseRecords } from "./noise.js";
import { stun } from "./stun.js";
import { ts2021, ts2021Plaintext } from "./ts2021.js";
import { blobmsg, ubus } from "./ubus.js";
import { configValues, uci } from "./uci.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each target has its own input type
export const targets: readonly Target<any>[] = [
  noiseHandshake, noiseRecords, ts2021, ts2021Plaintext, h2, mapResponse, mapMessage, registerResponse, hpack, huffman, derpFrames, derpSession, discoPacket, discoMessage, stun,
  netlinkEvents, netlinkErrors, genlFamily, wgDevice, netlinkClient, uci, configValues, ubus, blobmsg, http1, serverKey, netaddr, dhcpLeases, neighbours, apiLines, peerapi,
];
