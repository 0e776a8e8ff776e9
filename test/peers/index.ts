// Real peers for integration tests: Headscale, derper and tailscaled at pinned versions.
export { ensurePeers, peerBinaries, versions } from "./bins.js";
export { type Derper, derperCert, derpMapJson, derpMapYaml, startDerper } from "./derper.js";
export { type Headscale, type HeadscaleNode, type HeadscaleUser, startHeadscale } from "./headscale.js";
export { parsePongs, type PingResult, type Pong, type Status, type StatusPeer, type Tailscaled, startTailscaled } from "./tailscaled.js";
