// The tunnel's addresses and routes: the agent says what it wants (the way
// tailscale's wgengine/router takes a config), the router changes only what
// differs from what it put there itself. The kernel is read (a dump) only to
// reconcile: at start, after a failed change, when a netlink event shows
// someone else removed one of ours, and on the agent's slow timer.
import { formatPrefix, parsePrefix, type Prefix } from "../netaddr/ip.js";
import { type Address, type Route, type RouteSpec, RT_TABLE_MAIN } from "../netlink/route.js";

export interface RouterConfig {
  readonly addresses: readonly Prefix[];
  /**
   * By their text (formatPrefix of the masked prefix), parsed only when a request is made: 5,000
   * peers' routes as prefix objects were ~2 MB of the agent's heap.
   */
  readonly routes: ReadonlySet<string>;
}

/** The rtnetlink calls the router makes (Rtnl has them). */
export interface RouterOps {
  addresses(index: number): Promise<Address[]>;
  addAddress(index: number, p: Prefix): Promise<unknown>;
  removeAddress(index: number, p: Prefix): Promise<unknown>;
  /** Routes carrying meshwrt's protocol number. */
  ownRoutes(): Promise<Route[]>;
  addRoute(r: RouteSpec): Promise<unknown>;
  removeRoute(r: RouteSpec): Promise<unknown>;
}

/** `key` is the prefix's text, the model's key (kept once, not formatted again per action); a route's prefix is parsed from it when its request is made. */
export type RouterAction =
  | { readonly kind: "add-address" | "remove-address"; readonly key: string; readonly prefix: Prefix }
  | { readonly kind: "add-route"; readonly key: string }
  | { readonly kind: "remove-route"; readonly key: string; readonly table: number };

/** What the router believes the kernel has on the link, by text; a route's table is main unless `tables` names another. */
export interface RouterModel {
  readonly addresses: ReadonlyMap<string, Prefix>;
  readonly routes: ReadonlySet<string>;
  readonly tables: ReadonlyMap<string, number>;
}

/**
 * The actions that take `have` to `want`; `refused` (refused before) is not asked for again.
 * With `touched` only those routes are compared (the ones a delta made come or go).
 * Made one at a time as they are run (a full netmap's 5,001 routes planned at once were ~0.4 MB);
 * running one may remove it from `have` (a set's iteration allows that) and checks each next one afresh.
 */
export function* planRouter(have: RouterModel, want: RouterConfig, refused: ReadonlySet<string> = new Set(), touched?: ReadonlySet<string>): Generator<RouterAction, void, undefined> {
  const addrs = new Map(want.addresses.map((p) => [formatPrefix(p), p]));
  for (const [k, p] of addrs) if (!have.addresses.has(k) && !refused.has(`address ${k}`)) yield { kind: "add-address", key: k, prefix: p };
  for (const [k, p] of have.addresses) if (!addrs.has(k)) yield { kind: "remove-address", key: k, prefix: p };
  // Mostly nothing was refused: no subject text made per route then.
  const add = (k: string) => !have.routes.has(k) && !(refused.size && refused.has(`route ${k}`));
  const remove = (k: string) => have.routes.has(k) && !want.routes.has(k);
  const removal = (k: string): RouterAction => ({ kind: "remove-route", key: k, table: have.tables.get(k) ?? RT_TABLE_MAIN });
  if (touched) {
    for (const k of touched) {
      if (want.routes.has(k)) {
        if (add(k)) yield { kind: "add-route", key: k };
      } else if (remove(k)) yield removal(k);
    }
    return;
  }
  for (const k of want.routes) if (add(k)) yield { kind: "add-route", key: k };
  for (const k of have.routes) if (remove(k)) yield removal(k);
}

/** fe80:: link-local addresses belong to the kernel. */
const linkLocal = (p: Prefix) => p.ip.length === 16 && p.ip[0] === 0xfe && (p.ip[1]! & 0xc0) === 0x80;

export class Router {
  private addresses = new Map<string, Prefix>();
  private routes = new Set<string>();
  /** The few routes of ours found in a table other than main (by an older meshwrt, say). */
  private tables = new Map<string, number>();
  /** Additions the kernel refused (IPv6 off, say): not asked for again until a reconcile. */
  private refused = new Set<string>();
  private want: RouterConfig = { addresses: [], routes: new Set() };
  private stale = true;
  /** Requests sent and dumps read: what the budgets are measured in. */
  readonly stats = { requests: 0, dumps: 0 };

