// How the test harness runs commands: on this host (default), or inside a VM that another
// helper boots. Everything the topology and the peers do goes through a Runner, so the same
// test code works in both places.
import { spawn as spawnChild } from "node:child_process";

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs one shell command (sh -c syntax) to completion. */
export type Exec = (cmd: string) => Promise<ExecResult>;

/** A long-lived process started by a Runner. */
export interface Proc {
  readonly pid: number;
  /** SIGTERM, then SIGKILL after graceMs; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
  /** True while the process runs. */
  alive(): Promise<boolean>;
}

/**
 * Starts `cmd` (sh syntax) in network namespace `ns` (null: the runner's root namespace), with
 * stdout and stderr appended to `logFile`. Returns once the process has been started.
 */
export type Spawn = (ns: string | null, cmd: string, logFile: string) => Promise<Proc>;

export interface Runner {
  exec: Exec;
  spawn: Spawn;
  /** True when commands run on this host: the exit hook can then kill processes itself. */
  local: boolean;
}

/** Quotes one word for sh. */
export function sh(word: string | number): string {
  const s = String(word);
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** `ip netns exec NS` prefix (empty for the root namespace). */
export function inNs(ns: string | null): string {
  return ns ? `ip netns exec ${sh(ns)} ` : "";
}

export const hostExec: Exec = (cmd) =>
  new Promise((resolve, reject) => {
    const child = spawnChild("sh", ["-c", cmd], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ stdout, stderr, code: code ?? (signal ? 128 : 1) }));
  });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** On the host: a child process `ip netns exec NS sh -c CMD`, in its own process group. */
export const hostSpawn: Spawn = async (ns, cmd, logFile) => {
  const line = `exec ${inNs(ns)}sh -c ${sh(cmd)} >>${sh(logFile)} 2>&1 </dev/null`;
  const child = spawnChild("sh", ["-c", line], { stdio: "ignore", detached: true });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`spawn failed: ${cmd}`);
  let exited = false;
  const gone = new Promise<void>((r) =>
    child.on("exit", () => {
      exited = true;
      r();
    }),
  );
  child.unref();
  return {
    pid,
    alive: async () => !exited && pidAlive(pid),
    stop: async (graceMs = 3000) => {
      if (exited) return;
      const signal = (sig: NodeJS.Signals) => {
        try {
          process.kill(-pid, sig); // the whole group: sh -c may have forked
        } catch {
          try {
            process.kill(pid, sig);
          } catch {
            /* already gone */
          }
        }
      };
      signal("SIGTERM");
      const killed = await Promise.race([gone.then(() => true), sleep(graceMs).then(() => false)]);
      if (!killed) {
        signal("SIGKILL");
        await Promise.race([gone, sleep(2000)]);
      }
    },
  };
};

/**
 * A Spawn built from an Exec alone (for a VM whose helper offers no process handles): the
 * process runs in the background under setsid and is stopped with kill.
 */
export function execSpawn(exec: Exec): Spawn {
  return async (ns, cmd, logFile) => {
    const r = await exec(
      `setsid ${inNs(ns)}sh -c ${sh(cmd)} >>${sh(logFile)} 2>&1 </dev/null & echo $!`,
    );
    const pid = Number(r.stdout.trim());
    if (r.code !== 0 || !pid) throw new Error(`spawn failed (${r.code}): ${cmd}: ${r.stderr}`);
    const alive = async () => (await exec(`kill -0 ${pid} 2>/dev/null`)).code === 0;
    return {
      pid,
      alive,
      stop: async (graceMs = 3000) => {
        await exec(`kill -TERM -- -${pid} 2>/dev/null || kill -TERM ${pid} 2>/dev/null`);
        const deadline = Date.now() + graceMs;
        while (Date.now() < deadline) {
          if (!(await alive())) return;
          await sleep(100);
        }
        await exec(`kill -KILL -- -${pid} 2>/dev/null || kill -KILL ${pid} 2>/dev/null`);
      },
    };
  };
}

export const hostRunner: Runner = { exec: hostExec, spawn: hostSpawn, local: true };

/** A Runner from an Exec (and optionally a Spawn); without a Spawn, processes run via execSpawn. */
export function runnerFrom(exec: Exec, spawn?: Spawn): Runner {
  if (exec === hostExec) return { exec, spawn: spawn ?? hostSpawn, local: true };
  return { exec, spawn: spawn ?? execSpawn(exec), local: false };
}

/** Runs a command and throws, with its output, unless it exits 0. */
export async function run(exec: Exec, cmd: string, what?: string): Promise<string> {
  const r = await exec(cmd);
  if (r.code !== 0) {
    throw new Error(
      `${what ?? "command"} failed (exit ${r.code}): ${cmd.length > 400 ? cmd.slice(0, 400) + "..." : cmd}\n${r.stderr}${r.stdout}`,
    );
  }
  return r.stdout;
}

/** Writes a file through the runner (so it lands where the commands run, host or VM). */
export async function writeFile(exec: Exec, path: string, content: string, mode = "644"): Promise<void> {
  const b64 = Buffer.from(content).toString("base64");
  await run(exec, `printf %s ${sh(b64)} | base64 -d > ${sh(path)} && chmod ${mode} ${sh(path)}`, `write ${path}`);
}

/** Polls `check` until it returns a value (not undefined) or the time is up; then throws `what`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 20_000,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      const why = lastErr instanceof Error ? `: last error: ${lastErr.message}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(intervalMs);
  }
}
