// Node sockets as the agent's ByteStream, for tests that run protocol code
// under Node against real servers.
import fs from "node:fs";
import net from "node:net";
import type { UnixListener } from "../../agent/src/host/host.js";
import type { ByteStream } from "../../agent/src/util/stream.js";

export function connectStream(opts: { host: string; port: number } | { path: string }): Promise<ByteStream> {
  return new Promise((resolve, reject) => {
    const sock = "path" in opts ? net.connect(opts.path) : net.connect(opts.port, opts.host);
    const s: ByteStream = { write: (b) => void sock.write(b), close: () => void sock.destroy(), onData: () => {}, onClose: () => {} };
    sock.on("data", (d) => s.onData(new Uint8Array(d)));
    sock.on("close", () => s.onClose());
    sock.on("error", reject);
    sock.on("connect", () => resolve(s));
  });
}

function wrap(sock: net.Socket): ByteStream {
  const s: ByteStream = { write: (b) => void sock.write(b), close: () => void sock.destroy(), onData: () => {}, onClose: () => {} };
  sock.on("data", (d) => s.onData(new Uint8Array(d)));
  sock.on("close", () => s.onClose());
  sock.on("error", () => {});
  return s;
}

/** Host.listenUnix on Node, for API servers under test; `ready` once it listens. */
export function listenUnix(path: string, mode: number): UnixListener & { ready: Promise<void> } {
  const server = net.createServer();
  const ready = new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      fs.chmodSync(path, mode);
      resolve();
    });
  });
  const l = { ready, onConnection: (_c: ByteStream) => {}, close: () => void server.close() };
  server.on("connection", (sock) => l.onConnection(wrap(sock)));
  return l;
}
