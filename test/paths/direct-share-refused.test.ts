// DirectPaths when the port cannot be shared (nft refused meshwrt's table with
// the port share in it; the gateway glue says why and takes the share back
// out): relay only, the disco socket closed again, and the reason in the log.
// The gateway's side (a refused or killed nft) is tested in
// test/gateway/nftables-events.test.ts; the real share in test/gateway/portshare.test.ts.
import { describe, expect, it } from "vitest";
import { keyPairFromSeed } from "../../agent/src/crypto/keys.js";
import type { PortShare } from "../../agent/src/gateway/portshare.js";
import { DirectPaths } from "../../agent/src/paths/direct.js";

/**
 * DirectPaths on a Host double whose socket only counts closes (and that refuses IP_TRANSPARENT
 * when `opaque`, as for an agent without CAP_NET_ADMIN), and a sharePort double that answers `refusal`.
 */
function direct(refusal: string | undefined, opaque = false) {
  const asked: (PortShare | undefined)[] = [];
  const logs: string[] = [];
  let closed = 0;
  const disco = keyPairFromSeed(new Uint8Array(32).fill(7));
  const host = {
    bindUdp: (_ip: string, _port: number, opts: { transparent?: boolean } = {}) => {
      if (opaque && opts.transparent) throw new Error("bind udp: IP_TRANSPARENT 0.0.0.0:0: EPERM (Operation not permitted)");
      return { port: 40000, send: () => {}, close: () => void closed++, onMessage: () => {} };
    },
    setTimer: () => () => {},
    monotonic: () => 0,
    random: (n: number) => new Uint8Array(n).fill(1),
    log: (level: string, msg: string) => logs.push(`${level}: ${msg}`),
  };
  const d = new DirectPaths({
    host: host as never, wgPort: 41641, nodeKey: new Uint8Array(32).fill(1), discoPrivate: disco.privateKey, discoPublic: disco.publicKey,
    sendDerp: () => {}, setKernelEndpoint: async () => {}, localAddresses: async () => [], peerActivity: () => ({ active: false }), onEndpoints: () => {},
    sharePort: async (p) => {
      asked.push(p);
      return refusal;
    },
  });
  return { d, asked, logs, closed: () => closed };
}

describe("direct paths whose port share is refused", () => {
  it("relay only: the socket is closed again and the log says why", async () => {
    const { d, asked, logs, closed } = direct("firewall: nftables refused meshwrt's rules (Error: syntax error)");
    expect(await d.start()).toBe(false);
    expect(asked).toEqual([{ wgPort: 41641, agentPort: 40000, tproxy: true }]);
    expect(closed()).toBe(1);
    expect(logs).toContain("warn: direct paths: cannot share WireGuard port 41641 with the agent (firewall: nftables refused meshwrt's rules (Error: syntax error)); peers are reached through the relay only");
  });

  it("shared: the agent's socket port goes to the table, and stop takes the share back", async () => {
    const { d, asked, closed } = direct(undefined);
    expect(await d.start()).toBe(true);
    expect(closed()).toBe(0);
    await d.stop();
    expect(asked).toEqual([{ wgPort: 41641, agentPort: 40000, tproxy: true }, undefined]);
    expect(closed()).toBeGreaterThanOrEqual(1);
  });

  it("a socket that may not be transparent: shared all the same, by a rewrite instead of tproxy", async () => {
    const { d, asked, logs } = direct(undefined, true);
    expect(await d.start()).toBe(true);
    expect(asked).toEqual([{ wgPort: 41641, agentPort: 40000, tproxy: false }]);
    expect(logs).toContain("debug: direct paths: bind udp: IP_TRANSPARENT 0.0.0.0:0: EPERM (Operation not permitted); disco's port is rewritten after conntrack instead");
    await d.stop();
  });
});
