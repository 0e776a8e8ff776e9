// On a kernel without WireGuard (this machine's), the agent falls back to
// wireguard-go by itself, says so, configures the device through UAPI,
// notices address changes, and takes the interface down with it on SIGTERM.
// It runs in a namespace of its own; its control server is a closed port.
import { execFileSync, execSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

execFileSync("make", ["--no-print-directory", "build/out/meshwrt"], { stdio: "inherit" });
const ns = `mwgo${process.pid % 100000}`;
const ifname = `mwg${process.pid % 100000}`;
const dir = mkdtempSync(join(tmpdir(), "meshwrt-go-"));

afterAll(() => {
  execSync(`ip netns del ${ns} 2>/dev/null || true`);
  rmSync(dir, { recursive: true, force: true });
});

describe("wireguard-go fallback", () => {
  it("starts wireguard-go, configures it, follows network changes, and cleans up", async () => {
    execSync(`ip netns add ${ns} && ip -n ${ns} link set lo up`);
    writeFileSync(join(dir, "meshwrt"), `config meshwrt 'main'\n\toption enabled '1'\n\toption login_server 'http://127.0.0.1:1'\n\toption auth_key 'k'\n\toption listen_port '41999'\n\toption state_dir '${dir}/state'\n`);
    const agent = spawn("ip", ["netns", "exec", ns, "build/out/meshwrt", "run", "--config", join(dir, "meshwrt"), "--interface", ifname]);
    let log = "";
    agent.stderr.on("data", (d) => (log += d));
    const until = async (re: RegExp) => {
      for (let i = 0; i < 100 && !re.test(log); i++) await new Promise((r) => setTimeout(r, 100));
      expect(log).toMatch(re);
    };
    await until(/using wireguard-go instead/);
    expect(log).toMatch(/the kernel has no WireGuard|kernel WireGuard is not available/);
    await until(/control: connecting/);
    expect(execSync(`ip netns exec ${ns} wg show ${ifname} listen-port`, { encoding: "utf8" }).trim()).toBe("41999");
    expect(execSync(`ip -n ${ns} link show ${ifname}`, { encoding: "utf8" })).toMatch(/mtu 1420|state (UP|UNKNOWN)/);
    execSync(`ip -n ${ns} link add wan0 type veth peer name wan1 && ip -n ${ns} addr add 192.0.2.5/24 dev wan0 && ip -n ${ns} link set wan0 up`);
    await until(/network changed \((address|route) added\): re-announcing endpoints/);
    agent.kill("SIGTERM");
    const code = await new Promise((r) => agent.on("exit", r));
    expect(code).toBe(0);
    expect(execSync(`ip -n ${ns} link show`, { encoding: "utf8" })).not.toContain(ifname);
  });
});
