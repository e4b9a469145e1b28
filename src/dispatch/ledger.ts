/**
 * A job's book of items, shared by every executor: which items have a
 * result, how many attempts each failed one has made, and what the failure
 * policy says next.
 *
 * - Exactly-once effect: a result is recorded once per item index, whatever
 *   the number of deliveries, retries or late answers; later ones are ignored.
 *   A merged result (`combine`) is recorded for its items all at once or not
 *   at all.
 * - Retries: an item that failed with a retryable error is attempted again
 *   after an exponential backoff with jitter, up to `retries` times.
 * - Policy: `fail-fast` ends the job at the first item out of attempts;
 *   `collect` records it and ends the job only past `maxFailures`.
 *
 * Results are kept in fixed pages indexed by item, so items finishing out of
 * order (retries, late batches) cost no reshuffling and each result is held
 * once; `results()` hands `join` one array of them in item order.
 */
import {
  FailuresError,
  MAX_FAILURES_OPTION,
  InternalError,
  isInstance,
  isRetryable,
  MAX_STACK,
  TaskError,
  thrownParts,
  workerOf,
  type ItemFailure,
} from '../core/errors.js';
import type { NormalizedOptions } from '../core/job-options.js';

const PAGE_BITS = 12;
const PAGE = 1 << PAGE_BITS;
/** Marks an index without a result yet. */
const EMPTY: unique symbol = Symbol('empty');
/** Marks an index that failed for good. */
const FAILED: unique symbol = Symbol('failed');
/** Marks an index whose result was merged (`combine`) into an earlier index's. */
const COVERED: unique symbol = Symbol('covered');
/** Longest wait before a retry. */
const MAX_DELAY_MS = 60_000;

/**
 * The results a job had recorded when it ended, kept in its store data so
 * that a re-run of its failed items runs only the items without one
 * (`rerunFailed`); `join` then sees every result, the kept ones included.
 */
export interface KeptResults {
  /** Items with a result of their own (a merged result stands at its group's first item), ascending. */
  indices: number[];
  /** Their results, in the same order. */
  values: unknown[];
  /** Items whose result was merged (`combine`, a fold) into an earlier item's, ascending. */
  covered: number[];
}

/** What to do after an attempt failed. */
export type Verdict = { retry: true; delayMs: number; attempt: number } | { retry: false };

export class Ledger {
  private readonly pages: unknown[][] = [];
  private readonly attempts = new Map<number, number>();
  private readonly failedItems: ItemFailure[] = [];
  /** Items with a result. */
  recorded = 0;
  /** Attempts beyond each item's first. */
  retried = 0;

  constructor(
    private readonly options: Pick<NormalizedOptions, 'onFailure' | 'maxFailures' | 'retryDelayMs'>,
    private readonly retries: number,
  ) {}

  /** Items done either way: recorded or failed for good. */
  get settled(): number {
    return this.recorded + this.failedItems.length;
  }

  /** The items that failed for good, by index. */
  get failures(): ItemFailure[] {
    return [...this.failedItems].sort((a, b) => a.index - b.index);
  }

  /** Whether `index` has a result or has failed for good. */
  has(index: number): boolean {
    const page = this.pages[index >>> PAGE_BITS];
    return page !== undefined && page[index & (PAGE - 1)] !== EMPTY;
  }

  /** Records a result; false (and nothing changes) when the item already has one. */
  record(index: number, value: unknown): boolean {
    const page = this.page(index);
    const at = index & (PAGE - 1);
    if (page[at] !== EMPTY) return false;
    page[at] = value;
    this.recorded++;
    return true;
  }

  /**
   * Records one merged result (`combine`) for the items `indices` (ascending):
   * held at the first, the others marked as covered by it. All or nothing:
   * false (and nothing changes) when any of them already has a result or
   * failed for good — a merged value cannot be split, so a group overlapping
   * recorded items is dropped and its other items count on their other
   * answers (a redelivered message split item by item).
   */
  recordGroup(indices: readonly number[], value: unknown): boolean {
    if (indices.length === 0) return false;
    if (indices.length === 1) return this.record(indices[0], value);
    for (const i of indices) if (this.has(i)) return false;
    this.page(indices[0])[indices[0] & (PAGE - 1)] = value;
    for (let k = 1; k < indices.length; k++) this.page(indices[k])[indices[k] & (PAGE - 1)] = COVERED;
    this.recorded += indices.length;
    return true;
  }

