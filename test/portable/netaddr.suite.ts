import { base64Decode, base64Encode } from "../../agent/src/util/base64.js";
import { formatEndpoint, formatIp, maskPrefix, formatPrefix, parseEndpoint, parseIp, parsePrefix, prefixContains } from "../../agent/src/netaddr/ip.js";
import { eq, eqBytes, suite, throws } from "./check.js";

suite("netaddr", (check) => {
  check("a prefix contains the addresses under its bits, of its own family only", () => {
    const has = (p: string, ip: string) => prefixContains(parsePrefix(p), parseIp(ip));
    eq(has("192.168.72.0/24", "192.168.72.23"), true, "inside");
    eq(has("192.168.72.0/24", "192.168.73.1"), false, "next /24");
    eq(has("100.64.0.0/10", "100.127.255.255"), true, "last of a /10");
    eq(has("100.64.0.0/10", "100.128.0.1"), false, "past a /10");
    eq(has("100.64.0.2/32", "100.64.0.2"), true, "a host route");
    eq(has("0.0.0.0/0", "8.8.8.8"), true, "the default route");
    eq(has("0.0.0.0/0", "::1"), false, "another family");
    eq(has("fd7a:115c:a1e0::/48", "fd7a:115c:a1e0:0:1::5"), true, "IPv6");
  });
  check("IPv4 round trip", () => {
    eqBytes(parseIp("100.64.0.1"), "64400001", "bytes");
    eq(formatIp(parseIp("192.168.1.50")), "192.168.1.50", "text");
  });
  check("IPv6 forms (RFC 5952)", () => {
    eq(formatIp(parseIp("fd7a:115c:a1e0:0:0:0:0:1")), "fd7a:115c:a1e0::1", "compressed");
    eq(formatIp(parseIp("::")), "::", "unspecified");
    eq(formatIp(parseIp("::1")), "::1", "loopback");
    eq(formatIp(parseIp("2001:db8:0:0:1:0:0:1")), "2001:db8::1:0:0:1", "first longest run");
    eq(formatIp(parseIp("2001:db8:0:1:1:1:1:1")), "2001:db8:0:1:1:1:1:1", "single zero group stays");
    eq(formatIp(parseIp("::ffff:192.0.2.1")), "::ffff:c000:201", "embedded IPv4");
  });
  check("bad addresses are refused", () => {
    for (const bad of ["", "1.2.3", "1.2.3.256", "01.2.3.4", "1:2:3:4:5:6:7:8:9", "1::2::3", "fe80::1%eth0", "12345::"]) {
      throws(() => parseIp(bad), /bad IP address/, JSON.stringify(bad));
    }
  });
  check("prefixes and masking", () => {
    const p = parsePrefix("192.168.1.77/24");
    eq(formatPrefix(maskPrefix(p)), "192.168.1.0/24", "masked v4");
    eq(formatPrefix(maskPrefix(parsePrefix("fd7a:115c:a1e0:ab12:4843:cd96:6258:b240/48"))), "fd7a:115c:a1e0::/48", "masked v6");
    eq(parsePrefix("10.0.0.1").bits, 32, "host prefix");
    throws(() => parsePrefix("10.0.0.0/33"), /bad prefix length/, "too long");
  });
  check("endpoints", () => {
    eq(formatEndpoint(parseEndpoint("203.0.113.7:41641")), "203.0.113.7:41641", "v4");
    eq(formatEndpoint(parseEndpoint("[2001:db8::7]:41641")), "[2001:db8::7]:41641", "v6");
    throws(() => parseEndpoint("203.0.113.7:0"), /bad port/, "port 0");
    throws(() => parseEndpoint("2001:db8::7:41641"), /bad endpoint/, "v6 without brackets");
  });
});

suite("base64 (RFC 4648 vectors)", (check) => {
  const vectors: [string, string][] = [["", ""], ["f", "Zg=="], ["fo", "Zm8="], ["foo", "Zm9v"], ["foob", "Zm9vYg=="], ["fooba", "Zm9vYmE="], ["foobar", "Zm9vYmFy"]];
  check("encode and decode", () => {
    for (const [plain, enc] of vectors) {
      eq(base64Encode(Uint8Array.from(plain, (c) => c.charCodeAt(0))), enc, `encode ${plain}`);
      eq(String.fromCharCode(...base64Decode(enc)), plain, `decode ${enc}`);
    }
  });
  check("bad input is refused", () => throws(() => base64Decode("Zm9v!"), /base64: bad character "!"/, "bad character"));
});
