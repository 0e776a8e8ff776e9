// PingRequests from the control server answered as tailscale's controlclient
// answers them: HEAD to the URL (Headscale's HA prober; here a real HTTP
// server on loopback), c2n answered over Noise (/echo echoed, any other path
// "unknown c2n path"), disco pings POSTed as a PingResponse, and kinds a
// kernel-WireGuard router cannot send answered with the reason. The Noise
// channel is a double that records requests; Headscale's real prober is in
// test/integration/control-lifecycle.test.ts.
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { answerPing, c2nAnswer, type PingDeps } from "../../agent/src/control/ping.js";
import type { Node } from "../../agent/src/control/tailcfg.js";
import type { H2Connection, Response, Stream } from "../../agent/src/h2/connection.js";
import { connectStream } from "../support/node-stream.js";

const seen: { method: string; url: string; body: string }[] = [];
const server = createServer((req: IncomingMessage, res) => {
  let body = "";
  req.on("data", (d) => (body += d));
  req.on("end", () => {
    seen.push({ method: req.method!, url: req.url!, body });
    res.writeHead(req.url!.includes("unknown") ? 404 : 200).end();
  });
});
let base = "";
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** The Noise channel's HTTP/2 connection, as a double: records each request and answers 200. */
function noiseDouble() {
  const requests: { method: string; authority: string; path: string; headers: readonly (readonly [string, string])[]; body: string }[] = [];
  const h2 = {
    request(method: string, authority: string, path: string, headers: readonly (readonly [string, string])[], body?: Uint8Array): Stream {
      requests.push({ method, authority, path, headers, body: body ? Buffer.from(body).toString("latin1") : "" });
      const s = { onResponse: (_r: Response) => {}, onEnd: () => {}, onError: (_e: Error) => {}, onData: () => {}, cancel: () => {} };
      setTimeout(() => (s.onResponse({ status: 200, headers: [] }), s.onEnd()), 1);
      return s as unknown as Stream;
    },
  } as unknown as H2Connection;
  return { h2, requests };
}

const phone: Node = { ID: 7, StableID: "7", Name: "phone.tailnet.", User: 1, Key: `nodekey:${"ab".repeat(32)}`, Addresses: ["100.64.0.7/32", "fd7a:115c:a1e0::7/128"], AllowedIPs: [] };

function deps(over: Partial<PingDeps> = {}) {
  const noise = noiseDouble();
  const logs: string[] = [];
  const d: PingDeps = {
    noise: noise.h2,
    dial: (a) => connectStream({ host: a.host, port: a.port }),
    setTimer: (ms, fn) => {
      const t = setTimeout(fn, ms);
      return () => clearTimeout(t);
    },
    log: (l, m) => void logs.push(`${l} ${m}`),
    peerByIp: (ip) => (phone.Addresses.some((a) => a.startsWith(`${ip}/`)) ? phone : undefined),
    nodeKeyHex: () => "ab".repeat(32),
    ...over,
  };
  return { d, noise, logs };
}

