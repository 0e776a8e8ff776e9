// Where the control server is, from the login server URL, and how to ask it
// for its Noise public key (GET /key).
import { keyFromText } from "../crypto/keys.js";
import { decodeBody } from "../http1/body.js";
import { requestHead, ResponseHeadReader } from "../http1/upgrade.js";
import { concat } from "../util/bytes.js";
import { utf8Decode } from "../util/utf8.js";
import type { ByteStream } from "../util/stream.js";

export interface ServerAddress {
  readonly tls: boolean;
  readonly host: string;
  readonly port: number;
  /** host[:port] as the Host header and :authority carry it. */
  readonly authority: string;
}

export function parseLoginServer(url: string): ServerAddress {
  const m = /^(https?):\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?\/?$/.exec(url.trim());
  if (!m) throw new Error(`login server ${JSON.stringify(url)}: want http(s)://host[:port]`);
  const tls = m[1] === "https";
  const port = m[3] ? Number(m[3]) : tls ? 443 : 80;
  if (port < 1 || port > 65535) throw new Error(`login server ${JSON.stringify(url)}: bad port`);
  const host = m[2]!.replace(/^\[|\]$/g, "");
  const dflt = tls ? 443 : 80;
  return { tls, host, port, authority: port === dflt ? m[2]! : `${m[2]}:${port}` };
}

/** GET /key?v=CAPVER on a fresh connection; resolves with the server's machine public key. */
export function fetchServerKey(stream: ByteStream, server: ServerAddress, capver: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const reader = new ResponseHeadReader();
    let head: ReturnType<ResponseHeadReader["push"]> = null;
    const body: Uint8Array[] = [];
    let done = false;
    const finish = (err?: Error, key?: Uint8Array) => {
      if (done) return;
      done = true;
      stream.close();
      if (err) reject(err);
      else resolve(key!);
    };
    stream.onData = (b) => {
      try {
        if (!head) {
          head = reader.push(b);
          if (head) body.push(head.rest);
        } else {
          body.push(b);
        }
        if (body.reduce((n, p) => n + p.length, 0) > 64 << 10) finish(new Error("control: /key answer too long"));
      } catch (e) {
        finish(e as Error);
      }
    };
    stream.onClose = (err) => {
      if (err) return finish(new Error(`control: /key: ${err.message}`));
      try {
        if (!head) throw new Error("control: /key: connection closed before an answer");
        if (head.head.status !== 200) throw new Error(`control: /key: HTTP ${head.head.status} ${head.head.reason}`);
        const json = JSON.parse(utf8Decode(decodeBody(head.head, concat(...body)))) as { publicKey?: unknown };
        if (typeof json.publicKey !== "string") throw new Error("control: /key: no publicKey in the answer");
        finish(undefined, keyFromText("mkey", json.publicKey));
      } catch (e) {
        finish(e instanceof SyntaxError ? new Error("control: /key: answer is not JSON") : (e as Error));
      }
    };
    stream.write(requestHead("GET", `/key?v=${capver}`, server.authority, [["Connection", "close"], ["User-Agent", "meshwrt"]]));
  });
}
