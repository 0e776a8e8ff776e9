// A real tailscaled in a topology host, in userspace-networking mode (no TUN needed; its UDP
// sockets, STUN, disco and DERP are the real ones, so NAT traversal is real), with its own state
// dir and socket, and the tailscale CLI to join it to Headscale, read its status and ping.
import type { Proc } from "../net/exec.js";
import { run, sh, waitFor } from "../net/exec.js";
import type { Host } from "../net/topology.js";
import { ensureMatrixPeers, ensurePeers } from "./bins.js";

export interface TailscaledOptions {
  /** State directory (created): state file, socket, log. */
  dir: string;
  /** UDP port for WireGuard/disco (default 0: chosen by tailscaled). */
  port?: number;
  /** Extra environment, e.g. { TS_DEBUG_USE_DERP_HTTP: "1" }. */
  env?: Record<string, string>;
  /**
   * A real TUN interface of this name in the host's namespace instead of userspace networking,
   * so ordinary tools (ping, iperf3) reach the tailnet. Needs /dev/net/tun (the VM has it).
   */
  tun?: string;
  /** A tailscale release of the version matrix (versions.env TAILSCALE_MATRIX) instead of the pinned one. */
  version?: string;
  /** The binaries where the host runs them (a VM of another CPU has its own build); the pinned ones by default. */
  bins?: { tailscaled: string; tailscale: string };
  /** How long it may take to answer on its socket (default 15 s; an emulated CPU takes longer). */
  startTimeoutMs?: number;
}

export interface UpOptions {
  loginServer: string;
  authKey: string;
  hostname: string;
  /** Extra flags for `tailscale up`. */
  flags?: string[];
  timeoutSec?: number;
}

/** A peer as `tailscale status --json` shows it (the fields the tests use). */
export interface StatusPeer {
  ID: string;
  PublicKey: string;
  HostName: string;
  DNSName: string;
  TailscaleIPs: string[] | null;
  Online: boolean;
  Relay: string;
  CurAddr: string;
  Addrs: string[] | null;
  [k: string]: unknown;
}

export interface Status {
  BackendState: string;
  Self: StatusPeer;
  Peer: Record<string, StatusPeer> | null;
  MagicDNSSuffix: string;
  [k: string]: unknown;
}

export interface Pong {
  node: string;
  ip: string;
  /** "DERP(code)" or "IP:PORT" (or "peer-relay(...)"). */
  via: string;
  latency: string;
}

export interface PingResult {
  code: number;
  output: string;
  pongs: Pong[];
}

export interface Tailscaled {
  readonly host: Host;
  readonly socket: string;
  readonly logFile: string;
  /** Runs the tailscale CLI against this daemon; returns the raw result. */
  cli(args: string): Promise<{ stdout: string; stderr: string; code: number }>;
  up(o: UpOptions): Promise<void>;
  status(): Promise<Status>;
  /** Waits until the status lists a peer with this HostName (and returns it). */
  waitForPeer(hostname: string, timeoutMs?: number, pred?: (p: StatusPeer) => boolean): Promise<StatusPeer>;
  /** `tailscale ping` (disco) to an IP or name. */
  ping(target: string, o?: { count?: number; untilDirect?: boolean; timeout?: string }): Promise<PingResult>;
  stop(): Promise<void>;
  log(lines?: number): Promise<string>;
}

export function parsePongs(output: string): Pong[] {
  const pongs: Pong[] = [];
  for (const line of output.split("\n")) {
    // pong from a (100.64.0.1) via 198.18.3.2:41641 in 2ms
    const m = /^pong from (\S+) \(([^),]+)[^)]*\) via (\S+) in (\S+)/.exec(line.trim());
    if (m) pongs.push({ node: m[1]!, ip: m[2]!, via: m[3]!, latency: m[4]! });
  }
  return pongs;
}

