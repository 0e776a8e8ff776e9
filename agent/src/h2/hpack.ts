// HPACK (RFC 7541): header compression for HTTP/2. The decoder is complete
// (static and dynamic tables, size updates, Huffman); the encoder sends
// literals without indexing, which every server accepts and keeps our state
// small.
import { latin1 } from "../util/bytes.js";
import { huffmanDecode, huffmanEncode } from "./huffman.js";

export type Header = readonly [name: string, value: string];

// prettier-ignore
const STATIC: Header[] = [
  [":authority", ""], [":method", "GET"], [":method", "POST"], [":path", "/"], [":path", "/index.html"],
  [":scheme", "http"], [":scheme", "https"], [":status", "200"], [":status", "204"], [":status", "206"],
  [":status", "304"], [":status", "400"], [":status", "404"], [":status", "500"], ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"], ["accept-language", ""], ["accept-ranges", ""], ["accept", ""],
  ["access-control-allow-origin", ""], ["age", ""], ["allow", ""], ["authorization", ""], ["cache-control", ""],
  ["content-disposition", ""], ["content-encoding", ""], ["content-language", ""], ["content-length", ""],
  ["content-location", ""], ["content-range", ""], ["content-type", ""], ["cookie", ""], ["date", ""],
  ["etag", ""], ["expect", ""], ["expires", ""], ["from", ""], ["host", ""], ["if-match", ""],
  ["if-modified-since", ""], ["if-none-match", ""], ["if-range", ""], ["if-unmodified-since", ""],
  ["last-modified", ""], ["link", ""], ["location", ""], ["max-forwards", ""], ["proxy-authenticate", ""],
  ["proxy-authorization", ""], ["range", ""], ["referer", ""], ["refresh", ""], ["retry-after", ""],
  ["server", ""], ["set-cookie", ""], ["strict-transport-security", ""], ["transfer-encoding", ""],
  ["user-agent", ""], ["vary", ""], ["via", ""], ["www-authenticate", ""],
];

export class HpackError extends Error {}

const ENTRY_OVERHEAD = 32;

export class HpackDecoder {
  private table: Header[] = []; // newest first
  private size = 0;
  private maxSize: number;

  /** `limit` is the table size we announced in SETTINGS_HEADER_TABLE_SIZE. */
  constructor(private readonly limit = 4096) {
    this.maxSize = limit;
  }

  decode(block: Uint8Array): Header[] {
    const out: Header[] = [];
    let pos = 0;
    const int = (prefixBits: number): number => {
      if (pos >= block.length) throw new HpackError("hpack: truncated integer");
      const mask = (1 << prefixBits) - 1;
      let v = block[pos++]! & mask;
      if (v < mask) return v;
      let m = 0;
      for (;;) {
        if (pos >= block.length) throw new HpackError("hpack: truncated integer");
        const b = block[pos++]!;
        v += (b & 0x7f) * 2 ** m;
        m += 7;
        if (v > 0xffffff) throw new HpackError("hpack: integer too large");
        if (!(b & 0x80)) return v;
      }
    };
    const str = (): string => {
      if (pos >= block.length) throw new HpackError("hpack: truncated string");
      const huff = (block[pos]! & 0x80) !== 0;
      const len = int(7);
      if (pos + len > block.length) throw new HpackError(`hpack: string of ${len} bytes, ${block.length - pos} left`);
      let raw = block.subarray(pos, pos + len);
      pos += len;
      if (huff) {
        try {
          raw = huffmanDecode(raw);
        } catch (e) {
          throw new HpackError((e as Error).message);
        }
      }
      return latin1(raw);
    };
    let first = true;
    while (pos < block.length) {
      const b = block[pos]!;
      if (b & 0x80) {
        out.push(this.entry(int(7)));
      } else if (b & 0x40) {
        const idx = int(6);
        const name = idx ? this.entry(idx)[0] : str();
        const h: Header = [name, str()];
        out.push(h);
        this.insert(h);
      } else if (b & 0x20) {
        if (!first && out.length > 0) throw new HpackError("hpack: table size update after a header");
        const n = int(5);
        if (n > this.limit) throw new HpackError(`hpack: table size ${n} above our limit ${this.limit}`);
        this.maxSize = n;
        this.evict();
      } else {
        // Literal without indexing (0000) or never indexed (0001).
        const idx = int(4);
        const name = idx ? this.entry(idx)[0] : str();
        out.push([name, str()]);
      }
      first = false;
    }
    return out;
  }

  private entry(idx: number): Header {
    if (idx === 0) throw new HpackError("hpack: index 0");
    if (idx <= STATIC.length) return STATIC[idx - 1]!;
    const h = this.table[idx - STATIC.length - 1];
    if (!h) throw new HpackError(`hpack: index ${idx} beyond the dynamic table (${this.table.length} entries)`);
    return h;
  }

  private insert(h: Header): void {
    this.table.unshift(h);
    this.size += h[0].length + h[1].length + ENTRY_OVERHEAD;
    this.evict();
  }

  private evict(): void {
    while (this.size > this.maxSize && this.table.length) {
      const h = this.table.pop()!;
      this.size -= h[0].length + h[1].length + ENTRY_OVERHEAD;
    }
  }
}

/** Encodes headers as literals without indexing; names from the static table where they exist. */
export function hpackEncode(headers: readonly Header[]): Uint8Array {
  const out: number[] = [];
  const int = (v: number, prefixBits: number, first: number) => {
    const mask = (1 << prefixBits) - 1;
    if (v < mask) return void out.push(first | v);
    out.push(first | mask);
    v -= mask;
    while (v >= 128) {
      out.push((v % 128) | 0x80);
      v = Math.floor(v / 128);
    }
    out.push(v);
  };
  const str = (s: string) => {
    const raw = bytesOf(s);
    const h = huffmanEncode(raw);
    const use = h.length < raw.length ? h : raw;
    int(use.length, 7, use === h ? 0x80 : 0);
    for (const b of use) out.push(b);
  };
  for (const [name, value] of headers) {
    const exact = STATIC.findIndex(([n, v]) => n === name && v === value);
    if (exact >= 0) {
      int(exact + 1, 7, 0x80);
      continue;
    }
    const idx = STATIC.findIndex(([n]) => n === name);
    int(idx + 1, 4, 0);
    if (idx < 0) str(name);
    str(value);
  }
  return Uint8Array.from(out);
}

function bytesOf(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw new HpackError(`hpack: header text outside Latin-1: ${JSON.stringify(s.slice(0, 20))}`);
    b[i] = c;
  }
  return b;
}
