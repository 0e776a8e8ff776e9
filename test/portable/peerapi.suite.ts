// The peer API (exit-node DNS): HTTP/1.1 request parsing, the DoH request
// and answers, who may ask, and the server's bounds, with a double of the
// host's sockets and timers (DoubleNet below): a fast check of the logic; the
// lab test (test/integration/exit-dns.test.ts) runs the real one against
// tailscaled.
import type { NetMap } from "../../agent/src/control/netmap.js";
import type { FilterRule, Node } from "../../agent/src/control/tailcfg.js";
import type { TcpListener, UdpSocket } from "../../agent/src/host/host.js";
import { dnsAccess, filterAllowsTcp } from "../../agent/src/peerapi/access.js";
import { answerResponse, checkOrigin, dnsQueryOf, errorResponse } from "../../agent/src/peerapi/doh.js";
import { BODY_MAX, HEAD_MAX, HttpError, type Request, RequestReader } from "../../agent/src/peerapi/request.js";
import { DNS_MS, IDLE_MS, MAX_CONNECTIONS, MAX_QUEUED, PeerApi, REQUEST_MS } from "../../agent/src/peerapi/server.js";
import { parseIp } from "../../agent/src/netaddr/ip.js";
import { base64Encode } from "../../agent/src/util/base64.js";
import { ascii, concat, latin1 } from "../../agent/src/util/bytes.js";
import type { ByteStream } from "../../agent/src/util/stream.js";
import { eq, suite } from "./check.js";

/** A DNS query for www.example.test A, ID 0xbeef, recursion desired. */
const QUERY = concat(Uint8Array.of(0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0), Uint8Array.of(3), ascii("www"), Uint8Array.of(7), ascii("example"), Uint8Array.of(4), ascii("test"), Uint8Array.of(0, 0, 1, 0, 1));
/** Its answer: 198.51.100.1. */
const ANSWER = (() => {
  const a = concat(QUERY, Uint8Array.of(0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 51, 100, 1));
  a[2] = 0x81;
  a[3] = 0x80;
  a[7] = 1;
  return a;
})();

const post = (body: Uint8Array, extra = "") =>
  concat(ascii(`POST /dns-query HTTP/1.1\r\nHost: 100.64.0.2:41641\r\nUser-Agent: tailscaled/1.98.8\r\nContent-Length: ${body.length}\r\nContent-Type: application/dns-message\r\nAccept: application/dns-message\r\n${extra}\r\n`), body);

const b64url = (b: Uint8Array) => base64Encode(b).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

function one(bytes: Uint8Array | string): Request {
  const r = new RequestReader().push(typeof bytes === "string" ? ascii(bytes) : bytes);
  if (r.length !== 1) throw new Error(`want one request, got ${r.length}`);
  return r[0]!;
}

function status(bytes: Uint8Array | string): number {
  try {
    const r = one(bytes);
    checkOrigin(r, ["100.64.0.2", "fd7a:115c:a1e0::2"]);
    dnsQueryOf(r);
    return 200;
  } catch (e) {
    if (e instanceof HttpError) return e.status;
    throw e;
  }
}

const node = (id: number, user: number, addrs: string[]): Node => ({ ID: id, StableID: `n${id}`, Name: `n${id}.tailnet.test.`, User: user, Key: `nodekey:${"00".repeat(32)}`, Addresses: addrs, AllowedIPs: addrs });
function netmap(rules: FilterRule[]): NetMap {
  return {
    self: node(1, 1, ["100.64.0.2/32", "fd7a:115c:a1e0::2/128"]),
    peers: new Map([
      [2, node(2, 1, ["100.64.0.1/32", "fd7a:115c:a1e0::1/128"])],
      [3, node(3, 2, ["100.64.0.3/32", "fd7a:115c:a1e0::3/128"])],
    ]),
    filters: new Map([["base", rules]]),
    userProfiles: new Map(),
    health: [],
  };
}

