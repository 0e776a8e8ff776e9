// Disco, Tailscale's path discovery protocol: small messages sealed in a
// NaCl box between disco keys, sent over UDP (sharing the WireGuard port) or
// over DERP. Packet: magic "TS💬", the sender's disco key, a 24-byte nonce,
// the box. Inside: type, version 0, then the body.
import { BOX_NONCE_LEN, boxOpen, boxSeal } from "../crypto/box.js";
import type { Endpoint } from "../netaddr/ip.js";
import { bytesEqual } from "../util/bytes.js";

export const MAGIC = Uint8Array.of(0x54, 0x53, 0xf0, 0x9f, 0x92, 0xac); // "TS💬"
const KEY_LEN = 32;
const HEADER_LEN = MAGIC.length + KEY_LEN + BOX_NONCE_LEN;
export const TXID_LEN = 12;

export const TYPE_PING = 0x01;
export const TYPE_PONG = 0x02;
export const TYPE_CALL_ME_MAYBE = 0x03;

export type DiscoMessage =
  | { readonly type: "ping"; readonly txid: Uint8Array; readonly nodeKey: Uint8Array }
  | { readonly type: "pong"; readonly txid: Uint8Array; readonly src: Endpoint }
  | { readonly type: "call-me-maybe"; readonly endpoints: readonly Endpoint[] };

export const isDisco = (pkt: Uint8Array): boolean => pkt.length >= HEADER_LEN && bytesEqual(pkt.subarray(0, MAGIC.length), MAGIC);

/** The sender's disco key of a disco packet, before it is opened. */
export function senderKey(pkt: Uint8Array): Uint8Array | null {
  return isDisco(pkt) ? pkt.slice(MAGIC.length, MAGIC.length + KEY_LEN) : null;
}

/** 16-byte IP (IPv4 mapped into IPv6) and a big-endian port, as Tailscale writes addresses. */
function encodeAddrPort(e: Endpoint, out: Uint8Array, at: number): void {
  if (e.ip.length === 4) {
    out[at + 10] = 0xff;
    out[at + 11] = 0xff;
    out.set(e.ip, at + 12);
  } else {
    out.set(e.ip, at);
  }
  out[at + 16] = e.port >> 8;
  out[at + 17] = e.port & 0xff;
}

function decodeAddrPort(b: Uint8Array, at: number): Endpoint {
  const ip = b.subarray(at, at + 16);
  const mapped = ip.subarray(0, 10).every((x) => x === 0) && ip[10] === 0xff && ip[11] === 0xff;
  return { ip: mapped ? ip.slice(12) : ip.slice(), port: (b[at + 16]! << 8) | b[at + 17]! };
}

export function encodeMessage(m: DiscoMessage): Uint8Array {
  switch (m.type) {
    case "ping": {
      const b = new Uint8Array(2 + TXID_LEN + KEY_LEN);
      b[0] = TYPE_PING;
      b.set(m.txid, 2);
      b.set(m.nodeKey, 2 + TXID_LEN);
      return b;
    }
    case "pong": {
      const b = new Uint8Array(2 + TXID_LEN + 18);
      b[0] = TYPE_PONG;
      b.set(m.txid, 2);
      encodeAddrPort(m.src, b, 2 + TXID_LEN);
      return b;
    }
    case "call-me-maybe": {
      const b = new Uint8Array(2 + 18 * m.endpoints.length);
      b[0] = TYPE_CALL_ME_MAYBE;
      m.endpoints.forEach((e, i) => encodeAddrPort(e, b, 2 + 18 * i));
      return b;
    }
  }
}

/** Null for a message we do not know or that is cut short: disco drops those silently. */
export function decodeMessage(b: Uint8Array): DiscoMessage | null {
  if (b.length < 2) return null;
  const body = b.subarray(2);
  switch (b[0]) {
    case TYPE_PING:
      // Old clients send no node key; a ping without one cannot be matched to a peer.
      if (body.length < TXID_LEN + KEY_LEN) return null;
      return { type: "ping", txid: body.slice(0, TXID_LEN), nodeKey: body.slice(TXID_LEN, TXID_LEN + KEY_LEN) };
    case TYPE_PONG:
      if (body.length < TXID_LEN + 18) return null;
      return { type: "pong", txid: body.slice(0, TXID_LEN), src: decodeAddrPort(body, TXID_LEN) };
    case TYPE_CALL_ME_MAYBE: {
      const endpoints: Endpoint[] = [];
      for (let at = 0; at + 18 <= body.length; at += 18) endpoints.push(decodeAddrPort(body, at));
      return { type: "call-me-maybe", endpoints };
    }
    default:
      return null;
  }
}

/** Seals a message from us to a peer: `shared` is boxSharedKey(our disco private, their disco public). */
export function sealPacket(ourDiscoPublic: Uint8Array, shared: Uint8Array, nonce: Uint8Array, m: DiscoMessage): Uint8Array {
  const box = boxSeal(shared, nonce, encodeMessage(m));
  const out = new Uint8Array(HEADER_LEN + box.length);
  out.set(MAGIC, 0);
  out.set(ourDiscoPublic, MAGIC.length);
  out.set(nonce, MAGIC.length + KEY_LEN);
  out.set(box, HEADER_LEN);
  return out;
}

/** Opens a packet with the shared key of its sender; null when it is not authentic or not understood. */
export function openPacket(pkt: Uint8Array, shared: Uint8Array): DiscoMessage | null {
  if (!isDisco(pkt)) return null;
  const plain = boxOpen(shared, pkt.subarray(MAGIC.length + KEY_LEN, HEADER_LEN), pkt.subarray(HEADER_LEN));
  return plain ? decodeMessage(plain) : null;
}