  constructor(
    private readonly ops: RouterOps,
    private readonly index: number,
    /** A refusal the tailnet survives, said once per subject. */
    private readonly refusedNote: (subject: string, msg: string) => void,
  ) {}

  get needsReconcile(): boolean {
    return this.stale;
  }

  /**
   * Brings the link to `config`, changing only what differs from the model; with `touched`,
   * only those routes can differ (the caller knows which a delta made come or go).
   */
  async set(config: RouterConfig, touched?: ReadonlySet<string>): Promise<number> {
    this.want = config;
    if (this.stale) return this.reconcile(config);
    let ran = 0;
    for (const a of planRouter({ addresses: this.addresses, routes: this.routes, tables: this.tables }, config, this.refused, touched)) {
      // One await an action, here (a full netmap runs 5,000 of them): the request, then the model.
      this.stats.requests++;
      try {
        await this.request(a);
        this.took(a);
      } catch (e) {
        this.failed(a, e as Error);
      }
      ran++;
    }
    return ran;
  }

  /** Reads the link's addresses and meshwrt's routes on it, then brings them to `config` (else the last one). */
  async reconcile(config: RouterConfig = this.want): Promise<number> {
    this.want = config;
    this.stale = true;
    this.stats.dumps += 2;
    const addrs = await this.ops.addresses(this.index);
    const routes = (await this.ops.ownRoutes()).filter((r) => r.oif === this.index);
    this.addresses = new Map(addrs.filter((a) => !linkLocal(a.prefix)).map((a) => [formatPrefix(a.prefix), a.prefix]));
    this.routes = new Set(routes.map((r) => formatPrefix(r.dst)));
    this.tables = new Map(routes.filter((r) => r.table !== RT_TABLE_MAIN).map((r) => [formatPrefix(r.dst), r.table]));
    this.refused.clear();
    this.stale = false;
    return this.set(this.want);
  }

  /** Whether a removal the kernel announced took something we want (someone else did it, or the link went down). */
  lostOurs(ev: { readonly kind: "address"; readonly address: Address } | { readonly kind: "route"; readonly route: Route }): boolean {
    if (ev.kind === "address") {
      if (ev.address.index !== this.index) return false;
      const k = formatPrefix(ev.address.prefix);
      return this.addresses.has(k) && this.want.addresses.some((p) => formatPrefix(p) === k);
    }
    if (ev.route.oif !== this.index) return false;
    const k = formatPrefix(ev.route.dst);
    return this.routes.has(k) && this.want.routes.has(k);
  }

  /** The request for `a`; a route's prefix is parsed from its text here. */
  private request(a: RouterAction): Promise<unknown> {
    switch (a.kind) {
      case "add-address":
        return this.ops.addAddress(this.index, a.prefix);
      case "remove-address":
        return this.ops.removeAddress(this.index, a.prefix);
      case "add-route":
        return this.ops.addRoute({ dst: parsePrefix(a.key), oif: this.index });
      case "remove-route":
        return this.ops.removeRoute({ dst: parsePrefix(a.key), oif: this.index, table: a.table });
    }
  }

  /** The model after the kernel took `a`. */
  private took(a: RouterAction): void {
    const k = a.key;
    switch (a.kind) {
      case "add-address":
        this.addresses.set(k, a.prefix);
        return;
      case "remove-address":
        this.addresses.delete(k);
        return;
      case "add-route":
        this.routes.add(k);
        if (this.tables.size) this.tables.delete(k);
        return;
      case "remove-route":
        this.routes.delete(k);
        this.tables.delete(k);
        return;
    }
  }

  /** A refused addition is noted and not asked for again; a failed removal makes the model stale and fails the set. */
  private failed(a: RouterAction, e: Error): void {
    const k = a.key;
    if (a.kind === "add-address" || a.kind === "add-route") {
      // One refused (IPv6 disabled on the router, say) must not cost the others.
      const subject = `${a.kind === "add-address" ? "address" : "route"} ${k}`;
      this.refused.add(subject);
      this.refusedNote(subject, `${e.message}; ${a.kind === "add-address" ? "the tailnet works without it" : "other routes still apply"}`);
      return;
    }
    // A removal that failed: only a dump says what the kernel has.
    this.stale = true;
    throw e;
  }
}
