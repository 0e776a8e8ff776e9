// Line charts as PNG for the soak's series (resident memory, descriptors over
// time): panels stacked on one time axis, each with its y axis, ticks and
// labels in a 3x5 pixel font, shaded spans for the faults. Pixels through the
// bench's PNG encoder (test/bench/plot-png.ts); no dependency.
import { Raster } from "../bench/plot-png.js";

// 3x5 glyphs, one row per string, "#" set. Only what the soak's labels use.
const GLYPHS: Record<string, string[]> = {
  "0": ["###", "#.#", "#.#", "#.#", "###"], "1": [".#.", "##.", ".#.", ".#.", "###"], "2": ["###", "..#", "###", "#..", "###"],
  "3": ["###", "..#", "###", "..#", "###"], "4": ["#.#", "#.#", "###", "..#", "..#"], "5": ["###", "#..", "###", "..#", "###"],
  "6": ["###", "#..", "###", "#.#", "###"], "7": ["###", "..#", "..#", "..#", "..#"], "8": ["###", "#.#", "###", "#.#", "###"],
  "9": ["###", "#.#", "###", "..#", "###"], ".": ["...", "...", "...", "...", ".#."], "-": ["...", "...", "###", "...", "..."],
  " ": ["...", "...", "...", "...", "..."], ":": ["...", ".#.", "...", ".#.", "..."], "(": [".#.", "#..", "#..", "#..", ".#."], ")": [".#.", "..#", "..#", "..#", ".#."],
  A: [".#.", "#.#", "###", "#.#", "#.#"], B: ["##.", "#.#", "##.", "#.#", "##."], C: ["###", "#..", "#..", "#..", "###"], D: ["##.", "#.#", "#.#", "#.#", "##."],
  E: ["###", "#..", "##.", "#..", "###"], F: ["###", "#..", "##.", "#..", "#.."], G: ["###", "#..", "#.#", "#.#", "###"], H: ["#.#", "#.#", "###", "#.#", "#.#"],
  I: ["###", ".#.", ".#.", ".#.", "###"], K: ["#.#", "#.#", "##.", "#.#", "#.#"], L: ["#..", "#..", "#..", "#..", "###"], M: ["#.#", "###", "###", "#.#", "#.#"],
  N: ["##.", "#.#", "#.#", "#.#", "#.#"], O: ["###", "#.#", "#.#", "#.#", "###"], P: ["###", "#.#", "###", "#..", "#.."], R: ["##.", "#.#", "##.", "#.#", "#.#"],
  S: ["###", "#..", "###", "..#", "###"], T: ["###", ".#.", ".#.", ".#.", ".#."], U: ["#.#", "#.#", "#.#", "#.#", "###"], W: ["#.#", "#.#", "###", "###", "#.#"],
  X: ["#.#", "#.#", ".#.", "#.#", "#.#"], Y: ["#.#", "#.#", ".#.", ".#.", ".#."],
};

const SCALE = 2;
const INK = 0x202020;
const GRID = 0xe0e0e0;

function text(r: Raster, x: number, y: number, s: string, color = INK): void {
  for (const [i, ch] of [...s.toUpperCase()].entries()) {
    const g = GLYPHS[ch];
    if (!g) throw new Error(`line chart: no glyph for ${JSON.stringify(ch)} in ${JSON.stringify(s)}`);
    for (let row = 0; row < 5; row++) for (let col = 0; col < 3; col++) if (g[row]![col] === "#") r.fill(x + (i * 4 + col) * SCALE, y + row * SCALE, SCALE, SCALE, color);
  }
}
const textWidth = (s: string) => s.length * 4 * SCALE;

function line(r: Raster, x0: number, y0: number, x1: number, y1: number, color: number): void {
  const steps = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
  for (let i = 0; i <= steps; i++) r.fill(x0 + ((x1 - x0) * i) / steps - 1, y0 + ((y1 - y0) * i) / steps - 1, 2, 2, color);
}

/** A step of 1, 2 or 5 times a power of ten giving about `n` ticks over `span`. */
function tickStep(span: number, n: number): number {
  const raw = span / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw)!;
}

const label = (v: number) => (Math.abs(v) >= 100 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(1));

export interface Panel {
  readonly title: string;
  readonly points: readonly (readonly [x: number, y: number])[];
  readonly color: number;
}

export interface Chart {
  readonly xTitle: string;
  readonly panels: readonly Panel[];
  /** Shaded x ranges (faults), each with a colour and a legend name. */
  readonly spans?: readonly { readonly from: number; readonly to: number; readonly color: number; readonly name: string }[];
}

export function lineChartPng(c: Chart, width = 900, panelHeight = 260): Buffer {
  const left = 90, right = 20, top = 40, gap = 50, bottom = 50;
  const height = top + c.panels.length * panelHeight + (c.panels.length - 1) * gap + bottom;
  const r = new Raster(width, height);
  const xs = c.panels.flatMap((p) => p.points.map(([x]) => x));
  const x0 = Math.min(0, ...xs), x1 = Math.max(x0 + 1e-9, ...xs);
  const plotW = width - left - right;
  const px = (x: number) => left + ((x - x0) / (x1 - x0)) * plotW;
  // The legend of the shaded spans, top left.
  let lx = left;
  for (const name of [...new Set((c.spans ?? []).map((s) => s.name))]) {
    const color = c.spans!.find((s) => s.name === name)!.color;
    r.fill(lx, 12, 14, 12, color);
    text(r, lx + 20, 13, name);
    lx += 20 + textWidth(name) + 30;
  }
  c.panels.forEach((p, i) => {
    const py0 = top + i * (panelHeight + gap);
    const ys = p.points.map(([, y]) => y);
    let lo = Math.min(...ys), hi = Math.max(...ys);
    // Room above and below, and a visible range when the series is flat.
    const pad = Math.max((hi - lo) * 0.15, Math.abs(hi) * 0.05, 1);
    lo = Math.max(0, lo - pad);
    hi += pad;
    const py = (y: number) => py0 + panelHeight - ((y - lo) / (hi - lo)) * panelHeight;
    for (const s of c.spans ?? []) r.fill(px(Math.max(s.from, x0)), py0, px(Math.min(s.to, x1)) - px(Math.max(s.from, x0)), panelHeight, s.color);
    const yStep = tickStep(hi - lo, 5);
    for (let y = Math.ceil(lo / yStep) * yStep; y <= hi; y += yStep) {
      r.fill(left, py(y), plotW, 1, GRID);
      r.fill(left - 6, py(y), 6, 1, INK);
      text(r, left - 10 - textWidth(label(y)), py(y) - 5, label(y));
    }
    const xStep = tickStep(x1 - x0, 10);
    for (let x = Math.ceil(x0 / xStep) * xStep; x <= x1 + 1e-9; x += xStep) {
      r.fill(px(x), py0 + panelHeight, 1, 6, INK);
      text(r, px(x) - textWidth(label(x)) / 2, py0 + panelHeight + 10, label(x));
    }
    r.fill(left, py0, 2, panelHeight, INK);
    r.fill(left, py0 + panelHeight, plotW, 2, INK);
    text(r, left + 8, py0 + 6, p.title, p.color);
    for (let k = 1; k < p.points.length; k++) line(r, px(p.points[k - 1]![0]), py(p.points[k - 1]![1]), px(p.points[k]![0]), py(p.points[k]![1]), p.color);
    for (const [x, y] of p.points) r.fill(px(x) - 2, py(y) - 2, 5, 5, p.color);
  });
  text(r, left + plotW / 2 - textWidth(c.xTitle) / 2, height - 18, c.xTitle);
  return r.png();
}
