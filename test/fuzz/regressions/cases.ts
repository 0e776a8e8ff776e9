// Inputs that once crashed a parser (or let it hold memory without bound),
// kept so the fix stays: each runs through its target every time.
import { concat } from "../../../agent/src/util/bytes.js";
import { CONTINUATION, encodeFrame, HEADERS } from "../../../agent/src/h2/frame.js";

export interface Regression {
  readonly target: string;
  readonly input: unknown;
  /** What the rejection says; undefined when the input must be accepted. */
  readonly expect?: RegExp;
  /** A time limit tighter than the fuzz runner's, for inputs that once cost too much work. */
  readonly maxMs?: number;
  readonly why: string;
}

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const nodeKey = `nodekey:${"03".repeat(32)}`;

export const regressions: readonly Regression[] = [
  {
    target: "map response",
    input: { Peers: [{ ID: 3, Key: nodeKey }], Node: { ID: 1, Key: nodeKey, Name: null, Addresses: null } },
    why: "a node without Name or Addresses (Go's zero values) crashed the ubus replies and wantedPeers with a TypeError",
  },
  {
    target: "map response",
    input: { UserProfiles: [null] },
    expect: /^MapResponse\.UserProfiles\[0\]: want a user profile, got null/,
    why: "a null user profile crashed applyMapResponse with a TypeError",
  },
  {
    target: "map response",
    input: { OnlineChange: { "2": "yes" } },
    expect: /^MapResponse\.OnlineChange\[2\]: want a boolean, got string/,
    why: "a non-boolean OnlineChange was stored as a peer's Online",
  },
  {
    target: "http2 frames",
    // HEADERS without END_HEADERS, then CONTINUATION frames that never end the block.
    input: concat(encodeFrame(HEADERS, 0, 1, Uint8Array.of(0x88)), ...Array.from({ length: 5 }, () => encodeFrame(CONTINUATION, 0, 1, new Uint8Array(16384)))),
    expect: /^http2: header block of stream 1 above 65536 bytes/,
    why: "a CONTINUATION flood grew the header block without bound",
  },
  {
    target: "netlink errors",
    // NLMSG_ERROR with extended-ack TLVs whose echoed request claims 0xfffffffc bytes.
    input: hex("2c000000 0200 0002 07000000 00000000  efffffff fcffffff 0000 0000 07000000 00000000  0800 0200 14000000"),
    expect: /^netlink error: echoed request of 4294967292 bytes is cut short/,
    why: "align4 of a length near 2^32 went negative, and the TLVs were read from the wrong place",
  },
  {
    target: "netlink errors",
    // NLMSG_ERROR whose extended ack carries a 3-byte NLMSGERR_ATTR_OFFS.
    input: hex("2c000000 0200 0002 07000000 00000000  efffffff 10000000 0000 0000 07000000 00000000  0700 0200 140000 00"),
    expect: /^netlink extended ack offset: want 4 bytes, got 3/,
    why: "a short extack offset was refused with a message that did not say it was netlink's (\"extack offset: ...\")",
  },
  {
    target: "ts2021 channel",
    // A 101 head, a response with a bad tag, then records, arriving in 27 pieces.
    input: hex(
      "485454502f312e312031303120537769746368696e672050726f746f636f6c730d0a557067726164653a207461696c7363616c652d636f6e74726f6c2d70726f746f636f6c0d0a436f6e6e656374696f" +
      "6e3a20757067726164650d0a0d0a0200305855784cb3c8c796d84ac93e8f4a53dab0bb7ae80946042cfa87f03a4293b308cc47af8f9ecbbbec3e931ea410be58610400419e218c1fa498b160a6260180" +
      "a276108e0abda622b6a7193f6c33aadb79aed0b7e9b6e262628f8ac8e733144346c54b16f80d2b6bc6282bdda82e792bd05baecd9804013cc4b273d39f7a001f28c2f07c1b820612af5639f5ed9b8db7" +
      "478c2afcf90a391662bbbdffe1adad67755c756bbdcefb576534f92d2dd9733dff7e3c2f2166f365b9c6e5ba3ecc3b059e891418594e5cf984bef3ff8cd3a3840ce21916a7aa9aec6d3be7d47c980c84" +
      "79ffcf73868653f6f7be1d3244bf580006332fd11bf0f82416bec5c2d3bc985211ad657612088138ddbc44cd75503a341311c7383192151564cda7b2c0a72fd621bad26c77ceaf214c9752724aa75ec9" +
      "fd9a5b7e45cc00432e39ab172a1ef23e7b3525adc46771b2484428e9f5f9f4fcbea9abf067870e9d63796df0d9287abcfb8d3e86ea5cffbf402fcf7b95117776afa404232a7322d36c8636f9c816ce12" +
      "9545275fd8963641da408825082998ce5d8ae4cbef2cd037369c08e862bc96ca5f6366759844cd3b4e9ba3747ae663dbfc1f71c7485454502f312e312031303120537769746368696e672050726f746f" +
      "636f6c730d0a557067726164653a207461696c7363616c652d636f6e74726f6c2d70726f746f636f6c0d0a436f6e6e656374696f6e3a20757067726164650d0a0d0a0200305855784cb3c8c796d84ac9" +
      "3e8f4a53dab0bb7ae80946042cfa87f03a4293b308cc47af8f9ecbbbec3e931ea410be58610400419e218c1fa498b160a6260180a276108e0abda622b6a7193f6c33aadb79aed0b7e9b6e262628f8ac8" +
      "e733144346c54b16f80d2b6bc6282bdda82e792bd05baecd9804013cc4b273d39f7a001f28c2f07c1b820612af5639f5ed9b8db7478c2afcf90a391662bbbdffe1adad67755c756bbdcefb576534f92d" +
      "2dd9733dff7e3c2f2166f365b9c6e5ba3ecc3b059e891418594e5cf984bef3ff8cd3a3840ce21916a7aa9aec6d3be7d47c980c8479ffcf73868653f6f7be1d3244bf580006332fd11bf0f82416bec5c2" +
      "d3bc985211ad657612088138ddbc44cd75503a341311c7383192290400cda7b2c0a72fd621bad26c77ceaf214c9752724aa75ec9fd9a5b7e45cc00432e39ab172a1ef23e7b3525adc46771b2484428e9" +
      "f5f9f4fcbea9abf067870e9d63796df0d9287abcfb8d3e86ea5cffbf402fcf7b95117776afa404232a7322d36c8636f9c816ce129545275fd8963641da408825082998ce5d8ae4cbef2cd037369c08e8" +
      "62bc96ca5f6366759844cd3b4e9ba3747ae663dbfc1f71c7"
    ),
    expect: /^noise: handshake response does not authenticate/,
    maxMs: 40,
    why: "after a bad handshake response every later chunk ran the handshake again (two X25519 each)",
  },
];
