// An HTTP/2 client connection (RFC 9113) for the ts2021 control channel:
// prior knowledge, requests with small bodies, long streamed responses, flow
// control both ways, SETTINGS, PING and GOAWAY. Pure: bytes in through
// receive(), bytes out through the send function.
import {
  CANCEL,
  CONTINUATION,
  DATA,
  DEFAULT_MAX_FRAME,
  DEFAULT_WINDOW,
  encodeFrame,
  FLAG_ACK,
  FLAG_END_HEADERS,
  FLAG_END_STREAM,
  FLAG_PADDED,
  FLAG_PRIORITY,
  type Frame,
  FRAME_HEADER_LEN,
  GOAWAY,
  HEADERS,
  PING,
  PREFACE,
  PRIORITY,
  PUSH_PROMISE,
  RST_STREAM,
  SETTINGS,
  SETTINGS_ENABLE_PUSH,
  SETTINGS_HEADER_TABLE_SIZE,
  SETTINGS_INITIAL_WINDOW_SIZE,
  SETTINGS_MAX_FRAME_SIZE,
  settingsPayload,
  u32,
  WINDOW_UPDATE,
} from "./frame.js";
import { concat } from "../util/bytes.js";
import { type Header, HpackDecoder, HpackError, hpackEncode } from "./hpack.js";

/** A connection-level protocol error: the connection cannot go on. */
export class H2Error extends Error {}

/** Our receive window, per stream and for the connection: a big netmap arrives without stalls. */
const RECV_WINDOW = 1 << 20;
/** A header block's limit: CONTINUATION frames without END_HEADERS must not grow it without end. */
export const MAX_HEADER_BLOCK = 64 << 10;

export interface Response {
  readonly status: number;
  readonly headers: readonly Header[];
}

export class Stream {
  onResponse: (r: Response) => void = () => {};
  onData: (chunk: Uint8Array) => void = () => {};
  onEnd: () => void = () => {};
  onError: (e: Error) => void = () => {};
  /** Data waiting for send window. */
  queue: Uint8Array[] = [];
  endAfterQueue = false;
  sendWindow: number;
  recvUnacked = 0;
  gotHeaders = false;
  closed = false;

  constructor(
    readonly id: number,
    private readonly conn: H2Connection,
    sendWindow: number,
  ) {
    this.sendWindow = sendWindow;
  }

  /** Sends request body bytes; `end` closes our side. */
  write(data: Uint8Array, end = false): void {
    this.queue.push(data);
    this.endAfterQueue = end;
    this.conn.flush();
  }

  cancel(): void {
    this.conn.reset(this, CANCEL);
  }
}

export class H2Connection {
  private readonly decoder = new HpackDecoder(4096);
  private readonly streams = new Map<number, Stream>();
  private nextId = 1;
  private buf: Uint8Array = new Uint8Array(0);
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrame = DEFAULT_MAX_FRAME;
  private sendWindow = DEFAULT_WINDOW;
  private recvUnacked = 0;
  private headerBlock: { stream: number; end: boolean; parts: Uint8Array[]; size: number } | undefined;
  private goneAway = false;

  onGoaway: (lastStream: number, code: number, debug: string) => void = () => {};
  onPingAck: (payload: Uint8Array) => void = () => {};

  constructor(private readonly send: (bytes: Uint8Array) => void) {}

  /** The client preface, our SETTINGS, and a bigger connection window. */
  start(): void {
    this.send(PREFACE);
    this.send(
      encodeFrame(SETTINGS, 0, 0, settingsPayload([[SETTINGS_ENABLE_PUSH, 0], [SETTINGS_INITIAL_WINDOW_SIZE, RECV_WINDOW], [SETTINGS_HEADER_TABLE_SIZE, 4096]])),
    );
    this.send(encodeFrame(WINDOW_UPDATE, 0, 0, u32(RECV_WINDOW - DEFAULT_WINDOW)));
  }

  get activeStreams(): number {
    return this.streams.size;
  }

  request(method: string, authority: string, path: string, headers: readonly Header[], body?: Uint8Array): Stream {
    if (this.goneAway) throw new H2Error("http2: connection is going away");
    const s = new Stream(this.nextId, this, this.peerInitialWindow);
    this.nextId += 2;
    this.streams.set(s.id, s);
    const block = hpackEncode([[":method", method], [":scheme", "http"], [":authority", authority], [":path", path], ...headers]);
    const endStream = !body || body.length === 0;
    this.sendHeaderBlock(s.id, block, endStream);
    if (!endStream) s.write(body!, true);
    return s;
  }

  ping(payload: Uint8Array): void {
    if (payload.length !== 8) throw new Error("http2: PING payload must be 8 bytes");
    this.send(encodeFrame(PING, 0, 0, payload));
  }

