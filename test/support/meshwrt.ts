// meshwrt as the tests run it on a host of a topology: its UCI file, its
// own API socket (tests side by side must not meet at /var/run) and no
// ubusd, its log, and its CLI.
import type { Proc } from "../net/exec.js";
import { writeFile } from "../net/exec.js";
import type { Host } from "../net/topology.js";

/** The build under test; MESHWRT_BIN names another (a bench's before and after). */
export const MESHWRT = process.env.MESHWRT_BIN ?? `${process.cwd()}/build/out/meshwrt`;

export interface MeshwrtOptions {
  /** Where its files go: DIR/meshwrt.uci, DIR/meshwrt.log, DIR/meshwrt.sock, DIR/state. */
  readonly dir: string;
  readonly loginServer: string;
  /** Without one, the agent waits for an interactive login. */
  readonly authKey?: string;
  readonly hostname: string;
  readonly caFile: string;
  /** More UCI lines for the main section (each "\toption name 'value'"). */
  readonly extra?: string;
  /**
   * The WireGuard interface, meshwrt0 by default. Agents side by side on a host without the
   * kernel module need names of their own: wireguard-go's UAPI sockets share /var/run/wireguard.
   */
  readonly interface?: string;
  /** The binary where the host runs it (a VM of another CPU has its own); MESHWRT by default. */
  readonly bin?: string;
}

export interface Meshwrt {
  readonly proc: Proc;
  log(): Promise<string>;
  /** `meshwrt ARGS` on the same host, talking to this agent. */
  cli(args: string): Promise<{ code: number; stdout: string; stderr: string }>;
}

export async function startMeshwrt(h: Host, o: MeshwrtOptions): Promise<Meshwrt> {
  const bin = o.bin ?? MESHWRT;
  await h.run(`mkdir -p ${o.dir}`);
  await writeFile(
    (c) => h.exec(c),
    `${o.dir}/meshwrt.uci`,
    `config meshwrt 'main'\n\toption enabled '1'\n\toption login_server '${o.loginServer}'\n${o.authKey ? `\toption auth_key '${o.authKey}'\n` : ""}` +
      `\toption hostname '${o.hostname}'\n\toption state_dir '${o.dir}/state'\n\toption log_level 'debug'\n${o.extra ?? ""}`,
    "600",
  );
  const proc = await h.spawn(
    `exec ${bin} run --config ${o.dir}/meshwrt.uci --ca-file ${o.caFile} --socket ${o.dir}/meshwrt.sock --ubus ${o.dir}/no-ubusd${o.interface ? ` --interface ${o.interface}` : ""}`,
    `${o.dir}/meshwrt.log`,
  );
  return {
    proc,
    log: async () => (await h.exec(`cat ${o.dir}/meshwrt.log`)).stdout,
    cli: (args) => h.exec(`${bin} ${args} --socket ${o.dir}/meshwrt.sock`),
  };
}
