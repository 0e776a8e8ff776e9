// The WireGuard device the agent runs on: the kernel's when it has one (the
// link adopted if it survived a crash, else created), else wireguard-go,
// which is slower but works.
import type { ByteStream } from "../util/stream.js";
import type { NetlinkClient } from "../netlink/client.js";
import type { Link } from "../netlink/route.js";
import type { Rtnl } from "../netlink/rtnl.js";
import type { WireGuardApi } from "./api.js";
import { KernelWireGuard } from "./kernel.js";
import { uapiSocketPath, UserspaceWireGuard } from "./userspace.js";

/** The tunnel's MTU, as Tailscale's. */
export const MTU = 1280;

export interface OpenDeps {
  readonly rtnl: Rtnl;
  /** A client on a new NETLINK_GENERIC socket. */
  readonly genericNetlink: () => NetlinkClient;
  readonly exists: (path: string) => boolean;
  readonly run: (argv: string[]) => Promise<{ code: number; stderr: string }>;
  readonly connectUnix: (path: string) => Promise<ByteStream>;
  readonly sleep: (ms: number) => Promise<void>;
  readonly log: (level: "info" | "warn", msg: string) => void;
}

export async function openWireGuard(name: string, d: OpenDeps): Promise<{ wg: WireGuardApi; link: Link }> {
  let kernelErr: Error;
  try {
    const wg = await KernelWireGuard.open(d.genericNetlink());
    return { wg, link: await ensureLink(name, d) };
  } catch (e) {
    kernelErr = e as Error;
  }
  const sock = uapiSocketPath(name);
  // A restart deleted the interface; its wireguard-go removes the socket only as it exits.
  if (d.exists(sock) && !(await d.rtnl.link(name))) for (let i = 0; i < 100 && d.exists(sock); i++) await d.sleep(50);
  if (!d.exists(sock)) {
    const r = await d.run(["wireguard-go", name]).catch((e: Error) => ({ code: 127, stderr: e.message }));
    if (r.code !== 0) throw new Error(`${kernelErr.message}; wireguard-go did not start either (${r.stderr || `exit ${r.code}`})`);
    for (let i = 0; i < 100 && !d.exists(sock); i++) await d.sleep(50);
  }
  const link = await d.rtnl.link(name);
  if (!link) throw new Error(`wireguard-go started but interface ${name} is missing`);
  d.log("warn", `wireguard: ${kernelErr.message}; using wireguard-go instead (slower)`);
  return { wg: new UserspaceWireGuard(d.connectUnix), link };
}

/** Adopts our interface if it survived a crash (tunnels kept running), else creates it. */
async function ensureLink(name: string, d: OpenDeps): Promise<Link> {
  const have = await d.rtnl.link(name);
  if (have) {
    if (have.kind !== "wireguard") throw new Error(`interface ${name} exists and is not WireGuard (kind ${have.kind ?? "unknown"}): remove it or choose another name`);
    d.log("info", `wireguard: adopting existing interface ${name}`);
    return have;
  }
  return d.rtnl.createWireGuard(name, MTU);
}
