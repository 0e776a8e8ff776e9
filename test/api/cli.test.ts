// The CLI's words: each command line turned into its API call, and each
// answer into the text a person reads (the same answer in --json).
import { describe, expect, it } from "vitest";
import { parseCommand, UsageError } from "../../agent/src/cli/commands.js";
import { ago, bytes } from "../../agent/src/cli/format.js";

const NOW = Date.parse("2026-11-22T12:00:00Z");

describe("meshwrt's command line", () => {
  it("turns each command into one API call", () => {
    const m = (...a: string[]) => {
      const c = parseCommand(a);
      return [c.method, c.args, c.json, c.socket];
    };
    expect(m("status")).toEqual(["status", {}, false, undefined]);
    expect(m("peers", "--json")).toEqual(["peers", {}, true, undefined]);
    expect(m("login", "--login-server", "https://hs.example", "--auth-key=tskey-1")).toEqual(["login", { login_server: "https://hs.example", auth_key: "tskey-1" }, false, undefined]);
    expect(m("set", "advertise_routes", "192.168.1.50/32", "192.168.1.60/32", "--socket", "/tmp/s")).toEqual(["set", { option: "advertise_routes", value: "192.168.1.50/32 192.168.1.60/32" }, false, "/tmp/s"]);
    expect(m("set", "hostname")).toEqual(["set", { option: "hostname", value: "" }, false, undefined]);
    expect(m("set", "hostname", "--", "--odd")).toEqual(["set", { option: "hostname", value: "--odd" }, false, undefined]);
    expect(m("ping", "phone")).toEqual(["ping", { peer: "phone" }, false, undefined]);
    const both = parseCommand(["status", "--ubus", "/tmp/u", "--socket", "/tmp/s"]);
    expect([both.ubus, both.socket]).toEqual(["/tmp/u", "/tmp/s"]);
  });

  it("says what is wrong with a command line", () => {
    const e = (...a: string[]) => {
      try {
        parseCommand(a);
      } catch (x) {
        expect(x).toBeInstanceOf(UsageError);
        return (x as Error).message;
      }
      throw new Error("no error");
    };
    expect(e()).toBe("no command");
    expect(e("frob")).toBe('unknown command "frob"');
    expect(e("ping")).toBe("ping: PEER missing");
    expect(e("status", "now")).toBe('status: unexpected "now"');
    expect(e("status", "--auth-key", "x")).toBe("status: unknown option --auth-key");
    expect(e("login", "--auth-key")).toBe("login: --auth-key needs a value");
  });

  it("prints status in words, with the login link and the problems", () => {
    const text = parseCommand(["status"]).render(
      {
        version: "0.1.0", state: "needs-login", authUrl: "https://hs.example/register/abc", health: ["Waiting for approval: open the login link to add this router to the tailnet."],
        addresses: [], peers: { total: 0, online: 0, direct: 0 }, advertisedRoutes: ["192.168.1.0/24"], exitNode: true,
      },
      NOW,
    );
    expect(text).toBe(
      "meshwrt 0.1.0: needs-login\n" +
        "login      https://hs.example/register/abc\n" +
        "peers      0 (0 online, 0 direct)\n" +
        "routes     192.168.1.0/24\n" +
        "exit node  offered\n" +
        "problem    Waiting for approval: open the login link to add this router to the tailnet.\n",
    );
  });

  it("prints peers as a table and the same answer as JSON with --json", () => {
    const answer = {
      peers: [
        { name: "phone", dnsName: "phone.t.example", addresses: ["100.64.0.1"], os: "android", online: true, path: "direct 203.0.113.7:41641, 12 ms", rxBytes: 1536, txBytes: 10, lastHandshake: "2026-11-22T11:59:30Z", routes: [], exitNode: false },
        { name: "nas", dnsName: "nas.t.example", addresses: ["100.64.0.3"], os: "linux", online: false, path: "relay via region 900", rxBytes: 0, txBytes: 0, routes: ["10.1.0.0/24"], exitNode: true },
      ],
    };
    expect(parseCommand(["peers"]).render(answer, NOW)).toBe(
      "NAME   ADDRESS     OS       ONLINE  RX       TX    HANDSHAKE  ROUTES                 PATH\n" +
        "phone  100.64.0.1  android  yes     1.5 KiB  10 B  30s ago    -                      direct 203.0.113.7:41641, 12 ms\n" +
        "nas    100.64.0.3  linux    no      0 B      0 B   never      10.1.0.0/24,exit node  relay via region 900\n",
    );
    expect(JSON.parse(parseCommand(["peers", "--json"]).render(answer, NOW))).toEqual(answer);
  });

  it("prints devices, set, ping and login answers", () => {
    expect(parseCommand(["devices"]).render({ devices: [{ name: "printer", mac: "02:00:00:00:00:50", addresses: ["192.168.1.50"], interface: "br-lan", reachable: true, subnet: "192.168.1.0/24", advertised: true }] }, NOW)).toBe(
      "NAME     ADDRESS       MAC                INTERFACE  SUBNET          SHARED\nprinter  192.168.1.50  02:00:00:00:00:50  br-lan     192.168.1.0/24  yes\n",
    );
    expect(parseCommand(["set", "auth_key", "k"]).render({ option: "auth_key", effect: "restarted" }, NOW)).toBe("auth_key = (hidden): restarted\n");
    expect(parseCommand(["ping", "phone"]).render({ peer: "phone", address: "100.64.0.1", path: "relay via region 900", latencyMs: 3.2 }, NOW)).toBe("pong from phone (100.64.0.1) relay via region 900 in 3.2 ms\n");
    expect(parseCommand(["login"]).render({ state: "needs-login", authUrl: "https://x/register/1", health: [], addresses: [], peers: { total: 0, online: 0, direct: 0 }, advertisedRoutes: [], exitNode: false, version: "v" }, NOW)).toBe(
      "To add this router to the tailnet, open:\n\n\thttps://x/register/1\n\n",
    );
  });

  it("writes sizes and ages the short way", () => {
    expect([bytes(0), bytes(1023), bytes(1024), bytes(5 * 2 ** 30)]).toEqual(["0 B", "1023 B", "1.0 KiB", "5.0 GiB"]);
    expect([ago(undefined, NOW), ago("2026-11-22T11:00:00Z", NOW), ago("2026-11-19T12:00:00Z", NOW)]).toEqual(["never", "60m ago", "3d ago"]);
  });
});
