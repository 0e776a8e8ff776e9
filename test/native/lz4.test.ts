// The decoder of the packed bytecode (agent/native/lz4.c), run against the build's encoder
// (build/lz4-pack.h) under AddressSanitizer and UBSan: edge cases, the real bytecode as
// qjsc-target packs it for a router, and damaged streams, which must fail cleanly or decode
// in bounds (a stray read or write aborts the run). The decoder on the real binary at every
// start is covered by host.test.ts and the qemu-user tests.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");
let work: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "meshwrt-lz4-"));
  execFileSync("make", ["--no-print-directory", "build/out/meshwrt.js", "build/out/deps.env"], { cwd: ROOT, stdio: "inherit" });
  execFileSync("gcc", ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-Wall", "-Wextra", "-Werror",
    "-o", join(work, "lz4-check"), join(ROOT, "test/native/lz4-check.c"), join(ROOT, "agent/native/lz4.c")]);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

// The QJSC line of build/out/deps.env: the bundle compiler this build uses.
function qjsc(): string {
  const m = /^QJSC='(.*)'$/m.exec(readFileSync(join(ROOT, "build/out/deps.env"), "utf8"));
  if (!m) throw new Error("build/out/deps.env has no QJSC");
  return m[1]!;
}

describe("the packed bytecode's decoder", () => {
  it("round-trips the edge cases, the real bytecode for big-endian MIPS and the bundle, and refuses damaged streams without a stray access", () => {
    const c = join(work, "meshwrt.c");
    execFileSync(qjsc(), ["-s", "-e", "big", "-N", "bc", "-o", c, join(ROOT, "build/out/meshwrt.js")]);
    const src = readFileSync(c, "utf8");
    const unpacked = Number(/bc_unpacked_size = (\d+);/.exec(src)![1]);
    const size = Number(/bc_size = (\d+);/.exec(src)![1]);
    const bytes = Buffer.from([...src.slice(src.indexOf("{")).matchAll(/0x([0-9a-f]{2})/g)].map((m) => parseInt(m[1]!, 16)));
    expect(bytes.length).toBe(size);
    expect(size).toBeLessThan(unpacked * 0.7);
    writeFileSync(join(work, "meshwrt.lz4"), bytes);

    const out = execFileSync(join(work, "lz4-check"), ["-p", String(unpacked), join(work, "meshwrt.lz4"), join(ROOT, "build/out/meshwrt.js")],
      { encoding: "utf8", timeout: 300_000 });
    expect(out).toContain(`meshwrt.lz4: ${unpacked} -> ${size} bytes`);
    expect(out).toMatch(/^ok \d+$/m);
  }, 300_000);
});
