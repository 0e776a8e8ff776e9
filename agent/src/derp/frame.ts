// DERP frames (Tailscale's derp package): a type byte, a big-endian u32
// length, the payload. The relay addresses peers by node key.
export const FRAME_SERVER_KEY = 0x01;
export const FRAME_CLIENT_INFO = 0x02;
export const FRAME_SERVER_INFO = 0x03;
export const FRAME_SEND_PACKET = 0x04;
export const FRAME_RECV_PACKET = 0x05;
export const FRAME_KEEP_ALIVE = 0x06;
export const FRAME_NOTE_PREFERRED = 0x07;
export const FRAME_PEER_GONE = 0x08;
export const FRAME_PEER_PRESENT = 0x09;
export const FRAME_PING = 0x12;
export const FRAME_PONG = 0x13;
export const FRAME_HEALTH = 0x14;
export const FRAME_RESTARTING = 0x15;

export const MAGIC = Uint8Array.of(0x44, 0x45, 0x52, 0x50, 0xf0, 0x9f, 0x94, 0x91); // "DERP🔑"
export const PROTOCOL_VERSION = 2;
export const KEY_LEN = 32;
export const NONCE_LEN = 24;
export const MAX_PACKET = 64 << 10;
export const FRAME_HEADER_LEN = 5;
/** Larger than any frame a relay sends (a packet plus its key). */
export const MAX_FRAME = MAX_PACKET + KEY_LEN + 1024;

export interface Frame {
  readonly type: number;
  readonly payload: Uint8Array;
}

/** A packet for `dst`, framed: the one frame sent per relayed packet, built with one allocation. */
export function encodeSendPacket(dst: Uint8Array, data: Uint8Array): Uint8Array {
  const len = KEY_LEN + data.length;
  const f = new Uint8Array(FRAME_HEADER_LEN + len);
  f[0] = FRAME_SEND_PACKET;
  f[1] = len >>> 24;
  f[2] = (len >>> 16) & 0xff;
  f[3] = (len >>> 8) & 0xff;
  f[4] = len & 0xff;
  f.set(dst, FRAME_HEADER_LEN);
  f.set(data, FRAME_HEADER_LEN + KEY_LEN);
  return f;
}

/** What a SendPacket frame puts before its packet: the frame header and the destination key. */
export const SEND_PACKET_HEAD = FRAME_HEADER_LEN + KEY_LEN;

/**
 * Writes a SendPacket frame's head at `off` for `len` packet bytes that are
 * already in place after it: a packet read straight into a frame buffer is
 * framed with no copy.
 */
export function putSendPacketHead(f: Uint8Array, off: number, dst: Uint8Array, len: number): void {
  const n = KEY_LEN + len;
  f[off] = FRAME_SEND_PACKET;
  f[off + 1] = n >>> 24;
  f[off + 2] = (n >>> 16) & 0xff;
  f[off + 3] = (n >>> 8) & 0xff;
  f[off + 4] = n & 0xff;
  f.set(dst, off + FRAME_HEADER_LEN);
}

export function encodeFrame(type: number, ...parts: Uint8Array[]): Uint8Array {
  const len = parts.reduce((n, p) => n + p.length, 0);
  const f = new Uint8Array(FRAME_HEADER_LEN + len);
  f[0] = type;
  new DataView(f.buffer).setUint32(1, len, false);
  let o = FRAME_HEADER_LEN;
  for (const p of parts) {
    f.set(p, o);
    o += p.length;
  }
  return f;
}

export class DerpFrameError extends Error {}

/**
 * Splits a byte stream into frames. Payloads are views into the bytes given
 * (each chunk a stream delivers is its own): no copy per relayed packet.
 * Only a frame cut across chunks is copied, once, when it is completed.
 */
export class FrameReader {
  /** The start of a frame the last chunk cut short. */
  private buf: Uint8Array = new Uint8Array(0);

  push(bytes: Uint8Array): Frame[] {
    const out: Frame[] = [];
    this.each(bytes, (type, b, start, end) => void out.push({ type, payload: b.subarray(start, end) }));
    return out;
  }

  /**
   * Calls `fn` for each whole frame with its type and where its payload is:
   * `b` from `start` to `end`, no view or object made per frame (the relayed
   * packets' path: the caller makes only the views it needs).
   */
  each(bytes: Uint8Array, fn: (type: number, b: Uint8Array, start: number, end: number) => void): void {
    let off = 0;
    if (this.buf.length) {
      // Only the cut frame is put together: its missing bytes copied, the rest of the chunk read in place.
      const have = this.buf;
      const at = (i: number) => (i < have.length ? have[i]! : bytes[i - have.length]!);
      const total = have.length + bytes.length >= FRAME_HEADER_LEN ? FRAME_HEADER_LEN + frameLength(at(0), at(1), at(2), at(3), at(4)) : Infinity;
      if (have.length + bytes.length < total) {
        this.buf = concat(have, bytes);
        return;
      }
      const f = concat(have, bytes.subarray(0, total - have.length));
      off = total - have.length;
      // Kept first: `fn` may throw, and the rest of the chunk must not be read as a frame's start.
      this.buf = EMPTY;
      fn(f[0]!, f, FRAME_HEADER_LEN, f.length);
    }
    const b = bytes;
    while (b.length - off >= FRAME_HEADER_LEN) {
      const len = frameLength(b[off]!, b[off + 1]!, b[off + 2]!, b[off + 3]!, b[off + 4]!);
      if (b.length - off < FRAME_HEADER_LEN + len) break;
      const start = off + FRAME_HEADER_LEN;
      off = start + len;
      fn(b[start - FRAME_HEADER_LEN]!, b, start, off);
    }
    // The unfinished rest is copied: the caller may reuse what it gave us.
    this.buf = off === b.length ? EMPTY : b.slice(off);
  }
}

const EMPTY = new Uint8Array(0);

/** A frame's payload length from its header's bytes; a frame above MAX_FRAME is refused. */
function frameLength(type: number, b1: number, b2: number, b3: number, b4: number): number {
  const len = ((b1 << 24) >>> 0) + (b2 << 16) + (b3 << 8) + b4;
  if (len > MAX_FRAME) throw new DerpFrameError(`derp: frame type ${type} of ${len} bytes, above ${MAX_FRAME}`);
  return len;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const c = new Uint8Array(a.length + b.length);
  c.set(a);
  c.set(b, a.length);
  return c;
}