suite("peerapi request", (check) => {
  check("tailscaled's POST: method, path, headers, body", () => {
    const r = one(post(QUERY));
    eq(r.method, "POST", "method");
    eq(r.path, "/dns-query", "path");
    eq(r.headers.get("content-type"), "application/dns-message", "content-type");
    eq(latin1(r.body), latin1(QUERY), "body");
    eq(r.close, false, "keep-alive by default in HTTP/1.1");
  });
  check("GET with ?dns= base64url, percent-decoded query", () => {
    const r = one(`GET /dns-query?x=1&dns=${b64url(QUERY)}&q=a%20b HTTP/1.1\r\nHost: peer\r\n\r\n`);
    eq(r.query.get("dns"), b64url(QUERY), "dns");
    eq(r.query.get("q"), "a b", "percent-decoded");
  });
  check("a request in pieces, byte by byte, and two in one read", () => {
    const reader = new RequestReader();
    const bytes = post(QUERY);
    let got: Request[] = [];
    for (let i = 0; i < bytes.length; i++) got = got.concat(reader.push(bytes.subarray(i, i + 1)));
    eq(got.length, 1, "one request from single bytes");
    eq(latin1(got[0]!.body), latin1(QUERY), "body whole");
    const two = new RequestReader().push(concat(post(QUERY), post(QUERY, "Connection: close\r\n")));
    eq(two.length, 2, "pipelined");
    eq(two[1]!.close, true, "Connection: close");
  });
  check("HTTP/1.0 closes unless keep-alive; repeated headers joined", () => {
    eq(one("GET / HTTP/1.0\r\n\r\n").close, true, "1.0");
    eq(one("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").close, false, "1.0 keep-alive");
    eq(one("GET / HTTP/1.1\r\nX-A: 1\r\nx-a: 2\r\n\r\n").headers.get("x-a"), "1, 2", "joined");
  });
  check("bad input is an HttpError with the status to answer", () => {
    const cases: [string, number, RegExp][] = [
      ["GET /\r\n\r\n", 400, /malformed request line/],
      ["GET / HTTP/2.0\r\n\r\n", 505, /unsupported version/],
      ["G(T / HTTP/1.1\r\n\r\n", 400, /malformed method/],
      ["GET http://x/ HTTP/1.1\r\n\r\n", 400, /not a path/],
      ["GET / HTTP/1.1\r\n folded: x\r\n\r\n", 400, /malformed header line/],
      ["GET / HTTP/1.1\r\nA : b\r\n\r\n", 400, /malformed header line/],
      ["GET /%zz HTTP/1.1\r\n\r\n", 400, /percent-encoding/],
      ["POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, /bad Content-Length/],
      ["POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", 400, /bad Content-Length/],
      [`POST / HTTP/1.1\r\nContent-Length: ${BODY_MAX + 1}\r\n\r\n`, 413, /at most 4096/],
      ["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501, /Transfer-Encoding/],
      [`GET / HTTP/1.1\r\nX: ${"a".repeat(HEAD_MAX)}`, 431, /request head over/],
      [`GET / HTTP/1.1\r\nX: ${"a".repeat(HEAD_MAX)}\r\n\r\n`, 431, /request head over/],
    ];
    for (const [text, want, msg] of cases) {
      try {
        new RequestReader().push(ascii(text));
        throw new Error(`${JSON.stringify(text.slice(0, 40))}: accepted`);
      } catch (e) {
        if (!(e instanceof HttpError)) throw e;
        eq(e.status, want, JSON.stringify(text.slice(0, 40)));
        if (!msg.test(e.message) || !e.message.startsWith("peerapi: ")) throw new Error(`${JSON.stringify(text.slice(0, 40))}: message ${e.message}`);
      }
    }
  });
});

suite("peerapi DoH", (check) => {
  check("POST and GET carry the same query", () => {
    eq(latin1(dnsQueryOf(one(post(QUERY)))), latin1(QUERY), "POST");
    eq(latin1(dnsQueryOf(one(`GET /dns-query?dns=${b64url(QUERY)} HTTP/1.1\r\nHost: peer\r\n\r\n`))), latin1(QUERY), "GET");
  });
  check("what is refused, with which status", () => {
    eq(status(post(QUERY)), 200, "tailscaled's request");
    eq(status(latin1(post(QUERY)).replace("Host: 100.64.0.2:41641", "Host: [fd7a:115c:a1e0::2]:41641")), 200, "IPv6 Host");
    eq(status(latin1(post(QUERY)).replace("Host: 100.64.0.2:41641", "Host: evil.example:80")), 403, "another Host (DNS rebinding)");
    eq(status(latin1(post(QUERY)).replace("Host: 100.64.0.2:41641\r\n", "")), 400, "no Host");
    eq(status(post(QUERY, "Origin: http://evil.example\r\n")), 403, "from a web page");
    eq(status(latin1(post(QUERY)).replace("/dns-query", "/v0/goroutines")), 404, "other paths");
    eq(status(latin1(post(QUERY)).replace("POST", "PUT")), 405, "PUT");
    eq(status(latin1(post(QUERY)).replace("application/dns-message\r\nAccept", "text/plain\r\nAccept")), 415, "Content-Type");
    eq(status("GET /dns-query HTTP/1.1\r\nHost: peer\r\n\r\n"), 400, "GET without dns");
    eq(status("GET /dns-query?dns=a*b HTTP/1.1\r\nHost: peer\r\n\r\n"), 400, "bad base64url");
    eq(status("GET /dns-query?dns=abcde HTTP/1.1\r\nHost: peer\r\n\r\n"), 400, "base64url of impossible length");
    eq(status(post(QUERY.subarray(0, 11))), 400, "shorter than a DNS header");
    eq(status(post(ANSWER)), 400, "a response, not a query");
    const noQuestion = QUERY.slice(0, 12);
    noQuestion[5] = 0;
    eq(status(post(noQuestion)), 400, "no question");
  });
  check("answers: the DNS message as application/dns-message; errors as text", () => {
    const a = latin1(answerResponse(ANSWER, false));
    if (!a.startsWith(`HTTP/1.1 200 OK\r\nContent-Type: application/dns-message\r\nContent-Length: ${ANSWER.length}\r\n\r\n`)) throw new Error(a);
    eq(a.endsWith(latin1(ANSWER)), true, "body");
    eq(latin1(errorResponse(403, "peerapi: DNS access denied: \u00e9", true)), "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 21\r\nConnection: close\r\n\r\nDNS access denied: ?\n", "error");
  });
});

suite("peerapi access", (check) => {
  const internet: FilterRule = { SrcIPs: ["100.64.0.3", "fd7a:115c:a1e0::3"], DstPorts: [{ IP: "0.0.0.0", Bits: 0, Ports: { First: 0, Last: 65535 } }, { IP: "::", Bits: 0, Ports: { First: 0, Last: 65535 } }] };
  check("the filter as tailscale probes it: TCP to 0.0.0.0:53 / [2000::]:53", () => {
    const src = parseIp("100.64.0.3");
    eq(filterAllowsTcp([internet], src, parseIp("0.0.0.0"), 53), true, "0.0.0.0/0");
    eq(filterAllowsTcp([{ SrcIPs: ["*"], DstPorts: [{ IP: "*", Ports: { First: 0, Last: 65535 } }] }], src, parseIp("0.0.0.0"), 53), true, "*");
    eq(filterAllowsTcp([{ SrcIPs: ["100.64.0.0-100.64.0.9"], DstPorts: [{ IP: "0.0.0.0/1", Ports: { First: 53, Last: 53 } }] }], src, parseIp("0.0.0.0"), 53), true, "range, prefix, port 53");
    eq(filterAllowsTcp([{ SrcIPs: ["100.64.0.3"], DstPorts: [{ IP: "0.0.0.0/0", Ports: { First: 80, Last: 443 } }] }], src, parseIp("0.0.0.0"), 53), false, "other ports");
    eq(filterAllowsTcp([{ SrcIPs: ["100.64.0.3"], DstPorts: [{ IP: "0.0.0.0/0", Ports: { First: 0, Last: 65535 } }], IPProto: [17] }], src, parseIp("0.0.0.0"), 53), false, "UDP only");
    eq(filterAllowsTcp([{ SrcIPs: ["100.64.0.3"], DstPorts: [{ IP: "192.168.1.0/24", Ports: { First: 0, Last: 65535 } }] }], src, parseIp("0.0.0.0"), 53), false, "a subnet only");
    eq(filterAllowsTcp([{ SrcIPs: ["bogus", "100.64.0.4"], DstPorts: [{ IP: "*", Ports: { First: 0, Last: 65535 } }] }], src, parseIp("0.0.0.0"), 53), false, "other sources");
    eq(filterAllowsTcp([internet], parseIp("fd7a:115c:a1e0::3"), parseIp("2000::"), 53), true, "IPv6");
  });
  check("who may ask", () => {
    eq(dnsAccess(netmap([]), true, "100.64.0.1"), null, "a node of the router's own user");
    eq(dnsAccess(netmap([]), true, "fd7a:115c:a1e0:0::1"), null, "the same by IPv6, written otherwise");
    eq(dnsAccess(netmap([internet]), true, "100.64.0.3"), null, "another user's node the ACL lets out");
    eq(dnsAccess(netmap([]), true, "100.64.0.3"), "n3.tailnet.test. may not use this exit node", "another user's node the ACL keeps in");
    eq(dnsAccess(netmap([internet]), true, "100.64.0.9"), "100.64.0.9 is not a peer of this tailnet", "no peer");
    eq(dnsAccess(netmap([internet]), true, "192.168.1.20"), "192.168.1.20 is not a peer of this tailnet", "the LAN");
    eq(dnsAccess(netmap([internet]), false, "100.64.0.1"), "this node is not an exit node", "not an exit node");
  });
});

/**
 * DoubleNet: a double of the host's TCP listener, UDP sockets and timers, in
 * memory, so the server's bounds run in milliseconds: the test plays the
 * client's connections and the resolver.
 */
class DoubleNet {
  now = 0;
  timers: { at: number; fn: () => void }[] = [];
  listener: TcpListener | undefined;
  udp: (UdpSocket & { sent: Uint8Array[]; closed: boolean })[] = [];
  log: string[] = [];
  allow = true;

  readonly api = new PeerApi(
    {
      listenTcp: (ip, port) => {
        if (ip.includes(":")) throw new Error(`listen tcp [${ip}]:${port}: EADDRNOTAVAIL (double)`);
        this.listener = { port: port || 41641, close: () => {}, onConnection: () => {} };
        return this.listener;
      },
      bindUdp: () => {
        const u = { port: 50000 + this.udp.length, sent: [] as Uint8Array[], closed: false, onMessage: () => {}, send(d: Uint8Array) { this.sent.push(d); }, close() { this.closed = true; } };
        this.udp.push(u);
        return u;
      },
      setTimer: (ms, fn) => {
        const t = { at: this.now + ms, fn };
        this.timers.push(t);
        return () => void (this.timers.includes(t) && this.timers.splice(this.timers.indexOf(t), 1));
      },
      log: (l, m) => void this.log.push(`${l} ${m}`),
      access: () => (this.allow ? null : "n3 may not use this exit node"),
    },
    { resolver: { ip: "127.0.0.1", port: 53 } },
  );

  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const t = this.timers[0];
      if (!t || t.at > until) break;
      this.timers.shift();
      this.now = t.at;
      t.fn();
    }
    this.now = until;
  }

  /** A client connection: what it was sent, and whether the server closed it. */
  connect(from = "100.64.0.3"): { send(b: Uint8Array | string): void; got(): string; closed(): boolean; hangUp(): void } {
    let out = "";
    let closed = false;
    const conn: ByteStream = { write: (b) => void (out += latin1(b)), close: () => void (closed = true), onData: () => {}, onClose: () => {}, queuedBytes: 0 };
    this.listener!.onConnection(conn, from, 40000);
    return { send: (b) => conn.onData(typeof b === "string" ? ascii(b) : b), got: () => out, closed: () => closed, hangUp: () => conn.onClose() };
  }

  /** The resolver answers the last query sent to it. */
  answer(from = "127.0.0.1", port = 53, dns = ANSWER): void {
    this.udp[this.udp.length - 1]!.onMessage(dns, from, port);
  }
}

