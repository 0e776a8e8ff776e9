// The router's network as rtnetlink tells it: a change elsewhere (a new WAN
// address, a route) is told once its burst has settled, so the agent can
// announce its news again; one of the tunnel's own addresses or routes that
// went away is told at once, so the agent can put it back.
import type { Host, NetlinkSocket } from "../host/host.js";
import { parseMessages } from "../netlink/codec.js";
import { NETWORK_GROUPS, type NetworkEvent, parseNetworkEvent } from "../netlink/events.js";

const NETLINK_ROUTE = 0;
/** Changes come in bursts (an address, then its routes): act once, this long after the first. */
const SETTLE_MS = 1000;

export interface NetworkWatchDeps {
  readonly host: Pick<Host, "netlink" | "setTimer" | "log">;
  /** The tunnel's interface: its own events are not news of the network. */
  readonly tunnelIndex: number;
  /** Something changed elsewhere (why), a moment ago. */
  settled(why: string): void;
  /** An address or route on the tunnel went away. */
  removedOurs(ev: Exclude<NetworkEvent, { kind: "link" }>): void;
}

export class NetworkWatch {
  private readonly sock: NetlinkSocket;
  private pending = false;
  private cancelSettle = () => {};

  constructor(private readonly d: NetworkWatchDeps) {
    this.sock = d.host.netlink(NETLINK_ROUTE, NETWORK_GROUPS);
    this.sock.onError = (e) => this.changed(e.message);
    this.sock.onMessage = (data) => {
      try {
        for (const m of parseMessages(data)) {
          const ev = parseNetworkEvent(m);
          if (!ev || ev.kind === "link") continue;
          const onOurs = ev.kind === "address" ? ev.address.index === d.tunnelIndex : ev.route.oif === d.tunnelIndex;
          if (!onOurs) this.changed(`${ev.kind} ${ev.added ? "added" : "removed"}`);
          else if (!ev.added) d.removedOurs(ev);
        }
      } catch (e) {
        d.host.log("warn", `network event: ${(e as Error).message}`);
      }
    };
  }

  /** No more news: the socket closed, a settling change dropped. */
  close(): void {
    this.cancelSettle();
    this.sock.close();
  }

  private changed(why: string): void {
    if (this.pending) return;
    this.pending = true;
    this.cancelSettle = this.d.host.setTimer(SETTLE_MS, () => {
      this.pending = false;
      this.d.settled(why);
    });
  }
}
