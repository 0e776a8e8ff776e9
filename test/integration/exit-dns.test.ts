// Exit-node DNS (issue 17, item 2), end to end in the VM: the lab's internet
// has a DNS server (www.example.test is 198.51.100.1) that Headscale gives as
// the global nameserver; meshwrt is the home router with its own dnsmasq on
// 127.0.0.1:53 forwarding there, as OpenWrt's does, and offers itself as an
// exit node; the laptop, a stock tailscaled of the same user, offers itself
// too, resolving through the same internet server. The phone (accept-dns on)
// uses each in turn as its exit node and resolves the name through
// tailscaled, as its tailnet client does: both must answer the same, over
// each exit node's peer API.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../net/exec.js";
import { type Tailscaled, startTailscaled } from "../peers/index.js";
import { withinBudget } from "../support/budget.js";
import { INTERNET_NAME, INTERNET_NAME_IP, type Lab, startLab } from "../support/lab.js";

let lab: Lab;
let laptop: Tailscaled;
let routerIp: string;
let laptopIp: string;
let resolvConfDir: string;

/** The DNS query for INTERNET_NAME (A, ID 0x4d57) as base64url, for requests made by hand. */
const QUERY_B64URL = Buffer.concat([Buffer.from([0x4d, 0x57, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...INTERNET_NAME.split(".").map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0, 0, 1, 0, 1])]).toString("base64url");

/** A lookup of INTERNET_NAME from the phone's namespace through tailscaled's resolver (100.100.100.100), as an app's would go. */
const LOOKUP = `node -e "const r = new (require('dns').promises.Resolver)({ timeout: 10000, tries: 1 }); r.setServers(['100.100.100.100']); r.resolve4('${INTERNET_NAME}').then((a) => console.log(a.join(',')), (e) => { console.log('ERR ' + e.code); process.exit(1); })"`;

/** An HTTP request from a host's namespace: "STATUS content-type body-as-text-or-hex". */
const request = (url: string, init: string) =>
  `node -e "fetch('${url}', ${init}).then(async (r) => { const b = Buffer.from(await r.arrayBuffer()); console.log(r.status + ' ' + r.headers.get('content-type') + ' ' + (r.headers.get('content-type') === 'application/dns-message' ? b.toString('hex') : b.toString().trim())); }, (e) => { console.log('ERR ' + e.message); process.exit(1); })"`;

beforeAll(async () => {
  // The router behind the home's NAT (the lighter layout: the exit-node path is the same).
  lab = await startLab({ internetDns: true, agentConfig: "\toption advertise_exit_node '1'\n" });
  const { t, hs, vm } = lab;
  await lab.approveRoutes(["0.0.0.0/0", "::/0"]);
  routerIp = (await lab.phone.waitForPeer("router")).TailscaleIPs!.find((a) => a.startsWith("100."))!;
  // The laptop's tailscaled answers exit-node DNS through the first nameserver of its
  // resolv.conf (ip netns exec puts /etc/netns/NS/resolv.conf in place of /etc/resolv.conf):
  // the internet server; or, when that file says 100.100.100.100 (tailscaled manages it, or
  // the phone's replaced the VM's), through the tailnet's DNS settings: the same server.
  resolvConfDir = `/etc/netns/${t.host("laptop").ns}`;
  await vm.exec(`mkdir -p ${resolvConfDir} && echo 'nameserver ${t.internet.ip}' > ${resolvConfDir}/resolv.conf`);
  laptop = await startTailscaled(t.host("laptop"), { dir: `${t.dir}/laptop`, tun: "tailscale0" });
  await laptop.up({ loginServer: hs.url, authKey: lab.authKey, hostname: "laptop", timeoutSec: 90, flags: ["--advertise-exit-node"] });
  await laptop.cli("set --accept-dns=true");
  const node = await waitFor("the laptop advertising an exit node in Headscale", async () => {
    const n = await hs.node("laptop").catch(() => undefined);
    return ((n?.available_routes as string[] | undefined) ?? []).includes("0.0.0.0/0") ? n : undefined;
  }, 60_000, 500);
  await hs.approveRoutes(node, ["0.0.0.0/0", "::/0"]);
  laptopIp = (await lab.phone.waitForPeer("laptop", 60_000, (p) => p.ExitNodeOption === true)).TailscaleIPs!.find((a) => a.startsWith("100."))!;
  await lab.phone.waitForPeer("router", 60_000, (p) => p.ExitNodeOption === true);
  // As a new user would: the phone takes the tailnet's DNS settings.
  await lab.phone.cli("set --accept-dns=true");
}, 480_000);

afterAll(async () => {
  if (lab) console.log((await lab.agentLog()).split("\n").filter((l) => /peerapi/.test(l)).slice(-15).join("\n"));
  await laptop?.stop().catch(() => {});
  if (resolvConfDir) await lab?.vm.exec(`rm -rf ${resolvConfDir}`).catch(() => {});
  await lab?.stop();
}, 60_000);

interface Resolved {
  /** The resolver tailscaled forwards public names to ("http://IP:PORT/dns-query"). */
  resolver: string;
  /** What `tailscale dns query` answered: "A 198.51.100.1", sorted. */
  answers: string;
  /** What an app's lookup through 100.100.100.100 got. */
  lookup: string;
  /** The first lookup's time, and a second's (the connection to the exit node open). */
  firstMs: number;
  ms: number;
}

