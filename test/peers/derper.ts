// A real derper (tailscale.com/cmd/derper) in a topology host: DERP over TLS with a self-signed
// certificate made by openssl for the host's IP address, STUN on UDP, and the DERP map that
// points at it. tailscaled accepts the certificate because the map marks the node
// InsecureForTests; meshwrt can trust `certFile` instead. Several derpers make
// a map of several regions (derpMapYaml(derpers)); the nodes of one region
// mesh (--mesh-with), as Tailscale's do, so peers on different nodes reach
// each other.
import type { Proc } from "../net/exec.js";
import { run, sh, waitFor } from "../net/exec.js";
import type { Host } from "../net/topology.js";
import { ensurePeers } from "./bins.js";

export interface DerperOptions {
  /** Where certificates, key and log go (created). */
  dir: string;
  /** TLS port for DERP (default 443). */
  derpPort?: number;
  /** UDP port for STUN (default 3478). */
  stunPort?: number;
  /** DERP region (default 900, code "test"). */
  regionId?: number;
  regionCode?: string;
  /** The node's name in the map (default REGIONa). */
  nodeName?: string;
  /** Mesh with the region's other nodes: their IPs, a shared key file (64 hex digits), and a CA bundle that holds their certificates. */
  mesh?: { with: string[]; keyFile: string; caBundle: string };
}

export interface Derper {
  readonly host: Host;
  readonly ip: string;
  readonly derpPort: number;
  readonly stunPort: number;
  readonly regionId: number;
  readonly regionCode: string;
  readonly nodeName: string;
  /** https://IP:PORT */
  readonly url: string;
  /** The self-signed certificate (PEM) that derper serves, for the host's IP, and its key. */
  readonly certFile: string;
  readonly keyFile: string;
  readonly logFile: string;
  /** The DERP map (tailcfg.DERPMap, as JSON) with this one region and node. */
  derpMap(): object;
  /** The same map in the YAML form Headscale reads from derp.paths. */
  derpMapYaml(): string;
  /** Stops the relay (the control server keeps running). */
  stop(): Promise<void>;
  /** Starts it again after stop(). */
  start(): Promise<void>;
  log(lines?: number): Promise<string>;
}

/**
 * The self-signed certificate a derper in `dir` serves for its host's IP
 * (made once): derper --certmode=manual reads CERTDIR/HOSTNAME.crt and .key.
 * Made before any derper starts when derpers mesh, so each can trust the others'.
 */
export async function derperCert(host: Host, dir: string): Promise<{ certDir: string; certFile: string; keyFile: string }> {
  const certDir = `${dir}/certs`;
  const certFile = `${certDir}/${host.ip}.crt`;
  const keyFile = `${certDir}/${host.ip}.key`;
  await run(
    (c: string) => host.exec(c),
    `[ -f ${sh(certFile)} ] || { mkdir -p ${sh(certDir)} && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 ` +
      `-subj ${sh(`/CN=${host.ip}`)} -addext ${sh(`subjectAltName=IP:${host.ip}`)} ` +
      `-keyout ${sh(keyFile)} -out ${sh(certFile)} 2>/dev/null; }`,
    "openssl (derper certificate)",
  );
  return { certDir, certFile, keyFile };
}