/** Lets the server's promise chains run (no timers in every engine the suite runs on). */
const settle = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

suite("peerapi server (with DoubleNet)", (check) => {
  check("listens on the tailnet addresses; a family that fails is left out, said once; services as tailscale's", () => {
    const net = new DoubleNet();
    eq(net.api.listen(["fd7a:115c:a1e0::2", "100.64.0.2"]), true, "changed");
    eq(JSON.stringify(net.api.services), '[{"Proto":"peerapi4","Port":41641},{"Proto":"peerapi-dns-proxy","Port":1}]', "services");
    eq(net.log.filter((l) => l.startsWith("warn") && l.includes("EADDRNOTAVAIL")).length, 1, "IPv6 failure said");
    eq(net.api.listen(["100.64.0.2", "fd7a:115c:a1e0::2"]), false, "same addresses: nothing to do");
  });
  check("a query is forwarded to the resolver and its answer returned; the connection stays open for the next", async () => {
    const net = new DoubleNet();
    net.api.listen(["100.64.0.2"]);
    const c = net.connect();
    c.send(post(QUERY));
    await settle();
    eq(latin1(net.udp[0]!.sent[0]!), latin1(QUERY), "forwarded as is");
    net.answer("127.0.0.1", 5353); // from elsewhere: not the answer
    net.answer("127.0.0.1", 53, QUERY); // not a response
    net.answer();
    await settle();
    eq(c.got().startsWith("HTTP/1.1 200 OK\r\nContent-Type: application/dns-message\r\n"), true, c.got().slice(0, 60));
    eq(c.got().endsWith(latin1(ANSWER)), true, "the answer");
    eq(net.udp[0]!.closed, true, "its socket closed");
    eq(c.closed(), false, "kept alive");
    c.send(post(QUERY));
    await settle();
    net.answer();
    await settle();
    eq(c.got().split("HTTP/1.1 200").length - 1, 2, "second answer on the same connection");
  });
  check("bad input: a clear 4xx, the connection closed, the server serving the next", async () => {
    const net = new DoubleNet();
    net.api.listen(["100.64.0.2"]);
    const bad = net.connect();
    bad.send("GARBAGE\r\n\r\n");
    await settle();
    eq(bad.got().startsWith("HTTP/1.1 400 Bad Request\r\n"), true, bad.got());
    eq(bad.got().includes("malformed request line"), true, "says why");
    eq(bad.closed(), true, "closed");
    const denied = net.connect();
    net.allow = false;
    denied.send(post(QUERY));
    await settle();
    eq(denied.got().startsWith("HTTP/1.1 403 Forbidden"), true, denied.got());
    eq(denied.got().includes("DNS access denied: n3 may not use this exit node"), true, "says why");
    eq(net.udp.length, 0, "nothing asked of the resolver");
    net.allow = true;
    const good = net.connect();
    good.send(post(QUERY));
    await settle();
    net.answer();
    await settle();
    eq(good.got().startsWith("HTTP/1.1 200 OK"), true, "still serving");
  });
  check("the resolver silent: 504 after 5 s, its socket closed", async () => {
    const net = new DoubleNet();
    net.api.listen(["100.64.0.2"]);
    const c = net.connect();
    c.send(post(QUERY));
    await settle();
    net.advance(DNS_MS);
    await settle();
    eq(c.got().startsWith("HTTP/1.1 504 Gateway Timeout"), true, c.got());
    eq(net.udp[0]!.closed, true, "socket closed");
  });
  check("bounds: connections, requests sent ahead, idle and slow connections", async () => {
    const net = new DoubleNet();
    net.api.listen(["100.64.0.2"]);
    const conns = Array.from({ length: MAX_CONNECTIONS }, () => net.connect());
    const extra = net.connect();
    eq(extra.closed(), true, "one too many: closed");
    eq(extra.got().startsWith("HTTP/1.1 503"), true, "and told");
    conns[0]!.hangUp();
    eq(net.connect().closed(), false, "a slot freed by a client hanging up");
    const ahead = conns[1]!;
    ahead.send(concat(...Array.from({ length: MAX_QUEUED + 2 }, () => post(QUERY))));
    await settle();
    eq(ahead.got().includes("429 Too Many Requests"), true, ahead.got().slice(0, 80));
    eq(ahead.closed(), true, "closed");
    const slow = conns[2]!;
    slow.send("POST /dns-query HTTP/1.1\r\n");
    for (let i = 0; i < 9; i++) {
      net.advance(1000);
      slow.send("X");
    }
    eq(slow.closed(), false, "within the request time");
    net.advance(REQUEST_MS - 9000);
    eq(slow.closed(), true, "a request trickled in: closed at 10 s from its first byte");
    const idle = conns[3]!;
    net.advance(IDLE_MS - REQUEST_MS);
    eq(idle.closed(), true, "idle for 30 s: closed");
    net.api.stop();
    eq(conns.every((c, i) => i === 0 || c.closed()), true, "stop closes every connection");
  });
});
