// UCI files as OpenWrt writes and people edit them, and meshwrt's settings
// with the exact messages a bad value gets.
import { readSettings } from "../../agent/src/openwrt/config.js";
import { formatUci, parseUci } from "../../agent/src/openwrt/uci.js";
import { formatPrefix } from "../../agent/src/netaddr/ip.js";
import { eq, suite, throws } from "./check.js";

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
    eq(formatUci(p, true).startsWith("\npackage network\n\nconfig interface 'loopback'"), true, "export with package line");
  });
  check("a named section given twice is one section", () => {
    const p = parseUci("config meshwrt 'main'\n\toption enabled '0'\nconfig meshwrt 'main'\n\toption listen_port '41642'\n", "m", "meshwrt");
    eq(p.sections.length, 1, "merged");
    eq(p.sections[0]!.options.get("listen_port"), "41642", "second part kept");
  });
  check("syntax errors name the file and line", () => {
    throws(() => parseUci("config meshwrt 'main'\n\toption enabled '1\n", "/etc/config/meshwrt", "meshwrt"), /^\/etc\/config\/meshwrt:2: unterminated '$/, "quote");
    throws(() => parseUci("option enabled 1\n", "f", "p"), /^f:1: "option" outside a section$/, "orphan option");
    throws(() => parseUci("config meshwrt 'ma-in'\n", "f", "p"), /^f:1: invalid section name "ma-in"$/, "name");
    throws(() => parseUci("confg x\n", "f", "p"), /^f:1: unknown keyword "confg"$/, "keyword");
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
