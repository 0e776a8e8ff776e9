// peerapi: HTTP/1.1 requests off a connection, then the DoH checks on each
// (exit-node DNS, agent/src/peerapi): what a peer on the tailnet can send.
import { checkOrigin, dnsQueryOf } from "../../../agent/src/peerapi/doh.js";
import { RequestReader } from "../../../agent/src/peerapi/request.js";
import { ascii, concat } from "../../../agent/src/util/bytes.js";
import { chunks } from "../chunks.js";
import type { Target } from "../runner.js";

const query = "\xbe\xef\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x04test\x00\x00\x01\x00\x01";
const post = (body: string, extra = "") =>
  `POST /dns-query HTTP/1.1\r\nHost: 100.64.0.2:41641\r\nUser-Agent: tailscaled/1.98.8\r\nContent-Length: ${body.length}\r\nContent-Type: application/dns-message\r\nAccept: application/dns-message\r\n${extra}\r\n${body}`;

export const peerapi: Target = {
  name: "peerapi",
  seeds: [
    post(query),
    post(query) + post(query, "Connection: close\r\n"),
    "GET /dns-query?dns=vu8BAAABAAAAAAAAA3d3dwdleGFtcGxlBHRlc3QAAAEAAQ HTTP/1.1\r\nHost: [fd7a:115c:a1e0::2]:41641\r\n\r\n",
    "\r\nGET /dns-query?q=a%20b&dns= HTTP/1.0\r\nHost: peer\r\nConnection: keep-alive\r\n\r\n",
    "POST /dns-query HTTP/1.1\r\nHost: peer\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
  ].map(ascii),
  clean: /^peerapi: /,
  parse: (input) => {
    const reader = new RequestReader();
    const out: Uint8Array[] = [];
    for (const c of chunks(input)) {
      for (const req of reader.push(c)) {
        checkOrigin(req, ["100.64.0.2", "fd7a:115c:a1e0::2"]);
        out.push(dnsQueryOf(req));
      }
    }
    return concat(...out);
  },
};
