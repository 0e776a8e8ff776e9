// Byte helpers shared by the protocol codecs.

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** One byte per character; for protocol text that is ASCII by definition. */
export function latin1(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 4096) s += String.fromCharCode.apply(null, Array.from(b.subarray(i, i + 4096)));
  return s;
}

export function ascii(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
}

/** Lowercase hex, 4 bytes a step (a step a byte was ~15 us a key in QuickJS: keys of 5,000 peers in a reconcile). */
export function toHex(b: Uint8Array): string {
  let s = "", i = 0;
  for (; i + 4 <= b.length; i += 4) s += (((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0).toString(16).padStart(8, "0");
  for (; i < b.length; i++) s += b[i]!.toString(16).padStart(2, "0");
  return s;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
