// Netlink messages and attributes (RFC 3549, linux/netlink.h). Fields are in
// the host's byte order, which is big-endian on MIPS routers, so every read
// and write goes through a DataView with the detected order.

export const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export const NLMSG_HDRLEN = 16;
export const NLA_HDRLEN = 4;
export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
export const NLA_TYPE_MASK = 0x3fff;

export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
// Flags of an NLMSG_ERROR message.
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;

const NLMSGERR_ATTR_MSG = 1;
const NLMSGERR_ATTR_OFFS = 2;

export const align4 = (n: number): number => (n + 3) & ~3;

/** A malformed message or attribute: says what was being read and why it is wrong. */
export class NetlinkDecodeError extends Error {}

/** An error the kernel answered with (a negative errno in NLMSG_ERROR). */
export class NetlinkError extends Error {
  constructor(
    readonly errno: number,
    readonly extack: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

export interface Message {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
  readonly pid: number;
  readonly payload: Uint8Array;
}

const HEX = /^[0-9a-f]*$/;

/** Builds messages and attributes in one growing buffer. */
export class Writer {
  private buf: Uint8Array;
  private view: DataView;
  private len = 0;

  constructor(capacity = 512) {
    this.buf = new Uint8Array(capacity);
    this.view = new DataView(this.buf.buffer);
  }

  get length(): number {
    return this.len;
  }

  /** Starts a message; returns the offset that end() takes. */
  begin(type: number, flags: number, seq: number): number {
    const at = this.reserve(NLMSG_HDRLEN);
    this.view.setUint16(at + 4, type, HOST_LE);
    this.view.setUint16(at + 6, flags, HOST_LE);
    this.view.setUint32(at + 8, seq >>> 0, HOST_LE);
    this.view.setUint32(at + 12, 0, HOST_LE);
    return at;
  }

  end(start: number): void {
    this.view.setUint32(start, this.len - start, HOST_LE);
  }

  /** Fixed family header (genlmsghdr, ifinfomsg, ...), padded to 4 bytes. */
  raw(bytes: Uint8Array): this {
    const at = this.reserve(align4(bytes.length));
    this.buf.set(bytes, at);
    return this;
  }

  u8(type: number, v: number): this {
    this.buf[this.attr(type, 1)] = v;
    return this;
  }
  u16(type: number, v: number): this {
    this.put16(this.attr(type, 2), v);
    return this;
  }
  u32(type: number, v: number): this {
    const at = this.attr(type, 4);
    this.view.setUint32(at, v >>> 0, HOST_LE);
    return this;
  }
  s32(type: number, v: number): this {
    const at = this.attr(type, 4);
    this.view.setInt32(at, v, HOST_LE);
    return this;
  }
  u64(type: number, v: bigint): this {
    const at = this.attr(type, 8);
    this.view.setBigUint64(at, v, HOST_LE);
    return this;
  }
  bytes(type: number, v: Uint8Array): this {
    const at = this.attr(type, v.length);
    this.buf.set(v, at);
    return this;
  }
  /** A NUL-terminated string, as the kernel's NLA_NUL_STRING and NLA_STRING accept. */
  str(type: number, s: string): this {
    const at = this.attr(type, s.length + 1);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7e || c < 0x20) throw new Error(`netlink: attribute ${type}: only printable ASCII, got ${JSON.stringify(s)}`);
      this.buf[at + i] = c;
    }
    this.buf[at + s.length] = 0;
    return this;
  }
  flag(type: number): this {
    this.attr(type, 0);
    return this;
  }

  /**
   * Bytes given as text: 2 hex digits a byte (lowercase, as keys are written), or throws. A key kept
   * as its hex goes into a message without a Uint8Array of its own (5,000 peers' keys decoded by
   * @noble's hexToBytes were ~80 ms in QuickJS; parseInt of 8 digits at a time is a third of that).
   */
  hex(type: number, text: string): this {
    if (text.length & 1 || !HEX.test(text)) throw new Error(`netlink: attribute ${type}: want hex digits, got ${JSON.stringify(text.slice(0, 16))}`);
    const at = this.attr(type, text.length >> 1);
    const b = this.buf;
    let i = 0, o = at;
    for (; i + 8 <= text.length; i += 8, o += 4) {
      const v = parseInt(text.slice(i, i + 8), 16);
      b[o] = v >>> 24;
      b[o + 1] = v >>> 16;
      b[o + 2] = v >>> 8;
      b[o + 3] = v;
    }
    for (; i < text.length; i += 2) b[o++] = parseInt(text.slice(i, i + 2), 16);
    return this;
  }

