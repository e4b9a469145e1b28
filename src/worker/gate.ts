/**
 * Synchronisation for `fj worker`: a suspect message runs alone in its
 * process — for a bounded time. Alone, a process death is charged to the
 * item that caused it (crash-count.ts); bounded, an item that never returns
 * cannot stop every other job on the worker.
 */

/**
 * A readers-writer gate with a time limit on the writer: any number of
 * `shared` holders at once, or one `exclusive` holder alone. An exclusive
 * holder waits at most `maxMs` for the shared ones to leave, and keeps the
 * others out at most `maxMs`; after that they come in beside it. Each call
 * resolves to its release function.
 */
export class Gate {
  private shared_ = 0;
  private exclusive_: Promise<void> | undefined;
  private drainWaiters: (() => void)[] = [];

  async shared(): Promise<() => void> {
    while (this.exclusive_) await this.exclusive_;
    this.shared_++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.shared_ === 0) this.wakeDrained();
    };
  }

  async exclusive(maxMs: number): Promise<() => void> {
    while (this.exclusive_) await this.exclusive_;
    let open!: () => void;
    this.exclusive_ = new Promise((r) => (open = r));
    let timer: NodeJS.Timeout | undefined;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      this.exclusive_ = undefined;
      open();
    };
    await this.drained(maxMs);
    timer = setTimeout(end, maxMs);
    timer.unref();
    return end;
  }

  /** Waits until no shared holder is left, or `ms` passed. */
  private async drained(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.shared_ > 0 && Date.now() < deadline) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, deadline - Date.now());
        t.unref();
        this.drainWaiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  private wakeDrained(): void {
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const f of w) f();
  }
}
