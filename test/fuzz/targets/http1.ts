// http1: the response head before an upgrade or GET /key, and the body of /key.
import { fetchServerKey, parseLoginServer } from "../../../agent/src/control/server.js";
import { decodeBody } from "../../../agent/src/http1/body.js";
import { ResponseHeadReader } from "../../../agent/src/http1/upgrade.js";
import { ascii, concat } from "../../../agent/src/util/bytes.js";
import type { ByteStream } from "../../../agent/src/util/stream.js";
import { chunks } from "../chunks.js";
import type { Target } from "../runner.js";

const seeds = [
  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: tailscale-control-protocol\r\nConnection: upgrade\r\n\r\n\x04\x00\x10",
  "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"a\":\"mkey\"}\n",
  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n",
  "HTTP/1.0 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
  "HTTP/1.1 200 OK\r\n\r\nto the end",
].map(ascii);

export const http1: Target = {
  name: "http1",
  seeds,
  clean: /^http: /,
  parse: (input) => {
    const reader = new ResponseHeadReader();
    let head: ReturnType<ResponseHeadReader["push"]> = null;
    const body: Uint8Array[] = [];
    for (const c of chunks(input)) {
      if (head) body.push(c);
      else if ((head = reader.push(c))) body.push(head.rest);
    }
    return head && decodeBody(head.head, concat(...body));
  },
};

const keyJson = `{"publicKey":"mkey:${"ab".repeat(32)}"}`;

/** control/server.ts: the whole GET /key answer, head, body and JSON, then the close. */
export const serverKey: Target = {
  name: "server key answer",
  seeds: [
    `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${keyJson.length}\r\n\r\n${keyJson}`,
    `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${keyJson.length.toString(16)}\r\n${keyJson}\r\n0\r\n\r\n`,
    `HTTP/1.1 200 OK\r\n\r\n${keyJson}`,
  ].map(ascii),
  clean: /^(control|http|mkey)/,
  parse: async (input, report) => {
    const stream: ByteStream = { write: () => {}, close: () => {}, onData: () => {}, onClose: () => {} };
    const answer = fetchServerKey(stream, parseLoginServer("http://control"), 113);
    for (const c of chunks(input)) stream.onData(c);
    stream.onClose();
    await answer.catch(report);
  },
};