  /** Bytes given as the characters `from` to `to` of a string, one byte (0-255) each. */
  chars(type: number, s: string, from: number, to: number): this {
    const at = this.attr(type, to - from);
    for (let i = from; i < to; i++) this.buf[at + i - from] = s.charCodeAt(i);
    return this;
  }

  /**
   * Reserves `n` zeroed bytes for the caller to write in `buffer` (valid until the next write):
   * for a small structure of attributes written at once, in a loop run thousands of times.
   */
  space(n: number): number {
    return this.reserve(n);
  }

  get buffer(): Uint8Array {
    return this.buf;
  }

  /** A nested attribute holding whatever body() writes. */
  nest(type: number, body: (w: this) => void): this {
    const at = this.open(type);
    body(this);
    return this.close(at);
  }

  /** Starts a nested attribute (for a loop that would otherwise make a closure per element); close(at) ends it. */
  open(type: number): number {
    return this.attr(type | NLA_F_NESTED, 0) - NLA_HDRLEN;
  }

  close(at: number): this {
    this.put16(at, this.len - at);
    return this;
  }

  /** A 16-bit field in host order, as bytes (a DataView call costs more in QuickJS). */
  private put16(at: number, v: number): void {
    if (HOST_LE) {
      this.buf[at] = v;
      this.buf[at + 1] = v >> 8;
    } else {
      this.buf[at] = v >> 8;
      this.buf[at + 1] = v;
    }
  }

  /** Drops everything written after `length` (to undo an attribute that did not fit). */
  truncate(length: number): void {
    this.len = length;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }

  /**
   * Returns the payload offset. Call it before reading this.view: growing replaces the view.
   * The header is written and the padding zeroed here, in line: a set-device message of 5,000
   * peers writes ~60,000 attributes, and calls to reserve, fill and DataView were half its cost in QuickJS.
   */
  private attr(type: number, size: number): number {
    const total = NLA_HDRLEN + size;
    if (total > 0xffff) throw new Error(`netlink: attribute ${type} of ${size} bytes is too long`);
    const at = this.len, end = at + ((total + 3) & ~3);
    if (end > this.buf.length) this.grow(end);
    const b = this.buf;
    putAttrHeader(b, at, total, type);
    // The payload is the caller's to write; the padding may hold a truncated attribute's bytes.
    for (let i = at + total; i < end; i++) b[i] = 0;
    this.len = end;
    return at + NLA_HDRLEN;
  }

  private reserve(n: number): number {
    const at = this.len;
    if (at + n > this.buf.length) this.grow(at + n);
    this.buf.fill(0, at, at + n);
    this.len = at + n;
    return at;
  }

  private grow(least: number): void {
    const grown = new Uint8Array(Math.max(this.buf.length * 2, least));
    grown.set(this.buf.subarray(0, this.len));
    this.buf = grown;
    this.view = new DataView(grown.buffer);
  }
}

/** An attribute header (length, type) in host order at `at` of `b`, for writes into Writer.space. */
export function putAttrHeader(b: Uint8Array, at: number, len: number, type: number): void {
  if (HOST_LE) {
    b[at] = len;
    b[at + 1] = len >> 8;
    b[at + 2] = type;
    b[at + 3] = type >> 8;
  } else {
    b[at] = len >> 8;
    b[at + 1] = len;
    b[at + 2] = type >> 8;
    b[at + 3] = type;
  }
}