  /**
   * An attempt of `index` failed with `err`. Returns whether to retry and
   * after how long; throws the job's error when the policy ends the job
   * (`total`: items in the job, when known, for a `N%` limit).
   */
  fail(index: number, err: unknown, total: number | undefined): Verdict {
    if (this.has(index)) return { retry: false }; // a late failure of an item that already has its result
    const attempt = (this.attempts.get(index) ?? 0) + 1;
    this.attempts.set(index, attempt);
    if (attempt <= this.retries && isRetryable(err)) {
      this.retried++;
      const cap = Math.min(MAX_DELAY_MS, this.options.retryDelayMs * 2 ** (attempt - 1));
      return { retry: true, attempt: attempt + 1, delayMs: Math.round(cap / 2 + (Math.random() * cap) / 2) };
    }
    // The caller's error is never changed (one error may stand for several items: a merged batch that failed as a whole).
    const given = isInstance(err, Error) ? err : new Error(thrownParts(err).message);
    const message = attempt > 1 ? `${given.message} (after ${attempt} attempts)` : given.message;
    // Its getters may throw (a hostile or odd value): then it has no code and no worker.
    const safely = <T>(read: () => T): T | undefined => {
      try {
        return read();
      } catch {
        return undefined;
      }
    };
    const code = safely(() => (given as { code?: unknown }).code);
    // The name and stack of what the hook threw (its getters may throw: thrownParts never does).
    const { name, stack } = thrownParts(
      isInstance(given, TaskError) && isInstance(given.cause, Error) ? given.cause : given,
    );
    const kept =
      stack === undefined ? {} : { stack: stack.length > MAX_STACK ? `${stack.slice(0, MAX_STACK - 1)}…` : stack };
    const worker = safely(() => workerOf(given));
    // Recorded in fail-fast too: the job's figures name the item that ended it (its page stays empty: a re-run runs it).
    this.failedItems.push({
      index,
      attempts: attempt,
      error: { name, message, ...(typeof code === 'string' ? { code } : {}), ...kept },
      ...(worker === undefined ? {} : { worker }),
    });
    if (this.options.onFailure === 'fail-fast') throw message === given.message ? given : withMessage(given, message);
    this.page(index)[index & (PAGE - 1)] = FAILED;
    this.attempts.delete(index);
    this.checkLimit(total);
    return { retry: false };
  }

  /** Throws FailuresError when more items failed than `maxFailures` allows for `total` items (unknown: not yet). */
  checkLimit(total: number | undefined): void {
    if (total === undefined) return;
    const limit = this.options.maxFailures(total);
    const n = this.failedItems.length;
    if (n <= limit) return;
    const sorted = [...this.failedItems].sort((a, b) => a.index - b.index);
    const list = sorted.slice(0, 5).map((f) => `  item ${f.index}: ${f.error.message}`);
    if (n > 5) list.push(`  ... and ${n - 5} more`);
    throw new FailuresError(
      `${n} of ${total} items failed, more than the ${limit} allowed (${MAX_FAILURES_OPTION}):\n${list.join('\n')}`,
      sorted,
    );
  }

  /**
   * Every result, in item order, failed items left out (a merged result
   * stands at its group's first item). Throws {@link InternalError} if an
   * item of the `total` has neither a result nor a failure (a bug: the
   * dispatcher asks only once every item has settled).
   */
  results(total: number): unknown[] {
    this.checkLimit(total);
    // Sized once (no doubling copies left as garbage: with millions of items they set the job's peak memory).
    const out = new Array<unknown>(total);
    let n = 0;
    for (let i = 0; i < total; i++) {
      const page = this.pages[i >>> PAGE_BITS];
      const v = page === undefined ? EMPTY : page[i & (PAGE - 1)];
      if (v === FAILED || v === COVERED) continue;
      if (v === EMPTY) throw new InternalError(`internal: item ${i} has no result`);
      out[n++] = v;
    }
    out.length = n;
    return out;
  }

