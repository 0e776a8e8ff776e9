// Regular expressions in bytecode compiled on this (little-endian) machine must run on a
// big-endian router. QuickJS keeps a regexp literal's compiled form as an opaque string in
// the bytecode, in the compiling CPU's byte order, and never swaps it on load; the build's
// compiler (build/qjsc-target.c) writes it in the target's order instead. Proven with the
// real QuickJS library cross-built for MIPS (build/deps.sh) run by Debian's qemu-user:
// the target's order gives the answers Node gives for the same script, on both MIPS byte
// orders, and the host's order, which is what a stock qjsc writes, does not on big-endian.
import { execFile, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { runInNewContext } from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");

// Every kind of regexp bytecode: characters (16- and 32-bit), classes (range, range32),
// anchors, alternation and quantifiers (jumps, loops, counters), captures, named groups,
// back references forward and backward, lookahead and lookbehind, empty-match checks.
const SCRIPT = String.raw`
var r = [];
r.push(/a(b+)c/.exec("xxabbbcx")[1]);
r.push("2024-05-06".replace(/(\d+)-(\d+)-(\d+)/, "$3.$2.$1"));
r.push(/^[a-z0-9._-]{3,20}$/i.test("Some.Host-01"));
r.push(/(?<word>\w+)\s\k<word>/.exec("hello hello world").groups.word);
r.push("a1b22c333".split(/\d+/).join("|"));
r.push(/\u{1F600}[\u{1F300}-\u{1F5FF}]/u.test("\u{1F600}\u{1F310}"));
r.push(/x(?=y)/.test("xy") + "/" + /x(?!y)/.test("xy"));
r.push(/(?<=\$)\d+(?<!0)/.exec("cost $120")[0]);
r.push(/(a|bc)*?d/.exec("abcabcd")[0]);
r.push(/^line$/m.test("first\nline\nlast"));
r.push(/a.b/s.test("a\nb"));
r.push(/(?:a{2,3}){2}/.exec("aaaaaaa")[0]);
r.push(/(a*)*b/.test("aaab"));
r.push(/\bword\b/.test("a word here") + "/" + /\Bor\B/.test("word"));
r.push(/(?<=(\w)\1)x/.test("aax"));
r.push("fe80::1%eth0".match(/^([0-9a-f:]+)(?:%(\w+))?$/i).slice(1).join(" "));
globalThis.result = r.join(",");
`;

// Unpacks the bytecode as meshwrt does (agent/native/lz4.c), loads it, runs it, prints
// globalThis.result.
const RUNNER = String.raw`
#include <stdio.h>
#include <stdlib.h>
#include "quickjs.h"
#include "lz4.h"
extern const uint8_t regexps[];
extern const uint32_t regexps_size, regexps_unpacked_size;
int main(void)
{
	JSRuntime *rt = JS_NewRuntime();
	JSContext *ctx = JS_NewContext(rt);
	uint8_t *bc = malloc(regexps_unpacked_size);
	if (lz4_unpack(regexps, regexps_size, bc, regexps_unpacked_size) != (long)regexps_unpacked_size) {
		puts("the bytecode does not unpack");
		return 2;
	}
	JSValue fn = JS_ReadObject(ctx, bc, regexps_unpacked_size, JS_READ_OBJ_BYTECODE);
	if (JS_IsException(fn)) {
		puts("the bytecode does not load");
		return 2;
	}
	JSValue r = JS_EvalFunction(ctx, fn);
	if (JS_IsException(r)) {
		printf("exception: %s\n", JS_ToCString(ctx, JS_GetException(ctx)));
		return 3;
	}
	JSValue g = JS_GetGlobalObject(ctx);
	printf("%s\n", JS_ToCString(ctx, JS_GetPropertyStr(ctx, g, "result")));
	return 0;
}
`;

type Deps = Record<string, string>;

// build/deps.sh's assignments (KEY='value') for a target; it builds what is missing.
function deps(target: string): Deps {
  const out = execFileSync("build/deps.sh", { cwd: ROOT, env: { ...process.env, TARGET: target }, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  const env: Deps = {};
  for (const line of out.trim().split("\n")) {
    const m = /^([A-Z_]+)='(.*)'$/.exec(line);
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

const words = (s: string) => s.split(/\s+/).filter(Boolean);

let work: string;
const expected = (runInNewContext(SCRIPT + ";result", {}) as string);

const run = promisify(execFile);

// Compiles the script with qjsc-target in the given byte order, links it with the target's
// QuickJS, runs it under qemu-user and returns what it printed and how it ended. Async, so
// that the link (link-time optimised, tens of seconds) does not block the test worker.
async function runAs(target: string, qemu: string, order: "big" | "little") {
  const d = deps(target);
  const dir = join(work, `${target}-${order}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "regexps.js"), SCRIPT);
  writeFileSync(join(dir, "runner.c"), RUNNER);
  await run(d.QJSC!, ["-e", order, "-N", "regexps", "-o", join(dir, "regexps.c"), join(dir, "regexps.js")]);
  const [cc, ...ccArgs] = words(d.TARGET_CC!);
  await run(cc!, [...ccArgs, ...words(d.TARGET_CFLAGS!), `-I${d.QJS_INC}`, `-I${join(ROOT, "agent", "native")}`, join(dir, "runner.c"), join(dir, "regexps.c"), join(ROOT, "agent", "native", "lz4.c"), d.QJS_LIB!, "-lm", ...words(d.TARGET_LDFLAGS!), "-o", join(dir, "run")], { maxBuffer: 16 << 20 });
  return new Promise<{ status: number | null; stdout: string }>((resolve) => {
    execFile(qemu, [join(dir, "run")], { encoding: "utf8", timeout: 60_000 }, (err, stdout) => {
      const status = err ? (typeof err.code === "number" ? err.code : null) : 0;
      resolve({ status, stdout: stdout.trim() });
    });
  });
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "meshwrt-regexp-order-"));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("regexp bytecode compiled here, run on the router's CPU", () => {
  it("Node's answers, the reference", () => {
    expect(expected).toBe("bbb,06.05.2024,true,hello,a|b|c|,true,true/false,12,abcabcd,true,true,aaaaaa,true,true/true,true,fe80::1 eth0");
  });

  it("big-endian MIPS (ath79): compiled in the target's order, every regexp gives Node's answer", async () => {
    const r = await runAs("mips_24kc", "qemu-mips-static", "big");
    expect(r.stdout).toBe(expected);
    expect(r.status).toBe(0);
  });

  it("big-endian MIPS: compiled in this machine's order, as a stock qjsc writes it, it does not", async () => {
    const r = await runAs("mips_24kc", "qemu-mips-static", "little");
    expect(r.stdout).not.toBe(expected);
    expect(r.status).not.toBe(0);
  });

  it("little-endian MIPS (MT7621): the target's order is this machine's, and it runs", async () => {
    const r = await runAs("mipsel_24kc", "qemu-mipsel-static", "little");
    expect(r.stdout).toBe(expected);
    expect(r.status).toBe(0);
  });
});
