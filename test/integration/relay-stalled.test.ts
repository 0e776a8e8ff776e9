// A relay that stops reading (derper SIGSTOPped: its TCP connections stay
// open, nothing is taken from them) while the router sends bulk UDP to the
// phone over the relay: meshwrt's memory stays bounded, the packets it could
// not hand on are dropped and counted in `meshwrt status --json`, and the
// relay path works again once derper runs on, with no descriptor more than
// before. Real derper, Headscale and
// tailscaled in the lab.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../net/exec.js";
import { agentFdCount, expectFdsBack } from "../support/descriptors.js";
import { type Lab, startLab } from "../support/lab.js";

let lab: Lab;

beforeAll(async () => {
  lab = await startLab({ blockUdp: true });
}, 600_000);

afterAll(async () => {
  if (lab) console.log((await lab.agentLog()).split("\n").slice(-20).join("\n"));
  await lab?.stop();
});

// 1,200-byte datagrams at about 2,000 a second for SECONDS: some 2.4 MB/s, far beyond what a stopped relay takes.
const blaster = (ip: string, seconds: number) =>
  `node -e 'const s=require("dgram").createSocket("udp4");const b=Buffer.alloc(1200);const end=Date.now()+${seconds}*1000;` +
  `const go=()=>{for(let i=0;i<20;i++)s.send(b,9,"${ip}");if(Date.now()<end)setTimeout(go,10);else s.close()};go()'`;

describe("a relay that stops reading", () => {
  it("meshwrt stays under 8 MB resident, drops and counts what it cannot send, and relays again once derper runs on", async () => {
    const { t, phone, vm } = lab;
    const phoneIp = (await phone.status()).Self.TailscaleIPs!.find((a) => a.startsWith("100."))!;
    const router = t.host("router"), ph = t.host("phone");
    const routerIp = (await phone.waitForPeer("router")).TailscaleIPs!.find((a) => a.startsWith("100."))!;
    await waitFor("a ping through the relay", async () => ((await ph.exec(`ping -c 1 -W 1 ${routerIp}`)).code === 0 ? true : undefined), 60_000, 250);

    const fds = await agentFdCount((c) => vm.exec(c));
    const derperPid = (await vm.exec("pgrep -x derper")).stdout.trim().split("\n")[0]!;
    expect(derperPid).toMatch(/^\d+$/);
    await vm.exec(`kill -STOP ${derperPid}`);
    let most = 0;
    try {
      await router.spawn(blaster(phoneIp, 20), `${t.dir}/blaster.log`);
      for (let i = 0; i < 22; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        most = Math.max(most, await lab.agentRssKb());
      }
    } finally {
      await vm.exec(`kill -CONT ${derperPid}`);
    }
    const status = JSON.parse((await lab.cli("status --json")).stdout) as { relayDrops?: { notConnected: number; queueFull: number } };
    console.log(`relay stopped for 22 s under ~2.4 MB/s: agent RSS at most ${most} kB; relayDrops ${JSON.stringify(status.relayDrops)}`);
    expect(most).toBeLessThan(8192);
    expect(status.relayDrops?.queueFull).toBeGreaterThan(0);
    await waitFor("a ping through the relay after derper runs on", async () => ((await ph.exec(`ping -c 1 -W 1 ${routerIp}`)).code === 0 ? true : undefined), 30_000, 250);
    await expectFdsBack((c) => vm.exec(c), fds, "the stalled relay");
  }, 180_000);
});
