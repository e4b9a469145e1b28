/**
 * A job's rate limit (`rateLimit`, a task's `static rateLimit`): at most so
 * many items sent a second, each item counted once per attempt. The
 * dispatcher takes a token for each item before it hands a batch on, so
 * items start no faster than that on any executor (a batch's items start
 * one after another on their thread, after the batch was let through).
 *
 * A token bucket: it holds at most one second's worth of tokens at the
 * rate now (at least 1, at most `burst`), refilled continuously at the
 * rate; a batch waits until the
 * bucket holds a token for each of its items (or is full, for a batch
 * larger than it: the debt is waited out by the next batch). Over any
 * window, items sent ≤ rate × window + burst. The rate is read at each
 * refill: a coordinator whose share of a cluster-wide limit changes (other
 * jobs of the task start or end) follows it.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** Longest single wait before the rate is read again (a share that grew is seen within it). */
const MAX_WAIT_MS = 250;

export class RateGate {
  private tokens: number;
  private last = performance.now();

  /** `perSecond()`: the rate now (items a second, > 0). */
  constructor(
    private readonly perSecond: () => number,
    /** The most items let through at once after a pause (one second of the whole limit): batches are at most this big. */
    readonly burst: number,
  ) {
    this.tokens = burst;
  }

  /** Waits until `n` items may be sent, then counts them; rejects with the signal's reason once it aborts. */
  async take(n: number, signal: AbortSignal): Promise<void> {
    for (;;) {
      signal.throwIfAborted();
      const rate = this.perSecond();
      // One second of items at the rate now: jobs sharing a limit share its bucket too.
      const cap = Math.min(this.burst, burstOf(rate));
      const now = performance.now();
      this.tokens = Math.min(cap, this.tokens + ((now - this.last) / 1000) * rate);
      this.last = now;
      const need = Math.min(n, cap);
      if (this.tokens >= need) {
        this.tokens -= n;
        return;
      }
      const ms = Math.min(MAX_WAIT_MS, Math.ceil(((need - this.tokens) / rate) * 1000) + 1);
      // An abort rejects the sleep with an AbortError: the loop's check throws the signal's own reason.
      await sleep(ms, undefined, { signal }).catch(() => {});
    }
  }
}

/** The bucket's size for a limit of `perSecond`: one second of items, at least one. */
export function burstOf(perSecond: number): number {
  return Math.max(1, Math.floor(perSecond));
}
