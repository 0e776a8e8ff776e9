// The agent's lifecycle as one tagged state: stopped, starting, running,
// stopping, or failed with the reason that status shows. What exists only
// while running (R, the Running object) is made by the start and held by the
// running state; nothing outside it has to ask whether it exists yet. Pure:
// the steps that make and tear down R are given by the caller.

export type LifecycleState<R> =
  | { readonly kind: "stopped" }
  | { readonly kind: "starting" }
  | { readonly kind: "running"; readonly running: R }
  | { readonly kind: "stopping" }
  | { readonly kind: "failed"; readonly reason: string };

export type Phase = LifecycleState<unknown>["kind"];

/** start, stop: asked for; started, failed, stopped: how a start or a stop ended. */
export type LifecycleEvent = "start" | "started" | "failed" | "stop" | "stopped";

/**
 * Where each event leads from each phase; an event missing from a phase is
 * refused. A stop during the start is taken (stopping) and the start ends at
 * its next step; a start during a stop is refused (the caller starts again
 * once stopped). A stop when nothing runs changes nothing.
 */
export const TRANSITIONS: Readonly<Record<Phase, Readonly<Partial<Record<LifecycleEvent, Phase>>>>> = {
  stopped: { start: "starting", stop: "stopped" },
  failed: { start: "starting", stop: "failed" },
  starting: { started: "running", failed: "failed", stop: "stopping" },
  running: { stop: "stopping" },
  stopping: { stopped: "stopped", stop: "stopping" },
};

/** The phase an event leads to, or why it is refused. */
export function transition(from: Phase, event: LifecycleEvent): { to: Phase } | { refused: string } {
  const to = TRANSITIONS[from][event];
  return to ? { to } : { refused: `cannot ${event} while ${from}` };
}

/** How the caller makes and tears down what exists only while running. */
export interface LifecycleSteps<R> {
  /** Makes R; throws (with context) when it cannot, leaving nothing behind. */
  open(): Promise<R>;
  /** Brings R up; `checkpoint` throws once a stop was asked for, so a stop ends the start at its next step. */
  begin(r: R, checkpoint: () => void): Promise<void>;
  /** Removes what R added, in R's own order; also after a begin that failed or was cut short. */
  teardown(r: R): Promise<void>;
}

/** Thrown by a checkpoint: the start ends because a stop was asked for, not because something failed. */
class StopAsked extends Error {
  constructor() {
    super("stopped while starting");
  }
}

export class Lifecycle<R> {
  /** Called after every change of state. */
  onChange: (s: LifecycleState<R>) => void = () => {};
  private s: LifecycleState<R> = { kind: "stopped" };
  /** The start or stop under way: a stop asked for meanwhile waits for it. */
  private busy: Promise<void> = Promise.resolve();

  constructor(private readonly steps: LifecycleSteps<R>) {}

  get state(): LifecycleState<R> {
    return this.s;
  }

  /** R while running; undefined in every other phase. */
  get running(): R | undefined {
    return this.s.kind === "running" ? this.s.running : undefined;
  }

  /**
   * Resolves running, or stopped when a stop came during the start; rejects
   * (the error says why, and the state is failed with that reason) when it
   * could not start. Refused, with an error, unless stopped or failed.
   */
  start(): Promise<void> {
    try {
      this.move("start");
    } catch (e) {
      return Promise.reject(e);
    }
    const run = this.run();
    this.busy = run.catch(() => {});
    return run;
  }

  /** Resolves once stopped (or failed: a failed start left nothing behind); a stop during the start ends it. */
  async stop(): Promise<void> {
    const from = this.s;
    this.move("stop");
    if (from.kind !== "running") return this.busy; // during the start, or a stop already under way: it ends in stopped
    const done = this.steps.teardown(from.running).finally(() => this.move("stopped"));
    this.busy = done.catch(() => {});
    return done;
  }

  private async run(): Promise<void> {
    const checkpoint = () => {
      if (this.s.kind === "stopping") throw new StopAsked();
    };
    let r: R;
    try {
      r = await this.steps.open();
    } catch (e) {
      return this.ended(e);
    }
    try {
      checkpoint();
      await this.steps.begin(r, checkpoint);
      checkpoint();
    } catch (e) {
      await this.steps.teardown(r).catch(() => {});
      return this.ended(e);
    }
    this.enter("started", { kind: "running", running: r });
  }

  /** A start that ended early: stopped when a stop was asked for, else failed with the error's reason (and rethrown). */
  private ended(e: unknown): void {
    if (this.s.kind === "stopping") return this.move("stopped");
    this.enter("failed", { kind: "failed", reason: e instanceof Error ? e.message : String(e) });
    throw e;
  }

  /** The phases without data; running and failed are entered with theirs. */
  private move(event: LifecycleEvent): void {
    const t = transition(this.s.kind, event);
    if ("refused" in t) throw new Error(`lifecycle: ${t.refused}`);
    if (t.to === this.s.kind) return;
    if (t.to === "running" || t.to === "failed") throw new Error(`lifecycle: ${event} needs its data`);
    this.enter(event, { kind: t.to });
  }

  private enter(event: LifecycleEvent, next: LifecycleState<R>): void {
    const t = transition(this.s.kind, event);
    if ("refused" in t || t.to !== next.kind) throw new Error(`lifecycle: cannot ${event} while ${this.s.kind}`);
    this.s = next;
    this.onChange(next);
  }
}
