// The CLI's commands: the words on the command line turned into one API
// call and how to print its answer. Pure, so that every command is tested
// without an agent.
import type { DeviceReply } from "../api/devices.js";
import type { SetReply } from "../api/methods.js";
import type { NetcheckReply, PeerReply, PingReply, StatusReply } from "../api/replies.js";
import { formatDevices, formatNetcheck, formatPeers, formatPing, formatSet, formatStatus } from "./format.js";

export const CLI_USAGE = `usage: meshwrt COMMAND [--json] [--ubus PATH] [--socket PATH]
  status                 the router's tailnet state, in words
  peers                  the other nodes: path, traffic, last handshake
  up | down              start or stop the tunnel (the settings stay)
  login [--login-server URL] [--auth-key KEY]
                         join the tailnet (prints the login link when one is needed)
  logout                 leave the tailnet and forget this node's keys
  set OPTION [VALUE...]  change an option of /etc/config/meshwrt (no value: its default)
  netcheck               NAT type, public endpoints, relays
  ping PEER              a disco ping to a peer, by name or address
  devices                LAN devices that could be shared with the tailnet
  version                this binary's version
  run [...]              the agent itself (procd starts it)
exit status: 0 done, 1 the agent refused or failed (its words follow), 2 usage,
  3 the agent is not running, 4 this user may not call it (ubusd's ACL, the socket's mode)
`;

export interface CliCommand {
  readonly method: string;
  readonly args: Record<string, string>;
  readonly json: boolean;
  /** Neither set: ubus, then the default socket; one or both set: only those, ubus first. */
  readonly socket?: string;
  readonly ubus?: string;
  render(answer: object, now: number): string;
}

export class UsageError extends Error {}

type Render = (a: object, now: number) => string;

const COMMANDS: Readonly<Record<string, { flags: readonly string[]; positional: readonly string[]; rest?: true; render: Render }>> = {
  status: { flags: [], positional: [], render: (a) => formatStatus(a as StatusReply) },
  peers: { flags: [], positional: [], render: (a, now) => formatPeers((a as { peers: PeerReply[] }).peers, now) },
  up: { flags: [], positional: [], render: (a) => formatStatus(a as StatusReply) },
  down: { flags: [], positional: [], render: (a) => formatStatus(a as StatusReply) },
  logout: { flags: [], positional: [], render: (a) => formatStatus(a as StatusReply) },
  login: { flags: ["login-server", "auth-key"], positional: [], render: (a) => loginText(a as StatusReply) },
  set: { flags: [], positional: ["option"], rest: true, render: (a) => formatSet(a as SetReply) },
  netcheck: { flags: [], positional: [], render: (a) => formatNetcheck(a as NetcheckReply) },
  ping: { flags: [], positional: ["peer"], render: (a) => formatPing(a as PingReply) },
  devices: { flags: [], positional: [], render: (a) => formatDevices((a as { devices: DeviceReply[] }).devices) },
};

function loginText(s: StatusReply): string {
  if (s.authUrl) return `To add this router to the tailnet, open:\n\n\t${s.authUrl}\n\n`;
  return formatStatus(s);
}

/** `meshwrt set advertise_routes 10.0.0.0/24 10.0.1.0/24`: the list's values joined by spaces, as the API takes them. */
export function parseCommand(argv: readonly string[]): CliCommand {
  const [name, ...rest] = argv;
  if (!name || !Object.prototype.hasOwnProperty.call(COMMANDS, name)) throw new UsageError(name ? `unknown command ${JSON.stringify(name)}` : "no command");
  const spec = COMMANDS[name]!;
  const flags = new Map<string, string>();
  const words: string[] = [];
  let json = false;
  let flagsEnd = false;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (flagsEnd) words.push(a);
    else if (a === "--") flagsEnd = true;
    else if (a === "--json") json = true;
    else if (a.startsWith("--")) {
      const [k, inline] = a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
      if (k !== "socket" && k !== "ubus" && !spec.flags.includes(k)) throw new UsageError(`${name}: unknown option --${k}`);
      const v = inline ?? rest[++i];
      if (v === undefined) throw new UsageError(`${name}: --${k} needs a value`);
      flags.set(k, v);
    } else words.push(a);
  }
  if (words.length < spec.positional.length) throw new UsageError(`${name}: ${spec.positional.slice(words.length).map((p) => p.toUpperCase()).join(" ")} missing`);
  if (!spec.rest && words.length > spec.positional.length) throw new UsageError(`${name}: unexpected ${JSON.stringify(words[spec.positional.length])}`);
  const args: Record<string, string> = {};
  spec.positional.forEach((p, i) => (args[p] = words[i]!));
  if (spec.rest) args.value = words.slice(spec.positional.length).join(" ");
  for (const f of spec.flags) if (flags.has(f)) args[f.replace(/-/g, "_")] = flags.get(f)!;
  return {
    method: name,
    args,
    json,
    ...(flags.has("socket") ? { socket: flags.get("socket")! } : {}),
    ...(flags.has("ubus") ? { ubus: flags.get("ubus")! } : {}),
    render: (a, now) => (json ? `${JSON.stringify(a, null, 2)}\n` : spec.render(a, now)),
  };
}
