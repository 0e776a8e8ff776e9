// When the agent applies netmaps (agent/apply-queue.ts): one at a time,
// changes folded, the first and a failed one followed by a read-back, and
// nothing once closed (the stop deletes the interface an apply would repair).
import { ApplyQueue } from "../../agent/src/agent/apply-queue.js";
import type { Change } from "../../agent/src/control/netmap.js";
import { eq, suite } from "./check.js";

async function turn(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

function queue(opts: { failFirst?: boolean } = {}) {
  const runs: string[] = [];
  const errors: string[] = [];
  let release = () => {};
  let hold = false;
  let n = 0;
  const q = new ApplyQueue(
    async (changes, why) => {
      runs.push(`[${[...changes].sort().join(",")}] ${why ?? "-"}`);
      if (hold) await new Promise<void>((r) => (release = r));
      if (opts.failFirst && n++ === 0) throw new Error("netlink: ENODEV");
    },
    (e) => errors.push(e.message),
  );
  return { q, runs, errors, holdNext: () => (hold = true), release: () => ((hold = false), release()) };
}

suite("apply queue", (check) => {
  check("the first apply reads the kernel back; later ones only when asked, with the first reason given", async () => {
    const t = queue();
    t.q.changed(["peers"]);
    await turn();
    t.q.changed(["filter"]);
    await turn();
    t.q.reconcileSoon("the periodic check");
    t.q.reconcileSoon("WireGuard peers changed outside meshwrt");
    await turn();
    eq(t.runs.join(" | "), "[peers] start | [filter] - | [] the periodic check", "runs");
  });

  check("one apply at a time: changes that arrive meanwhile are folded into one next apply", async () => {
    const t = queue();
    t.holdNext();
    t.q.changed(["peers"]);
    await turn();
    t.q.changed(["dns"]);
    t.q.changed(["filter", "dns"]);
    t.q.reconcileSoon("route 100.64.0.2/32 removed outside meshwrt");
    await turn();
    eq(t.runs.length, 1, "the second waits for the first");
    t.release();
    await turn();
    eq(t.runs.join(" | "), "[peers] start | [dns,filter] route 100.64.0.2/32 removed outside meshwrt", "folded");
  });

  check("a failed apply is said and followed by one that reads the kernel back", async () => {
    const t = queue({ failFirst: true });
    t.q.changed(["peers"] as Change[]);
    await turn();
    eq(t.errors.join(","), "netlink: ENODEV", "said");
    eq(t.runs.join(" | "), "[peers] start | [] a failed change", "retried with a read-back");
  });

  check("closed: the apply under way ends, none starts after", async () => {
    const t = queue();
    t.holdNext();
    t.q.changed(["peers"]);
    await turn();
    let closed = false;
    const done = t.q.close().then(() => (closed = true));
    t.q.changed(["filter"]);
    t.q.reconcileSoon("route removed outside meshwrt");
    await turn();
    eq(closed, false, "close waits for the apply under way");
    t.release();
    await done;
    await turn();
    eq(t.runs.join(" | "), "[peers] start", "nothing after close");
  });
});
