// The router as a gateway for the tailnet: meshwrt's nftables table (the
// ACL, forwarding to the shared subnets or, as an exit node, anywhere, and
// source NAT) and the MagicDNS hosts file for dnsmasq. Each is rewritten
// only when its text changes, and both go away at stop. A table deleted by
// someone else (`fw4 flush`, which `/etc/init.d/firewall stop` runs) is seen
// on nftables' netlink events and loaded again at once: fw4's zone for the
// tunnel accepts everything, so without it the ACL would not be enforced.
import type { LogLevel, NetlinkSocket } from "../host/host.js";
import { parseMessages } from "../netlink/codec.js";
import { NETLINK_NETFILTER, NFPROTO_INET, NFTABLES_GROUPS, parseNftablesEvent, TableWatch } from "../netlink/nftables-events.js";
import { utf8Encode } from "../util/utf8.js";
import { type GatewayRules, removeScript, rulesetScript, TABLE } from "./ruleset.js";

export interface GatewayDeps {
  run(argv: string[], input?: Uint8Array): Promise<{ code: number; stderr: string }>;
  writeFile(path: string, data: Uint8Array): Promise<void>;
  removeFile(path: string): void;
  exists(path: string): boolean;
  log(level: LogLevel, msg: string): void;
}

export interface GatewayOptions {
  readonly iface: string;
  /** The interface is ARPHRD_NONE (ruleset.ts). */
  readonly noLinkLayer?: boolean;
  /** Where dnsmasq reads extra hosts files; undefined: MagicDNS for the LAN is off. */
  readonly hostsFile?: string;
}

export class Gateway {
  private script: string | undefined;
  private hosts: string | undefined;
  private namesError: string | undefined;
  /** Set once the table could not be installed: said in status as a health problem. */
  failure: string | undefined;
  /** Called when the table was lost and nft refused it again: the agent takes its peers out (fail closed). */
  onUnloaded: () => void = () => {};
  /** Called after each nftables transaction anyone committed (fw4 reload among them): what depends on fw4 may look again. */
  onCommitted: () => void = () => {};
  private events: NetlinkSocket | undefined;
  /** One nft run at a time, in order: a late restore must not overwrite newer rules. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Whether an nft run may have left the table in the kernel: one killed by a signal may have committed before it died. */
  private maybeLoaded = false;
  /** Set when an nft run was killed: `script` may not be what the kernel holds, so the next rules load whatever they are. */
  private unsure = false;
  /** Set by stop, for good: rules that come later (a netmap still being applied) must not load the table again behind it. */
  private stopped = false;

  constructor(
    private readonly deps: GatewayDeps,
    private readonly opts: GatewayOptions,
  ) {}

  /** Whether meshwrt's table is in force (some version of it: nft replaces it atomically). */
  get loaded(): boolean {
    return this.script !== undefined;
  }

  /** Installs the rules; false (and the old rules stay, nft being atomic) when nft refuses them. */
  async setRules(r: Omit<GatewayRules, "iface" | "noLinkLayer">): Promise<boolean> {
    const script = rulesetScript({ ...r, iface: this.opts.iface, ...(this.opts.noLinkLayer ? { noLinkLayer: true } : {}) });
    return this.serial(async () => {
      if (this.stopped) return false;
      if (script === this.script && !this.unsure) {
        // The rules wanted are in force: a refusal of others since then is over.
        this.failure = undefined;
        return true;
      }
      this.maybeLoaded = true;
      const res = await this.nft(script);
      this.unsure = res.code > 128;
      if (res.code !== 0) {
        const effect = this.script === undefined ? UNLOADED : "the previous rules stay in force";
        this.failure = `firewall: nftables refused meshwrt's rules (${nftError(res)}); ${effect}`;
        this.deps.log("error", this.failure);
        return false;
      }
      if (this.script === undefined) this.deps.log("info", `firewall: table inet ${TABLE} installed (${r.filter.length} ACL rules)`);
      else this.deps.log("debug", `firewall: rules replaced (${r.filter.length} ACL rules)`);
      this.script = script;
      this.failure = undefined;
      return true;
    });
  }

