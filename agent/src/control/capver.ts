// The capability version meshwrt claims to the control server.
//
// 113 is the lowest that Headscale 0.29 accepts (Tailscale 1.80). Claiming
// it commits the client to every behaviour up to it; the ones that touch
// what meshwrt does, and how it meets them:
//   111  a peer's home relay comes in Node.HomeDERP: read by control/netmap.ts.
//   112  AllowedIPs absent means the peer's Addresses: wg peers use that rule.
//   113  Hostinfo.IngressEnabled reports funnel: meshwrt never serves funnel,
//        so it never sets it.
// Behaviours every client of this version has, and meshwrt's:
//   PingRequest in the map stream: no Types is answered with HEAD to the URL
//        (Headscale's HA-router prober), disco pings with a PingResponse,
//        TSMP/ICMP/peerapi with the reason a kernel-WireGuard router cannot;
//        control/ping.ts.
//   c2n requests (over Noise): /echo echoed, every other path answered as
//        tailscale answers a path it does not know (400 "unknown c2n path").
//   ControlTime corrects the wall clock for key expiry; peers whose
//        KeyExpiry passed are dropped before the server says so
//        (control/expiry.ts, as ipnlocal's expiryManager).
//   Logout registers the node key with an Expiry in the far past.
//   40, 47  tailnet lock: Node.KeySignature and PeersChangedPatch.KeySignature
//        are read; RegisterRequest carries NLKey and, at a node-key rotation,
//        NodeKeySignature re-signed with the NLKey; a RegisterResponse with
//        NodeKeySignature makes the router rotate once (control/tka.ts).
//        meshwrt does not sync the tailnet-lock authority (no TKAHead), so
//        it leaves the filtering of unsigned peers to the control server.
// Features below 113 that a router agent has no part in (Taildrive, SSH,
// app connectors) are never requested by meshwrt, and control only
// offers them to clients that ask.
export const CAPABILITY_VERSION = 113;
