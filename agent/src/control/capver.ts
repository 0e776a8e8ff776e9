// The capability version meshwrt claims to the control server.
//
// 113 is the lowest that Headscale 0.29 accepts (Tailscale 1.80). Claiming
// it commits the client to every behaviour up to it; the ones that touch
// what meshwrt does, and how it meets them:
//   111  a peer's home relay comes in Node.HomeDERP: read by control/netmap.ts.
//   112  AllowedIPs absent means the peer's Addresses: wg peers use that rule.
//   113  Hostinfo.IngressEnabled reports funnel: meshwrt never serves funnel,
//        so it never sets it.
// Features below 113 that a router agent has no part in (Taildrive, SSH,
// app connectors, c2n) are never requested by meshwrt, and control only
// offers them to clients that ask.
export const CAPABILITY_VERSION = 113;
