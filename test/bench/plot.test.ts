// The bench's PNG: a file any decoder reads (chunks and CRCs checked here, the
// pixels inflated by node:zlib), with bars as long as their values.
import { gzipSync, inflateSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { barChart } from "./plot.js";
import { Raster } from "./plot-png.js";

/** The image's size and RGB rows, checking the signature, each chunk's CRC (against zlib's) and the filter bytes. */
function decode(png: Buffer): { width: number; height: number; pixel(x: number, y: number): number } {
  expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  let at = 8;
  let width = 0, height = 0;
  const idat: Buffer[] = [];
  const types: string[] = [];
  while (at < png.length) {
    const len = png.readUInt32BE(at);
    const type = png.toString("latin1", at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + len);
    // A CRC computed independently of plot-png's table: zlib's crc32 of type and data via a gzip trailer.
    const gz = (b: Buffer) => {
      const z = gzipSync(b);
      return z.readUInt32LE(z.length - 8);
    };
    expect(png.readUInt32BE(at + 8 + len), `${type} CRC`).toBe(gz(png.subarray(at + 4, at + 8 + len)));
    if (type === "IHDR") [width, height] = [data.readUInt32BE(0), data.readUInt32BE(4)];
    if (type === "IDAT") idat.push(data);
    types.push(type);
    at += 12 + len;
  }
  expect(types).toEqual(["IHDR", "IDAT", "IEND"]);
  const raw = inflateSync(Buffer.concat(idat));
  expect(raw.length).toBe((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) expect(raw[y * (width * 3 + 1)]).toBe(0);
  return {
    width,
    height,
    pixel: (x, y) => {
      const i = y * (width * 3 + 1) + 1 + x * 3;
      return (raw[i]! << 16) | (raw[i + 1]! << 8) | raw[i + 2]!;
    },
  };
}

describe("the bench's plot", () => {
  it("a raster round-trips through the encoder", () => {
    const r = new Raster(7, 5);
    r.fill(2, 1, 3, 2, 0x123456);
    const img = decode(r.png());
    expect([img.width, img.height]).toEqual([7, 5]);
    expect(img.pixel(2, 1)).toBe(0x123456);
    expect(img.pixel(4, 2)).toBe(0x123456);
    expect(img.pixel(5, 2)).toBe(0xffffff);
    expect(img.pixel(0, 0)).toBe(0xffffff);
  });

  it("bars on one scale: a value half the largest draws half as long", () => {
    const img = decode(barChart({ title: "T", series: ["up"], groups: [{ name: "G", bars: [{ label: "A", values: [100] }, { label: "B", values: [50] }] }] }));
    const UP = 0x2f6db5;
    // Each bar's length: the run of the series colour along the row through its middle.
    const lengths: number[] = [];
    for (let y = 0; y < img.height; y++) {
      let n = 0;
      for (let x = 0; x < img.width; x++) if (img.pixel(x, y) === UP) n++;
      if (n > 20 && lengths[lengths.length - 1] !== n) lengths.push(n);
    }
    expect(lengths).toHaveLength(2);
    expect(lengths[1]! / lengths[0]!).toBeCloseTo(0.5, 2);
  });

  it("refuses an image without pixels", () => {
    expect(() => new Raster(0, 10)).toThrow(/not an image size/);
  });
});