  /** Feeds received bytes. Throws H2Error on a protocol violation. */
  receive(bytes: Uint8Array): void {
    this.buf = this.buf.length ? concat(this.buf, bytes) : bytes;
    let off = 0;
    while (this.buf.length - off >= FRAME_HEADER_LEN) {
      const len = (this.buf[off]! << 16) | (this.buf[off + 1]! << 8) | this.buf[off + 2]!;
      if (len > DEFAULT_MAX_FRAME) throw new H2Error(`http2: frame of ${len} bytes, above our limit ${DEFAULT_MAX_FRAME}`);
      if (this.buf.length - off < FRAME_HEADER_LEN + len) break;
      const v = new DataView(this.buf.buffer, this.buf.byteOffset + off);
      const frame: Frame = {
        type: this.buf[off + 3]!,
        flags: this.buf[off + 4]!,
        stream: v.getUint32(5, false) & 0x7fffffff,
        payload: this.buf.slice(off + FRAME_HEADER_LEN, off + FRAME_HEADER_LEN + len),
      };
      off += FRAME_HEADER_LEN + len;
      this.handle(frame);
    }
    this.buf = this.buf.subarray(off);
  }

  /** Fails every stream (the connection closed or broke). */
  failAll(err: Error): void {
    const all = [...this.streams.values()];
    this.streams.clear();
    for (const s of all) {
      s.closed = true;
      s.onError(err);
    }
  }

  flush(): void {
    for (const s of this.streams.values()) {
      while (s.queue.length) {
        const head = s.queue[0]!;
        const n = Math.min(head.length, s.sendWindow, this.sendWindow, this.peerMaxFrame);
        if (n <= 0 && head.length > 0) break;
        const last = n === head.length && s.queue.length === 1;
        this.send(encodeFrame(DATA, last && s.endAfterQueue ? FLAG_END_STREAM : 0, s.id, head.subarray(0, n)));
        s.sendWindow -= n;
        this.sendWindow -= n;
        if (n === head.length) s.queue.shift();
        else s.queue[0] = head.subarray(n);
      }
    }
  }

  reset(s: Stream, code: number): void {
    if (!this.streams.has(s.id)) return;
    this.streams.delete(s.id);
    s.closed = true;
    this.send(encodeFrame(RST_STREAM, 0, s.id, u32(code)));
  }

  private sendHeaderBlock(id: number, block: Uint8Array, endStream: boolean): void {
    const max = this.peerMaxFrame;
    const first = block.subarray(0, max);
    const flags = (endStream ? FLAG_END_STREAM : 0) | (block.length <= max ? FLAG_END_HEADERS : 0);
    this.send(encodeFrame(HEADERS, flags, id, first));
    for (let off = max; off < block.length; off += max) {
      this.send(encodeFrame(CONTINUATION, off + max >= block.length ? FLAG_END_HEADERS : 0, id, block.subarray(off, off + max)));
    }
  }

  private handle(f: Frame): void {
    if (this.headerBlock && f.type !== CONTINUATION) throw new H2Error(`http2: frame type ${f.type} inside a header block`);
    switch (f.type) {
      case DATA:
        return this.onDataFrame(f);
      case HEADERS: {
        let p = unpad(f);
        if (f.flags & FLAG_PRIORITY) {
          if (p.length < 5) throw new H2Error("http2: HEADERS priority fields cut short");
          p = p.subarray(5);
        }
        this.headerBlock = { stream: f.stream, end: (f.flags & FLAG_END_STREAM) !== 0, parts: [p], size: p.length };
        if (f.flags & FLAG_END_HEADERS) this.endHeaderBlock();
        return;
      }
      case CONTINUATION:
        if (!this.headerBlock || this.headerBlock.stream !== f.stream) throw new H2Error("http2: CONTINUATION without HEADERS");
        this.headerBlock.size += f.payload.length;
        if (this.headerBlock.size > MAX_HEADER_BLOCK) throw new H2Error(`http2: header block of stream ${f.stream} above ${MAX_HEADER_BLOCK} bytes`);
        this.headerBlock.parts.push(f.payload);
        if (f.flags & FLAG_END_HEADERS) this.endHeaderBlock();
        return;
      case PRIORITY:
        return;
      case RST_STREAM: {
        const s = this.streams.get(f.stream);
        if (f.payload.length !== 4) throw new H2Error("http2: RST_STREAM of wrong size");
        if (s) {
          this.streams.delete(f.stream);
          s.closed = true;
          s.onError(new Error(`http2: stream ${f.stream} reset by the server (code ${readU32(f.payload, 0)})`));
        }
        return;
      }
      case SETTINGS:
        return this.onSettings(f);
      case PUSH_PROMISE:
        throw new H2Error("http2: PUSH_PROMISE although we disabled push");
      case PING:
        if (f.payload.length !== 8 || f.stream !== 0) throw new H2Error("http2: bad PING");
        if (f.flags & FLAG_ACK) this.onPingAck(f.payload);
        else this.send(encodeFrame(PING, FLAG_ACK, 0, f.payload));
        return;
      case GOAWAY: {
        if (f.payload.length < 8) throw new H2Error("http2: GOAWAY cut short");
        const last = readU32(f.payload, 0) & 0x7fffffff;
        const code = readU32(f.payload, 4);
        this.goneAway = true;
        for (const [id, s] of this.streams) {
          if (id > last) {
            this.streams.delete(id);
            s.closed = true;
            s.onError(new Error(`http2: server going away (code ${code}) before stream ${id}`));
          }
        }
        this.onGoaway(last, code, String.fromCharCode(...f.payload.subarray(8, 8 + 256)));
        return;
      }
      case WINDOW_UPDATE: {
        if (f.payload.length !== 4) throw new H2Error("http2: WINDOW_UPDATE of wrong size");
        const inc = readU32(f.payload, 0) & 0x7fffffff;
        if (f.stream === 0) {
          if (inc === 0) throw new H2Error("http2: zero connection window increment");
          this.sendWindow += inc;
          if (this.sendWindow > 0x7fffffff) throw new H2Error("http2: connection window overflow");
        } else {
          const s = this.streams.get(f.stream);
          if (s) s.sendWindow += inc;
        }
        this.flush();
        return;
      }
      default:
        return; // unknown frame types are ignored (RFC 9113, 4.1)
    }
  }

