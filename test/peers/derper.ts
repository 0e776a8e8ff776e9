// A real derper (tailscale.com/cmd/derper) in a topology host: DERP over TLS with a self-signed
// certificate made by openssl for the host's IP address, STUN on UDP, and the DERP map that
// points at it. tailscaled accepts the certificate because the map marks the node
// InsecureForTests; meshwrt can trust `certFile` instead.
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
}

export interface Derper {
  readonly host: Host;
  readonly ip: string;
  readonly derpPort: number;
  readonly stunPort: number;
  readonly regionId: number;
  readonly regionCode: string;
  /** https://IP:PORT */
  readonly url: string;
  /** The self-signed certificate (PEM) that derper serves, for the host's IP, and its key. */
  readonly certFile: string;
  readonly keyFile: string;
  readonly logFile: string;
  /** The DERP map (tailcfg.DERPMap, as JSON) with this one region. */
  derpMap(): object;
  /** The same map in the YAML form Headscale reads from derp.paths. */
  derpMapYaml(): string;
  /** Stops the relay (the control server keeps running). */
  stop(): Promise<void>;
  /** Starts it again after stop(). */
  start(): Promise<void>;
  log(lines?: number): Promise<string>;
}

export async function startDerper(host: Host, opts: DerperOptions): Promise<Derper> {
  const bin = ensurePeers().derper;
  const derpPort = opts.derpPort ?? 443;
  const stunPort = opts.stunPort ?? 3478;
  const regionId = opts.regionId ?? 900;
  const regionCode = opts.regionCode ?? "test";
  const ip = host.ip;
  const dir = opts.dir;
  const certDir = `${dir}/certs`;
  // derper --certmode=manual reads CERTDIR/HOSTNAME.crt and .key; the hostname is our IP.
  const certFile = `${certDir}/${ip}.crt`;
  const keyFile = `${certDir}/${ip}.key`;
  const logFile = `${dir}/derper.log`;
  const hx = (c: string) => host.exec(c);
  await run(
    hx,
    `mkdir -p ${sh(certDir)} && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 ` +
      `-subj ${sh(`/CN=${ip}`)} -addext ${sh(`subjectAltName=IP:${ip}`)} ` +
      `-keyout ${sh(keyFile)} -out ${sh(certFile)} 2>/dev/null`,
    "openssl (derper certificate)",
  );

  const cmd =
    `exec ${sh(bin)} -c ${sh(`${dir}/derper.key.json`)} -a ${sh(`${ip}:${derpPort}`)} ` +
    `--certmode=manual --certdir=${sh(certDir)} --hostname=${sh(ip)} ` +
    `--stun-port=${stunPort} --http-port=-1`;

  let proc: Proc | undefined;
  const d: Derper = {
    host,
    ip,
    derpPort,
    stunPort,
    regionId,
    regionCode,
    url: `https://${ip}:${derpPort}`,
    certFile,
    keyFile,
    logFile,
    derpMap: () => ({
      Regions: {
        [regionId]: {
          RegionID: regionId,
          RegionCode: regionCode,
          RegionName: "meshwrt test relay",
          Nodes: [
            {
              Name: `${regionId}a`,
              RegionID: regionId,
              HostName: ip,
              IPv4: ip,
              IPv6: "none",
              STUNPort: stunPort,
              DERPPort: derpPort,
              InsecureForTests: true,
            },
          ],
        },
      },
    }),
    derpMapYaml: () =>
      [
        "regions:",
        `  ${regionId}:`,
        `    regionid: ${regionId}`,
        `    regioncode: ${regionCode}`,
        `    regionname: meshwrt test relay`,
        `    nodes:`,
        `      - name: ${regionId}a`,
        `        regionid: ${regionId}`,
        `        hostname: "${ip}"`,
        `        ipv4: "${ip}"`,
        `        ipv6: none`,
        `        stunport: ${stunPort}`,
        `        derpport: ${derpPort}`,
        `        insecurefortests: true`,
        "",
      ].join("\n"),
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
        15_000,
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
