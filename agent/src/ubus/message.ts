// ubus messages as ubusmsg.h defines them (openwrt/ubus): an 8-byte header
// (version 0, type, seq u16 BE, peer u32 BE), then one blob attribute with
// id 0 whose children are the UBUS_ATTR_* attributes. ubusd and libubus read
// the header and that attribute's 4-byte header first, then its rest.
import { concat } from "../util/bytes.js";
import { utf8Decode, utf8Encode } from "../util/utf8.js";
import { BLOB_HDR_LEN, encodeBlobAttr, pad4, parseBlobAttrs, readBlobHeader, readU32, u32Bytes, writeU32 } from "./blob.js";

export const MSG = {
  HELLO: 0,
  STATUS: 1,
  DATA: 2,
  PING: 3,
  LOOKUP: 4,
  INVOKE: 5,
  ADD_OBJECT: 6,
  REMOVE_OBJECT: 7,
  SUBSCRIBE: 8,
  UNSUBSCRIBE: 9,
  NOTIFY: 10,
  MONITOR: 11,
} as const;

export const ATTR = {
  STATUS: 1,
  OBJPATH: 2,
  OBJID: 3,
  METHOD: 4,
  OBJTYPE: 5,
  SIGNATURE: 6,
  DATA: 7,
  TARGET: 8,
  ACTIVE: 9,
  NO_REPLY: 10,
  SUBSCRIBERS: 11,
  USER: 12,
  GROUP: 13,
} as const;

export const STATUS = {
  OK: 0,
  INVALID_COMMAND: 1,
  INVALID_ARGUMENT: 2,
  METHOD_NOT_FOUND: 3,
  NOT_FOUND: 4,
  NO_DATA: 5,
  PERMISSION_DENIED: 6,
  TIMEOUT: 7,
  NOT_SUPPORTED: 8,
  UNKNOWN_ERROR: 9,
  CONNECTION_FAILED: 10,
  NO_MEMORY: 11,
  PARSE_ERROR: 12,
  SYSTEM_ERROR: 13,
} as const;

// libubus's ubus_strerror texts, so that our errors read like `ubus call`'s.
const STATUS_TEXT = [
  "Success",
  "Invalid command",
  "Invalid argument",
  "Method not found",
  "Not found",
  "No response",
  "Permission denied",
  "Request timed out",
  "Operation not supported",
  "Unknown error",
  "Connection failed",
  "Out of memory",
  "Parsing message data failed",
  "System error",
];

export function statusText(code: number): string {
  return STATUS_TEXT[code] ?? `Unknown error: ${code}`;
}

/** UBUS_MAX_MSGLEN of ubus's CMakeLists: the limit on the padded data blob. */
export const UBUS_MAX_MSGLEN = 1048576;
/**
 * The limit on what we accept from ubusd: it forwards an INVOKE with USER and
 * GROUP added to the caller's message, which libubus lets reach
 * UBUS_MAX_MSGLEN, and does not check the sum. Refusing those would cost the
 * whole connection (there is no resynchronising a stream).
 */
export const UBUS_MAX_RECEIVED = UBUS_MAX_MSGLEN + 1024;
export const UBUS_MSGHDR_LEN = 8;

export interface UbusHeader {
  readonly type: number;
  readonly seq: number;
  readonly peer: number;
}

/** The attributes of one message, checked against the types libubus and ubusd expect. */
export interface UbusAttrs {
  status?: number;
  objpath?: string;
  objid?: number;
  method?: string;
  objtype?: number;
  /** The payload of SIGNATURE: blobmsg tables, one per method. */
  signature?: Uint8Array;
  /** The payload of DATA: a blobmsg table's entries. */
  data?: Uint8Array;
  target?: number;
  active?: boolean;
  noReply?: boolean;
  subscribers?: number[];
  user?: string;
  group?: string;
}

export interface UbusMessage extends UbusHeader {
  readonly attrs: UbusAttrs;
}

// Builders for the attributes, in the forms ubusd and libubus write them.
export const attr = {
  u32: (id: number, v: number) => encodeBlobAttr(id, u32Bytes(v)),
  u8: (id: number, v: boolean | number) => encodeBlobAttr(id, Uint8Array.of(Number(v) & 0xff)),
  string: (id: number, s: string) => encodeBlobAttr(id, concat(utf8Encode(s), Uint8Array.of(0))),
  nested: (id: number, payload: Uint8Array) => encodeBlobAttr(id, payload),
};

/** A whole message: header, then the id-0 blob holding `attrs` (each already encoded and padded). */
export function encodeMessage(hdr: UbusHeader, attrs: Uint8Array[]): Uint8Array {
  const blob = encodeBlobAttr(0, concat(...attrs));
  if (blob.length > UBUS_MAX_MSGLEN) throw new Error(`ubus: a ${blob.length}-byte message exceeds UBUS_MAX_MSGLEN (${UBUS_MAX_MSGLEN})`);
  const out = new Uint8Array(UBUS_MSGHDR_LEN + blob.length);
  out[0] = 0;
  out[1] = hdr.type;
  out[2] = hdr.seq >> 8;
  out[3] = hdr.seq & 0xff;
  writeU32(out, 4, hdr.peer >>> 0);
  out.set(blob, UBUS_MSGHDR_LEN);
  return out;
}

