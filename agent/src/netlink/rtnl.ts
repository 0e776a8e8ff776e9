// rtnetlink requests the agent makes, over a NetlinkClient on a
// NETLINK_ROUTE socket: WireGuard links, the node's addresses, routes,
// and the neighbour table (LAN devices).
import { formatPrefix, type Prefix } from "../netaddr/ip.js";
import { type NetlinkClient } from "./client.js";
import { NetlinkError, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE } from "./codec.js";
import { dumpNeighbours, type Neighbour, parseNeighbour, RTM_GETNEIGH } from "./neigh.js";
import {
  type Address,
  address,
  deleteLink,
  dumpAddresses,
  dumpLinks,
  dumpRoutes,
  type Link,
  newLink,
  parseAddress,
  parseLink,
  parseRoute,
  type Route,
  route,
  type RouteSpec,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_DELROUTE,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_GETROUTE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  RTPROT_MESHWRT,
  setLink,
} from "./route.js";

/** The symbolic name of an errno ("EPERM"): the numbers differ on MIPS, so code compares names. */
export type ErrnoName = (errno: number) => string;

export class Rtnl {
  constructor(
    private readonly c: NetlinkClient,
    private readonly errnoName: ErrnoName,
  ) {}

  async links(): Promise<Link[]> {
    return (await this.c.request(RTM_GETLINK, NLM_F_DUMP, dumpLinks, "list links")).map(parseLink);
  }

  async link(name: string): Promise<Link | undefined> {
    return (await this.links()).find((l) => l.name === name);
  }

  /** Creates a WireGuard link, with errors a router user can act on. */
  async createWireGuard(name: string, mtu: number): Promise<Link> {
    try {
      await this.c.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, newLink(name, "wireguard", mtu), `create WireGuard interface ${name}`);
    } catch (e) {
      const err = e instanceof NetlinkError ? this.errnoName(e.errno) : "";
      if (err === "EOPNOTSUPP" || (e instanceof NetlinkError && /unknown device type/i.test(e.extack ?? ""))) {
        throw new Error(`the kernel has no WireGuard: install kmod-wireguard (or wireguard-go as a slower fallback)`);
      }
      if (err === "EPERM") throw new Error(`creating ${name} needs CAP_NET_ADMIN: run meshwrt as root`);
      throw e;
    }
    const l = await this.link(name);
    if (!l) throw new Error(`create WireGuard interface ${name}: created, but not listed`);
    return l;
  }

  deleteLink(index: number): Promise<unknown> {
    return this.c.request(RTM_DELLINK, 0, deleteLink(index), `delete link #${index}`);
  }

  setLink(index: number, up: boolean, mtu?: number): Promise<unknown> {
    return this.c.request(RTM_NEWLINK, 0, setLink(index, up, mtu), `set link #${index} ${up ? "up" : "down"}`);
  }

  async addresses(index?: number): Promise<Address[]> {
    const all = (await this.c.request(RTM_GETADDR, NLM_F_DUMP, dumpAddresses, "list addresses")).map(parseAddress);
    return index === undefined ? all : all.filter((a) => a.index === index);
  }

  addAddress(index: number, p: Prefix): Promise<unknown> {
    return this.c.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, address(index, p), `add address ${formatPrefix(p)} to link #${index}`);
  }

  removeAddress(index: number, p: Prefix): Promise<unknown> {
    return this.c.request(RTM_DELADDR, 0, address(index, p), `remove address ${formatPrefix(p)} from link #${index}`);
  }

  async routes(ipv6: boolean): Promise<Route[]> {
    return (await this.c.request(RTM_GETROUTE, NLM_F_DUMP, dumpRoutes(ipv6), `list IPv${ipv6 ? 6 : 4} routes`)).map(parseRoute);
  }

  /** Routes meshwrt added (they carry its protocol number). */
  async ownRoutes(): Promise<Route[]> {
    const all = [...(await this.routes(false)), ...(await this.routes(true))];
    return all.filter((r) => r.protocol === RTPROT_MESHWRT);
  }

  /** The ARP and NDP tables of every link. */
  async neighbours(): Promise<Neighbour[]> {
    const out: Neighbour[] = [];
    for (const m of await this.c.request(RTM_GETNEIGH, NLM_F_DUMP, dumpNeighbours, "list neighbours")) {
      const n = parseNeighbour(m);
      if (n) out.push(n);
    }
    return out;
  }

  addRoute(r: RouteSpec): Promise<unknown> {
    return this.c.request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, route(r), `add route ${formatPrefix(r.dst)}`);
  }

  removeRoute(r: RouteSpec): Promise<unknown> {
    return this.c.request(RTM_DELROUTE, 0, route(r), `remove route ${formatPrefix(r.dst)}`);
  }
}