const viewOf = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** Splits one received datagram into its messages. */
export function parseMessages(buf: Uint8Array): Message[] {
  const out: Message[] = [];
  const v = viewOf(buf);
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = v.getUint32(off, HOST_LE);
    if (len < NLMSG_HDRLEN || len > buf.length - off) {
      throw new NetlinkDecodeError(`netlink: message at offset ${off} claims ${len} bytes, ${buf.length - off} left`);
    }
    out.push({
      type: v.getUint16(off + 4, HOST_LE),
      flags: v.getUint16(off + 6, HOST_LE),
      seq: v.getUint32(off + 8, HOST_LE),
      pid: v.getUint32(off + 12, HOST_LE),
      payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  if (off < buf.length && buf.length - off >= NLMSG_HDRLEN) {
    throw new NetlinkDecodeError(`netlink: ${buf.length - off} stray bytes after the last message`);
  }
  return out;
}

export interface Attr {
  readonly type: number;
  readonly nested: boolean;
  readonly data: Uint8Array;
}

/** The attributes in `buf`; `what` names the container for errors. */
export function parseAttrs(buf: Uint8Array, what: string): Attr[] {
  const out: Attr[] = [];
  const v = viewOf(buf);
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < NLA_HDRLEN) throw new NetlinkDecodeError(`${what}: ${buf.length - off} stray bytes at the end`);
    const len = v.getUint16(off, HOST_LE);
    const type = v.getUint16(off + 2, HOST_LE);
    if (len < NLA_HDRLEN || len > buf.length - off) {
      throw new NetlinkDecodeError(`${what}: attribute ${type & NLA_TYPE_MASK} claims ${len} bytes, ${buf.length - off} left`);
    }
    out.push({ type: type & NLA_TYPE_MASK, nested: (type & NLA_F_NESTED) !== 0, data: buf.subarray(off + NLA_HDRLEN, off + len) });
    off += align4(len);
  }
  return out;
}

/** Attributes by type, the last one winning, for containers without repeats. */
export function attrMap(buf: Uint8Array, what: string): Map<number, Uint8Array> {
  const m = new Map<number, Uint8Array>();
  for (const a of parseAttrs(buf, what)) m.set(a.type, a.data);
  return m;
}

function need(d: Uint8Array, n: number, what: string): DataView {
  if (d.length < n) throw new NetlinkDecodeError(`${what}: want ${n} bytes, got ${d.length}`);
  return viewOf(d);
}

export const getU8 = (d: Uint8Array, what: string): number => need(d, 1, what).getUint8(0);
export const getU16 = (d: Uint8Array, what: string): number => need(d, 2, what).getUint16(0, HOST_LE);
export const getU32 = (d: Uint8Array, what: string): number => need(d, 4, what).getUint32(0, HOST_LE);
export const getS32 = (d: Uint8Array, what: string): number => need(d, 4, what).getInt32(0, HOST_LE);
export const getU64 = (d: Uint8Array, what: string): bigint => need(d, 8, what).getBigUint64(0, HOST_LE);
export const getS64 = (d: Uint8Array, what: string): bigint => need(d, 8, what).getBigInt64(0, HOST_LE);

/** A string attribute, up to its first NUL. */
export function getStr(d: Uint8Array): string {
  let end = d.indexOf(0);
  if (end < 0) end = d.length;
  let s = "";
  for (let i = 0; i < end; i++) s += String.fromCharCode(d[i]!);
  return s;
}

export interface ErrorPayload {
  /** Zero for an acknowledgement, else a positive errno. */
  readonly errno: number;
  /** The seq of the request it answers. */
  readonly seq: number;
  readonly extack?: string;
  readonly offset?: number;
}

/** Decodes the payload of NLMSG_ERROR (or of NLMSG_DONE, which may carry one too). */
export function parseError(m: Message): ErrorPayload {
  const v = need(m.payload, 4, "netlink error");
  const errno = -v.getInt32(0, HOST_LE);
  if (m.type === NLMSG_DONE) return { errno: Math.max(errno, 0), seq: m.seq };
  if (m.payload.length < 4 + NLMSG_HDRLEN) {
    throw new NetlinkDecodeError(`netlink error: want ${4 + NLMSG_HDRLEN} bytes, got ${m.payload.length}`);
  }
  const origLen = v.getUint32(4, HOST_LE);
  const seq = v.getUint32(12, HOST_LE);
  let res: ErrorPayload = { errno, seq };
  if (m.flags & NLM_F_ACK_TLVS) {
    // Checked before align4, whose 32-bit arithmetic turns a length near 2^32 negative.
    const skip = m.flags & NLM_F_CAPPED ? NLMSG_HDRLEN : origLen > m.payload.length ? Infinity : align4(origLen);
    if (4 + skip > m.payload.length) throw new NetlinkDecodeError(`netlink error: echoed request of ${origLen} bytes is cut short`);
    const tlvs = attrMap(m.payload.subarray(4 + skip), "netlink extended ack");
    const msg = tlvs.get(NLMSGERR_ATTR_MSG);
    const offs = tlvs.get(NLMSGERR_ATTR_OFFS);
    res = { ...res, ...(msg ? { extack: getStr(msg) } : {}), ...(offs ? { offset: getU32(offs, "netlink extended ack offset") } : {}) };
  }
  return res;
}
