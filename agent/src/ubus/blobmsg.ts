// libubox's blobmsg: blob attributes with the "extended" bit and a name
// header (u16 BE name length, the name, NUL, zero padding to 4 bytes).
// JS values map as libubox's blobmsg_json does (blobmsg_add_json_element and
// blobmsg_format_json): booleans are INT8, integers INT32 when they fit and
// INT64 otherwise, other numbers DOUBLE, null UNSPEC; back, INT8 is a boolean
// and INT16/32/64 are numbers. An INT64 beyond 2^53 decodes to a bigint so
// that no digit is lost (and bigints encode as integers).
import { concat } from "../util/bytes.js";
import { utf8Decode, utf8Encode } from "../util/utf8.js";
import { encodeBlobAttr, parseBlobAttrs, pad4, readU32, writeU32, type BlobAttr } from "./blob.js";

export const BLOBMSG_TYPE = {
  UNSPEC: 0,
  ARRAY: 1,
  TABLE: 2,
  STRING: 3,
  INT64: 4,
  INT32: 5,
  INT16: 6,
  INT8: 7,
  BOOL: 7,
  DOUBLE: 8,
} as const;
const TYPE_LAST = 8;
const TYPE_NAMES = ["UNSPEC", "ARRAY", "TABLE", "STRING", "INT64", "INT32", "INT16", "INT8", "DOUBLE"];

export type BlobmsgValue = null | boolean | number | bigint | string | BlobmsgValue[] | BlobmsgTable;
export interface BlobmsgTable {
  [key: string]: BlobmsgValue;
}

/** Deeper than any real message; bounds recursion on hostile input. */
export const BLOBMSG_MAX_DEPTH = 64;

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** The payload of a table (or of ubus's DATA attribute): one named attribute per own enumerable key. */
export function encodeBlobmsgTable(obj: object, path = "$", depth = 0): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [k, v] of Object.entries(obj)) {
    if (v === undefined) continue; // as JSON.stringify leaves it out
    if (k === "") throw new Error(`blobmsg: ${path} has an empty key, which a table entry cannot carry`);
    parts.push(encodeBlobmsg(k, v, `${path}.${k}`, depth + 1));
  }
  return concat(...parts);
}

/** One blobmsg attribute (padded) named `name` ("" inside arrays). */
export function encodeBlobmsg(name: string, value: unknown, path = "$", depth = 0): Uint8Array {
  if (depth > BLOBMSG_MAX_DEPTH) throw new Error(`blobmsg: ${path} is nested deeper than ${BLOBMSG_MAX_DEPTH} levels`);
  const [type, data] = encodeData(value, path, depth);
  const nameBytes = utf8Encode(name);
  if (nameBytes.length > 0xffff) throw new Error(`blobmsg: ${path} has a name of ${nameBytes.length} bytes, over 65535`);
  if (nameBytes.includes(0)) throw new Error(`blobmsg: ${path} has a NUL in its name`);
  const hdr = new Uint8Array(pad4(2 + nameBytes.length + 1));
  hdr[0] = nameBytes.length >> 8;
  hdr[1] = nameBytes.length & 0xff;
  hdr.set(nameBytes, 2);
  return encodeBlobAttr(type, concat(hdr, data), true);
}

function encodeData(v: unknown, path: string, depth: number): [number, Uint8Array] {
  if (v === null) return [BLOBMSG_TYPE.UNSPEC, new Uint8Array(0)];
  switch (typeof v) {
    case "boolean":
      return [BLOBMSG_TYPE.INT8, Uint8Array.of(v ? 1 : 0)];
    case "string": {
      if (v.includes("\0")) throw new Error(`blobmsg: ${path} is a string with a NUL, which C readers would cut short`);
      return [BLOBMSG_TYPE.STRING, concat(utf8Encode(v), Uint8Array.of(0))];
    }
    case "number":
      if (Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX) return [BLOBMSG_TYPE.INT32, int32(v)];
      if (Number.isInteger(v) && v >= -(2 ** 63) && v < 2 ** 63) return [BLOBMSG_TYPE.INT64, int64(BigInt(v))];
      return [BLOBMSG_TYPE.DOUBLE, float64(v)];
    case "bigint":
      if (v < INT64_MIN || v > INT64_MAX) throw new Error(`blobmsg: ${path} = ${v} does not fit in a signed 64-bit integer`);
      if (v >= BigInt(INT32_MIN) && v <= BigInt(INT32_MAX)) return [BLOBMSG_TYPE.INT32, int32(Number(v))];
      return [BLOBMSG_TYPE.INT64, int64(v)];
    case "object": {
      if (Array.isArray(v)) {
        // An undefined element becomes null, as JSON.stringify writes it.
        const parts = v.map((e, i) => encodeBlobmsg("", e === undefined ? null : e, `${path}[${i}]`, depth + 1));
        return [BLOBMSG_TYPE.ARRAY, concat(...parts)];
      }
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) {
        throw new Error(`blobmsg: ${path} is a ${proto?.constructor?.name ?? "non-plain object"}, not a plain object`);
      }
      return [BLOBMSG_TYPE.TABLE, encodeBlobmsgTable(v, path, depth)];
    }
    default:
      throw new Error(`blobmsg: ${path} is ${typeof v}, which has no blobmsg form`);
  }
}

