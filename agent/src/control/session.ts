// Requests on an open ts2021 channel: /machine/register, and the
// /machine/map long poll whose body is a stream of messages, each a
// little-endian u32 length and that many bytes of JSON.
import type { H2Connection, Stream } from "../h2/connection.js";
import { concat } from "../util/bytes.js";
import { utf8Decode, utf8Encode } from "../util/utf8.js";
import { keptPeer } from "./netmap.js";
import { checkRegisterResponse, type MapRequest, type MapResponse, type RegisterRequest, type RegisterResponse, parseMapResponse, SchemaError } from "./tailcfg.js";

const MAX_MAP_MESSAGE = 32 << 20;

function post(h2: H2Connection, authority: string, path: string, body: unknown): Stream {
  return h2.request("POST", authority, path, [["content-type", "application/json"]], utf8Encode(JSON.stringify(body)));
}

function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(utf8Decode(bytes));
  } catch {
    throw new Error(`control: ${what} is not JSON (${bytes.length} bytes)`);
  }
}

/** A map message, each node kept as the netmap keeps it as soon as it is parsed. */
function parseMapMessage(bytes: Uint8Array): MapResponse {
  try {
    return parseMapResponse(bytes, keptPeer);
  } catch (e) {
    if (e instanceof SchemaError) throw e;
    throw new Error(`control: map message is not JSON (${bytes.length} bytes)`);
  }
}

export function register(h2: H2Connection, authority: string, req: RegisterRequest): Promise<RegisterResponse> {
  return new Promise((resolve, reject) => {
    const s = post(h2, authority, "/machine/register", req);
    const chunks: Uint8Array[] = [];
    let status = 0;
    s.onResponse = (r) => (status = r.status);
    s.onData = (c) => chunks.push(c);
    s.onError = reject;
    s.onEnd = () => {
      const body = concat(...chunks);
      if (status !== 200) return reject(new Error(`control: register: HTTP ${status}: ${utf8Decode(body.subarray(0, 200)).trim()}`));
      try {
        resolve(checkRegisterResponse(parseJson(body, "register response")));
      } catch (e) {
        reject(e);
      }
    };
  });
}

export interface MapPoll {
  cancel(): void;
}

/**
 * Starts the map long poll. Each message goes to onMessage; the poll ends
 * with onEnd(err): the server closed it, it failed, or a message was garbage.
 */
export function mapPoll(h2: H2Connection, authority: string, req: MapRequest, onMessage: (m: MapResponse) => void, onEnd: (err: Error) => void): MapPoll {
  const s = post(h2, authority, "/machine/map", req);
  // The stream's chunks until a message is whole: a message is copied once, into its own bytes
  // (a buffer grown by each chunk copied a 3 MB netmap once per 16 KB frame, and held two copies).
  const pending: Uint8Array[] = [];
  let have = 0;
  /** The length of the message under way, once its header is in. */
  let want = -1;
  let status = 0;
  const errorBody: Uint8Array[] = [];
  let done = false;
  const end = (err: Error) => {
    if (done) return;
    done = true;
    onEnd(err);
  };
  const take = (n: number): Uint8Array => {
    have -= n;
    const first = pending[0]!;
    if (first.length >= n) {
      if (first.length === n) pending.shift();
      else pending[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = new Uint8Array(n);
    for (let at = 0; at < n; ) {
      const c = pending[0]!;
      const k = Math.min(c.length, n - at);
      out.set(c.subarray(0, k), at);
      at += k;
      if (k === c.length) pending.shift();
      else pending[0] = c.subarray(k);
    }
    return out;
  };
  s.onResponse = (r) => (status = r.status);
  s.onError = end;
  s.onEnd = () => end(new Error(status === 200 ? "control: map stream ended" : `control: map: HTTP ${status}: ${utf8Decode(concat(...errorBody).subarray(0, 200)).trim()}`));
  s.onData = (chunk) => {
    if (done) return;
    if (status !== 200) {
      errorBody.push(chunk);
      return;
    }
    if (chunk.length) pending.push(chunk);
    have += chunk.length;
    for (;;) {
      if (want < 0) {
        if (have < 4) return;
        const h = take(4);
        want = new DataView(h.buffer, h.byteOffset, 4).getUint32(0, true);
        if (want > MAX_MAP_MESSAGE) {
          s.cancel();
          return end(new Error(`control: map message of ${want} bytes, above ${MAX_MAP_MESSAGE}`));
        }
      }
      if (have < want) return;
      const len = want;
      want = -1;
      let msg: MapResponse;
      try {
        // Parsed where the bytes are taken: they are gone before the message is applied.
        msg = parseMapMessage(len ? take(len) : new Uint8Array(0));
      } catch (e) {
        s.cancel();
        return end(e as Error);
      }
      onMessage(msg);
      if (done) return;
    }
  };
  return {
    cancel() {
      done = true;
      s.cancel();
    },
  };
}
