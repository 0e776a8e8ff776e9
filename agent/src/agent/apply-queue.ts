// When the kernel is brought to the netmap: one apply at a time, the changes
// that arrive meanwhile folded into the next, a reason to read the kernel
// back kept until an apply takes it, a failed apply followed by one that
// reads back, and none once closed (the stop deletes the interface, which
// an apply would otherwise "repair", fail and retry without end).
import type { Change } from "../control/netmap.js";

/** Brings the kernel to the netmap: `changes` since the last apply; with `reconcile` (why), the kernel read back first. */
export type ApplyFn = (changes: ReadonlySet<Change>, reconcile: string | undefined) => Promise<void>;

export class ApplyQueue {
  private changes = new Set<Change>();
  /** Why the next apply reads the kernel back; the first one always does. */
  private reconcileWhy: string | undefined = "start";
  private applying: Promise<void> = Promise.resolve();
  private scheduled = false;
  private closed = false;

  constructor(
    private readonly apply: ApplyFn,
    /** An apply that threw: said by the caller; the next apply reads the kernel back. */
    private readonly failed: (e: Error) => void,
  ) {}

  /** A netmap changed these (none: only its inputs elsewhere, the firewall's state). */
  changed(changes: Iterable<Change>): void {
    for (const c of changes) this.changes.add(c);
    this.schedule();
  }

  /** The next apply reads the kernel back first. */
  reconcileSoon(why: string): void {
    this.reconcileWhy ??= why;
    this.schedule();
  }

  /** No apply after this one; resolves when the one under way (if any) has ended. */
  close(): Promise<void> {
    this.closed = true;
    return this.applying;
  }

  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    this.applying = this.applying.then(async () => {
      this.scheduled = false;
      const changes = this.changes;
      this.changes = new Set();
      const why = this.reconcileWhy;
      this.reconcileWhy = undefined;
      try {
        await this.apply(changes, why);
      } catch (e) {
        this.failed(e as Error);
        this.reconcileSoon("a failed change");
      }
    });
  }
}
