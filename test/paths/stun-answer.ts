// A STUN binding success as a server sends it, for tests that play the server.
import { parseIp } from "../../agent/src/netaddr/ip.js";

/**
 * A binding success for `txid` with XOR-MAPPED-ADDRESS ip:port: IPv4
 * (family 1) XORed with the cookie, IPv6 (family 2) with the cookie and the
 * transaction ID.
 */
export function stunAnswer(txid: Uint8Array, ip: string, port: number): Uint8Array {
  const addr = parseIp(ip);
  const b = new Uint8Array(28 + addr.length);
  const v = new DataView(b.buffer);
  v.setUint16(0, 0x0101);
  v.setUint16(2, 8 + addr.length);
  v.setUint32(4, 0x2112a442);
  b.set(txid, 8);
  v.setUint16(20, 0x0020);
  v.setUint16(22, 4 + addr.length);
  v.setUint16(24, addr.length === 4 ? 0x0001 : 0x0002);
  v.setUint16(26, port ^ 0x2112);
  const key = b.slice(4, 20);
  addr.forEach((x, i) => (b[28 + i] = x ^ key[i]!));
  return b;
}
