// What the bundle expects from a JavaScript environment and QuickJS lacks,
// backed by the runtime. Imported first by every entry.
import { utf8Decode, utf8Encode } from "../util/utf8.js";
import { useAsciiText } from "../util/json-scan.js";
import { native } from "./native.js";

const g = globalThis as Record<string, unknown>;
const n = native();

// ASCII bytes made text in C: a big map message's nodes are parsed from windows of its text (util/json-scan.ts).
const ascii = (n as { asciiText?: (b: Uint8Array) => string | null }).asciiText;
if (ascii) useAsciiText(ascii);

if (!g.crypto) {
  g.crypto = {
    getRandomValues<T extends ArrayBufferView>(a: T): T {
      const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
      for (let off = 0; off < bytes.length; off += 256) bytes.set(n.random(Math.min(256, bytes.length - off)), off);
      return a;
    },
  };
}

if (!g.TextEncoder) {
  g.TextEncoder = class {
    readonly encoding = "utf-8";
    encode(s = ""): Uint8Array {
      return utf8Encode(s);
    }
  };
}

if (!g.TextDecoder) {
  g.TextDecoder = class {
    readonly encoding = "utf-8";
    decode(b?: ArrayBufferView): string {
      return b ? utf8Decode(new Uint8Array(b.buffer, b.byteOffset, b.byteLength)) : "";
    }
  };
}

if (!Object.hasOwn) {
  Object.defineProperty(Object, "hasOwn", { value: (o: object, k: PropertyKey) => Object.prototype.hasOwnProperty.call(o, k) });
}

const show = (args: unknown[]) => args.map((a) => (typeof a === "string" ? a : a instanceof Error ? (a.stack ?? a.message) : JSON.stringify(a))).join(" ");
g.console = {
  log: (...a: unknown[]) => n.log("info", show(a)),
  info: (...a: unknown[]) => n.log("info", show(a)),
  warn: (...a: unknown[]) => n.log("warn", show(a)),
  error: (...a: unknown[]) => n.log("error", show(a)),
  debug: (...a: unknown[]) => n.log("debug", show(a)),
};