describe("PingRequest answers", () => {
  it("no Types (Headscale's HA prober): a HEAD to the URL, on a connection of its own", async () => {
    seen.length = 0;
    const { d, noise } = deps();
    await answerPing({ URL: `${base}/machine/ping-response?id=abc123` }, d);
    expect(seen).toEqual([{ method: "HEAD", url: "/machine/ping-response?id=abc123", body: "" }]);
    expect(noise.requests).toEqual([]);
  });

  it("URLIsNoise: the HEAD goes over the Noise channel instead", async () => {
    seen.length = 0;
    const { d, noise } = deps();
    await answerPing({ URL: "https://control.example/ping/xyz", URLIsNoise: true }, d);
    expect(noise.requests.map((r) => `${r.method} ${r.authority}${r.path}`)).toEqual(["HEAD control.example/ping/xyz"]);
    expect(seen).toEqual([]);
  });

  it("a disco ping: the pinger's result POSTed as a PingResponse", async () => {
    seen.length = 0;
    const pinged: string[] = [];
    const { d } = deps({ discoPing: async (id) => (pinged.push(id), { latencyMs: 12.5, endpoint: { ip: new Uint8Array([198, 51, 100, 7]), port: 41641 } }) });
    await answerPing({ URL: `${base}/ping-result`, Types: "disco", IP: "100.64.0.7" }, d);
    expect(pinged).toEqual(["ab".repeat(32)]);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.method).toBe("POST");
    expect(JSON.parse(seen[0]!.body)).toEqual({ Type: "disco", IP: "100.64.0.7", NodeIP: "100.64.0.7", NodeName: "phone", LatencySeconds: 0.0125, Endpoint: "198.51.100.7:41641" });
  });

  it("TSMP (which kernel WireGuard cannot send) and an unknown IP: a PingResponse with the reason; an unknown type: nothing sent", async () => {
    seen.length = 0;
    const { d, logs } = deps();
    await answerPing({ URL: `${base}/r`, Types: "TSMP,disco", IP: "100.64.0.7" }, d);
    await answerPing({ URL: `${base}/r`, Types: "disco", IP: "100.64.0.99" }, d);
    await answerPing({ URL: `${base}/r`, Types: "carrier-pigeon", IP: "100.64.0.7" }, d);
    const bodies = seen.map((s) => JSON.parse(s.body) as { Type: string; Err?: string });
    expect(bodies.map((b) => `${b.Type}: ${b.Err}`)).toEqual([
      "TSMP: meshwrt does not send TSMP pings (its packets are the kernel's WireGuard)",
      "disco: disco is not running (no direct paths)",
      "disco: no peer has the address 100.64.0.99",
    ]);
    expect(logs).toContain('warn control: unsupported ping request type "carrier-pigeon"');
  });

  it("c2n: the answer POSTed over Noise; /echo echoes the body, any other path is tailscale's 'unknown c2n path'", async () => {
    const { d, noise } = deps();
    const req = (s: string) => Buffer.from(s).toString("base64");
    await answerPing({ URL: "https://control.example/c2n/1", Types: "c2n", Payload: req("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello") }, d);
    await answerPing({ URL: "https://control.example/c2n/2", Types: "c2n", Payload: req("GET /update HTTP/1.1\r\nHost: x\r\n\r\n") }, d);
    expect(noise.requests.map((r) => `${r.method} ${r.path}`)).toEqual(["POST /c2n/1", "POST /c2n/2"]);
    expect(noise.requests[0]!.body).toBe("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
    expect(noise.requests[1]!.body).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n[^]*\r\n\r\nunknown c2n path\n$/);
  });

  it("garbage: a URL that is not http(s) is refused with the reason; a malformed c2n request gets a 400", async () => {
    const { d } = deps();
    await expect(answerPing({ URL: "gopher://x/y" }, d)).rejects.toThrow(/ping request URL "gopher:\/\/x\/y": want http\(s\)/);
    expect(Buffer.from(c2nAnswer(new TextEncoder().encode("hello"))).toString()).toMatch(/^HTTP\/1\.1 400 [^]*malformed c2n request\n$/);
  });

  it("a server that never answers the HEAD: given up after the timeout, the socket closed", async () => {
    const { createServer: tcp } = await import("node:net");
    // Reads and never answers (a paused socket would not see the client's close).
    const silent = tcp((s) => void s.resume());
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const port = (silent.address() as AddressInfo).port;
    const closed = new Promise<void>((r) => silent.on("connection", (s) => s.on("close", () => r())));
    const { d } = deps({ setTimer: (_ms, fn) => {
      const t = setTimeout(fn, 100);
      return () => clearTimeout(t);
    } });
    await expect(answerPing({ URL: `http://127.0.0.1:${port}/p` }, d)).rejects.toThrow(/no answer in 15 s/);
    await closed;
    silent.close();
  }, 10_000);
});
