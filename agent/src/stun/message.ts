// STUN binding requests and responses (RFC 5389), as netcheck and endpoint
// discovery use them: a request with a transaction ID, SOFTWARE and
// FINGERPRINT, and the mapped address out of the response.
import { crc32 } from "../util/crc32.js";
import type { Endpoint } from "../netaddr/ip.js";
import { ascii } from "../util/bytes.js";

const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const MAGIC_COOKIE = 0x2112a442;
const ATTR_MAPPED_ADDRESS = 0x0001;
const ATTR_XOR_MAPPED_ADDRESS = 0x0020;
const ATTR_SOFTWARE = 0x8022;
const ATTR_FINGERPRINT = 0x8028;
const HEADER_LEN = 20;
export const TXID_LEN = 12;
// Tailscale's STUN servers (derper) answer only requests that say they come from "tailnode".
const SOFTWARE = ascii("tailnode");

export function bindingRequest(txid: Uint8Array): Uint8Array {
  if (txid.length !== TXID_LEN) throw new Error(`stun: transaction ID of ${txid.length} bytes`);
  const swLen = (SOFTWARE.length + 3) & ~3;
  const len = 4 + swLen + 8;
  const b = new Uint8Array(HEADER_LEN + len);
  const v = new DataView(b.buffer);
  v.setUint16(0, BINDING_REQUEST, false);
  v.setUint16(2, len, false);
  v.setUint32(4, MAGIC_COOKIE, false);
  b.set(txid, 8);
  v.setUint16(20, ATTR_SOFTWARE, false);
  v.setUint16(22, SOFTWARE.length, false);
  b.set(SOFTWARE, 24);
  const fp = 24 + swLen;
  v.setUint16(fp, ATTR_FINGERPRINT, false);
  v.setUint16(fp + 2, 4, false);
  v.setUint32(fp + 4, (crc32(b.subarray(0, fp)) ^ 0x5354554e) >>> 0, false);
  return b;
}

/** True for a datagram that looks like a STUN binding response (cookie and type), to demultiplex. */
export function isBindingResponse(b: Uint8Array): boolean {
  if (b.length < HEADER_LEN) return false;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return v.getUint16(0, false) === BINDING_SUCCESS && v.getUint32(4, false) === MAGIC_COOKIE;
}

export interface BindingResponse {
  readonly txid: Uint8Array;
  readonly mapped: Endpoint;
}

/** Parses a binding success response; null for anything else or anything malformed. */
export function parseBindingResponse(b: Uint8Array): BindingResponse | null {
  if (!isBindingResponse(b)) return null;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const len = v.getUint16(2, false);
  if (HEADER_LEN + len > b.length || len % 4) return null;
  const txid = b.slice(8, 20);
  let xor: Endpoint | undefined, plain: Endpoint | undefined;
  for (let off = HEADER_LEN; off + 4 <= HEADER_LEN + len; ) {
    const type = v.getUint16(off, false);
    const alen = v.getUint16(off + 2, false);
    const body = off + 4;
    if (body + alen > HEADER_LEN + len) return null;
    if (type === ATTR_XOR_MAPPED_ADDRESS || type === ATTR_MAPPED_ADDRESS) {
      const e = parseAddress(b.subarray(body, body + alen), type === ATTR_XOR_MAPPED_ADDRESS ? b.subarray(4, 20) : null);
      if (e && type === ATTR_XOR_MAPPED_ADDRESS) xor = e;
      else if (e) plain = e;
    }
    off = body + ((alen + 3) & ~3);
  }
  const mapped = xor ?? plain;
  return mapped ? { txid, mapped } : null;
}

function parseAddress(a: Uint8Array, xorKey: Uint8Array | null): Endpoint | null {
  if (a.length < 4) return null;
  const family = a[1];
  const ipLen = family === 1 ? 4 : family === 2 ? 16 : 0;
  if (!ipLen || a.length < 4 + ipLen) return null;
  let port = (a[2]! << 8) | a[3]!;
  const ip = a.slice(4, 4 + ipLen);
  if (xorKey) {
    port ^= MAGIC_COOKIE >>> 16;
    for (let i = 0; i < ipLen; i++) ip[i]! ^= xorKey[i]!;
  }
  // A dual-stack server (derper on ":3478") names an IPv4 client ::ffff:a.b.c.d: the IPv4 address, as tailscale's stun.ParseResponse unmaps it.
  const mapped = ipLen === 16 && ip.subarray(0, 10).every((x) => x === 0) && ip[10] === 0xff && ip[11] === 0xff;
  return { ip: mapped ? ip.slice(12) : ip, port };
}

