// DirectPaths when the nft that loads the port-sharing table is killed by a
// signal (SIGTERM to the agent's process group during its start): nft may have
// committed before it died, so the start that gives up takes the table out
// again; a plain refusal (nft's own error) loaded nothing and runs no removal.
// The real agent stopped this way in the lab: test/integration/stop-early.test.ts.
import { describe, expect, it } from "vitest";
import { keyPairFromSeed } from "../../agent/src/crypto/keys.js";
import { removePortShareScript } from "../../agent/src/gateway/portshare.js";
import { DirectPaths } from "../../agent/src/paths/direct.js";

function direct(firstCode: number) {
  const scripts: string[] = [];
  const disco = keyPairFromSeed(new Uint8Array(32).fill(7));
  const host = {
    bindUdp: () => ({ port: 40000, send: () => {}, close: () => {}, onMessage: () => {} }),
    run: async (_argv: string[], input: Uint8Array) => {
      scripts.push(new TextDecoder().decode(input));
      return scripts.length === 1 ? { code: firstCode, stdout: "", stderr: firstCode === 1 ? "Error: Could not process rule: Operation not permitted" : "" } : { code: 0, stdout: "", stderr: "" };
    },
    setTimer: () => () => {},
    monotonic: () => 0,
    random: (n: number) => new Uint8Array(n).fill(1),
    log: () => {},
  };
  const d = new DirectPaths({
    host: host as never, wgPort: 41641, nodeKey: new Uint8Array(32).fill(1), discoPrivate: disco.privateKey, discoPublic: disco.publicKey,
    sendDerp: () => {}, setKernelEndpoint: async () => {}, localAddresses: async () => [], peerActivity: () => ({ active: false }), onEndpoints: () => {},
  });
  return { d, scripts };
}

describe("direct paths whose port-sharing nft is killed", () => {
  it("killed by SIGTERM (exit 143): relay only, and the table that may have been committed is removed", async () => {
    const { d, scripts } = direct(143);
    expect(await d.start()).toBe(false);
    expect(scripts).toHaveLength(2);
    expect(scripts[1]).toBe(removePortShareScript);
  });

  it("refused by nft (exit 1): relay only, nothing to remove", async () => {
    const { d, scripts } = direct(1);
    expect(await d.start()).toBe(false);
    expect(scripts).toHaveLength(1);
  });
});
