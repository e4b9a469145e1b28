/** Synchronisation for `fj worker`: a suspect message runs alone in its process. */

/**
 * A readers-writer gate: any number of `shared` holders at once, or one
 * `exclusive` holder alone (it waits for the shared ones to leave, and new
 * ones wait for it). Each call resolves to its release function.
 */
export class Gate {
  private shared_ = 0;
  private exclusive_: Promise<void> | undefined;
  private drained: (() => void) | undefined;

  async shared(): Promise<() => void> {
    while (this.exclusive_) await this.exclusive_;
    this.shared_++;
    return () => {
      if (--this.shared_ === 0) this.drained?.();
    };
  }

  async exclusive(): Promise<() => void> {
    while (this.exclusive_) await this.exclusive_;
    let release!: () => void;
    this.exclusive_ = new Promise((r) => (release = r));
    while (this.shared_ > 0) await new Promise<void>((r) => (this.drained = r));
    this.drained = undefined;
    return () => {
      this.exclusive_ = undefined;
      release();
    };
  }
}

