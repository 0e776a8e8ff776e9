// meshwrt's open descriptors, read from /proc, and the check that a fault
// left none behind. In the VM lab there is one meshwrt (pgrep -x finds it).
import { expect } from "vitest";

type Exec = (cmd: string) => Promise<{ code: number; stdout: string; stderr: string }>;

/** How many descriptors the only meshwrt process has open. */
export async function agentFdCount(exec: Exec): Promise<number> {
  const r = await exec("p=$(pgrep -x meshwrt | head -n 1) && [ -n \"$p\" ] && ls /proc/$p/fd | wc -l");
  const n = Number(r.stdout.trim());
  if (r.code !== 0 || !Number.isInteger(n) || n <= 0) throw new Error(`counting meshwrt's descriptors: exit ${r.code} ${r.stdout}${r.stderr}`);
  return n;
}

/**
 * After a fault and the recovery, the count comes back to what it was before. A few seconds are
 * allowed for what is closing anyway (a CLI connection, an nft child's pipes); a leak stays.
 */
export async function expectFdsBack(exec: Exec, before: number, fault: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  let now = await agentFdCount(exec);
  while (now > before && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1000));
    now = await agentFdCount(exec);
  }
  console.log(`meshwrt's descriptors: ${before} before ${fault}, ${now} after`);
  expect(now, `meshwrt's open descriptors after ${fault} (${before} before)`).toBeLessThanOrEqual(before);
}