  private onSettings(f: Frame): void {
    if (f.stream !== 0) throw new H2Error("http2: SETTINGS on a stream");
    if (f.flags & FLAG_ACK) return;
    if (f.payload.length % 6) throw new H2Error("http2: SETTINGS length not a multiple of 6");
    const v = new DataView(f.payload.buffer, f.payload.byteOffset, f.payload.byteLength);
    for (let i = 0; i < f.payload.length; i += 6) {
      const id = v.getUint16(i, false);
      const value = v.getUint32(i + 2, false);
      if (id === SETTINGS_INITIAL_WINDOW_SIZE) {
        if (value > 0x7fffffff) throw new H2Error("http2: initial window above 2^31-1");
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const s of this.streams.values()) s.sendWindow += delta;
      } else if (id === SETTINGS_MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME || value > 0xffffff) throw new H2Error(`http2: bad max frame size ${value}`);
        this.peerMaxFrame = value;
      }
    }
    this.send(encodeFrame(SETTINGS, FLAG_ACK, 0));
    this.flush();
  }

  private onDataFrame(f: Frame): void {
    const s = this.streams.get(f.stream);
    // Flow control counts the whole payload, padding included.
    this.recvUnacked += f.payload.length;
    if (this.recvUnacked >= RECV_WINDOW / 2) {
      this.send(encodeFrame(WINDOW_UPDATE, 0, 0, u32(this.recvUnacked)));
      this.recvUnacked = 0;
    }
    if (!s) return; // a stream we reset: its data still counted for the connection
    const data = unpad(f);
    s.recvUnacked += f.payload.length;
    if (data.length) s.onData(data);
    if (f.flags & FLAG_END_STREAM) {
      this.streams.delete(s.id);
      s.closed = true;
      s.onEnd();
    } else if (s.recvUnacked >= RECV_WINDOW / 2) {
      this.send(encodeFrame(WINDOW_UPDATE, 0, s.id, u32(s.recvUnacked)));
      s.recvUnacked = 0;
    }
  }

  private endHeaderBlock(): void {
    const hb = this.headerBlock!;
    this.headerBlock = undefined;
    let headers: Header[];
    try {
      // Decoded even for unknown streams: the HPACK table is per connection.
      headers = this.decoder.decode(concat(...hb.parts));
    } catch (e) {
      throw new H2Error(e instanceof HpackError ? e.message : `hpack: ${String(e)}`);
    }
    const s = this.streams.get(hb.stream);
    if (!s) return;
    if (!s.gotHeaders) {
      const status = headers.find(([n]) => n === ":status");
      if (!status || !/^\d{3}$/.test(status[1])) {
        this.reset(s, 1);
        s.onError(new Error(`http2: stream ${s.id}: response without a valid :status`));
        return;
      }
      s.gotHeaders = true;
      s.onResponse({ status: Number(status[1]), headers: headers.filter(([n]) => !n.startsWith(":")) });
    }
    if (hb.end) {
      this.streams.delete(s.id);
      s.closed = true;
      s.onEnd();
    }
  }
}

function unpad(f: Frame): Uint8Array {
  if (!(f.flags & FLAG_PADDED)) return f.payload;
  if (f.payload.length < 1) throw new H2Error("http2: padded frame without pad length");
  const pad = f.payload[0]!;
  if (pad >= f.payload.length) throw new H2Error("http2: padding longer than the frame");
  return f.payload.subarray(1, f.payload.length - pad);
}

const readU32 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at, false);

