// Doubles, in memory, of the kernel's WireGuard device and of a link's
// addresses and routes, with the kernel's semantics for what meshwrt sends
// (create, update-only, remove, replace or add allowed IPs; an allowed IP
// belongs to one peer at a time). For fast checks of the planning code; the
// real kernel is checked in the VM (test/vm/netlink-suite.ts).
import { formatPrefix, maskPrefix, type Prefix } from "../../agent/src/netaddr/ip.js";
import type { Address, Route, RouteSpec } from "../../agent/src/netlink/route.js";
import type { RouterOps } from "../../agent/src/router/router.js";
import { toHex } from "../../agent/src/util/bytes.js";
import type { WireGuardApi } from "../../agent/src/wg/api.js";
import type { Device, DeviceChange, Peer } from "../../agent/src/wg/model.js";

export class MemoryWireGuard implements WireGuardApi {
  readonly kind = "kernel";
  readonly peers = new Map<string, Peer>();
  /** Requests seen; the next set fails when failNext is set. */
  sets = 0;
  gets = 0;
  failNext = false;

  async get(name: string): Promise<Device> {
    this.gets++;
    return { name, ifindex: 3, listenPort: 41641, fwmark: 0, peers: [...this.peers.values()] };
  }

  async set(change: DeviceChange): Promise<void> {
    this.sets++;
    if (this.failNext) {
      this.failNext = false;
      throw new Error("configure WireGuard device: ENOMEM (double)");
    }
    if (change.replacePeers) this.peers.clear();
    for (const c of change.peers ?? []) {
      const id = toHex(c.publicKey);
      const have = this.peers.get(id);
      if (c.remove) {
        this.peers.delete(id);
        continue;
      }
      if (c.updateOnly && !have) continue;
      const base: Peer = have ?? { publicKey: c.publicKey, persistentKeepalive: 0, allowedIps: [], lastHandshakeMs: 0, rxBytes: 0n, txBytes: 0n };
      const ips = new Map((c.replaceAllowedIps ? [] : base.allowedIps).map((p) => [formatPrefix(p), p]));
      for (const p of c.allowedIps ?? []) ips.set(formatPrefix(maskPrefix(p)), maskPrefix(p));
      // The kernel's allowed IPs are one trie: a prefix given to this peer leaves any other.
      for (const [oid, o] of this.peers) {
        if (oid === id) continue;
        const kept = o.allowedIps.filter((p) => !ips.has(formatPrefix(p)));
        if (kept.length !== o.allowedIps.length) this.peers.set(oid, { ...o, allowedIps: kept });
      }
      const psk = c.presharedKey ?? base.presharedKey;
      const { presharedKey: _old, ...rest } = base;
      this.peers.set(id, {
        ...rest,
        ...(psk && psk.some((b) => b !== 0) ? { presharedKey: psk } : {}),
        ...(c.endpoint ? { endpoint: c.endpoint } : {}),
        persistentKeepalive: c.persistentKeepalive ?? base.persistentKeepalive,
        allowedIps: [...ips.values()],
      });
    }
  }

  /** The device as comparable text, one line per peer in key order (like `wg show dump`). */
  text(): string {
    return [...this.peers.values()]
      .map((p) => `${toHex(p.publicKey)} ${p.endpoint ? `${p.endpoint.ip.join(".")}:${p.endpoint.port}` : "(none)"} ${p.persistentKeepalive} ${p.allowedIps.map(formatPrefix).sort().join(",")}`)
      .sort()
      .join("\n");
  }
}

export class MemoryLink implements RouterOps {
  readonly addrs = new Map<string, Address>();
  readonly routes = new Map<string, Route>();
  requests = 0;

  constructor(readonly index: number) {}

  async addresses(index: number): Promise<Address[]> {
    return [...this.addrs.values()].filter((a) => a.index === index);
  }

  async addAddress(index: number, p: Prefix): Promise<void> {
    this.requests++;
    this.addrs.set(formatPrefix(p), { index, prefix: p });
  }

  async removeAddress(_index: number, p: Prefix): Promise<void> {
    this.requests++;
    if (!this.addrs.delete(formatPrefix(p))) throw new Error(`remove address ${formatPrefix(p)}: EADDRNOTAVAIL (double)`);
  }

  async ownRoutes(): Promise<Route[]> {
    return [...this.routes.values()];
  }

  async addRoute(r: RouteSpec): Promise<void> {
    this.requests++;
    this.routes.set(formatPrefix(r.dst), { dst: r.dst, oif: r.oif, table: r.table ?? 254, metric: r.metric ?? 0, protocol: 77, type: 1 });
  }

  async removeRoute(r: RouteSpec): Promise<void> {
    this.requests++;
    if (!this.routes.delete(formatPrefix(r.dst))) throw new Error(`remove route ${formatPrefix(r.dst)}: ESRCH (double)`);
  }

  text(): string {
    return [...[...this.addrs.keys()].map((k) => `address ${k}`), ...[...this.routes.keys()].map((k) => `route ${k}`)].sort().join("\n");
  }
}
