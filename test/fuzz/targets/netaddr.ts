// netaddr/ip.ts: addresses, prefixes and endpoints as the netmap and UCI write them.
import { formatIp, parseEndpoint, parseIp, parsePrefix } from "../../../agent/src/netaddr/ip.js";
import { mutateText } from "../mutate.js";
import type { Target } from "../runner.js";

const seeds = ["192.168.1.1", "10.0.0.0/8", "100.64.0.1/32", "fd7a:115c:a1e0::1", "fd7a:115c:a1e0::/48", "::ffff:1.2.3.4", "::/0", "2001:db8:0:0:1:0:0:1", "[fe80::1]:41641", "1.2.3.4:80"];

export const netaddr: Target<string> = {
  name: "netaddr",
  seeds,
  clean: /^(bad (IP address|prefix length|endpoint|port)|IP address of)/,
  mutate: mutateText,
  parse: (s, report) => {
    for (const f of [parseIp, (t: string) => parsePrefix(t).ip, (t: string) => parseEndpoint(t).ip]) {
      try {
        const ip = f(s);
        // What parses formats back to text that parses to the same bytes.
        if (formatIp(parseIp(formatIp(ip))).toString() !== formatIp(ip)) throw new Error(`round trip of ${s}`);
      } catch (e) {
        report(e);
      }
    }
    formatIp(Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff));
  },
};