  /**
   * Follows nftables' events (a netlink socket from `open`) and loads the table again when a
   * committed change left it deleted. Without the socket (no nf_tables netlink, no permission)
   * the table comes back only with the next rules that differ; said once in the log.
   */
  watch(open: (protocol: number, groups: number) => NetlinkSocket): void {
    let sock: NetlinkSocket;
    try {
      sock = open(NETLINK_NETFILTER, NFTABLES_GROUPS);
    } catch (e) {
      this.deps.log("warn", `firewall: cannot follow nftables events (${(e as Error).message}); a table deleted by fw4 flush stays deleted until the rules change`);
      return;
    }
    const tables = new TableWatch(NFPROTO_INET, { has: (name: string) => name === TABLE });
    sock.onMessage = (d) => {
      try {
        for (const m of parseMessages(d)) {
          const ev = parseNftablesEvent(m);
          for (const { name, by } of ev ? tables.take(ev) : []) {
            const why = `table inet ${name} was deleted by ${by}`;
            void this.restore(why);
          }
          if (ev?.kind === "generation") this.onCommitted();
        }
      } catch (e) {
        this.deps.log("warn", `firewall: nftables event: ${(e as Error).message}`);
      }
    };
    // ENOBUFS: events were lost, a deletion among them maybe. Loading the table again is harmless.
    sock.onError = (e) => {
      void this.restore(`nftables events were lost (${e.message})`);
    };
    this.events = sock;
  }

  /** Loads the current rules again; when nft refuses them now, no table: the agent is told to take its peers out. */
  private restore(why: string): Promise<void> {
    return this.serial(async () => {
      const script = this.script;
      if (script === undefined || this.stopped) return;
      this.deps.log("warn", `firewall: ${why}: loading it again`);
      const res = await this.nft(script);
      if (res.code === 0) {
        this.deps.log("info", `firewall: table inet ${TABLE} loaded again`);
        return;
      }
      this.script = undefined;
      this.failure = `firewall: nftables refused meshwrt's rules after ${why} (${nftError(res)}); ${UNLOADED}`;
      this.deps.log("error", this.failure);
      this.onUnloaded();
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => {});
    return run;
  }

  /** Writes the MagicDNS hosts file when it changed, and tells dnsmasq to read it again. */
  async setNames(text: string): Promise<void> {
    const path = this.opts.hostsFile;
    if (!path || text === this.hosts) return;
    const dir = path.slice(0, path.lastIndexOf("/")) || "/";
    try {
      // dnsmasq's hosts directory (/tmp/hosts on OpenWrt) is made by its init script: without it there is no dnsmasq to feed.
      if (!this.deps.exists(dir)) throw new Error(`${dir} does not exist (is dnsmasq installed?)`);
      await this.deps.writeFile(path, utf8Encode(text));
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
    // Our own removal is not a loss to repair.
    this.events?.close();
    this.events = undefined;
    this.stopped = true;
    await this.serial(async () => {
      // Not only when the last load said yes: a refused load leaves no table, but one whose nft was killed may have.
      if (!this.maybeLoaded) return;
      const res = await this.nft(removeScript());
      if (res.code !== 0) this.deps.log("warn", `firewall: removing table inet ${TABLE}: ${res.stderr || `exit ${res.code}`}`);
      else this.deps.log("info", `firewall: table inet ${TABLE} removed`);
      this.script = undefined;
      this.maybeLoaded = false;
    });
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

  /** Whether the kernel would take `script` (`nft --check`: nothing is changed); why not, or undefined. */
  async check(script: string): Promise<string | undefined> {
    const res = await this.nft(script, ["--check"]);
    return res.code === 0 ? undefined : nftError(res);
  }

  private nft(script: string, flags: string[] = []): Promise<{ code: number; stderr: string }> {
    return this.deps.run(["nft", ...flags, "-f", "-"], utf8Encode(script)).catch((e: Error) => ({ code: 127, stderr: e.message }));
  }

  private async reloadDnsmasq(): Promise<void> {
    // dnsmasq re-reads its addn-hosts files on SIGHUP, keeping its cache of the rest.
    const r = await this.deps.run(["killall", "-HUP", "dnsmasq"]).catch((e: Error) => ({ code: 127, stderr: e.message }));
    if (r.code !== 0) this.deps.log("debug", `magicdns: no dnsmasq told to reload (${r.stderr || `exit ${r.code}`})`);
  }
}

const UNLOADED = "no peer is installed until it loads: the tunnel carries nothing";

/** nft repeats the script around each error: its first error line says it. */
function nftError(res: { code: number; stderr: string }): string {
  return res.stderr.split("\n").find((l) => l.includes("Error:"))?.trim() ?? (res.stderr.trim() || `exit ${res.code}`);
}
