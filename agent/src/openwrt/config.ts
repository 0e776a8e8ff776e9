// meshwrt's settings in /etc/config/meshwrt (section "main" of type
// "meshwrt"), typed and validated. A bad value is reported with its
// section, option and reason; the caller keeps the last good settings.
import { parsePrefix, type Prefix, maskPrefix, formatPrefix } from "../netaddr/ip.js";
import { parseLoginServer } from "../control/server.js";
import type { UciPackage, UciSection } from "./uci.js";

export type LogLevel = "debug" | "info" | "warn" | "error";

export interface Settings {
  readonly enabled: boolean;
  readonly loginServer: string;
  readonly authKey: string;
  readonly hostname: string;
  /** Empty: advertise the LAN subnets found on the system. */
  readonly advertiseRoutes: readonly Prefix[];
  readonly advertiseExitNode: boolean;
  readonly acceptRoutes: boolean;
  readonly acceptDns: boolean;
  readonly snatSubnetRoutes: boolean;
  /** The devices whose subnets are the LAN (advertised when advertiseRoutes is empty). */
  readonly lanDevices: readonly string[];
  /** Established flows between the tunnel and the LAN devices bypass the firewall (an nftables flowtable, as fw4's flow_offloading). */
  readonly flowOffloading: boolean;
  /** The MagicDNS hosts file, in a directory dnsmasq reads with addn-hosts. */
  readonly dnsHostsFile: string;
  readonly listenPort: number;
  readonly stateDir: string;
  readonly logLevel: LogLevel;
}

export const DEFAULTS: Settings = {
  enabled: false,
  loginServer: "https://controlplane.tailscale.com",
  authKey: "",
  hostname: "",
  advertiseRoutes: [],
  advertiseExitNode: false,
  acceptRoutes: false,
  acceptDns: true,
  snatSubnetRoutes: true,
  lanDevices: ["br-lan"],
  flowOffloading: false,
  dnsHostsFile: "/tmp/hosts/meshwrt",
  listenPort: 41641,
  stateDir: "/etc/meshwrt",
  logLevel: "info",
};

export const SECTION = "main";

type Parse = (v: string) => unknown;

const bool: Parse = (v) => {
  if (/^(1|true|yes|on|enabled)$/.test(v)) return true;
  if (/^(0|false|no|off|disabled)$/.test(v)) return false;
  throw new Error("is not a boolean (0 or 1)");
};

/** An option: its UCI name, the settings field, whether it is a list, and its parser. */
export interface OptionSpec {
  readonly uci: string;
  readonly key: keyof Settings;
  readonly list?: true;
  readonly parse: Parse;
}

