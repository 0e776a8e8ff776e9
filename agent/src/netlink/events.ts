// rtnetlink events (a socket bound to the link, address and route groups):
// the agent re-discovers its endpoints when the WAN changes.
import { type Message } from "./codec.js";
import {
  type Address,
  type Link,
  parseAddress,
  parseLink,
  parseRoute,
  type Route,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_DELROUTE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  RTMGRP_IPV4_IFADDR,
  RTMGRP_IPV4_ROUTE,
  RTMGRP_IPV6_IFADDR,
  RTMGRP_IPV6_ROUTE,
  RTMGRP_LINK,
} from "./route.js";

export const NETWORK_GROUPS = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;

export type NetworkEvent =
  | { readonly kind: "link"; readonly added: boolean; readonly link: Link }
  | { readonly kind: "address"; readonly added: boolean; readonly address: Address }
  | { readonly kind: "route"; readonly added: boolean; readonly route: Route };

/** The event a message carries; null for other message types. Throws on a malformed one. */
export function parseNetworkEvent(m: Message): NetworkEvent | null {
  switch (m.type) {
    case RTM_NEWLINK:
    case RTM_DELLINK:
      return { kind: "link", added: m.type === RTM_NEWLINK, link: parseLink(m) };
    case RTM_NEWADDR:
    case RTM_DELADDR:
      return { kind: "address", added: m.type === RTM_NEWADDR, address: parseAddress(m) };
    case RTM_NEWROUTE:
    case RTM_DELROUTE:
      return { kind: "route", added: m.type === RTM_NEWROUTE, route: parseRoute(m) };
    default:
      return null;
  }
}