export async function startTailscaled(host: Host, opts: TailscaledOptions): Promise<Tailscaled> {
  const bins = opts.bins ?? (opts.version ? ensureMatrixPeers().tailscale[opts.version] : ensurePeers());
  if (!bins) throw new Error(`tailscale ${opts.version} is not in test/peers/versions.env (TAILSCALE_VERSION or TAILSCALE_MATRIX)`);
  const hx = (c: string) => host.exec(c);
  const dir = opts.dir;
  const socket = `${dir}/tailscaled.sock`;
  const logFile = `${dir}/tailscaled.log`;
  await run(hx, `mkdir -p ${sh(dir)}`);
  const env = Object.entries({ TS_NO_LOGS_NO_SUPPORT: "true", ...opts.env })
    .map(([k, v]) => `${k}=${sh(v)}`)
    .join(" ");
  const proc: Proc = await host.spawn(
    `exec env ${env} ${sh(bins.tailscaled)} --tun=${sh(opts.tun ?? "userspace-networking")} --statedir=${sh(dir)} ` +
      `--socket=${sh(socket)} --port=${opts.port ?? 0} --no-logs-no-support`,
    logFile,
  );
  const log = async (lines = 40) => (await hx(`tail -n ${lines} ${sh(logFile)} 2>/dev/null`)).stdout;
  const cli = (args: string) => hx(`${sh(bins.tailscale)} --socket=${sh(socket)} ${args}`);

  await waitFor(
    `tailscaled on ${host.name} to answer on its socket`,
    async () => {
      if (!(await proc.alive())) throw new Error(`tailscaled exited:\n${await log()}`);
      return (await cli("status --json")).code === 0 || (await cli("version")).code === 0 ? true : undefined;
    },
    opts.startTimeoutMs ?? 15_000,
    100,
  ).catch(async (e: Error) => {
    throw new Error(`${e.message}\ntailscaled log:\n${await log()}`);
  });

  const ts: Tailscaled = {
    host,
    socket,
    logFile,
    cli,
    async up(o) {
      const args = [
        "up",
        `--login-server=${sh(o.loginServer)}`,
        `--authkey=${sh(o.authKey)}`,
        `--hostname=${sh(o.hostname)}`,
        "--accept-dns=false",
        `--timeout=${o.timeoutSec ?? 45}s`,
        ...(o.flags ?? []),
      ];
      const r = await cli(args.join(" "));
      if (r.code !== 0) {
        throw new Error(`tailscale up on ${host.name} failed (exit ${r.code}): ${r.stderr}${r.stdout}\ntailscaled log:\n${await log()}`);
      }
      await waitFor(`tailscaled on ${host.name} to reach BackendState Running`, async () =>
        (await ts.status()).BackendState === "Running" ? true : undefined,
      );
    },
    async status() {
      const r = await cli("status --json");
      if (r.code !== 0) throw new Error(`tailscale status on ${host.name} failed (exit ${r.code}): ${r.stderr}`);
      return JSON.parse(r.stdout) as Status;
    },
    async waitForPeer(hostname, timeoutMs = 30_000, pred = () => true) {
      let last: Status | undefined;
      try {
        return await waitFor(
          `${host.name} to see peer ${hostname} in tailscale status`,
          async () => {
            last = await ts.status();
            return Object.values(last.Peer ?? {}).find((p) => p.HostName === hostname && pred(p));
          },
          timeoutMs,
        );
      } catch (e) {
        const peers = Object.values(last?.Peer ?? {}).map((p) => `${p.HostName} online=${p.Online} relay=${p.Relay} cur=${p.CurAddr}`);
        throw new Error(`${(e as Error).message}; peers seen: [${peers.join("; ")}]\ntailscaled log:\n${await log(60)}`);
      }
    },
    async ping(target, o = {}) {
      const args = [
        "ping",
        `-c ${o.count ?? 5}`,
        `--until-direct=${o.untilDirect ?? true}`,
        `--timeout=${o.timeout ?? "5s"}`,
        sh(target),
      ];
      const r = await cli(args.join(" "));
      const output = r.stdout + r.stderr;
      return { code: r.code, output, pongs: parsePongs(output) };
    },
    stop: () => proc.stop(),
    log,
  };
  return ts;
}
