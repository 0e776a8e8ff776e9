// The CLI's words and tables for each answer of the API (replies.ts,
// devices.ts, methods.ts). Pure: an answer in, text out.
import type { DeviceReply } from "../api/devices.js";
import type { SetReply } from "../api/methods.js";
import type { NetcheckReply, PeerReply, PingReply, StatusReply } from "../api/replies.js";

/** Columns padded to the widest cell, two spaces apart; the last column unpadded. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n") + "\n";
}

/** 1536 → "1.5 KiB". */
export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) (n /= 1024), i++;
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}

/** Seconds, minutes, hours or days since `iso`, as of `now` (ms). */
export function ago(iso: string | undefined, now: number): string {
  if (!iso) return "never";
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  if (s < 172800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

export function formatStatus(s: StatusReply): string {
  const rows: string[][] = [];
  if (s.name) rows.push(["name", s.tailnet ? `${s.name} (tailnet ${s.tailnet})` : s.name]);
  if (s.addresses.length) rows.push(["addresses", s.addresses.join(", ")]);
  if (s.authUrl) rows.push(["login", s.authUrl]);
  if (s.homeRelay) rows.push(["relay", `region ${s.homeRelay}`]);
  if (s.wireguard) rows.push(["wireguard", `${s.wireguard} (${s.interface})`]);
  rows.push(["peers", `${s.peers.total} (${s.peers.online} online, ${s.peers.direct} direct)`]);
  rows.push(["routes", s.advertisedRoutes.join(", ") || "none"]);
  rows.push(["exit node", s.exitNode ? "offered" : "no"]);
  if (s.keyExpiry) rows.push(["key expiry", `${s.keyExpiry}${s.keyExpiresSoon ? " (soon: log in again)" : ""}`]);
  for (const h of s.health) rows.push(["problem", h]);
  return `meshwrt ${s.version}: ${s.state}\n${table(rows)}`;
}

export function formatPeers(peers: readonly PeerReply[], now: number): string {
  if (!peers.length) return "no peers\n";
  const rows = [["NAME", "ADDRESS", "OS", "ONLINE", "RX", "TX", "HANDSHAKE", "ROUTES", "PATH"]];
  for (const p of peers) {
    const routes = [...p.routes, ...(p.exitNode ? ["exit node"] : [])].join(",") || "-";
    rows.push([p.name, p.addresses[0] ?? "-", p.os || "-", p.online ? "yes" : "no", bytes(p.rxBytes), bytes(p.txBytes), ago(p.lastHandshake, now), routes, p.path]);
  }
  return table(rows);
}

export function formatNetcheck(n: NetcheckReply): string {
  const head = table([
    ["NAT", n.nat],
    ["endpoints", n.endpoints.join(", ") || "none known"],
  ]);
  if (!n.relays.length) return `${head}relays    none known\n`;
  const rows = [["REGION", "CODE", "NAME", "LATENCY"]];
  for (const r of n.relays) rows.push([`${r.region}${r.home ? " (home)" : ""}`, r.code, r.name, r.latencyMs === undefined ? "-" : `${r.latencyMs} ms`]);
  return head + table(rows);
}

export function formatDevices(devices: readonly DeviceReply[]): string {
  if (!devices.length) return "no LAN devices seen\n";
  const rows = [["NAME", "ADDRESS", "MAC", "INTERFACE", "SUBNET", "SHARED"]];
  for (const d of devices) rows.push([d.name ?? "-", d.addresses.join(","), d.mac, d.interface ?? "-", d.subnet ?? "-", d.advertised ? "yes" : "no"]);
  return table(rows);
}

export const formatPing = (p: PingReply): string => `pong from ${p.peer} (${p.address}) ${p.path} in ${p.latencyMs} ms\n`;

export function formatSet(r: SetReply): string {
  const value = r.value === undefined ? "(hidden)" : Array.isArray(r.value) ? r.value.join(" ") || "(default)" : r.value || "(default)";
  return `${r.option} = ${value}: ${r.effect}\n`;
}
