// Opening the ts2021 channel over a byte stream: the HTTP/1.1 upgrade that
// carries the Noise initiation, the Noise response, the optional early
// payload, then HTTP/2 inside the Noise records.
import { H2Connection } from "../h2/connection.js";
import { requestHead, ResponseHeadReader } from "../http1/upgrade.js";
import { base64Encode } from "../util/base64.js";
import { bytesEqual, concat } from "../util/bytes.js";
import { utf8Decode } from "../util/utf8.js";
import { EARLY_PAYLOAD_MAGIC, MSG_ERROR, MSG_RESPONSE, type NoiseSession, RESPONSE_LEN, startHandshake } from "./noise.js";
import type { ByteStream } from "../util/stream.js";

export interface Ts2021Options {
  readonly host: string;
  readonly machinePrivate: Uint8Array;
  readonly serverPublic: Uint8Array;
  readonly ephemeralSeed: Uint8Array;
  readonly capver: number;
}

export interface Ts2021Channel {
  readonly h2: H2Connection;
  /** The server's early JSON payload, when it sent one. */
  readonly early?: unknown;
  /** Set by the user: the channel broke after it was opened. */
  onClose: (err: Error) => void;
}

/** Runs the upgrade and the handshake; resolves once HTTP/2 can be used. */
export function openTs2021(stream: ByteStream, o: Ts2021Options): Promise<Ts2021Channel> {
  const hs = startHandshake(o.machinePrivate, o.serverPublic, o.ephemeralSeed, o.capver);
  return new Promise((resolve, reject) => {
    const head = new ResponseHeadReader();
    let phase: "head" | "noise" | "early" | "h2" = "head";
    let pending: Uint8Array = new Uint8Array(0);
    let noise: NoiseSession | undefined;
    let plain: Uint8Array = new Uint8Array(0);
    let settled = false;
    const h2 = new H2Connection((b) => stream.write(noise!.seal(b)));
    const channel: { h2: H2Connection; early?: unknown; onClose: (err: Error) => void } = { h2, onClose: () => {} };
    let closed = false;
    const fail = (e: Error) => {
      if (closed) return;
      closed = true;
      h2.failAll(e);
      stream.close();
      if (settled) channel.onClose(e);
      else reject(e);
      settled = true;
    };
    const ready = (early?: unknown) => {
      phase = "h2";
      h2.start();
      settled = true;
      if (early !== undefined) channel.early = early;
      resolve(channel);
    };
    stream.onClose = (err) => fail(err ?? new Error("control: connection closed"));
    stream.onData = (bytes) => {
      // A failed channel reads no more: a bad response must not run the handshake again for each later chunk.
      if (closed) return;
      try {
        if (phase === "head") {
          const r = head.push(bytes);
          if (!r) return;
          if (r.head.status !== 101) throw new Error(`control: upgrade to ts2021 refused: HTTP ${r.head.status} ${r.head.reason}`);
          phase = "noise";
          bytes = r.rest;
        }
        if (phase === "noise") {
          pending = concat(pending, bytes);
          if (pending.length < 3) return;
          // An error message (type 3) has its own length; a response is 51 bytes.
          const len = (pending[1]! << 8) | pending[2]!;
          if (pending[0] !== MSG_ERROR && (pending[0] !== MSG_RESPONSE || len !== RESPONSE_LEN - 3)) {
            throw new Error(`noise: response header ${pending[0]},${pending[1]},${pending[2]} is not type 2 with length 48`);
          }
          const need = 3 + len;
          if (pending.length < need) return;
          noise = hs.finish(pending.subarray(0, need));
          phase = "early";
          bytes = pending.subarray(need);
        }
        const p = noise!.open(bytes);
        if (phase === "early") {
          plain = concat(plain, p);
          if (plain.length < 9) return;
          if (!bytesEqual(plain.subarray(0, 5), EARLY_PAYLOAD_MAGIC)) {
            ready();
            h2.receive(plain);
            return;
          }
          const len = new DataView(plain.buffer, plain.byteOffset + 5, 4).getUint32(0, false);
          if (len > 1 << 20) throw new Error(`control: early payload of ${len} bytes`);
          if (plain.length < 9 + len) return;
          let early: unknown;
          try {
            early = JSON.parse(utf8Decode(plain.subarray(9, 9 + len)));
          } catch {
            throw new Error("control: early payload is not JSON");
          }
          ready(early);
          if (plain.length > 9 + len) h2.receive(plain.subarray(9 + len));
          return;
        }
        if (p.length) h2.receive(p);
      } catch (e) {
        fail(e instanceof Error ? e : new Error(String(e)));
      }
    };
    stream.write(
      requestHead("POST", "/ts2021", o.host, [
        ["Upgrade", "tailscale-control-protocol"],
        ["Connection", "upgrade"],
        ["X-Tailscale-Handshake", base64Encode(hs.initiation)],
        ["Content-Length", "0"],
      ]),
    );
  });
}
