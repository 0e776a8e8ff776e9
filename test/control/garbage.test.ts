// A control server that answers garbage at each layer: the upgrade, the
// Noise handshake, the HTTP/2 frames, the JSON. The controller logs a clear
// line naming the layer and retries with backoff; it never throws out of
// its loop. The server is our own loopback listener: the point is what it
// sends wrong, which no real server would.
import net from "node:net";
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { CONNECT_TIMEOUT_MS, Controller } from "../../agent/src/control/controller.js";
import { keyPairFromSeed, keyToText } from "../../agent/src/crypto/keys.js";
import { connectStream } from "../support/node-stream.js";

const serverKey = keyPairFromSeed(new Uint8Array(32).fill(9));
const servers: net.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** Answers GET /key properly, and the ts2021 upgrade with `reply(requestHead)`. */
async function server(reply: (sock: net.Socket) => void): Promise<number> {
  const srv = net.createServer((sock) => {
    let head = "";
    sock.on("data", (d) => {
      head += d.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      if (head.startsWith("GET /key")) {
        const body = JSON.stringify({ publicKey: keyToText("mkey", serverKey.publicKey) });
        sock.end(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      } else {
        reply(sock);
      }
      head = "\u0000"; // the rest of this connection's bytes are not a head
    });
    sock.on("error", () => {});
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return (srv.address() as net.AddressInfo).port;
}

function controllerDeps(logs: string[]) {
  return {
    dial: (s: { host: string; port: number }) => connectStream(s),
    random: (n: number) => new Uint8Array(randomBytes(n)),
    now: () => Date.now(),
    // Fast retries: the test wants to see the second attempt. The connect deadline keeps its 20 s: on a busy machine a step may take longer than 50 ms.
    setTimer: (ms: number, fn: () => void) => {
      const t = setTimeout(fn, ms === CONNECT_TIMEOUT_MS ? ms : Math.min(ms, 50));
      return () => clearTimeout(t);
    },
    log: (l: string, m: string) => void logs.push(`${l} ${m}`),
    loadKeys: () => null,
    saveKeys: async () => {},
  };
}

function controller(port: number, logs: string[]): Controller {
  return new Controller(controllerDeps(logs), { loginServer: `http://127.0.0.1:${port}`, authKey: "k", hostinfo: { OS: "linux", Hostname: "r" } });
}

async function attempts(reply: (sock: net.Socket) => void): Promise<string[]> {
  const logs: string[] = [];
  const c = controller(await server(reply), logs);
  c.start();
  for (let i = 0; i < 100 && logs.filter((l) => l.startsWith("warn")).length < 2; i++) await new Promise((r) => setTimeout(r, 20));
  c.stop();
  return logs.filter((l) => l.startsWith("warn"));
}

describe("a control server that answers garbage", () => {
  it("at the upgrade: not HTTP", async () => {
    const warns = await attempts((s) => s.end("SSH-2.0-OpenSSH_9.2\r\n\r\n"));
    expect(warns.length).toBeGreaterThanOrEqual(2);
    expect(warns[0]).toMatch(/control: http: not an HTTP\/1\.1 status line: "SSH-2.0-OpenSSH_9.2"; retrying in about \d+ s/);
  });
  it("at the upgrade: refused", async () => {
    const warns = await attempts((s) => s.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"));
    expect(warns[0]).toMatch(/upgrade to ts2021 refused: HTTP 403 Forbidden/);
  });
  it("at the Noise handshake: a response that does not authenticate", async () => {
    const warns = await attempts((s) => {
      const resp = Buffer.concat([Buffer.from([2, 0, 48]), randomBytes(48)]);
      s.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: tailscale-control-protocol\r\nConnection: upgrade\r\n\r\n");
      s.write(resp);
    });
    expect(warns[0]).toMatch(/noise: (handshake response does not authenticate|peer key is a low-order point)/);
  });
  it("at the Noise handshake: a server error message", async () => {
    const warns = await attempts((s) => {
      s.write("HTTP/1.1 101 Switching Protocols\r\n\r\n");
      s.write(Buffer.concat([Buffer.from([3, 0, 15]), Buffer.from("unsupported v1!")]));
    });
    expect(warns[0]).toMatch(/server refused the handshake: unsupported v1!/);
  });
  it("at the HTTP/2 or record layer: junk after a good-looking upgrade", async () => {
    const warns = await attempts((s) => {
      s.write("HTTP/1.1 101 Switching Protocols\r\n\r\n");
      s.write(Buffer.from([9, 0, 5, 1, 2, 3, 4, 5]));
    });
    expect(warns[0]).toMatch(/noise: response header 9,0,5 is not type 2 with length 48/);
  });
  it("never stops retrying while started, and stops when stopped", async () => {
    const warns = await attempts((s) => s.destroy());
    expect(warns.length).toBeGreaterThanOrEqual(2);
  });
});

describe("a control server that says nothing", () => {
  it("times out the handshake instead of hanging", async () => {
    const logs: string[] = [];
    const port = await server(() => {});
    const c = new Controller(
      {
        ...controllerDeps(logs),
        // Every timer fires at once: the handshake deadline passes after 300 ms (time enough for GET /key on a busy machine).
        setTimer: (ms, fn) => {
          const t = setTimeout(fn, ms === CONNECT_TIMEOUT_MS ? 300 : 30);
          return () => clearTimeout(t);
        },
      },
      { loginServer: `http://127.0.0.1:${port}`, authKey: "k", hostinfo: { OS: "linux", Hostname: "r" } },
    );
    c.start();
    for (let i = 0; i < 100 && !logs.some((l) => /no answer in/.test(l)); i++) await new Promise((r) => setTimeout(r, 20));
    c.stop();
    expect(logs.find((l) => /no answer in/.test(l))).toMatch(/control: ts2021 handshake: no answer in 20 s/);
  });
});
