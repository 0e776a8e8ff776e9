// UCI files as OpenWrt writes and people edit them, and meshwrt's settings
// with the exact messages a bad value gets.
import { readSettings } from "../../agent/src/openwrt/config.js";
import { setOption } from "../../agent/src/openwrt/config-edit.js";
import { encodeUci, formatUci, parseUci } from "../../agent/src/openwrt/uci.js";
import { utf8Encode } from "../../agent/src/util/utf8.js";
import { formatPrefix } from "../../agent/src/netaddr/ip.js";
import { eq, eqBytes, suite, throws } from "./check.js";

// Shaped like a stock OpenWrt /etc/config/network after a user's edits.
const network = `
config interface 'loopback'
	option device 'lo'
	option proto 'static'
	option ipaddr '127.0.0.1'
	option netmask '255.0.0.0'

config globals 'globals'
	option ula_prefix 'fd12:3456:789a::/48'

config device
	option name 'br-lan'
	option type 'bridge'
	list ports 'lan1'
	list ports 'lan2'   # the garage port
	list ports "lan3"

# the house LAN
config interface 'lan'
	option device 'br-lan'
	option proto static
	option ipaddr '192.168.1.1'
	option netmask '255.255.255.0'
	option description 'it'\\''s "home"'
	option note "tab\\there"
`;

