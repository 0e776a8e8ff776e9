// The router's keys on a disk that is slow to take them. On flash, or on a
// disk busy with other writes, the fsync of keys.json takes hundreds of
// milliseconds; it was done on the event loop, so every API and ubus call
// waited behind it (test/openwrt/dns-hang.test.ts saw 132 and 313 ms in CI).
// Here the disk does not answer at all until the test says so: the state
// directory's keys.json.tmp is a FIFO nobody reads, so the first save's open
// waits. The agent answers meanwhile, and Headscale is not sent a node key
// that is not on disk yet. When a reader comes, that save fails (a FIFO has
// nothing to fsync): the log says so, the next attempt saves again and
// registers, and a restart is the same node. The real Headscale; meshwrt on
// wireguard-go in a namespace.
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../net/exec.js";
import { type Topology, topology } from "../net/topology.js";
import { type Derper, type Headscale, startDerper, startHeadscale } from "../peers/index.js";
import { type Meshwrt, type MeshwrtOptions, startMeshwrt } from "../support/meshwrt.js";

let t: Topology;
let derp: Derper;
let hs: Headscale;
let opts: MeshwrtOptions;

interface Status { state: string; health: string[]; nodeKey?: string }

/** Throws when the agent does not answer (waitFor tries again). */
const status = async (m: Meshwrt): Promise<Status> => {
  const r = await m.cli("status --json");
  if (r.code !== 0) throw new Error(`meshwrt status: ${r.stderr}`);
  return JSON.parse(r.stdout) as Status;
};

const runningStatus = async (m: Meshwrt): Promise<Status | undefined> => {
  const s = await status(m);
  return s.state === "running" ? s : undefined;
};

beforeAll(async () => {
  execFileSync("make", ["--no-print-directory", "build/out/meshwrt"], { stdio: "inherit" });
  t = await topology({ hosts: ["control", "derp", "router"] });
  derp = await startDerper(t.host("derp"), { dir: `${t.dir}/derper` });
  hs = await startHeadscale(t.host("control"), { dir: `${t.dir}/headscale`, derpMapYaml: derp.derpMapYaml() });
  const authKey = await hs.preAuthKey(await hs.createUser("alice"), { reusable: true });
  // wireguard-go's UAPI sockets are shared across namespaces: an interface name of this test's own.
  opts = { dir: `${t.dir}/router`, loginServer: hs.url, authKey, hostname: "router", caFile: derp.certFile, interface: `mwkd${process.pid % 10000}` };
}, 120_000);

afterAll(async () => {
  await t?.destroy();
}, 30_000);

describe("the keys on a disk that is slow to take them", () => {
  it("the agent answers while the save waits, registers only once the keys are on disk, says a failed save and saves again; a restart is the same node", async () => {
    const h = t.host("router");
    const tmp = `${opts.dir}/state/keys.json.tmp`;
    await h.run(`mkdir -p ${opts.dir}/state && mkfifo ${tmp}`);
    let m = await startMeshwrt(h, opts);
    // The agent answers while its first save waits: before, its start stopped at the save, and no call was answered after.
    await waitFor("meshwrt status answering: connecting", async () => ((await status(m)).state === "connecting" ? true : undefined), 15_000, 200);
    // Long enough for the agent to reach Headscale and come to the register: it waits for the keys first.
    await new Promise((r) => setTimeout(r, 3000));
    const during = await status(m);
    expect(during.state).toBe("connecting");
    expect(await hs.nodes(), "Headscale's nodes while the keys are not on disk").toEqual([]);

    // A reader: the save's open returns, its fsync fails (a FIFO), and the agent says so and saves again.
    await h.run(`cat ${tmp} > /dev/null`);
    const running = await waitFor("meshwrt running", () => runningStatus(m), 30_000, 250);
    const log = await m.log();
    console.log(log.split("\n").filter((l) => /keys|control: /.test(l)).slice(0, 8).join("\n"));
    expect(log).toContain(`control: the keys are not on disk (fsync ${tmp}: EINVAL (Invalid argument)); after a restart this router would be a new node`);
    expect(log).toContain(`control: saving the keys: fsync ${tmp}: EINVAL (Invalid argument); retrying in about`);
    expect((await h.run(`stat -c %a ${opts.dir}/state/keys.json`)).trim()).toBe("600");
    expect((await h.exec(`test -e ${tmp}`)).code, "the temporary file is gone").not.toBe(0);
    const nodes = await hs.nodes();
    expect(nodes.map((n) => n.node_key)).toEqual([running.nodeKey]);

    // What was saved is what the server has: after a restart, the same node, not a second one.
    await m.proc.stop(10_000);
    m = await startMeshwrt(h, opts);
    const again = await waitFor("meshwrt running again", () => runningStatus(m), 30_000, 250);
    expect(again.nodeKey).toBe(running.nodeKey);
    expect((await hs.nodes()).map((n) => n.node_key)).toEqual([running.nodeKey]);
    await m.proc.stop(10_000);
  }, 120_000);
});
