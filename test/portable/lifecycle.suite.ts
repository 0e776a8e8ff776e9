// The agent's lifecycle (agent/lifecycle.ts): every transition of the table,
// and the asynchronous cases the agent meets: a start that fails (one way: a
// rejection, and the state says failed with the reason), a stop during the
// start (the stop-early case), a start during a stop, a stop during a stop.
// The steps are a double that records what was made and torn down.
import { Lifecycle, type LifecycleEvent, type Phase, TRANSITIONS, transition } from "../../agent/src/agent/lifecycle.js";
import { eq, suite } from "./check.js";

interface Gate {
  readonly wait: Promise<void>;
  open(): void;
  fail(e: Error): void;
}

function gate(): Gate {
  let open = () => {};
  let fail = (_e: Error) => {};
  const wait = new Promise<void>((res, rej) => {
    open = res;
    fail = rej;
  });
  return { wait, open, fail };
}

/** Lets the promise jobs run (no timers: the suite runs in bare QuickJS too). */
async function turn(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

/** Steps whose open and begin wait for the test to let them go; `log` says what happened, in order. */
function steps(opts: { failOpen?: string; failBegin?: string; failTeardown?: string } = {}) {
  const log: string[] = [];
  const opening = gate(), beginning = gate(), tearing = gate();
  let made = 0;
  return {
    log,
    opening,
    beginning,
    tearing,
    steps: {
      open: async () => {
        log.push("open");
        await opening.wait;
        if (opts.failOpen) throw new Error(opts.failOpen);
        return { id: ++made };
      },
      begin: async (r: { id: number }, checkpoint: () => void) => {
        log.push(`begin ${r.id}`);
        await beginning.wait;
        checkpoint();
        log.push(`begun ${r.id}`);
        if (opts.failBegin) throw new Error(opts.failBegin);
      },
      teardown: async (r: { id: number }) => {
        log.push(`teardown ${r.id}`);
        await tearing.wait;
        if (opts.failTeardown) throw new Error(opts.failTeardown);
      },
    },
  };
}

async function rejects(p: Promise<unknown>, match: RegExp, what: string): Promise<void> {
  let err: Error | undefined;
  await p.catch((e: Error) => (err = e));
  if (!err) throw new Error(`${what}: resolved, want a rejection matching ${match}`);
  if (!match.test(err.message)) throw new Error(`${what}: rejected with ${JSON.stringify(err.message)}, want ${match}`);
}

suite("agent lifecycle", (check) => {
  check("the transition table: where every event leads from every phase, and what is refused", () => {
    const want: Record<Phase, Record<LifecycleEvent, Phase | "refused">> = {
      stopped: { start: "starting", started: "refused", failed: "refused", stop: "stopped", stopped: "refused" },
      failed: { start: "starting", started: "refused", failed: "refused", stop: "failed", stopped: "refused" },
      starting: { start: "refused", started: "running", failed: "failed", stop: "stopping", stopped: "refused" },
      running: { start: "refused", started: "refused", failed: "refused", stop: "stopping", stopped: "refused" },
      stopping: { start: "refused", started: "refused", failed: "refused", stop: "stopping", stopped: "stopped" },
    };
    eq(Object.keys(TRANSITIONS).sort().join(","), Object.keys(want).sort().join(","), "phases");
    for (const [from, events] of Object.entries(want) as [Phase, Record<LifecycleEvent, Phase | "refused">][]) {
      for (const [ev, to] of Object.entries(events) as [LifecycleEvent, Phase | "refused"][]) {
        const t = transition(from, ev);
        eq("to" in t ? t.to : "refused", to, `${ev} while ${from}`);
        if ("refused" in t) eq(t.refused, `cannot ${ev} while ${from}`, `why ${ev} is refused while ${from}`);
      }
    }
  });

  check("start: stopped, starting, running; what runs is there only while running; stop tears it down once", async () => {
    const s = steps();
    const l = new Lifecycle(s.steps);
    const seen: string[] = [];
    l.onChange = (st) => seen.push(st.kind);
    eq(l.state.kind, "stopped", "at first");
    const started = l.start();
    eq(l.state.kind, "starting", "during the start");
    eq(l.running, undefined, "nothing running while starting");
    s.opening.open();
    s.beginning.open();
    await started;
    eq(l.state.kind, "running", "after the start");
    eq(l.running?.id, 1, "the running object is the one opened");
    s.tearing.open();
    await l.stop();
    eq(l.state.kind, "stopped", "after the stop");
    eq(l.running, undefined, "nothing running after the stop");
    eq(s.log.join(", "), "open, begin 1, begun 1, teardown 1", "steps");
    eq(seen.join(", "), "starting, running, stopping, stopped", "changes told");
  });

  check("a start that cannot open rejects with the reason; the state says failed with it; nothing to tear down", async () => {
    const s = steps({ failOpen: "interface meshwrt0 exists and is not WireGuard (kind dummy)" });
    const l = new Lifecycle(s.steps);
    s.opening.open();
    await rejects(l.start(), /^interface meshwrt0 exists and is not WireGuard \(kind dummy\)$/, "start");
    const st = l.state;
    eq(st.kind, "failed", "state");
    eq(st.kind === "failed" ? st.reason : "", "interface meshwrt0 exists and is not WireGuard (kind dummy)", "reason");
    eq(s.log.join(", "), "open", "no teardown: open left nothing");
    await l.stop();
    eq(l.state.kind, "failed", "a stop keeps the reason");
  });

  check("a start that fails after opening tears down what it opened, then rejects; a new start runs", async () => {
    const s = steps({ failBegin: "firewall: nft missing" });
    const l = new Lifecycle(s.steps);
    s.opening.open();
    s.beginning.open();
    s.tearing.open();
    await rejects(l.start(), /^firewall: nft missing$/, "start");
    eq(l.state.kind === "failed" ? l.state.reason : l.state.kind, "firewall: nft missing", "failed, with the reason");
    eq(s.log.join(", "), "open, begin 1, begun 1, teardown 1", "torn down once");
    const ok = steps();
    ok.opening.open();
    ok.beginning.open();
    const again = new Lifecycle(ok.steps);
    await again.start();
    eq(again.state.kind, "running", "another start");
    await rejects(l.start(), /^firewall: nft missing$/, "a start after failed is allowed (and fails the same way here)");
  });

  check("stop during the start (stop early): the start ends at its next step, what it made is torn down, both resolve stopped", async () => {
    for (const at of ["open", "begin"] as const) {
      const s = steps();
      const l = new Lifecycle(s.steps);
      let startDone = false, stopDone = false;
      const started = l.start().then(() => (startDone = true));
      if (at === "begin") {
        s.opening.open();
        await turn();
      }
      const stopped = l.stop().then(() => (stopDone = true));
      eq(l.state.kind, "stopping", `stopping at once (during ${at})`);
      s.opening.open();
      s.beginning.open();
      await turn();
      eq(stopDone, false, `the stop waits for the teardown (during ${at})`);
      s.tearing.open();
      await Promise.all([started, stopped]);
      eq(startDone && stopDone, true, `both resolve (during ${at})`);
      eq(l.state.kind, "stopped", `stopped, not failed (during ${at})`);
      eq(s.log.join(", "), at === "open" ? "open, teardown 1" : "open, begin 1, teardown 1", `the start went no further (during ${at})`);
    }
  });

  check("a stop when the open fails during stopping: stopped, not failed, and the start resolves", async () => {
    const s = steps({ failOpen: "killed by SIGTERM" });
    const l = new Lifecycle(s.steps);
    const started = l.start();
    const stopped = l.stop();
    s.opening.open();
    await Promise.all([started, stopped]);
    eq(l.state.kind, "stopped", "state");
  });

  check("start during a stop is refused, with why; a stop during a stop waits for the same teardown", async () => {
    const s = steps();
    const l = new Lifecycle(s.steps);
    s.opening.open();
    s.beginning.open();
    await l.start();
    const first = l.stop();
    const second = l.stop();
    await rejects(l.start(), /^lifecycle: cannot start while stopping$/, "start while stopping");
    eq(l.state.kind, "stopping", "still stopping");
    s.tearing.open();
    await Promise.all([first, second]);
    eq(s.log.filter((x) => x.startsWith("teardown")).length, 1, "one teardown");
    eq(l.state.kind, "stopped", "stopped");
    const s2 = steps();
    s2.opening.open();
    s2.beginning.open();
    const l2 = new Lifecycle(s2.steps);
    await l2.start();
    await rejects(l2.start(), /^lifecycle: cannot start while running$/, "start while running");
    const third = l2.start().catch((e: Error) => e.message);
    eq(await third, "lifecycle: cannot start while running", "refusal does not change the state");
    eq(l2.state.kind, "running", "still running");
  });

  check("a teardown that fails: the stop rejects with it, the state is stopped all the same", async () => {
    const s = steps({ failTeardown: "stop: netlink: EBUSY" });
    const l = new Lifecycle(s.steps);
    s.opening.open();
    s.beginning.open();
    s.tearing.open();
    await l.start();
    await rejects(l.stop(), /^stop: netlink: EBUSY$/, "stop");
    eq(l.state.kind, "stopped", "state");
    await l.stop();
    eq(l.state.kind, "stopped", "a later stop changes nothing");
  });
});