suite("uci", (check) => {
  check("a real-world file: comments, quoting, lists, anonymous sections", () => {
    const p = parseUci(network, "/etc/config/network", "network");
    eq(p.sections.length, 4, "sections");
    eq(p.sections[2]!.name, undefined, "anonymous device section");
    eq((p.sections[2]!.options.get("ports") as string[]).join(","), "lan1,lan2,lan3", "list");
    const lan = p.sections[3]!;
    eq(lan.options.get("proto"), "static", "unquoted value");
    eq(lan.options.get("description"), `it's "home"`, "single-quote escape idiom");
    eq(lan.options.get("note"), "tabthere", "backslash in double quotes escapes the next character");
  });
  check("written back as uci commit writes it, and read back the same", () => {
    const p = parseUci(network, "network", "network");
    const text = formatUci(p);
    eq(text.startsWith("\nconfig interface 'loopback'\n\toption device 'lo'\n"), true, "layout");
    eq(text.includes("\tlist ports 'lan2'\n"), true, "list lines");
    eq(text.includes(`\toption description 'it'\\''s "home"'\n`), true, "quote escaped");
    eq(formatUci(parseUci(text, "network", "network")), text, "stable round trip");
    eq(formatUci(p, true).startsWith("package network\n\nconfig interface 'loopback'"), true, "export with package line, as uci export prints it");
  });
  check("a named section given twice is one section", () => {
    const p = parseUci("config meshwrt 'main'\n\toption enabled '0'\nconfig meshwrt 'main'\n\toption listen_port '41642'\n", "m", "meshwrt");
    eq(p.sections.length, 1, "merged");
    eq(p.sections[0]!.options.get("listen_port"), "41642", "second part kept");
  });
  // libuci's own rules (uci's file.c and list.c); test/openwrt/uci.test.ts holds the agent to the real libuci.
  const one = (body: string) => formatUci(parseUci(`config s 'x'\n${body}`, "f", "p"));
  check("option then list keeps both values; a later option replaces the list in place", () => {
    eq(one("\toption a '1'\n\tlist a '2'\n\toption b 'c'\n"), "\nconfig s 'x'\n\tlist a '1'\n\tlist a '2'\n\toption b 'c'\n\n", "option, list");
    eq(one("\tlist a '1'\n\toption b 'c'\n\toption a '3'\n"), "\nconfig s 'x'\n\toption a '3'\n\toption b 'c'\n\n", "list, option");
  });
  check("an option without a value, or with an empty one, is ignored; an empty list item is kept", () => {
    eq(one("\toption hostname\n\toption a 'b'\n\toption a ''\n\tlist l\n"), "\nconfig s 'x'\n\toption a 'b'\n\tlist l ''\n\n", "values");
  });
  check("one-letter keywords, vertical tab and form feed as blanks between arguments, ';' between commands", () => {
    eq(formatUci(parseUci("c s\vx\n o a\f'b'; l c 'd'; l c e\n", "f", "p")), "\nconfig s 'x'\n\toption a 'b'\n\tlist c 'd'\n\tlist c 'e'\n\n", "parsed");
    throws(() => parseUci("config\vs x\n", "f", "p"), /^f:1: invalid command: "config\\u000bs"/, "but the keyword ends at a space or tab only");
  });
  check("quotes over several lines, backslash-newline, config type ''", () => {
    eq(one("\toption a 'one\ntwo'\n\toption b \"x\\\ny\"\n\toption c d\\\ne\n"), "\nconfig s 'x'\n\toption a 'one\ntwo'\n\toption b 'xy'\n\toption c 'de'\n\n", "values");
    eq(parseUci("config meshwrt ''\n", "f", "p").sections[0]!.name, undefined, "anonymous");
  });
  check("a NUL byte ends its line and joins the next; other bytes are kept as they are", () => {
    const bytes = Uint8Array.from([...utf8Encode("config s 'x'\n\toption a 'b'"), 0, ...utf8Encode("junk\n#x\n\toption c '"), 0xe9, 0xff, ...utf8Encode("\u00e9'\n")]);
    const p = parseUci(bytes, "f", "p");
    eq(p.sections[0]!.options.get("a"), "b", "NUL");
    eq(p.sections[0]!.options.get("c"), "\udce9\udcff\u00e9", "raw bytes kept apart from UTF-8");
    eqBytes(encodeUci(p), Uint8Array.from([...utf8Encode("\nconfig s 'x'\n\toption a 'b'\n\toption c '"), 0xe9, 0xff, 0xc3, 0xa9, ...utf8Encode("'\n\n")]), "written back byte for byte");
  });
  check("syntax errors name the file, the line and libuci's reason", () => {
    throws(() => parseUci("config meshwrt 'main'\n\toption enabled '1\n", "/etc/config/meshwrt", "meshwrt"), /^\/etc\/config\/meshwrt:2: EOF with unterminated '$/, "quote");
    throws(() => parseUci("option enabled 1\n", "f", "p"), /^f:1: option\/list command found before the first section$/, "orphan option");
    throws(() => parseUci("config meshwrt 'ma-in'\n", "f", "p"), /^f:1: invalid character in name field: section name "ma-in"$/, "name");
    throws(() => parseUci("\nconfg x\n", "f", "p"), /^f:2: invalid command: "confg" \(want config, option, list or package\)$/, "keyword");
    throws(() => parseUci("conf x\n", "f", "p"), /^f:1: invalid command: "conf"/, "no abbreviations but one letter");
    throws(() => parseUci("config a 'x'\nconfig b 'x'\n", "f", "p"), /^f:2: section of different type overwrites prior section with same name: "x" is a "a", not a "b"$/, "one name, two types");
    throws(() => parseUci("config a x\n\toption b c d\n", "f", "p"), /^f:2: too many arguments: "d" is one too many$/, "arguments");
  });
});

suite("meshwrt settings", (check) => {
  const read = (body: string) => readSettings(parseUci(`config meshwrt 'main'\n${body}`, "/etc/config/meshwrt", "meshwrt"));
  check("defaults are safe: disabled, SNAT on, port 41641", () => {
    const r = read("");
    eq(r.errors.length, 0, "no errors");
    eq(r.settings.enabled, false, "disabled");
    eq(r.settings.snatSubnetRoutes, true, "snat");
    eq(r.settings.listenPort, 41641, "port");
  });
  check("typed values and lists", () => {
    const r = read("\toption enabled 'yes'\n\toption login_server 'https://hs.example.com/'\n\tlist advertise_routes '192.168.1.50/32'\n\tlist advertise_routes '192.168.1.60/32'\n\toption log_level 'debug'\n");
    eq(r.errors.join("; "), "", "no errors");
    eq(r.settings.enabled, true, "enabled");
    eq(r.settings.loginServer, "https://hs.example.com", "trailing slash dropped");
    eq(r.settings.advertiseRoutes.map(formatPrefix).join(" "), "192.168.1.50/32 192.168.1.60/32", "routes");
  });
  check("an edit writes only what libuci reads back the same", () => {
    const p = parseUci("config meshwrt 'main'\n\toption hostname 'r1'\n", "meshwrt", "meshwrt");
    eq(setOption(p, "hostname", [""]).sections[0]!.options.has("hostname"), false, "an empty value removes the option, as libuci ignores option x ''");
    throws(() => setOption(p, "auth_key", ["a\0b"]), /^meshwrt\.main\.auth_key: "a\\u0000b" is not text UCI can store/, "NUL");
    throws(() => setOption(p, "auth_key", ["a\udc80"]), /is not text UCI can store/, "unpaired surrogate");
    eq(setOption(p, "auth_key", ["k\ud83d\ude00"]).sections[0]!.options.get("auth_key"), "k\ud83d\ude00", "a pair is text");
  });
  check("bad values: section, option, value and reason", () => {
    const r = read("\toption listen_port '70000'\n\tlist advertise_routes '192.168.1.7/24'\n\tlist advertise_routes 'printer'\n\toption enabled 'maybe'\n\toption colour 'blue'\n\toption login_server 'ftp://x'\n");
    eq(r.errors.join("\n"), [
      'meshwrt.main.listen_port: "70000" is not a port (1-65535)',
      'meshwrt.main.advertise_routes: "192.168.1.7/24" has host bits set (did you mean 192.168.1.0/24?)',
      'meshwrt.main.advertise_routes: "printer" is not an IP prefix such as 192.168.1.0/24',
      'meshwrt.main.enabled: "maybe" is not a boolean (0 or 1)',
      "meshwrt.main.colour: unknown option",
      'meshwrt.main.login_server: "ftp://x" is not a login server URL such as https://headscale.example.com',
    ].join("\n"), "messages");
  });
});
