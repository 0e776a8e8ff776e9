// Base64 (RFC 4648, with padding): the X-Tailscale-Handshake header, and
// WireGuard's key text form.
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

export function base64Encode(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 3) {
    const n = (b[i]! << 16) | ((b[i + 1] ?? 0) << 8) | (b[i + 2] ?? 0);
    s += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + (i + 1 < b.length ? ALPHABET[(n >> 6) & 63]! : "=") + (i + 2 < b.length ? ALPHABET[n & 63]! : "=");
  }
  return s;
}

export function base64Decode(s: string): Uint8Array {
  const out: number[] = [];
  let acc = 0, bits = 0;
  for (const ch of s.replace(/=+$/, "")) {
    const v = ALPHABET.indexOf(ch);
    if (v < 0) throw new Error(`base64: bad character ${JSON.stringify(ch)}`);
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  return Uint8Array.from(out);
}
