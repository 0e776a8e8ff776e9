// luci-app-meshwrt in a real browser (Debian's chromium, driven by
// playwright-core) against the real agent: meshwrt on the gateway lab's home
// router (VM, kernel WireGuard, Headscale, the phone in a cafe).
//
// LuCI's own runtime cannot be installed here, so the pages run on a
// stand-in (harness/luci.js, harness/server.ts) that implements the parts of
// LuCI's client API the views use, after LuCI's documented behaviour, and
// serves ubus over HTTP JSON-RPC in uhttpd's format: `meshwrt` calls go to
// the running agent's local socket (through harness/vm-relay.mjs in the VM),
// `uci` calls to a uci double over the agent's own config file (apply writes
// it and sends SIGHUP, as `uci commit` does through procd) and a firewall
// config held here. Two rpcd sessions enforce luci-app-meshwrt's acl.d file:
// an administrator and a read-only user. Screenshots: test/out/luci/.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import jsQR from "jsqr";
import { type Browser, type Page, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../net/exec.js";
import type { Host } from "../net/topology.js";
import { type Lab, startLab } from "../support/lab.js";
import { type Relay, startRelay } from "./harness/relay.js";
import { type LuciHarness, startLuciHarness } from "./harness/server.js";
import { UciStore } from "./harness/uci-store.js";

const ROOT = join(import.meta.dirname, "..", "..");
const OUT = join(ROOT, "test", "out", "luci");
const PAGE = "/cgi-bin/luci/admin/services/meshwrt";

// The package's firewall defaults (meshwrt.firewall), with lan -> meshwrt deleted by the user.
let firewall = `config zone 'lan'\n\toption name 'lan'\n\tlist network 'lan'\n\nconfig zone 'wan'\n\toption name 'wan'\n\tlist network 'wan'\n
config zone 'meshwrt'\n\toption name 'meshwrt'\n\tlist device 'meshwrt0'\n\toption input 'ACCEPT'\n\toption output 'ACCEPT'\n\toption forward 'ACCEPT'\n
config forwarding 'meshwrt_lan'\n\toption src 'meshwrt'\n\toption dest 'lan'\n\nconfig forwarding 'meshwrt_wan'\n\toption src 'meshwrt'\n\toption dest 'wan'\n`;

async function banner(h: Host, ip: string, port: number, seconds: number): Promise<string> {
  const r = await h.exec(`timeout ${seconds} bash -c 'exec 3<>/dev/tcp/${ip}/${port} && head -n 1 <&3'`);
  return r.code === 0 ? r.stdout.trim() : "";
}

let lab: Lab;
let harness: LuciHarness;
let relay: Relay;
let browser: Browser;
let admin: string;
let viewer: string;

async function open(sid: string, path: string): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  await ctx.addCookies([{ name: "sysauth_http", value: sid, url: harness.url }]);
  const page = await ctx.newPage();
  page.on("pageerror", (e) => console.log(`page error: ${e.message}`));
  page.on("console", (m) => void (m.type() === "error" && !m.text().includes("404") && console.log(`page console: ${m.text()}`)));
  await page.goto(`${harness.url}${PAGE}${path}`);
  return page;
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  lab = await startLab({ gateway: true, agentConfig: "\tlist lan_device 'lan'\n", phoneFlags: ["--accept-routes"] });
  relay = await startRelay(lab);
  const uci = new UciStore({
    meshwrt: relay.config,
    firewall: { read: async () => firewall, write: async (t) => void (firewall = t) },
  });
  harness = await startLuciHarness({ appDir: join(ROOT, "luci-app"), agent: relay.agent, uci });
  admin = harness.login({ read: ["*"], write: ["*"] });
  viewer = harness.login({ read: ["luci-base", "luci-app-meshwrt"], write: [] });
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });
}, 420_000);

afterAll(async () => {
  await browser?.close();
  await harness?.close();
  if (lab) console.log((await lab.agentLog()).split("\n").slice(-15).join("\n"));
  await lab?.stop();
}, 60_000);

