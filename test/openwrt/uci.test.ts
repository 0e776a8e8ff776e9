// The agent's UCI reader against libuci itself: every file of a corpus of
// valid and invalid configs (test/openwrt/uci-corpus), the package's default
// config, generated files (long values, many sections) and seeded mutations
// of them, read by the real `uci` CLI built from OpenWrt's sources and by
// agent/src/openwrt/uci.ts, under Node and under QuickJS. Where libuci
// accepts a file, the agent's package printed as `uci export` prints it
// equals libuci's export byte for byte; where libuci refuses it, the agent
// refuses it with libuci's reason and line. What config-edit.ts writes,
// libuci reads back as the agent meant it.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { getQuickJS } from "quickjs-emscripten";
import { afterAll, describe, expect, it } from "vitest";
import { setOption } from "../../agent/src/openwrt/config-edit.js";
import { encodeUci, parseUci, UciError, type UciPackage } from "../../agent/src/openwrt/uci.js";
import { prng, type Rnd } from "../fuzz/prng.js";
import { openwrtUserland } from "./userland.js";

const CORPUS = join(import.meta.dirname, "uci-corpus");
const DEFAULT_CONFIG = join(import.meta.dirname, "..", "..", "openwrt-package", "meshwrt", "files", "meshwrt.config");

interface Case {
  readonly name: string;
  readonly bytes: Uint8Array;
  /** What the corpus says libuci does with it; undefined for generated cases. */
  readonly valid?: boolean;
}

/** A reading: `uci export`'s bytes, or the refusal's reason and line. */
type Reading = { readonly export: string } | { readonly reason: string; readonly line: number };

const corpus = (dir: "valid" | "invalid"): Case[] =>
  readdirSync(join(CORPUS, dir))
    .sort()
    .map((name) => ({ name, bytes: readFileSync(join(CORPUS, dir, name)), valid: dir === "valid" }));

const generated = (): Case[] => [
  { name: "long-value", bytes: Buffer.from(`config meshwrt 'main'\n\toption auth_key '${"k".repeat(100_000)}'\n\toption after "${"x\\\n".repeat(2000)}"\n`) },
  { name: "long-unquoted-value-no-newline", bytes: Buffer.from(`config s 'x'\n\toption a ${"a".repeat(70_000)}`) },
  { name: "many-sections", bytes: Buffer.from(Array.from({ length: 300 }, (_, i) => `config ${i % 3 ? "device" : "rule"}${i % 5 ? "" : ` 's${i}'`}\n\tlist l '${i}'; option o ${i}\n`).join("")) },
  { name: "long-keyword-line", bytes: Buffer.from(`${"c".repeat(5000)} x\n`) },
  { name: "long-type", bytes: Buffer.from(`config ${"t".repeat(4000)} 'n'\n`) },
  { name: "default-config", bytes: readFileSync(DEFAULT_CONFIG) },
];

// Small edits of the kinds that change how libuci reads a file.
const PIECES = ["'", '"', "\\", ";", "#", "\n", "\r", "\0", "\v", "\f", " ", "\t", "\xff", "\xc3\xa9", "config", "option", "list", "package", "c", "o", "l", "x", "-", ".", "''", "\\\n", "cfg0195cf", "conf"].map((p) => Buffer.from(p, "latin1"));

function mutants(seeds: readonly Case[], count: number, rnd: Rnd): Case[] {
  const out: Case[] = [];
  for (let i = 0; i < count; i++) {
    const seed = seeds[i % seeds.length]!;
    let b = Buffer.from(seed.bytes);
    for (let k = 1 + Math.floor(rnd() * 3); k > 0; k--) {
      const at = Math.floor(rnd() * (b.length + 1));
      const r = rnd();
      if (r < 0.6) b = Buffer.concat([b.subarray(0, at), PIECES[Math.floor(rnd() * PIECES.length)]!, b.subarray(at)]);
      else if (r < 0.85) b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + Math.floor(rnd() * 3))]);
      else b = b.subarray(0, at);
    }
    out.push({ name: `mutant-${i}-of-${seed.name}`, bytes: b });
  }
  return out;
}