export async function startDerper(host: Host, opts: DerperOptions): Promise<Derper> {
  const bin = ensurePeers().derper;
  const derpPort = opts.derpPort ?? 443;
  const stunPort = opts.stunPort ?? 3478;
  const regionId = opts.regionId ?? 900;
  const regionCode = opts.regionCode ?? "test";
  const nodeName = opts.nodeName ?? `${regionId}a`;
  const ip = host.ip;
  const dir = opts.dir;
  const { certDir, certFile, keyFile } = await derperCert(host, dir);
  const logFile = `${dir}/derper.log`;
  // The mesh client dials https://IP/derp: Go's TLS trusts SSL_CERT_FILE.
  const mesh = opts.mesh?.with.length ? opts.mesh : undefined;
  // derper answers STUN on -a's host only: every address (IPv6 too) when the host has IPv6.
  const listen = host.ip6 ? `:${derpPort}` : `${ip}:${derpPort}`;
  const cmd =
    `${mesh ? `SSL_CERT_FILE=${sh(mesh.caBundle)} ` : ""}exec ${sh(bin)} -c ${sh(`${dir}/derper.key.json`)} -a ${sh(listen)} ` +
    `--certmode=manual --certdir=${sh(certDir)} --hostname=${sh(ip)} ` +
    `--stun-port=${stunPort} --http-port=-1` +
    (mesh ? ` --mesh-with=${sh(mesh.with.join(","))} --mesh-psk-file=${sh(mesh.keyFile)}` : "");

  let proc: Proc | undefined;
  const d: Derper = {
    host,
    ip,
    derpPort,
    stunPort,
    regionId,
    regionCode,
    nodeName,
    url: `https://${ip}:${derpPort}`,
    certFile,
    keyFile,
    logFile,
    derpMap: () => derpMapJson([d]),
    derpMapYaml: () => derpMapYaml([d]),
    async start() {
      proc = await host.spawn(cmd, logFile);
      await waitFor(
        `derper on ${ip}:${derpPort} (TLS) and STUN ${stunPort}`,
        async () => {
          if (!(await proc!.alive())) throw new Error(`derper exited:\n${await d.log()}`);
          const tcp = await host.exec(`ss -Hltn 'sport = :${derpPort}'`);
          const udp = await host.exec(`ss -Hlun 'sport = :${stunPort}'`);
          return tcp.stdout.trim() && udp.stdout.trim() ? true : undefined;
        },
        // A Go start in the emulated VM took over 15 s on a machine shared by several VMs.
        45_000,
        100,
      );
    },
    async stop() {
      await proc?.stop();
      proc = undefined;
    },
    log: async (lines = 40) => (await host.exec(`tail -n ${lines} ${sh(logFile)} 2>/dev/null`)).stdout,
  };
  await d.start();
  return d;
}

/** The DERP map (tailcfg.DERPMap, as JSON) of these derpers: one region per regionId, its nodes in the order given. */
export function derpMapJson(derpers: readonly Derper[]): object {
  const regions: Record<string, object> = {};
  for (const [id, nodes] of byRegion(derpers)) {
    regions[id] = {
      RegionID: id,
      RegionCode: nodes[0]!.regionCode,
      RegionName: `meshwrt test relay ${nodes[0]!.regionCode}`,
      Nodes: nodes.map((n) => ({
        Name: n.nodeName, RegionID: id, HostName: n.ip, IPv4: n.ip, IPv6: n.host.ip6 ?? "none", STUNPort: n.stunPort, DERPPort: n.derpPort, InsecureForTests: true,
      })),
    };
  }
  return { Regions: regions };
}

/** The same map in the YAML form Headscale reads from derp.paths. */
export function derpMapYaml(derpers: readonly Derper[]): string {
  const lines = ["regions:"];
  for (const [id, nodes] of byRegion(derpers)) {
    lines.push(`  ${id}:`, `    regionid: ${id}`, `    regioncode: ${nodes[0]!.regionCode}`, `    regionname: meshwrt test relay ${nodes[0]!.regionCode}`, "    nodes:");
    for (const n of nodes) {
      lines.push(
        `      - name: ${n.nodeName}`, `        regionid: ${id}`, `        hostname: "${n.ip}"`, `        ipv4: "${n.ip}"`, `        ipv6: ${n.host.ip6 ? `"${n.host.ip6}"` : "none"}`,
        `        stunport: ${n.stunPort}`, `        derpport: ${n.derpPort}`, "        insecurefortests: true",
      );
    }
  }
  return [...lines, ""].join("\n");
}

function byRegion(derpers: readonly Derper[]): Map<number, Derper[]> {
  const m = new Map<number, Derper[]>();
  for (const d of derpers) m.set(d.regionId, [...(m.get(d.regionId) ?? []), d]);
  return m;
}
