// libubox's blob_attr, the container under ubus messages and blobmsg:
// a big-endian u32 header (bit 31 "extended", bits 24-30 id, bits 0-23 the
// length including the 4-byte header), the payload, then zero padding to a
// multiple of 4. A container's payload is its children, each padded, so a
// container's length always counts its children's padding.

export const BLOB_HDR_LEN = 4;
const BLOB_ATTR_EXTENDED = 0x80000000;
const ID_MASK = 0x7f000000;
const ID_SHIFT = 24;
const BLOB_ATTR_LEN_MASK = 0x00ffffff;

export interface BlobAttr {
  readonly id: number;
  readonly extended: boolean;
  /** The bytes after the header, without padding. */
  readonly payload: Uint8Array;
}

export function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** One attribute, padded: header, payload, zeros to the next multiple of 4. */
export function encodeBlobAttr(id: number, payload: Uint8Array, extended = false): Uint8Array {
  if (!Number.isInteger(id) || id < 0 || id > 0x7f) throw new Error(`blob: attribute id ${id} is outside 0..127`);
  const raw = BLOB_HDR_LEN + payload.length;
  if (raw > BLOB_ATTR_LEN_MASK) throw new Error(`blob: attribute ${id} of ${raw} bytes exceeds the 24-bit length field`);
  const out = new Uint8Array(pad4(raw));
  writeU32(out, 0, ((extended ? BLOB_ATTR_EXTENDED : 0) | (id << ID_SHIFT) | raw) >>> 0);
  out.set(payload, BLOB_HDR_LEN);
  return out;
}

/** The header of the attribute at `offset`; throws if it does not fit in `buf`. */
export function readBlobHeader(buf: Uint8Array, offset: number, what: string): { id: number; extended: boolean; rawLen: number } {
  if (buf.length - offset < BLOB_HDR_LEN) {
    throw new Error(`${what}: truncated attribute header at offset ${offset} (${buf.length - offset} of 4 bytes)`);
  }
  const idLen = readU32(buf, offset);
  const rawLen = idLen & BLOB_ATTR_LEN_MASK;
  const id = (idLen & ID_MASK) >>> ID_SHIFT;
  if (rawLen < BLOB_HDR_LEN) throw new Error(`${what}: attribute ${id} at offset ${offset} has length ${rawLen}, less than its own header`);
  return { id, extended: (idLen & BLOB_ATTR_EXTENDED) !== 0, rawLen };
}

/**
 * The attributes that make up a container's payload. Stricter than libubox,
 * which stops silently at the first attribute that does not fit: here every
 * byte must belong to a whole, padded attribute.
 */
export function parseBlobAttrs(buf: Uint8Array, what: string): BlobAttr[] {
  const out: BlobAttr[] = [];
  let o = 0;
  while (o < buf.length) {
    const { id, extended, rawLen } = readBlobHeader(buf, o, what);
    const rem = buf.length - o;
    if (rawLen > rem) throw new Error(`${what}: attribute ${id} at offset ${o} claims ${rawLen} bytes, only ${rem} remain`);
    if (pad4(rawLen) > rem) {
      throw new Error(`${what}: attribute ${id} at offset ${o} is misaligned: its padding to ${pad4(rawLen)} bytes runs past the end (${rem} remain)`);
    }
    out.push({ id, extended, payload: buf.subarray(o + BLOB_HDR_LEN, o + rawLen) });
    o += pad4(rawLen);
  }
  return out;
}

export function readU32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

export function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

export function u32Bytes(v: number): Uint8Array {
  const b = new Uint8Array(4);
  writeU32(b, 0, v >>> 0);
  return b;
}
