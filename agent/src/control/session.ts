// Requests on an open ts2021 channel: /machine/register, and the
// /machine/map long poll whose body is a stream of messages, each a
// little-endian u32 length and that many bytes of JSON.
import type { H2Connection, Stream } from "../h2/connection.js";
import { concat } from "../util/bytes.js";
import { utf8Decode, utf8Encode } from "../util/utf8.js";
import { checkMapResponse, checkRegisterResponse, type MapRequest, type MapResponse, type RegisterRequest, type RegisterResponse } from "./tailcfg.js";

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
  let buf: Uint8Array = new Uint8Array(0);
  let status = 0;
  const errorBody: Uint8Array[] = [];
  let done = false;
  const end = (err: Error) => {
    if (done) return;
    done = true;
    onEnd(err);
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
    buf = buf.length ? concat(buf, chunk) : chunk;
    let off = 0;
    while (buf.length - off >= 4) {
      const len = new DataView(buf.buffer, buf.byteOffset + off, 4).getUint32(0, true);
      if (len > MAX_MAP_MESSAGE) {
        s.cancel();
        return end(new Error(`control: map message of ${len} bytes, above ${MAX_MAP_MESSAGE}`));
      }
      if (buf.length - off - 4 < len) break;
      const bytes = buf.subarray(off + 4, off + 4 + len);
      off += 4 + len;
      let msg: MapResponse;
      try {
        msg = checkMapResponse(parseJson(bytes, "map message"));
      } catch (e) {
        s.cancel();
        return end(e as Error);
      }
      onMessage(msg);
      if (done) return;
    }
    buf = buf.slice(off);
  };
  return {
    cancel() {
      done = true;
      s.cancel();
    },
  };
}
