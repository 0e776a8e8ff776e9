// Our HTTP/2 client against a real HTTP/2 server: Node's (nghttp2) in h2c
// prior-knowledge mode on loopback, as Headscale's ts2021 endpoint speaks it
// inside the Noise channel.
import http2 from "node:http2";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { H2Connection, type Response } from "../../agent/src/h2/connection.js";

let server: http2.Http2Server;
let port = 0;

beforeAll(async () => {
  server = http2.createServer();
  server.on("stream", (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      const body = Buffer.concat(chunks);
      if (headers[":path"] === "/echo") {
        stream.respond({ ":status": 200, "content-type": "application/octet-stream", "x-len": String(body.length) });
        stream.end(body);
      } else if (headers[":path"] === "/stream") {
        // A long response in pieces, like the map stream: 3 MB, far beyond the default windows.
        stream.respond({ ":status": 200 });
        let sent = 0;
        const more = () => {
          while (sent < 3 << 20) {
            sent += 64 << 10;
            if (!stream.write(Buffer.alloc(64 << 10, sent >> 16))) return void stream.once("drain", more);
          }
          stream.end();
        };
        more();
      } else {
        stream.respond({ ":status": 404 });
        stream.end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as net.AddressInfo).port;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

function connect(): Promise<{ h2: H2Connection; sock: net.Socket }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, "127.0.0.1", () => {
      const h2 = new H2Connection((b) => sock.write(b));
      sock.on("data", (d) => h2.receive(new Uint8Array(d)));
      h2.start();
      resolve({ h2, sock });
    });
    sock.on("error", reject);
  });
}

function fetch(h2: H2Connection, path: string, body?: Uint8Array): Promise<{ res: Response; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const s = h2.request("POST", `127.0.0.1:${port}`, path, [["content-type", "application/json"]], body);
    const chunks: Buffer[] = [];
    let res: Response;
    s.onResponse = (r) => (res = r);
    s.onData = (c) => chunks.push(Buffer.from(c));
    s.onEnd = () => resolve({ res, body: Buffer.concat(chunks) });
    s.onError = reject;
  });
}

describe("HTTP/2 client against node:http2 (h2c)", () => {
  it("posts a body larger than the server's window and gets it back", async () => {
    const { h2, sock } = await connect();
    const body = new Uint8Array(200_000).map((_, i) => i * 7);
    const { res, body: got } = await fetch(h2, "/echo", body);
    expect(res.status).toBe(200);
    expect(res.headers).toContainEqual(["x-len", "200000"]);
    expect(Buffer.compare(got, Buffer.from(body))).toBe(0);
    sock.destroy();
  });
  it("receives a 3 MB streamed response with flow control, and concurrent requests", async () => {
    const { h2, sock } = await connect();
    const [big, small, missing] = await Promise.all([fetch(h2, "/stream"), fetch(h2, "/echo", new Uint8Array([1, 2, 3])), fetch(h2, "/nope")]);
    expect(big.body.length).toBe(3 << 20);
    expect(big.body[(3 << 20) - 1]).toBe(48);
    expect([...small.body]).toEqual([1, 2, 3]);
    expect(missing.res.status).toBe(404);
    sock.destroy();
  });
  it("gets its PING acknowledged", async () => {
    const { h2, sock } = await connect();
    const acked = new Promise<Uint8Array>((r) => (h2.onPingAck = r));
    h2.ping(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    expect([...(await acked)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    sock.destroy();
  });
});
