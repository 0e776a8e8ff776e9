// The WireGuard cross-platform UAPI (the text protocol that wireguard-go
// serves on /var/run/wireguard/NAME.sock): the same model as the netlink
// codec, for routers without the kernel module.
import { formatEndpoint, formatPrefix, parseEndpoint, parsePrefix } from "../netaddr/ip.js";
import { toHex } from "../util/bytes.js";
import type { Device, DeviceChange, Peer } from "./model.js";


function unhex(s: string, what: string): Uint8Array {
  if (!/^[0-9a-f]{64}$/.test(s)) throw new Error(`uapi: ${what}: want 64 hex digits`);
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function encodeSet(change: DeviceChange): string {
  const l: string[] = ["set=1"];
  if (change.privateKey) l.push(`private_key=${toHex(change.privateKey)}`);
  if (change.listenPort !== undefined) l.push(`listen_port=${change.listenPort}`);
  if (change.fwmark !== undefined) l.push(`fwmark=${change.fwmark}`);
  if (change.replacePeers) l.push("replace_peers=true");
  for (const p of change.peers ?? []) {
    l.push(`public_key=${toHex(p.publicKey)}`);
    if (p.remove) {
      l.push("remove=true");
      continue;
    }
    if (p.updateOnly) l.push("update_only=true");
    if (p.presharedKey) l.push(`preshared_key=${toHex(p.presharedKey)}`);
    if (p.endpoint) l.push(`endpoint=${formatEndpoint(p.endpoint)}`);
    if (p.persistentKeepalive !== undefined) l.push(`persistent_keepalive_interval=${p.persistentKeepalive}`);
    if (p.replaceAllowedIps) l.push("replace_allowed_ips=true");
    for (const ip of p.allowedIps ?? []) l.push(`allowed_ip=${formatPrefix(ip)}`);
  }
  return `${l.join("\n")}\n\n`;
}

export const GET_REQUEST = "get=1\n\n";

/** The errno of a set answer ("errno=0\n\n"); throws on anything else. */
export function parseSetAnswer(text: string): number {
  const m = /^errno=(-?\d+)\n\n$/.exec(text);
  if (!m) throw new Error(`uapi: unexpected answer to set: ${JSON.stringify(text.slice(0, 40))}`);
  return Number(m[1]);
}

/** True once `text` holds a whole answer (it ends with an empty line). */
export const answerComplete = (text: string): boolean => text.endsWith("\n\n");

export function parseGet(name: string, text: string): Device {
  let dev: { -readonly [K in keyof Device]: Device[K] } = { name, ifindex: 0, listenPort: 0, fwmark: 0, peers: [] };
  const peers: Peer[] = [];
  let peer: { -readonly [K in keyof Peer]: Peer[K] } | undefined;
  let hsSec = 0, hsNsec = 0;
  const flush = () => {
    if (peer) peers.push({ ...peer, lastHandshakeMs: hsSec * 1000 + Math.floor(hsNsec / 1e6) });
    hsSec = hsNsec = 0;
  };
  let errno: number | undefined;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const eq = line.indexOf("=");
    if (eq < 0) throw new Error(`uapi: line without "=": ${JSON.stringify(line)}`);
    const k = line.slice(0, eq), v = line.slice(eq + 1);
    const what = peer ? `peer ${toHex(peer.publicKey).slice(0, 8)} ${k}` : k;
    const num = () => {
      if (!/^\d+$/.test(v)) throw new Error(`uapi: ${what}: not a number: ${JSON.stringify(v)}`);
      return Number(v);
    };
    switch (k) {
      case "private_key": dev.privateKey = unhex(v, what); break;
      case "listen_port": dev.listenPort = num(); break;
      case "fwmark": dev.fwmark = num(); break;
      case "public_key":
        flush();
        peer = { publicKey: unhex(v, what), persistentKeepalive: 0, allowedIps: [], lastHandshakeMs: 0, rxBytes: 0n, txBytes: 0n };
        break;
      case "errno": errno = Number(v); break;
      default:
        if (!peer) throw new Error(`uapi: ${k} before any public_key`);
        switch (k) {
          case "preshared_key": if (!/^0+$/.test(v)) peer.presharedKey = unhex(v, what); break;
          case "endpoint": peer.endpoint = parseEndpoint(v); break;
          case "persistent_keepalive_interval": peer.persistentKeepalive = num(); break;
          case "allowed_ip": peer.allowedIps = [...peer.allowedIps, parsePrefix(v)]; break;
          case "last_handshake_time_sec": hsSec = num(); break;
          case "last_handshake_time_nsec": hsNsec = num(); break;
          case "rx_bytes": peer.rxBytes = BigInt(num()); break;
          case "tx_bytes": peer.txBytes = BigInt(num()); break;
          case "protocol_version": break;
          default: break; // newer keys are ignored, as wg does
        }
    }
  }
  flush();
  if (errno === undefined) throw new Error("uapi: answer without errno");
  if (errno !== 0) throw new Error(`uapi: get ${name}: errno ${errno}`);
  dev = { ...dev, peers };
  return dev;
}
