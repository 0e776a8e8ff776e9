// One DERP connection after the HTTP upgrade, as a pure state machine: the
// server key, our boxed ClientInfo, the server's info, then packets both
// ways, keep-alives and pings. Bytes in, events and bytes out.
import { boxOpen, boxSeal, boxSharedKey, BOX_NONCE_LEN } from "../crypto/box.js";
import { publicKeyOf } from "../crypto/keys.js";
import { ascii, bytesEqual, latin1 } from "../util/bytes.js";
import {
  DerpFrameError,
  encodeFrame,
  encodeSendPacket,
  FRAME_CLIENT_INFO,
  FRAME_HEALTH,
  FRAME_KEEP_ALIVE,
  FRAME_NOTE_PREFERRED,
  FRAME_PEER_GONE,
  FRAME_PEER_PRESENT,
  FRAME_PING,
  FRAME_PONG,
  FRAME_RECV_PACKET,
  FRAME_RESTARTING,
  FRAME_SERVER_INFO,
  FRAME_SERVER_KEY,
  FrameReader,
  KEY_LEN,
  MAGIC,
  MAX_PACKET,
  PROTOCOL_VERSION,
} from "./frame.js";

export type DerpEvent =
  | { readonly kind: "ready"; readonly serverKey: Uint8Array }
  | { readonly kind: "peer-gone"; readonly peer: Uint8Array; readonly reason: number }
  | { readonly kind: "pong"; readonly data: Uint8Array }
  | { readonly kind: "health"; readonly problem: string }
  | { readonly kind: "restarting"; readonly reconnectInMs: number; readonly tryForMs: number };

export class DerpSession {
  /**
   * Set by the user: a packet from `src`, as it is read (not an event: a relayed
   * packet makes no object beyond its two views). Both are views into the bytes
   * received: the packet goes on at once, or is copied.
   */
  onPacket: (src: Uint8Array, data: Uint8Array) => void = () => {};
  private readonly reader = new FrameReader();
  private serverKey: Uint8Array | undefined;
  private shared: Uint8Array | undefined;
  private ready = false;
  private readonly publicKey: Uint8Array;
  private events: DerpEvent[] = [];
  private readonly frame = (type: number, b: Uint8Array, start: number, end: number) => this.onFrame(type, b, start, end);

  constructor(
    private readonly nodePrivate: Uint8Array,
    private readonly nonce: () => Uint8Array,
    private readonly send: (bytes: Uint8Array) => void,
    /** Writes bytes the caller may reuse once it returns (ByteStream.writeNow); without it, a copy goes to send. */
    private readonly sendNow: (bytes: Uint8Array) => void = (b) => send(b.slice()),
  ) {
    this.publicKey = publicKeyOf(nodePrivate);
  }

  get isReady(): boolean {
    return this.ready;
  }

  /** Feeds bytes from the relay: packets go to onPacket as they are read; returns what else happened. Throws DerpFrameError on a protocol violation. */
  receive(bytes: Uint8Array): DerpEvent[] {
    const events = (this.events = []);
    this.reader.each(bytes, this.frame);
    return events;
  }

  private onFrame(type: number, b: Uint8Array, start: number, end: number): void {
    if (type === FRAME_RECV_PACKET && this.serverKey) {
      if (end - start < KEY_LEN) throw new DerpFrameError(`derp: received packet of ${end - start} bytes, shorter than a key`);
      // Views, not copies: the packet goes on to the kernel at once.
      return this.onPacket(b.subarray(start, start + KEY_LEN), b.subarray(start + KEY_LEN, end));
    }
    const p = b.subarray(start, end);
    const events = this.events;
    if (!this.serverKey) {
      if (type !== FRAME_SERVER_KEY || p.length < MAGIC.length + KEY_LEN || !bytesEqual(p.subarray(0, MAGIC.length), MAGIC)) {
        throw new DerpFrameError(`derp: want the server key first, got frame type ${type} of ${p.length} bytes`);
      }
      this.serverKey = p.slice(MAGIC.length, MAGIC.length + KEY_LEN);
      this.shared = boxSharedKey(this.nodePrivate, this.serverKey);
      const n = this.nonce();
      const info = ascii(JSON.stringify({ version: PROTOCOL_VERSION, CanAckPings: true }));
      this.send(encodeFrame(FRAME_CLIENT_INFO, this.publicKey, n, boxSeal(this.shared, n, info)));
      return;
    }
    switch (type) {
      case FRAME_SERVER_INFO: {
        if (p.length < BOX_NONCE_LEN || !boxOpen(this.shared!, p.subarray(0, BOX_NONCE_LEN), p.subarray(BOX_NONCE_LEN))) {
          throw new DerpFrameError("derp: server info does not open with the server's key");
        }
        if (!this.ready) {
          this.ready = true;
          events.push({ kind: "ready", serverKey: this.serverKey });
        }
        break;
      }
      case FRAME_PEER_GONE:
        if (p.length < KEY_LEN) throw new DerpFrameError("derp: peer-gone frame shorter than a key");
        events.push({ kind: "peer-gone", peer: p.slice(0, KEY_LEN), reason: p.length > KEY_LEN ? p[KEY_LEN]! : 0 });
        break;
      case FRAME_PING:
        if (p.length !== 8) throw new DerpFrameError(`derp: ping of ${p.length} bytes`);
        this.send(encodeFrame(FRAME_PONG, p));
        break;
      case FRAME_PONG:
        if (p.length !== 8) throw new DerpFrameError(`derp: pong of ${p.length} bytes`);
        events.push({ kind: "pong", data: p.slice() });
        break;
      case FRAME_HEALTH:
        events.push({ kind: "health", problem: latin1(p) });
        break;
      case FRAME_RESTARTING: {
        if (p.length < 8) throw new DerpFrameError("derp: restarting frame cut short");
        const v = new DataView(p.buffer, p.byteOffset, 8);
        events.push({ kind: "restarting", reconnectInMs: v.getUint32(0, false), tryForMs: v.getUint32(4, false) });
        break;
      }
      case FRAME_KEEP_ALIVE:
      case FRAME_PEER_PRESENT:
        break;
      default:
        break; // newer frame types are skipped, as Tailscale's client does
    }
  }

  sendPacket(dst: Uint8Array, data: Uint8Array): void {
    if (!this.ready) throw new Error("derp: not connected yet");
    if (dst.length !== KEY_LEN) throw new Error(`derp: destination key of ${dst.length} bytes`);
    if (data.length > MAX_PACKET) throw new Error(`derp: packet of ${data.length} bytes, above ${MAX_PACKET}`);
    this.send(encodeSendPacket(dst, data));
  }

  /**
   * SendPacket frames made elsewhere (frame.ts putSendPacketHead), sent as
   * they are: one write for many packets, written now, so the caller may
   * reuse `frames` once this returns.
   */
  sendFrames(frames: Uint8Array): void {
    if (!this.ready) throw new Error("derp: not connected yet");
    this.sendNow(frames);
  }

  /** Tells the relay whether this is our home region (it keeps our packets here). */
  notePreferred(preferred: boolean): void {
    this.send(encodeFrame(FRAME_NOTE_PREFERRED, Uint8Array.of(preferred ? 1 : 0)));
  }

  ping(data: Uint8Array): void {
    this.send(encodeFrame(FRAME_PING, data));
  }
}