function int32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  writeU32(b, 0, v >>> 0);
  return b;
}

function int64(v: bigint): Uint8Array {
  const u = BigInt.asUintN(64, v);
  const b = new Uint8Array(8);
  writeU32(b, 0, Number(u >> 32n));
  writeU32(b, 4, Number(u & 0xffffffffn));
  return b;
}

function float64(v: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, v, false);
  return b;
}

/** A table's payload back to an object; every entry must carry a name. */
export function decodeBlobmsgTable(payload: Uint8Array, path = "$", depth = 0): BlobmsgTable {
  if (depth > BLOBMSG_MAX_DEPTH) throw new Error(`blobmsg: ${path} is nested deeper than ${BLOBMSG_MAX_DEPTH} levels`);
  const out: BlobmsgTable = {};
  for (const a of parseBlobAttrs(payload, `blobmsg: ${path}`)) {
    const { name, value } = decodeBlobmsgAttr(a, true, path, depth);
    // defineProperty, so that a key "__proto__" is data and not the prototype.
    Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** An array's payload back to an array; names, if any, are ignored. */
export function decodeBlobmsgArray(payload: Uint8Array, path = "$", depth = 0): BlobmsgValue[] {
  if (depth > BLOBMSG_MAX_DEPTH) throw new Error(`blobmsg: ${path} is nested deeper than ${BLOBMSG_MAX_DEPTH} levels`);
  return parseBlobAttrs(payload, `blobmsg: ${path}`).map((a, i) => decodeBlobmsgAttr(a, false, `${path}[${i}]`, depth).value);
}

/**
 * One attribute, checked as libubox's blobmsg_check_attr_len does: a sound
 * name header (required when `named`), a known type, and the exact size of
 * fixed-size types. `path` is where its parent is, for errors.
 */
export function decodeBlobmsgAttr(a: BlobAttr, named: boolean, parentPath: string, depth: number): { name: string; value: BlobmsgValue } {
  let name = "";
  let data = a.payload;
  let path = parentPath;
  if (a.extended) {
    const p = a.payload;
    if (p.length < 2) throw new Error(`blobmsg: ${parentPath}: truncated name header (${p.length} of 2 bytes)`);
    const namelen = (p[0]! << 8) | p[1]!;
    const hdrlen = pad4(2 + namelen + 1);
    if (p.length < hdrlen) throw new Error(`blobmsg: ${parentPath}: a name of ${namelen} bytes runs past its attribute (${p.length} bytes)`);
    if (p[2 + namelen] !== 0) throw new Error(`blobmsg: ${parentPath}: a name of ${namelen} bytes is not NUL-terminated`);
    if (named && namelen === 0) throw new Error(`blobmsg: ${parentPath}: a table entry has an empty name`);
    const raw = p.subarray(2, 2 + namelen);
    const nul = raw.indexOf(0);
    name = utf8Decode(nul < 0 ? raw : raw.subarray(0, nul)); // C reads names up to the first NUL
    data = p.subarray(hdrlen);
    if (named) path = `${parentPath}.${name}`;
  } else if (named) {
    throw new Error(`blobmsg: ${parentPath}: a table entry (type ${a.id}) has no name header`);
  }
  if (a.id > TYPE_LAST) throw new Error(`blobmsg: ${path}: unknown type ${a.id}`);
  const need = (n: number, exact: boolean) => {
    if (exact ? data.length !== n : data.length < n) {
      throw new Error(`blobmsg: ${path}: ${TYPE_NAMES[a.id]} needs ${exact ? "" : "at least "}${n} bytes, has ${data.length}`);
    }
  };
  let value: BlobmsgValue;
  switch (a.id) {
    case BLOBMSG_TYPE.UNSPEC:
      value = null;
      break;
    case BLOBMSG_TYPE.ARRAY:
      value = decodeBlobmsgArray(data, path, depth + 1);
      break;
    case BLOBMSG_TYPE.TABLE:
      value = decodeBlobmsgTable(data, path, depth + 1);
      break;
    case BLOBMSG_TYPE.STRING: {
      need(1, false);
      if (data[data.length - 1] !== 0) throw new Error(`blobmsg: ${path}: STRING is not NUL-terminated`);
      value = utf8Decode(data.subarray(0, data.indexOf(0))); // C reads strings up to the first NUL
      break;
    }
    case BLOBMSG_TYPE.INT64: {
      need(8, true);
      const v = BigInt.asIntN(64, (BigInt(readU32(data, 0)) << 32n) | BigInt(readU32(data, 4)));
      value = v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      break;
    }
    case BLOBMSG_TYPE.INT32:
      need(4, true);
      value = readU32(data, 0) | 0;
      break;
    case BLOBMSG_TYPE.INT16:
      need(2, true);
      value = (((data[0]! << 8) | data[1]!) << 16) >> 16;
      break;
    case BLOBMSG_TYPE.INT8:
      need(1, true);
      value = data[0] !== 0;
      break;
    default: // DOUBLE: libubox checks only a minimum length here
      need(8, false);
      value = new DataView(data.buffer, data.byteOffset, 8).getFloat64(0, false);
  }
  return { name, value };
}
