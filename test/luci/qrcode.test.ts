// The page's own QR encoder (luci-app/.../meshwrt/qrcode.js), loaded the way
// LuCI's loader does (a factory of window, document, L and the required
// classes, whose class is instantiated). Checked two ways: module for module
// against codes made by libqrencode 4.1.1 (fixtures/, made with
// `qrencode -8 -l LEVEL -v VERSION -m 0 -t ASCII`; same mask forced, since
// mask choice is a scoring detail), and decoded back by jsQR.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import jsQR from "jsqr";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");
const FIXTURES = join(import.meta.dirname, "fixtures");

interface Qr {
  version: number;
  level: string;
  mask: number;
  size: number;
  modules: boolean[][];
}
interface QrModule {
  encode(text: string, opts?: { level?: "L" | "M"; mask?: number }): Qr;
}

/** LuCI's baseclass, as far as a module that only extends it needs. */
const baseclass = {
  extend(proto: object) {
    return Object.assign(function Class() {}, { prototype: proto });
  },
};

function loadQr(): QrModule {
  const src = readFileSync(join(ROOT, "luci-app/htdocs/luci-static/resources/meshwrt/qrcode.js"), "utf8");
  const Class = new Function("window", "document", "L", "baseclass", src)({}, {}, {}, baseclass) as new () => QrModule;
  return new Class();
}

const qr = loadQr();

/** "##" dark, "  " light, one row a line. */
const parseAscii = (text: string) => text.replace(/\n$/, "").split("\n").map((l) => l.match(/../g)!.map((p) => p === "##"));

/** The mask a code was drawn with, from its format information (first copy, around the top-left finder). */
function maskOf(m: boolean[][]): number {
  const bits = [0, 1, 2, 3, 4, 5, 7, 8].map((r) => m[r]![8]!).concat([7, 5, 4, 3, 2, 1, 0].map((c) => m[8]![c]!));
  const f = bits.reduce((acc, b, i) => acc | (Number(b) << i), 0) ^ 0x5412;
  return (f >> 10) & 7;
}

/** An RGBA image of the code, 4 pixels a module, with a 4-module quiet zone. */
function raster(q: Qr) {
  const scale = 4, n = (q.size + 8) * scale;
  const px = new Uint8ClampedArray(n * n * 4).fill(255);
  for (let y = 0; y < n; y++)
    for (let x = 0; x < n; x++) {
      const r = Math.floor(y / scale) - 4, c = Math.floor(x / scale) - 4;
      if (q.modules[r]?.[c]) px.fill(0, (y * n + x) * 4, (y * n + x) * 4 + 3);
    }
  return { px, n };
}

describe("the login QR encoder", () => {
  const fixtures = readdirSync(FIXTURES).filter((f) => f.endsWith(".txt"));

  it.each(fixtures)("matches libqrencode's %s module for module", (file) => {
    const [, level, version] = /^qr-([LM])-v(\d+)\.txt$/.exec(file)!;
    const want = parseAscii(readFileSync(join(FIXTURES, file), "utf8"));
    const text = readFileSync(join(FIXTURES, file.replace(/\.txt$/, ".input")), "utf8");
    const got = qr.encode(text, { level: level as "L" | "M", mask: maskOf(want) });
    expect(got.version).toBe(Number(version));
    expect(got.size).toBe(want.length);
    expect(got.modules.map((r) => r.map((d) => (d ? "#" : ".")).join(""))).toEqual(want.map((r) => r.map((d) => (d ? "#" : ".")).join("")));
  });

  it("picks the smallest version and a mask by penalty; every version 1-10 at L and M decodes back", () => {
    for (const level of ["L", "M"] as const) {
      for (let len = 1, last = 0; len <= 270; len += 7) {
        const text = `http://x/${"ab1-_".repeat(60)}`.slice(0, len);
        let q: Qr;
        try {
          q = qr.encode(text, { level });
        } catch (e) {
          expect((e as Error).message).toMatch(/do not fit in version 10/);
          expect(last).toBe(10);
          break;
        }
        expect(q.version).toBeGreaterThanOrEqual(last);
        last = q.version;
        const { px, n } = raster(q);
        expect(jsQR(px, n, n)?.data, `${len} bytes at ${level}, version ${q.version}`).toBe(text);
      }
    }
  });

  it("a Headscale login link with non-ASCII text round-trips as UTF-8", () => {
    const link = "http://100.64.0.7:8080/register/mkey:0123abcd?name=küche";
    const q = qr.encode(link);
    expect(q.level).toBe("M");
    const { px, n } = raster(q);
    expect(jsQR(px, n, n)?.data).toBe(link);
  });
});
