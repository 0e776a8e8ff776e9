// Opening a DERP connection on a byte stream: the HTTP/1.1 upgrade to
// "DERP", then the session's handshake. Resolves once the relay accepted us.
import { requestHead, ResponseHeadReader } from "../http1/upgrade.js";
import type { ByteStream } from "../util/stream.js";
import { type DerpEvent, DerpSession } from "./session.js";

/**
 * A node's TCP connect gets this long while its region has another node left
 * to try, as tailscale's derphttp gives each node (dialNodeTimeout): a SYN
 * answers within one round trip (under 0.5 s to any region on earth), or after
 * one retransmission at 1 s, so a dead first node costs 1.5 s, not the host's
 * 10 s. The region's last node left gets the host's full deadline: there is
 * nothing better to wait for.
 */
export const NODE_CONNECT_MS = 1_500;

/** The connect deadline for the node tried after `failed` of the region's `nodes` failed in a row (undefined: the host's). */
export function nodeConnectMs(failed: number, nodes: number): number | undefined {
  return failed < nodes - 1 ? NODE_CONNECT_MS : undefined;
}

export interface DerpConnection {
  readonly session: DerpSession;
  readonly serverKey: Uint8Array;
  /** Reads from the relay so far (keep-alives included): a count that stops moving means a dead relay. */
  readonly reads: number;
  /** Bytes written to the relay that the kernel has not taken yet. */
  readonly queuedBytes: number;
  /** Set by the user: events after the handshake, and the end of the connection. */
  onEvent: (e: DerpEvent) => void;
  onClose: (err: Error) => void;
  close(): void;
}

export function connectDerp(stream: ByteStream, host: string, nodePrivate: Uint8Array, nonce: () => Uint8Array): Promise<DerpConnection> {
  return new Promise((resolve, reject) => {
    const head = new ResponseHeadReader();
    let upgraded = false;
    let conn: DerpConnection | undefined;
    let closed = false;
    let reads = 0;
    const session = new DerpSession(
      nodePrivate,
      nonce,
      (b) => stream.write(b),
      stream.writeNow ? (b) => stream.writeNow!(b) : (b) => stream.write(b.slice()),
    );
    const fail = (err: Error) => {
      if (closed) return;
      closed = true;
      stream.close();
      if (conn) conn.onClose(err);
      else reject(err);
    };
    stream.onClose = (err) => fail(err ?? new Error("derp: connection closed"));
    stream.onData = (bytes) => {
      reads++;
      try {
        if (!upgraded) {
          const r = head.push(bytes);
          if (!r) return;
          if (r.head.status !== 101) throw new Error(`derp: upgrade refused: HTTP ${r.head.status} ${r.head.reason}`);
          upgraded = true;
          bytes = r.rest;
        }
        for (const e of session.receive(bytes)) {
          if (e.kind === "ready" && !conn) {
            conn = {
              session,
              serverKey: e.serverKey,
              get reads() {
                return reads;
              },
              get queuedBytes() {
                return stream.queuedBytes ?? 0;
              },
              onEvent: () => {},
              onClose: () => {},
              close: () => {
                closed = true;
                stream.close();
              },
            };
            resolve(conn);
          } else if (conn) {
            conn.onEvent(e);
          }
        }
      } catch (e) {
        fail(e instanceof Error ? e : new Error(String(e)));
      }
    };
    stream.write(requestHead("GET", "/derp", host, [["Upgrade", "DERP"], ["Connection", "Upgrade"], ["User-Agent", "meshwrt"]]));
  });
}