const work = mkdtempSync(join(tmpdir(), "meshwrt-uci-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/**
 * libuci's reading of the bytes as package `name`. The file is given by its
 * absolute path (the directory name has no dot, which uci would take for a
 * separator): libuci then loads no saved changes from /tmp/.uci.
 */
function libuci(name: string, bytes: Uint8Array): Reading {
  const file = join(work, name);
  writeFileSync(file, bytes);
  const r = spawnSync(openwrtUserland().bin("uci"), ["export", file], { encoding: "latin1" });
  if (r.status === 0) return { export: r.stdout };
  const m = /Parse error \((.*)\) at line (\d+), byte \d+/.exec(r.stderr);
  if (!m) throw new Error(`uci export ${file}: exit ${r.status}: ${r.stderr}`);
  return { reason: m[1]!, line: Number(m[2]) };
}

/** The agent's reading in the same terms; its line is the file's own (see sameLine). */
function agent(name: string, bytes: Uint8Array): Reading & { message?: string } {
  try {
    return { export: Buffer.from(encodeUci(parseUci(bytes, name, name), true)).toString("latin1") };
  } catch (e) {
    if (!(e instanceof UciError)) throw e;
    return { reason: e.reason, line: e.line, message: e.message };
  }
}

/**
 * libuci counts the lines its buffer ended with a newline: one less than the
 * file's line on an unterminated last line, and fewer after a NUL byte, whose
 * line fgets joins to the next. The agent names the file's line.
 */
function libuciLine(bytes: Uint8Array, agentLine: number): number | undefined {
  if (bytes.includes(0)) return undefined;
  return Math.min(agentLine, bytes.filter((c) => c === 10).length);
}

function expectSame(c: Case): Reading {
  const want = libuci(c.name, c.bytes);
  const got = agent(c.name, c.bytes);
  if ("export" in want) expect(got).toEqual(want);
  else {
    expect("reason" in got ? got.reason : `accepted:\n${got.export}`).toBe(want.reason);
    const g = got as { reason: string; line: number; message: string };
    expect(g.message.startsWith(`${c.name}:${g.line}: ${want.reason}`)).toBe(true);
    const line = libuciLine(c.bytes, g.line);
    if (line === undefined) expect(g.line).toBeGreaterThanOrEqual(want.line);
    else expect(line).toBe(want.line);
  }
  return want;
}

const valid = corpus("valid");
const invalid = corpus("invalid");

describe("UCI corpus: the agent reads each file as libuci does", () => {
  it("holds enough cases of each kind", () => {
    expect(valid.length).toBeGreaterThanOrEqual(40);
    expect(invalid.length).toBeGreaterThanOrEqual(30);
  });
  for (const c of [...valid, ...invalid]) {
    it(`${c.valid ? "valid" : "invalid"}/${c.name}`, () => {
      const want = expectSame(c);
      // The corpus says what libuci does, so that a case means what its name says.
      expect("export" in want).toBe(c.valid);
    });
  }
});

describe("UCI generated files and mutations: the agent reads each as libuci does", () => {
  for (const c of generated()) it(c.name, () => expectSame(c));
  it("400 seeded mutations of the valid corpus", () => {
    let accepted = 0;
    for (const c of mutants(valid, 400, prng(0x5eed))) {
      try {
        if ("export" in expectSame(c)) accepted++;
      } catch (e) {
        throw new Error(`${c.name} ${JSON.stringify(Buffer.from(c.bytes).toString("latin1"))}: ${(e as Error).message}`);
      }
    }
    // Both outcomes are exercised, not just refusals.
    expect(accepted).toBeGreaterThan(50);
    expect(accepted).toBeLessThan(350);
  });
});

describe("UCI under QuickJS: the bundled reader gives Node's readings", () => {
  it("every corpus file", async () => {
    const out = await build({
      stdin: {
        contents: `import { encodeUci, parseUci } from "./agent/src/openwrt/uci.ts";
          globalThis.read = (hex, name) => {
            const b = new Uint8Array(hex.length / 2);
            for (let i = 0; i < b.length; i++) b[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
            try { return Array.from(encodeUci(parseUci(b, name, name), true), (x) => String.fromCharCode(x)).join(""); }
            catch (e) { return "! " + e.message; }
          };`,
        resolveDir: join(import.meta.dirname, "..", ".."),
        loader: "ts",
      },
      bundle: true,
      write: false,
      minify: true,
      format: "iife",
      platform: "neutral",
      target: "es2022",
      logLevel: "error",
    });
    const vm = (await getQuickJS()).newContext();
    try {
      vm.unwrapResult(vm.evalCode(out.outputFiles[0]!.text)).dispose();
      for (const c of [...valid, ...invalid]) {
        const h = vm.unwrapResult(vm.evalCode(`read(${JSON.stringify(Buffer.from(c.bytes).toString("hex"))}, ${JSON.stringify(c.name)})`));
        const got = vm.getString(h);
        h.dispose();
        const node = agent(c.name, c.bytes);
        expect(got, c.name).toBe("export" in node ? node.export : `! ${node.message}`);
      }
    } finally {
      vm.dispose();
    }
  });
});

describe("UCI written by config-edit: libuci reads back what the agent meant", () => {
  const edits: [string, string[]][] = [
    ["enabled", ["1"]],
    ["auth_key", ["tskey-auth-k1'quote\"dq\\back#hash;semi"]],
    ["hostname", ["router-1"]],
    ["hostname", [""]],
    ["login_server", ["http://[fd00::1]:8080/"]],
    ["advertise_routes", ["192.168.1.0/24", "fd00:1::/64"]],
    ["lan_device", ["br-lan", "eth0.2", "wg@1"]],
    ["lan_device", []],
    ["state_dir", ["/etc/meshwrt dir/x'y"]],
    ["dns_hosts_file", ["/tmp/hosts/mesh wrt\n\tnext line"]],
  ];
  const starts = ["stock-meshwrt", "option-then-list", "list-then-option", "config-empty-name", "anonymous-sections", "non-utf8-values", "comments", "empty-file", "crlf", "backslash-newline"];
  for (const start of starts) {
    it(`edits of valid/${start}`, () => {
      let pkg: UciPackage = parseUci(readFileSync(join(CORPUS, "valid", start)), "meshwrt", "meshwrt");
      for (const [option, values] of edits) {
        pkg = setOption(pkg, option, values);
        const written = encodeUci(pkg);
        const back = libuci("meshwrt", written);
        expect(back, `${start} after ${option}=${JSON.stringify(values)}`).toEqual({ export: Buffer.from(encodeUci(pkg, true)).toString("latin1") });
        expect(parseUci(written, "meshwrt", "meshwrt")).toEqual(pkg);
      }
    });
  }
  it("refuses values UCI cannot store rather than writing something else", () => {
    const pkg = parseUci(readFileSync(join(CORPUS, "valid", "stock-meshwrt")), "meshwrt", "meshwrt");
    expect(() => setOption(pkg, "auth_key", ["tskey\0rest"])).toThrow(/^meshwrt\.main\.auth_key: "tskey\\u0000rest" is not text UCI can store/);
    expect(() => setOption(pkg, "auth_key", ["tskey\ud800"])).toThrow(/is not text UCI can store/);
    expect(setOption(pkg, "auth_key", ["tskey\ud83d\ude00"]).sections[0]!.options.get("auth_key")).toBe("tskey\ud83d\ude00");
  });
});