describe("luci-app-meshwrt in chromium, against meshwrt on the lab's router", () => {
  it("picking the printer adds 192.168.1.50/32; after Save & Apply and approval the phone reaches the printer; the firewall is repaired", async () => {
    const ph = lab.t.host("phone");
    expect(await banner(ph, "192.168.1.50", 631, 3)).toBe(""); // nothing approved yet
    // The printer has no DHCP lease in the lab: the router learns it as a neighbour, as from any traffic.
    await lab.t.host("router").run("ping -c 1 -W 2 192.168.1.50");
    const page = await open(admin, "/sharing");
    const routes = page.locator('.cbi-dynlist[id="cbid.meshwrt.main.advertise_routes"]');
    await routes.locator('.item[data-value="192.168.1.0/24"]').waitFor({ timeout: 30_000 }); // pre-filled with the LAN
    await routes.locator('.item[data-value="192.168.1.0/24"]').click(); // share only the printer
    await page.selectOption('select[id="widget.cbid.meshwrt.main._device"]', "192.168.1.50");
    expect(await routes.locator(".item").evaluateAll((els) => els.map((e) => e.getAttribute("data-value")))).toEqual(["192.168.1.50/32"]);
    expect(await page.locator("#meshwrt-firewall").innerText()).toContain("No forwarding lan → meshwrt");
    await page.click("#meshwrt-repair");
    await shot(page, "1-sharing-printer-picked");
    await page.click(".cbi-page-actions .cbi-button-apply");
    await page.waitForSelector("#applied", { timeout: 30_000 });
    await lab.approveRoutes(["192.168.1.50/32"]);
    expect(await waitFor("the printer through the /32", async () => (await banner(ph, "192.168.1.50", 631, 3)) || undefined, 60_000, 250)).toBe("printer from 192.168.1.1");
    expect(firewall).toMatch(/config forwarding 'lan_meshwrt'\n\toption src 'lan'\n\toption dest 'meshwrt'/);
    await page.waitForSelector('#meshwrt-firewall[data-ok="1"]', { timeout: 30_000 }); // the page reloaded after apply
    expect(await routes.locator(".item").evaluateAll((els) => els.map((e) => e.getAttribute("data-value")))).toEqual(["192.168.1.50/32"]);
    await shot(page, "2-sharing-applied");
    await page.context().close();
  }, 180_000);

  it("a value the agent rejects, edited into the file by hand, shows under its field; the last good settings stay in force", async () => {
    const good = await relay.config.read();
    const line = /\toption advertise_exit_node '[^']*'\n/;
    const bad = line.test(good)
      ? good.replace(line, "\toption advertise_exit_node 'perhaps'\n")
      : good.replace(/^(config meshwrt 'main'\n)/m, "$1\toption advertise_exit_node 'perhaps'\n");
    expect(bad).not.toBe(good);
    await relay.config.write(bad);
    await relay.config.reload!();
    try {
      await waitFor("the agent's verdict", async () => {
        const [, st] = await relay.agent.call("status", {});
        return ((st as { health?: string[] }).health ?? []).some((h) => h.includes("advertise_exit_node")) ? true : undefined;
      }, 30_000, 250);
      const page = await open(admin, "/sharing");
      const error = page.locator("#cbi-meshwrt-main-advertise_exit_node .cbi-value-error");
      await error.waitFor({ timeout: 30_000 });
      expect(await error.innerText()).toBe(`meshwrt.main.advertise_exit_node: "perhaps" is not a boolean (0 or 1)`);
      expect(await page.locator(".cbi-value-error").count()).toBe(1);
      await shot(page, "3-sharing-config-error");
      await page.context().close();
      expect(await banner(lab.t.host("phone"), "192.168.1.50", 631, 3)).toBe("printer from 192.168.1.1");
    } finally {
      await relay.config.write(good);
      await relay.config.reload!();
    }
  }, 90_000);

  it("a read-only user sees the status and the peers, but not the auth key, the login controls or the settings, and cannot change anything", async () => {
    const page = await open(viewer, "");
    await page.waitForSelector('#meshwrt-peers tr[data-peer="phone"]', { timeout: 30_000 });
    expect(await page.locator('#meshwrt-peers tr[data-peer="phone"] td[data-path]').innerText()).toMatch(/^(direct \d+\.\d+\.\d+\.\d+:\d+, \d+ ms|relay .+)$/);
    expect(await page.locator("#meshwrt-status").innerText()).toMatch(/Tailnet addresses\s+100\.\d+\.\d+\.\d+/);
    expect(await page.locator("#meshwrt-login").count()).toBe(0);
    expect(await page.content()).not.toContain(lab.authKey);
    await shot(page, "4-read-only");
    expect((await page.goto(`${harness.url}${PAGE}/sharing`))?.status()).toBe(403);
    const call = (obj: string, method: string, args: object) =>
      page.evaluate(async ([sid, o, m, a]) => (await fetch("/ubus", { method: "POST", body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "call", params: [sid, o, m, a] }) })).json(), [viewer, obj, method, args] as const);
    expect(await call("uci", "get", { config: "meshwrt" })).toMatchObject({ result: [6] });
    expect(await call("meshwrt", "set", { option: "advertise_exit_node", value: "1" })).toMatchObject({ error: { code: -32002 } });
    expect(await call("meshwrt", "logout", {})).toMatchObject({ error: { code: -32002 } });
    expect(JSON.stringify(await call("meshwrt", "status", {}))).not.toContain(lab.authKey);
    await page.context().close();
  }, 60_000);

  it("Stop takes the router off the tailnet and the page says why; Start brings it back with the printer shared as before", async () => {
    const ph = lab.t.host("phone");
    expect(await waitFor("the printer before Stop", async () => (await banner(ph, "192.168.1.50", 631, 3)) || undefined, 30_000, 250)).toBe("printer from 192.168.1.1");
    const page = await open(admin, "");
    await page.waitForSelector('[data-state="running"]', { timeout: 30_000 });
    await page.click('#meshwrt-login button:text-is("Stop")');
    await page.waitForSelector('[data-state="stopped"]', { timeout: 30_000 });
    expect(await page.locator("#meshwrt-status").innerText()).toContain("Stopped on request: Start (or `meshwrt up`) starts it again.");
    expect(await page.locator("#meshwrt-peers").innerText()).toContain("Not connected to the tailnet");
    expect(await lab.t.host("router").run("ip link show meshwrt0 2>&1 || true")).toMatch(/does not exist/);
    expect(await banner(ph, "192.168.1.50", 631, 3)).toBe("");
    await shot(page, "5-stopped");
    await page.click('#meshwrt-login button:text-is("Start")');
    await page.waitForSelector('[data-state="running"]', { timeout: 60_000 });
    // The same node: no login, and the route stays approved.
    expect(await page.locator("#meshwrt-login-link a").count()).toBe(0);
    expect(await waitFor("the printer after Start", async () => (await banner(ph, "192.168.1.50", 631, 3)) || undefined, 60_000, 250)).toBe("printer from 192.168.1.1");
    await page.context().close();
  }, 150_000);

  it("Log out, then Log in without a key: the login link and its QR code appear, and the code reads as the link", async () => {
    const page = await open(admin, "");
    await page.waitForSelector('[data-state="running"]', { timeout: 30_000 });
    expect(await page.inputValue("#meshwrt-auth_key")).toBe(""); // write-only
    await page.click("#meshwrt-do-logout");
    await page.waitForSelector('[data-state="stopped"]', { timeout: 30_000 });
    expect(await page.inputValue("#meshwrt-login_server")).toBe(lab.hs.url);
    await page.click("#meshwrt-do-login");
    const link = page.locator("#meshwrt-login-link a");
    await link.waitFor({ timeout: 60_000 });
    const href = (await link.getAttribute("href"))!;
    expect(href).toMatch(new RegExp(`^${lab.hs.url}/register/\\S+`));
    const img = await page.evaluate(async () => {
      const svg = document.querySelector(".meshwrt-qr svg")!;
      const pic = new Image();
      pic.src = `data:image/svg+xml;base64,${btoa(new XMLSerializer().serializeToString(svg))}`;
      await pic.decode();
      const c = document.createElement("canvas");
      c.width = pic.width;
      c.height = pic.height;
      c.getContext("2d")!.drawImage(pic, 0, 0);
      return { w: c.width, h: c.height, px: Array.from(c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data) };
    });
    expect(jsQR(new Uint8ClampedArray(img.px), img.w, img.h)?.data).toBe(href);
    expect(await page.locator('[data-state="needs-login"]').count()).toBe(1);
    await shot(page, "6-login-link-qr");
    // The key field: a pre-auth key typed in logs the router in without the link, and is not shown back.
    await page.fill("#meshwrt-auth_key", lab.authKey);
    await page.click("#meshwrt-do-login");
    await page.waitForSelector('[data-state="running"]', { timeout: 60_000 });
    // The name and addresses fill in by the page's own poll once the netmap has come.
    await waitFor("the router's addresses on the page", async () => (/Tailnet addresses\s+100\.\d+\.\d+\.\d+/.test(await page.locator("#meshwrt-status").innerText()) ? true : undefined), 30_000, 500);
    expect(await page.inputValue("#meshwrt-auth_key")).toBe("");
    expect(await page.content()).not.toContain(lab.authKey);
    await page.context().close();
  }, 150_000);
});