export const OPTIONS: readonly OptionSpec[] = [
  { uci: "enabled", key: "enabled", parse: bool },
  {
    uci: "login_server",
    key: "loginServer",
    parse: (v) => {
      if (v === "") return DEFAULTS.loginServer;
      try {
        parseLoginServer(v);
      } catch {
        throw new Error("is not a login server URL such as https://headscale.example.com");
      }
      return v.replace(/\/$/, "");
    },
  },
  {
    uci: "auth_key",
    key: "authKey",
    parse: (v) => {
      if (/\s/.test(v)) throw new Error("must not contain spaces");
      return v;
    },
  },
  {
    uci: "hostname",
    key: "hostname",
    parse: (v) => {
      if (v !== "" && !/^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(v)) throw new Error("is not a host name (letters, digits and '-', at most 63)");
      return v;
    },
  },
  {
    uci: "advertise_routes",
    key: "advertiseRoutes",
    list: true,
    parse: (v) => {
      let p: Prefix;
      try {
        p = parsePrefix(v);
      } catch {
        throw new Error("is not an IP prefix such as 192.168.1.0/24");
      }
      if (p.bits === 0) throw new Error("is a default route: use advertise_exit_node instead");
      const m = maskPrefix(p);
      if (formatPrefix(m) !== formatPrefix(p)) throw new Error(`has host bits set (did you mean ${formatPrefix(m)}?)`);
      return p;
    },
  },
  { uci: "advertise_exit_node", key: "advertiseExitNode", parse: bool },
  { uci: "accept_routes", key: "acceptRoutes", parse: bool },
  { uci: "accept_dns", key: "acceptDns", parse: bool },
  { uci: "snat_subnet_routes", key: "snatSubnetRoutes", parse: bool },
  {
    uci: "lan_device",
    key: "lanDevices",
    list: true,
    parse: (v) => {
      if (!/^[A-Za-z0-9_.@-]{1,15}$/.test(v)) throw new Error("is not a network device name (at most 15 letters, digits, '_', '.', '@' or '-')");
      return v;
    },
  },
  { uci: "flow_offloading", key: "flowOffloading", parse: bool },
  {
    uci: "dns_hosts_file",
    key: "dnsHostsFile",
    parse: (v) => {
      if (!v.startsWith("/") || v.includes("..") || v.endsWith("/")) throw new Error("must be an absolute file path");
      return v;
    },
  },
  {
    uci: "listen_port",
    key: "listenPort",
    parse: (v) => {
      if (!/^\d{1,5}$/.test(v) || Number(v) < 1 || Number(v) > 65535) throw new Error("is not a port (1-65535)");
      return Number(v);
    },
  },
  {
    uci: "state_dir",
    key: "stateDir",
    parse: (v) => {
      if (!v.startsWith("/") || v.includes("..")) throw new Error("must be an absolute path");
      return v.replace(/\/+$/, "") || "/";
    },
  },
  {
    uci: "log_level",
    key: "logLevel",
    parse: (v) => {
      if (!/^(debug|info|warn|error)$/.test(v)) throw new Error("must be debug, info, warn or error");
      return v;
    },
  },
];

export interface SettingsResult {
  readonly settings: Settings;
  readonly errors: readonly string[];
}

export function mainSection(p: UciPackage): UciSection | undefined {
  return p.sections.find((s) => s.name === SECTION) ?? p.sections.find((s) => s.type === "meshwrt");
}

/** How messages name a section: "meshwrt.main", or "meshwrt.@meshwrt[0]" for an anonymous one. */
export const sectionPath = (p: UciPackage, s: UciSection): string => `${p.name}.${s.name ?? `@${s.type}[0]`}`;

/** One value parsed, or an error naming the section, the option and the reason. */
export function checkValue(where: string, o: OptionSpec, v: string): unknown {
  try {
    return o.parse(v);
  } catch (e) {
    throw new Error(`${where}.${o.uci}: ${JSON.stringify(v)} ${(e as Error).message}`);
  }
}

/** Reads the settings; a value that does not parse is an error, and the result is only usable without errors. */
export function readSettings(p: UciPackage): SettingsResult {
  const errors: string[] = [];
  const s = mainSection(p);
  const out: Record<string, unknown> = { ...DEFAULTS };
  if (!s) return { settings: DEFAULTS, errors: [`${p.name}: no section "${SECTION}" of type meshwrt`] };
  const where = sectionPath(p, s);
  for (const [name, value] of s.options) {
    const o = OPTIONS.find((x) => x.uci === name);
    if (!o) {
      errors.push(`${where}.${name}: unknown option`);
      continue;
    }
    const values = Array.isArray(value) ? value : o.list ? value.split(/\s+/).filter(Boolean) : [value];
    if (!o.list && Array.isArray(value)) {
      errors.push(`${where}.${name}: is a list, want a single option`);
      continue;
    }
    const parsed: unknown[] = [];
    for (const v of values) {
      try {
        parsed.push(checkValue(where, o, v));
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    if (parsed.length === values.length) out[o.key] = o.list ? parsed : parsed[0];
  }
  return { settings: out as unknown as Settings, errors };
}
