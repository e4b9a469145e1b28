/**
 * A job's retries: the backoff timers of the items whose failed attempt the
 * ledger judged worth another, shared by every executor.
 */
import type { Ledger } from './ledger.js';

/**
 * The backoff timers of a job's retries, shared by every executor (the
 * dispatcher holds one per job): judges a failed attempt with the ledger and,
 * when it is to be retried, calls `again` once the backoff is over.
 */
export class Retries {
  private readonly timers = new Set<NodeJS.Timeout>();
  /** The last retry logged, and how many identical ones followed it in the same turn. */
  private repeat: { message: string; more: number } | undefined;

  constructor(
    private readonly ledger: Ledger,
    private readonly log: { warn(message: string): void },
  ) {}

  /** Retries waiting out their backoff. */
  get pending(): number {
    return this.timers.size;
  }

  /** A failed attempt of `index`. Throws the job's error when the policy ends the job. */
  failed(index: number, err: Error, total: number | undefined, again: () => void): void {
    const verdict = this.ledger.fail(index, err, total);
    if (!verdict.retry) return;
    this.warn(err.message, `; attempt ${verdict.attempt} in ${verdict.delayMs} ms`);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      again();
    }, verdict.delayMs);
    this.timers.add(timer);
  }

  /**
   * Logs a retry; the same error for many items at once (a `combine` that
   * failed its whole batch, a lost params fetch) is logged once, with a count.
   */
  private warn(message: string, detail: string): void {
    if (this.repeat?.message === message) {
      this.repeat.more++;
      return;
    }
    this.flushRepeat();
    this.log.warn(message + detail);
    this.repeat = { message, more: 0 };
    queueMicrotask(() => this.flushRepeat());
  }

  private flushRepeat(): void {
    if (this.repeat?.more)
      this.log.warn(`... and ${this.repeat.more} more item(s) failed with the same error, retried the same way`);
    this.repeat = undefined;
  }

  /** Cancels every pending retry. */
  clear(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