  /** The results recorded so far, for a later re-run of the items without one (see {@link KeptResults}). */
  kept(): KeptResults {
    const k: KeptResults = { indices: [], values: [], covered: [] };
    this.pages.forEach((page, p) => {
      if (page === undefined) return;
      for (let at = 0; at < PAGE; at++) {
        const v = page[at];
        if (v === EMPTY || v === FAILED) continue;
        const index = (p << PAGE_BITS) + at;
        if (v === COVERED) k.covered.push(index);
        else {
          k.indices.push(index);
          k.values.push(v);
        }
      }
    });
    return k;
  }

  /**
   * Records the results another job kept (a re-run of its failed items), in
   * a ledger that has none yet; TypeError when `k` is not a
   * {@link KeptResults} (it is read from a store).
   */
  restore(k: KeptResults): void {
    const indices = (v: unknown): v is number[] =>
      Array.isArray(v) && v.every((i) => Number.isSafeInteger(i) && i >= 0 && i < 2 ** 32 - 1);
    if (
      k === null ||
      typeof k !== 'object' ||
      !indices(k.indices) ||
      !indices(k.covered) ||
      !Array.isArray(k.values) ||
      k.values.length !== k.indices.length
    ) {
      throw new TypeError(
        'kept results: expected { indices, values, covered } with item indices and one value per index',
      );
    }
    k.indices.forEach((index, n) => this.record(index, k.values[n]));
    for (const index of k.covered) {
      const page = this.page(index);
      if (page[index & (PAGE - 1)] !== EMPTY) continue;
      page[index & (PAGE - 1)] = COVERED;
      this.recorded++;
    }
  }

  /**
   * Forgets every result at an index from `total` on (answers of an earlier
   * run for items past the end of setup): they are not this job's items.
   */
  dropFrom(total: number): void {
    for (let p = total >>> PAGE_BITS; p < this.pages.length; p++) {
      const page = this.pages[p];
      if (page === undefined) continue;
      for (let at = p === total >>> PAGE_BITS ? total & (PAGE - 1) : 0; at < PAGE; at++) {
        if (page[at] === EMPTY) continue;
        if (page[at] !== FAILED) this.recorded--;
        page[at] = EMPTY;
      }
    }
  }

  /**
   * Hands item `index`'s result on and lets it go (a pipeline stage that
   * streams into the next: its join never runs): `{ value }` once, its slot
   * then marked as held elsewhere; `'failed'` for an item that failed for
   * good; undefined while the item has not settled.
   */
  handOn(index: number): { value: unknown } | 'failed' | undefined {
    const page = this.pages[index >>> PAGE_BITS];
    const v = page === undefined ? EMPTY : page[index & (PAGE - 1)];
    if (v === EMPTY || v === COVERED) return undefined;
    if (v === FAILED) return 'failed';
    page[index & (PAGE - 1)] = COVERED;
    return { value: v };
  }

  /** The page holding `index`, allocated on first use (only pages that hold answers take memory). */
  private page(index: number): unknown[] {
    const p = index >>> PAGE_BITS;
    return (this.pages[p] ??= new Array<unknown>(PAGE).fill(EMPTY));
  }
}

/**
 * A copy of `err` (same class, stack, `code`, `cause` and other fields) with
 * `message` in place of its own: the error a fail-fast job ends with, amended
 * with its attempts while the error the ledger was given stays as it was.
 */
function withMessage(err: Error, message: string): Error {
  const copy = Object.create(Object.getPrototypeOf(err) as object) as Error;
  for (const key of Object.getOwnPropertyNames(err))
    Object.defineProperty(copy, key, Object.getOwnPropertyDescriptor(err, key)!);
  Object.defineProperty(copy, 'message', { value: message, writable: true, enumerable: false, configurable: true });
  return copy;
}

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
