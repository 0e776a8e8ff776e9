// `make demo`: Headscale, a derper, a home router running meshwrt over kernel
// WireGuard (in the VM) with a printer on its LAN, and a phone running stock
// tailscaled in a cafe behind another NAT. The router shares its LAN, the
// route is approved in Headscale, and the phone reaches the printer through
// the router. Everything is cleaned up.
import { startLab } from "../support/lab.js";

const say = (s: string) => console.log(`\n== ${s}`);

const lab = await startLab({ gateway: true, agentConfig: "\tlist lan_device 'lan'\n", phoneFlags: ["--accept-routes"] });
try {
  say("Headscale approves the LAN the router advertises (192.168.1.0/24)");
  await lab.approveRoutes(["192.168.1.0/24"]);
  for (const n of await lab.hs.nodes()) console.log(`${n.given_name ?? n.name}\t${(n.ip_addresses ?? []).join(" ")}\t${n.online ? "online" : "offline"}\troutes: ${((n.approved_routes as string[] | undefined) ?? []).join(" ") || "-"}`);
  say("the phone's view: tailscale status");
  console.log((await lab.phone.cli("status")).stdout.trim());
  say("the phone, in the cafe, opens the printer's port (192.168.1.50:631) through the router");
  const ph = lab.t.host("phone");
  let answer = "";
  for (let i = 0; i < 30 && !answer; i++) {
    const r = await ph.exec(`timeout 5 bash -c 'exec 3<>/dev/tcp/192.168.1.50/631 && head -n 1 <&3'`);
    answer = r.code === 0 ? r.stdout.trim() : "";
  }
  console.log(answer ? `the printer answered: "${answer}"` : "the printer did not answer");
  say("the router's own view: meshwrt's log, its WireGuard interface and its firewall table");
  console.log((await lab.agentLog()).trim().split("\n").slice(-20).join("\n"));
  const router = lab.t.host("router");
  console.log((await router.exec("wg show meshwrt0")).stdout.trim());
  console.log((await router.exec("nft list table inet meshwrt")).stdout.trim());
  if (!answer) process.exitCode = 1;
} finally {
  say("cleaning up");
  await lab.stop();
}