/** The header and the data blob's length, from the first 12 bytes, checked as libubus's ubus_validate_hdr does (`maxBlob`: the limit on the padded blob). */
export function readMessageHead(b: Uint8Array, checkVersion = true, maxBlob = UBUS_MAX_MSGLEN): UbusHeader & { blobLen: number } {
  if (b.length < UBUS_MSGHDR_LEN + BLOB_HDR_LEN) throw new Error(`ubus: truncated message header (${b.length} of 12 bytes)`);
  if (checkVersion && b[0] !== 0) throw new Error(`ubus: message version ${b[0]}, expected 0`);
  const { rawLen } = readBlobHeader(b, UBUS_MSGHDR_LEN, "ubus: message blob");
  if (pad4(rawLen) > maxBlob) throw new Error(`ubus: message blob of ${rawLen} bytes exceeds ${maxBlob === UBUS_MAX_MSGLEN ? "UBUS_MAX_MSGLEN" : "the limit"} (${maxBlob})`);
  return { type: b[1]!, seq: (b[2]! << 8) | b[3]!, peer: readU32(b, 4), blobLen: rawLen };
}

/** One whole message, exactly; throws an Error naming what is wrong. */
export function decodeMessage(b: Uint8Array, maxBlob = UBUS_MAX_MSGLEN): UbusMessage {
  const head = readMessageHead(b, true, maxBlob);
  const total = UBUS_MSGHDR_LEN + head.blobLen;
  if (b.length !== total) throw new Error(`ubus: message of ${b.length} bytes, its header says ${total}`);
  const attrs = decodeAttrs(b.subarray(UBUS_MSGHDR_LEN + BLOB_HDR_LEN, total));
  return { type: head.type, seq: head.seq, peer: head.peer, attrs };
}

function decodeAttrs(payload: Uint8Array): UbusAttrs {
  const out: UbusAttrs = {};
  for (const a of parseBlobAttrs(payload, "ubus: message")) {
    const p = a.payload;
    const name = ATTR_NAMES[a.id];
    const u32 = () => {
      if (p.length !== 4) throw new Error(`ubus: attribute ${name} must be 4 bytes, is ${p.length}`);
      return readU32(p, 0);
    };
    const u8 = () => {
      if (p.length !== 1) throw new Error(`ubus: attribute ${name} must be 1 byte, is ${p.length}`);
      return p[0] !== 0;
    };
    const str = () => {
      if (p.length < 1 || p[p.length - 1] !== 0) throw new Error(`ubus: attribute ${name} is not a NUL-terminated string`);
      return utf8Decode(p.subarray(0, p.indexOf(0)));
    };
    // Unknown ids are skipped, as libubus and ubusd skip them.
    switch (a.id) {
      case ATTR.STATUS: out.status = u32() | 0; break;
      case ATTR.OBJPATH: out.objpath = str(); break;
      case ATTR.OBJID: out.objid = u32(); break;
      case ATTR.METHOD: out.method = str(); break;
      case ATTR.OBJTYPE: out.objtype = u32(); break;
      case ATTR.SIGNATURE: out.signature = p; break;
      case ATTR.DATA: out.data = p; break;
      case ATTR.TARGET: out.target = u32(); break;
      case ATTR.ACTIVE: out.active = u8(); break;
      case ATTR.NO_REPLY: out.noReply = u8(); break;
      case ATTR.SUBSCRIBERS:
        out.subscribers = parseBlobAttrs(p, "ubus: SUBSCRIBERS").map((s) => {
          if (s.payload.length !== 4) throw new Error(`ubus: a SUBSCRIBERS entry must be 4 bytes, is ${s.payload.length}`);
          return readU32(s.payload, 0);
        });
        break;
      case ATTR.USER: out.user = str(); break;
      case ATTR.GROUP: out.group = str(); break;
    }
  }
  return out;
}

const ATTR_NAMES: string[] = [];
for (const [k, v] of Object.entries(ATTR)) ATTR_NAMES[v] = k;

/**
 * Cuts a byte stream into whole messages. A bad header leaves no way to find
 * the next message, so it throws and the framer must not be used again.
 */
export class MessageFramer {
  private buf: Uint8Array = new Uint8Array(0);
  constructor(
    private readonly checkVersion = true,
    private readonly maxBlob = UBUS_MAX_MSGLEN,
  ) {}

  push(chunk: Uint8Array): Uint8Array[] {
    this.buf = this.buf.length ? concat(this.buf, chunk) : chunk;
    const out: Uint8Array[] = [];
    while (this.buf.length >= UBUS_MSGHDR_LEN + BLOB_HDR_LEN) {
      const total = UBUS_MSGHDR_LEN + readMessageHead(this.buf, this.checkVersion, this.maxBlob).blobLen;
      if (this.buf.length < total) break;
      out.push(this.buf.slice(0, total));
      this.buf = this.buf.subarray(total);
    }
    return out;
  }

  /** Bytes of an unfinished message, for a clear error when the stream ends. */
  get pending(): number {
    return this.buf.length;
  }
}

export function describeHeader(h: UbusHeader): string {
  const t = Object.entries(MSG).find(([, v]) => v === h.type)?.[0] ?? `type ${h.type}`;
  return `${t} seq ${h.seq} peer ${h.peer.toString(16).padStart(8, "0")}`;
}
