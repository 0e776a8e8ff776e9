// What the agent shows of itself: the facts the API's replies (api/replies.ts)
// are built from. Produced by the core (agent.ts, running.ts, the supervisor
// when no agent runs); the API depends on it, not the other way.
import type { ControlState } from "../control/controller.js";
import type { SelfExpiry } from "../control/expiry.js";
import type { NetMap } from "../control/netmap.js";
import type { RelayDrops } from "../derp/manager.js";
import type { BridgeCounters } from "../paths/bridge.js";
import type { PingResult } from "../paths/direct.js";
import type { PathStatus } from "../paths/peer.js";
import type { Peer as WgPeer } from "../wg/model.js";

export interface AgentView {
  readonly version: string;
  readonly control: ControlState | undefined;
  readonly configured: boolean;
  readonly problems: readonly string[];
  readonly netmap: NetMap;
  readonly homeRelay: number;
  readonly relayDrops?: RelayDrops;
  readonly relayBridge?: BridgeCounters;
  readonly wireguard?: "kernel" | "wireguard-go";
  readonly interfaceName: string;
  readonly pathOf: (nodeKeyHex: string) => PathStatus | undefined;
  /** The kernel's counters of a peer at the last read of the device (the read itself is not kept). */
  readonly wgPeerOf: (nodeKeyHex: string) => Pick<WgPeer, "rxBytes" | "txBytes" | "lastHandshakeMs"> | undefined;
  readonly advertisedRoutes: readonly string[];
  readonly exitNode: boolean;
  /** Our public endpoints, as told to the control server. */
  readonly endpoints: readonly string[];
  /** What STUN found out, once the agent has direct paths. */
  readonly netcheck?: { readonly mapping: string; readonly latencyMs: ReadonlyMap<number, number> };
  /** Our keys as tailnet lock knows them. */
  readonly tailnetLock?: { readonly nlKey: string; readonly nodeKey: string; readonly signed: boolean };
  /** Our node key's expiry, corrected by the control server's clock. */
  readonly keyExpiry?: SelfExpiry;
  /** A disco ping to the peer with this node key; absent while the agent has no disco pinger. */
  readonly ping?: (nodeKeyHex: string) => Promise<PingResult>;
}
