// The router as a gateway for the tailnet: meshwrt's nftables table (the
// ACL, forwarding to the shared subnets or, as an exit node, anywhere, and
// source NAT) and the MagicDNS hosts file for dnsmasq. Each is rewritten
// only when its text changes, and both go away at stop.
import type { LogLevel } from "../host/host.js";
import { utf8Encode } from "../util/utf8.js";
import { type GatewayRules, removeScript, rulesetScript } from "./ruleset.js";

export interface GatewayDeps {
  run(argv: string[], input?: Uint8Array): Promise<{ code: number; stderr: string }>;
  writeFile(path: string, data: Uint8Array): void;
  removeFile(path: string): void;
  exists(path: string): boolean;
  log(level: LogLevel, msg: string): void;
}

export interface GatewayOptions {
  readonly iface: string;
  /** Where dnsmasq reads extra hosts files; undefined: MagicDNS for the LAN is off. */
  readonly hostsFile?: string;
}

export class Gateway {
  private script: string | undefined;
  private hosts: string | undefined;
  private namesError: string | undefined;
  /** Set once the table could not be installed: said in status as a health problem. */
  failure: string | undefined;

  constructor(
    private readonly deps: GatewayDeps,
    private readonly opts: GatewayOptions,
  ) {}

  /** Whether meshwrt's table is in force (some version of it: nft replaces it atomically). */
  get loaded(): boolean {
    return this.script !== undefined;
  }

  /** Installs the rules; false (and the old rules stay, nft being atomic) when nft refuses them. */
  async setRules(r: Omit<GatewayRules, "iface">): Promise<boolean> {
    const script = rulesetScript({ ...r, iface: this.opts.iface });
    if (script === this.script) return true;
    const res = await this.nft(script);
    if (res.code !== 0) {
      const effect = this.script === undefined ? "no peer is installed until it loads: the tunnel carries nothing" : "the previous rules stay in force";
      // nft repeats the script around each error: its first error line says it.
      const why = res.stderr.split("\n").find((l) => l.includes("Error:"))?.trim() ?? (res.stderr.trim() || `exit ${res.code}`);
      this.failure = `firewall: nftables refused meshwrt's rules (${why}); ${effect}`;
      this.deps.log("error", this.failure);
      return false;
    }
    if (this.script === undefined) this.deps.log("info", `firewall: table inet meshwrt installed (${r.filter.length} ACL rules)`);
    else this.deps.log("debug", `firewall: rules replaced (${r.filter.length} ACL rules)`);
    this.script = script;
    this.failure = undefined;
    return true;
  }

  /** Writes the MagicDNS hosts file when it changed, and tells dnsmasq to read it again. */
  async setNames(text: string): Promise<void> {
    const path = this.opts.hostsFile;
    if (!path || text === this.hosts) return;
    const dir = path.slice(0, path.lastIndexOf("/")) || "/";
    try {
      // dnsmasq's hosts directory (/tmp/hosts on OpenWrt) is made by its init script: without it there is no dnsmasq to feed.
      if (!this.deps.exists(dir)) throw new Error(`${dir} does not exist (is dnsmasq installed?)`);
      this.deps.writeFile(path, utf8Encode(text));
    } catch (e) {
      const msg = `magicdns: ${(e as Error).message}; LAN clients cannot resolve tailnet names`;
      // Said once per cause: every netmap would say it again.
      if (msg !== this.namesError) this.deps.log("error", msg);
      this.namesError = msg;
      return;
    }
    this.namesError = undefined;
    this.hosts = text;
    await this.reloadDnsmasq();
  }

  /** Removes the table and the hosts file. */
  async stop(): Promise<void> {
    if (this.script !== undefined) {
      const res = await this.nft(removeScript());
      if (res.code !== 0) this.deps.log("warn", `firewall: removing table inet meshwrt: ${res.stderr || `exit ${res.code}`}`);
      this.script = undefined;
    }
    const path = this.opts.hostsFile;
    if (path && this.hosts !== undefined) {
      try {
        if (this.deps.exists(path)) this.deps.removeFile(path);
      } catch (e) {
        this.deps.log("warn", `magicdns: ${(e as Error).message}`);
      }
      this.hosts = undefined;
      await this.reloadDnsmasq();
    }
  }

  private nft(script: string): Promise<{ code: number; stderr: string }> {
    return this.deps.run(["nft", "-f", "-"], utf8Encode(script)).catch((e: Error) => ({ code: 127, stderr: e.message }));
  }

  private async reloadDnsmasq(): Promise<void> {
    // dnsmasq re-reads its addn-hosts files on SIGHUP, keeping its cache of the rest.
    const r = await this.deps.run(["killall", "-HUP", "dnsmasq"]).catch((e: Error) => ({ code: 127, stderr: e.message }));
    if (r.code !== 0) this.deps.log("debug", `magicdns: no dnsmasq told to reload (${r.stderr || `exit ${r.code}`})`);
  }
}
