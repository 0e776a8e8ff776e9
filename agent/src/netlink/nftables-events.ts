// nftables' change events (nfnetlink, multicast group NFNLGRP_NFTABLES): the
// agent follows its own table through them, so that a table deleted by
// someone else (`fw4 flush`, which `/etc/init.d/firewall stop` runs, or
// `nft flush ruleset`) is noticed and put back. Each committed transaction
// sends its changes, then NFT_MSG_NEWGEN: only the state at NEWGEN counts,
// since meshwrt's own atomic replace deletes and re-adds the table in one
// transaction.
import { attrMap, getStr, type Message, NetlinkDecodeError } from "./codec.js";

export const NETLINK_NETFILTER = 12;
/** The bind(2) group mask for NFNLGRP_NFTABLES (group 7). */
export const NFTABLES_GROUPS = 1 << (7 - 1);
export const NFPROTO_INET = 1;

const NFNL_SUBSYS_NFTABLES = 10;
const NFT_MSG_NEWTABLE = 0;
const NFT_MSG_DELTABLE = 2;
const NFT_MSG_NEWGEN = 15;
/** `destroy table` (Linux 6.3+): a deletion too. */
const NFT_MSG_DESTROYTABLE = 26;
const NFGENMSG_LEN = 4;
const NFTA_TABLE_NAME = 1;
const NFTA_GEN_ID = 1;
const NFTA_GEN_PROC_PID = 2;
const NFTA_GEN_PROC_NAME = 3;

export type NftablesEvent =
  | { readonly kind: "table"; readonly added: boolean; readonly family: number; readonly name: string }
  /** The end of one committed transaction, and the process that committed it (when the kernel says). */
  | { readonly kind: "generation"; readonly id: number; readonly pid?: number; readonly process?: string };

/** The table or generation event a message carries; null for the rest (chains, rules, sets...). Throws on a malformed one. */
export function parseNftablesEvent(m: Message): NftablesEvent | null {
  if (m.type >> 8 !== NFNL_SUBSYS_NFTABLES) return null;
  const type = m.type & 0xff;
  if (type !== NFT_MSG_NEWTABLE && type !== NFT_MSG_DELTABLE && type !== NFT_MSG_DESTROYTABLE && type !== NFT_MSG_NEWGEN) return null;
  const what = type === NFT_MSG_NEWGEN ? "nftables generation" : "nftables table event";
  if (m.payload.length < NFGENMSG_LEN) throw new NetlinkDecodeError(`${what}: ${m.payload.length} bytes, shorter than its nfgenmsg header`);
  const attrs = attrMap(m.payload.subarray(NFGENMSG_LEN), what);
  if (type === NFT_MSG_NEWGEN) {
    const id = attrs.get(NFTA_GEN_ID);
    if (!id || id.length < 4) throw new NetlinkDecodeError(`${what}: no NFTA_GEN_ID`);
    const pid = attrs.get(NFTA_GEN_PROC_PID);
    const name = attrs.get(NFTA_GEN_PROC_NAME);
    // nftables' attributes are in network byte order.
    const be32 = (d: Uint8Array) => new DataView(d.buffer, d.byteOffset, 4).getUint32(0, false);
    return {
      kind: "generation",
      id: be32(id),
      ...(pid && pid.length >= 4 ? { pid: be32(pid) } : {}),
      ...(name ? { process: getStr(name) } : {}),
    };
  }
  const name = attrs.get(NFTA_TABLE_NAME);
  if (!name) throw new NetlinkDecodeError(`${what}: no NFTA_TABLE_NAME`);
  return { kind: "table", added: type === NFT_MSG_NEWTABLE, family: m.payload[0]!, name: getStr(name) };
}

/** Follows tables of one family across committed transactions. */
export class TableWatch {
  /** What the transaction being announced did last to each watched table it touched. */
  private pending = new Map<string, boolean>();

  constructor(
    private readonly family: number,
    private readonly names: { has(name: string): boolean },
  ) {}

  /**
   * Takes one event; at the end of a transaction, the watched tables it left deleted, each with
   * who committed it ("nft (pid 42)", or "an unnamed process").
   */
  take(ev: NftablesEvent): { name: string; by: string }[] {
    if (ev.kind === "table") {
      if (ev.family === this.family && this.names.has(ev.name)) this.pending.set(ev.name, ev.added);
      return [];
    }
    const by = ev.process ? `${ev.process}${ev.pid !== undefined ? ` (pid ${ev.pid})` : ""}` : "an unnamed process";
    const deleted = [...this.pending].filter(([, added]) => !added).map(([name]) => ({ name, by }));
    this.pending.clear();
    return deleted;
  }
}
