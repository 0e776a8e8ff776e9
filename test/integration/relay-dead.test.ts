// A relay that goes silent while its TCP connection stays open (derper's
// packets to the router's house dropped by nftables, nothing reset): meshwrt
// notices within its read deadline (130 s without even a keep-alive),
// connects again, and relayed pings resume once the relay is reachable, with
// no descriptor more than before (the dead connection is closed).
// Real derper, Headscale and tailscaled in the lab.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../net/exec.js";
import { agentFdCount, expectFdsBack } from "../support/descriptors.js";
import { type Lab, startLab } from "../support/lab.js";
import { withinBudget } from "../support/budget.js";

let lab: Lab;

beforeAll(async () => {
  lab = await startLab({ blockUdp: true });
}, 600_000);

afterAll(async () => {
  if (lab) console.log((await lab.agentLog()).split("\n").filter((l) => !l.startsWith("[debug]")).slice(-15).join("\n"));
  await lab?.stop();
});

describe("a relay that goes silent", () => {
  it("is noticed within the read deadline, and relayed pings resume once it is reachable again", async () => {
    const { t, phone, derp } = lab;
    const ph = t.host("phone"), relay = t.host("derp");
    const routerIp = (await phone.waitForPeer("router")).TailscaleIPs!.find((a) => a.startsWith("100."))!;
    await waitFor("a ping through the relay", async () => ((await ph.exec(`ping -c 1 -W 1 ${routerIp}`)).code === 0 ? true : undefined), 60_000, 250);
    const fds = await agentFdCount((c) => lab.vm.exec(c));
    const home = t.nat("home").publicIp;
    await relay.run(`nft add table inet meshwrt_test && nft add chain inet meshwrt_test out '{ type filter hook output priority 0; }' && nft add rule inet meshwrt_test out ip daddr ${home} tcp sport ${derp.derpPort} drop`);
    const silentFrom = Date.now();
    let noticed = 0;
    try {
      await waitFor("meshwrt to say the relay went silent", async () => ((await lab.agentLog()).includes("nothing heard from the relay") ? true : undefined), 170_000, 1000);
      noticed = Date.now() - silentFrom;
    } finally {
      await relay.run("nft delete table inet meshwrt_test");
    }
    console.log(`relay silent: noticed after ${Math.round(noticed / 1000)} s`);
    expect(noticed).toBeLessThan(145_000);
    const back = Date.now();
    await waitFor("a ping through the relay after it is reachable again", async () => ((await ph.exec(`ping -c 1 -W 1 ${routerIp}`)).code === 0 ? true : undefined), 60_000, 250);
    withinBudget("relayed pings answered again after the relay is reachable", Date.now() - back, 20_000);
    await expectFdsBack((c) => lab.vm.exec(c), fds, "the silent relay");
  }, 360_000);
});