/** The phone with this exit node: the name resolved through tailscaled, both ways. */
async function resolveThrough(name: string, ip: string): Promise<Resolved> {
  const ph = lab.t.host("phone");
  await lab.phone.cli(`set --exit-node=${ip}`);
  try {
    const query = async () => {
      const r = await lab.phone.cli(`dns query --json ${INTERNET_NAME}`);
      try {
        return JSON.parse(r.stdout) as { Resolvers?: { Addr: string }[] | null; ResponseCode: string; Answers?: { Type: string; Body: string }[] | null };
      } catch {
        throw new Error(`tailscale dns query: not JSON (exit ${r.code}): ${r.stdout}${r.stderr}`);
      }
    };
    const out = await waitFor(`tailscale dns query ${INTERNET_NAME} answered through ${name}`, async () => {
      const q = await query();
      return q.Answers?.length ? q : undefined;
    }, 60_000, 1000).catch(async (e: Error) => {
      throw new Error(`${e.message}\nlast answer: ${JSON.stringify(await query())}`);
    });
    const resolver = (out.Resolvers ?? []).map((r) => r.Addr).join(" ");
    const answers = (out.Answers ?? []).map((a) => `${a.Type.replace(/^Type/, "")} ${a.Body}`).sort().join(", ");
    const timed = async () => {
      const started = Date.now();
      const got = (await ph.exec(LOOKUP)).stdout.trim();
      return { got, ms: Date.now() - started };
    };
    const first = await timed();
    const second = await timed();
    const lookup = first.got === second.got ? first.got : `${first.got} then ${second.got}`;
    console.log(`exit node ${name}: resolver ${resolver}; tailscale dns query: ${answers}; lookup through 100.100.100.100: ${lookup} in ${first.ms} ms, again in ${second.ms} ms`);
    return { resolver, answers, lookup, firstMs: first.ms, ms: second.ms };
  } finally {
    await lab.phone.cli("set --exit-node=");
  }
}

describe("exit-node DNS through the peer API", () => {
  let router: Resolved;

  it("the phone with the router as exit node resolves a public name through it, exactly as through a stock tailscaled exit node", async () => {
    router = await resolveThrough("router (meshwrt)", routerIp);
    const stock = await resolveThrough("laptop (tailscaled)", laptopIp);
    console.log("exit-node DNS comparison (phone, accept-dns on, Headscale global nameserver):");
    console.log(`  router (meshwrt):    ${router.resolver}  ${router.answers}  lookup ${router.lookup} (${router.firstMs} ms, then ${router.ms} ms)`);
    console.log(`  laptop (tailscaled): ${stock.resolver}  ${stock.answers}  lookup ${stock.lookup} (${stock.firstMs} ms, then ${stock.ms} ms)`);
    // Before the peer API the resolver was the bare "/dns-query" and the answer SERVFAIL.
    expect(router.resolver).toMatch(new RegExp(`^http://${routerIp.replace(/\./g, "\\.")}:\\d+/dns-query$`));
    expect(stock.resolver).toMatch(new RegExp(`^http://${laptopIp.replace(/\./g, "\\.")}:\\d+/dns-query$`));
    expect(router.answers).toBe(`A ${INTERNET_NAME_IP}`);
    expect(router.answers).toBe(stock.answers);
    expect(router.lookup).toBe(INTERNET_NAME_IP);
    expect(router.lookup).toBe(stock.lookup);
    withinBudget("a lookup through the router's peer API (connection open)", router.ms, 3000);
    // Only the internet's server knows the name, and the peer API asks nothing but the router's
    // own resolver (127.0.0.1:53): the answer came through the router's dnsmasq.
  }, 240_000);

  it("bad requests get a clear 4xx, a host not of the tailnet is refused, a DoH GET works, and the agent keeps running", async () => {
    const base = router?.resolver ?? "";
    expect(base).toMatch(/^http:\/\//);
    const ph = lab.t.host("phone");
    const asPhone = async (init: string, url = base) => (await ph.exec(request(url, init))).stdout.trim();
    expect(await asPhone(`{ method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' }`)).toMatch(/^415 text\/plain; charset=utf-8 Content-Type must be application\/dns-message/);
    expect(await asPhone(`{}`, `${base}?dns=!!`)).toMatch(/^400 text\/plain; charset=utf-8 invalid 'dns' base64url encoding$/);
    expect(await asPhone(`{ method: 'POST', headers: { 'content-type': 'application/dns-message' }, body: 'short' }`)).toMatch(/^400 .* shorter than its header$/);
    expect(await asPhone(`{}`, base.replace("/dns-query", "/v0/goroutines"))).toMatch(/^404 /);
    // A DoH GET (RFC 8484) as curl or a browser-less client sends it: the answer carries 198.51.100.1.
    const got = await asPhone(`{}`, `${base}?dns=${QUERY_B64URL}`);
    // ID 4d57, QR set, RCODE 0 (dnsmasq answers its own --address names authoritatively: AA may be set).
    expect(got).toMatch(/^200 application\/dns-message 4d57[89a-f][0-9a-f][0-9a-f]0/);
    expect(got.endsWith(Buffer.from(INTERNET_NAME_IP.split(".").map(Number)).toString("hex"))).toBe(true);
    // The peer API is for the tailnet's peers: a program on the router itself reaches the address
    // (from the router's own, as a LAN host would from its), and is refused.
    const local = (await lab.t.host("router").exec(request(`${base}?dns=${QUERY_B64URL}`, "{}"))).stdout.trim();
    expect(local).toMatch(new RegExp(`^403 text/plain; charset=utf-8 DNS access denied: ${routerIp.replace(/\./g, "\\.")} is not a peer of this tailnet$`));
    const status = await lab.cli("status");
    expect(status.stdout).toMatch(/^meshwrt \S+: running$/m);
    const after = (await ph.exec(LOOKUP)).stdout.trim();
    expect(after).not.toBe(""); // the phone is back on its own uplink: the lookup goes to the global nameserver
  }, 120_000);
});
