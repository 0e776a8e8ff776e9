// openwrt/uci.ts and config.ts: /etc/config/meshwrt as a person edits it,
// damaged byte by byte (libuci's reader takes any bytes: NULs, CRs, non-UTF-8),
// then the settings read from it, then each option's own value parser.
import { OPTIONS, readSettings } from "../../../agent/src/openwrt/config.js";
import { parseUci } from "../../../agent/src/openwrt/uci.js";
import { utf8Encode } from "../../../agent/src/util/utf8.js";
import { mutateText } from "../mutate.js";
import type { Target } from "../runner.js";

const seeds = ([
  `config meshwrt 'main'
\toption enabled '1'
\toption login_server 'https://headscale.example.com'
\toption auth_key "tskey-auth-k1 # not a comment"
\toption hostname router-1
\tlist advertise_routes '192.168.1.0/24'
\tlist advertise_routes "fd00:1::/64"
\toption advertise_exit_node 1 # a comment
\toption listen_port 41641
\toption state_dir /etc/meshwrt/
\toption log_level debug
`,
  `package meshwrt\n\nconfig meshwrt\n\toption advertise_routes '10.0.0.0/8 172.16.0.0/12'\n\toption accept_dns off\n`,
  `config meshwrt main\n\toption login_server 'http://[fd00::1]:8080'\n\toption enabled 'it'\\''s on'\n`,
  `c meshwrt ''; o hostname "multi\nline" ; l lan_device x\\\ny\r\n\toption auth_key\n\tlist auth_key ''\n`,
]).map((s) => utf8Encode(s));

export const uci: Target = {
  name: "uci",
  seeds,
  // UciError is "file:line: reason".
  clean: /^meshwrt:\d+: /,
  parse: (bytes) => readSettings(parseUci(bytes, "meshwrt", "meshwrt")),
};

/** Every option's value parser on mutated values; a bad value is an Error that says what it is not. */
export const configValues: Target<string> = {
  name: "config values",
  seeds: ["1", "off", "https://hs.example.com:443/", "tskey-abc", "router-1", "192.168.1.0/24", "fd00::/64", "41641", "/etc/meshwrt", "warn"],
  clean: /^(is|must|has) /,
  mutate: mutateText,
  parse: (v, report) => {
    for (const o of OPTIONS) {
      try {
        o.parse(v);
      } catch (e) {
        report(e);
      }
    }
  },
};
