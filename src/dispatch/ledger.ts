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
 *
 * Bounded for a task that merges its results (`combine`, a `FoldTask`; see
 * {@link Ledger.mergeWith}): once more than {@link HELD_PAGES} pages are
 * held, every page whose items have all settled is released and its results
 * merged into one, so a job of any number of items holds a few pages of
 * them (a merged result is one more grouping, which `combine`'s laws allow).
 * A task without `combine` holds every result for `join`: the dispatcher
 * bounds how many (`maxResults`).
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
/** Items a page of results holds. */
export const PAGE_SIZE = PAGE;
/**
 * Pages a ledger holds item by item before it merges those whose items have
 * all settled (a task with `combine`): 16 pages, 65,536 items.
 */
export const HELD_PAGES = 16;
/** Marks an index without a result yet. */
const EMPTY: unique symbol = Symbol('empty');
/** Marks an index that failed for good. */
const FAILED: unique symbol = Symbol('failed');
/** Marks an index whose result was merged (`combine`) into an earlier index's. */
const COVERED: unique symbol = Symbol('covered');
/** Stands for a page whose items all settled and whose results were merged away ({@link Ledger.compact}). */
const RELEASED: unique symbol = Symbol('released');
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

/** How a ledger merges the results of released pages (the coordinator's side of `combine`). */
export interface Merger {
  /**
   * Merges two or more results (in order of their first item, the first
   * standing at item `index`) into one: the task's `combine`. May be async.
   */
  merge(values: unknown[], index: number): unknown;
  /** A merge threw or rejected: the job ends with `err` (the ledger merges no more). */
  failed(err: unknown): void;
}

/** A result held outside the pages: a released page's, or a merge of several; `index` is its first item. */
interface Spilled {
  index: number;
  value: unknown;
}

export class Ledger {
  private readonly pages: (unknown[] | typeof RELEASED)[] = [];
  /** Settled slots (a result, covered, failed) of each page. */
  private readonly filled: number[] = [];
  /** Pages whose every slot settled, not released yet. */
  private full: number[] = [];
  /** Pages allocated and not released. */
  private livePages = 0;
  /** Results of released pages, not merged yet, and merged ones. */
  private spilled: Spilled[] = [];
  /** Results being merged (an async `combine`): still the job's until the merge ends. */
  private merging: Spilled[] = [];
  private pendingMerge: Promise<void> | undefined;
  private merger: Merger | undefined;
  private readonly attempts = new Map<number, number>();
  private readonly failedItems: ItemFailure[] = [];
  /** Items with a result. */
  recorded = 0;
  /**
   * Items with a result held item by item, in a page not released: every
   * recorded item for a task without `combine`; a few pages' worth for one
   * with it (see {@link mergeWith}).
   */
  held = 0;
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
    return page === RELEASED || (page !== undefined && page[index & (PAGE - 1)] !== EMPTY);
  }

  /** Records a result; false (and nothing changes) when the item already has one. */
  record(index: number, value: unknown): boolean {
    if (this.has(index)) return false;
    this.mark(index, value);
    this.recorded++;
    this.held++;
    return true;
  }

  /**
   * Merges the results of settled pages with `merger` from now on (a task
   * with `combine`): {@link compact} releases them once more than
   * {@link HELD_PAGES} pages are held.
   */
  mergeWith(merger: Merger): void {
    this.merger = merger;
  }

  /**
   * With a merger, and more than {@link HELD_PAGES} pages held: releases
   * every page whose items have all settled and lie below `below` (the items
   * pulled from setup so far: an index past it may be an earlier run's
   * answer, dropped when setup ends), and merges their results into one.
   */
  compact(below: number): void {
    if (!this.merger || this.livePages <= HELD_PAGES || this.full.length === 0) return;
    const keep: number[] = [];
    for (const p of this.full) {
      if (this.pages[p] === RELEASED) continue; // (listed twice: filled, emptied by dropFrom, filled again)
      if ((p + 1) * PAGE > below || this.filled[p] !== PAGE) keep.push(p);
      else this.release(p);
    }
    this.full = keep;
    this.merge();
  }

  /** Resolves once no merge is running (an async `combine`): `results()` then has every merged result. */
  async idle(): Promise<void> {
    while (this.pendingMerge) await this.pendingMerge;
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
    this.mark(indices[0], value);
    for (let k = 1; k < indices.length; k++) this.mark(indices[k], COVERED);
    this.recorded += indices.length;
    this.held += indices.length;
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
    this.mark(index, FAILED);
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
    // The results of released pages stand at their first item, in the released page that holds it.
    const spilled = this.spilledNow();
    let s = 0;
    for (let i = 0; i < total; i++) {
      const page = this.pages[i >>> PAGE_BITS];
      if (page === RELEASED) {
        const end = (i | (PAGE - 1)) + 1;
        while (s < spilled.length && spilled[s].index < end) out[n++] = spilled[s++].value;
        i = end - 1;
        continue;
      }
      const v = page === undefined ? EMPTY : page[i & (PAGE - 1)];
      if (v === FAILED || v === COVERED) continue;
      if (v === EMPTY) throw new InternalError(`internal: item ${i} has no result`);
      out[n++] = v;
    }
    while (s < spilled.length) out[n++] = spilled[s++].value;
    out.length = n;
    return out;
  }

  /** The results held outside the pages, by first item. */
  private spilledNow(): Spilled[] {
    return [...this.spilled, ...this.merging].sort((a, b) => a.index - b.index);
  }

  /** The results recorded so far, for a later re-run of the items without one (see {@link KeptResults}). */
  kept(): KeptResults {
    const k: KeptResults = { indices: [], values: [], covered: [] };
    const spilled = this.spilledNow();
    const failed = new Set(this.failedItems.map((f) => f.index));
    let s = 0;
    this.pages.forEach((page, p) => {
      if (page === undefined) return;
      if (page === RELEASED) {
        // Every item of it settled: a merged result at its first item, the others covered by one, failed ones left out.
        const end = (p + 1) << PAGE_BITS;
        const at = new Set<number>();
        for (; s < spilled.length && spilled[s].index < end; s++) {
          k.indices.push(spilled[s].index);
          k.values.push(spilled[s].value);
          at.add(spilled[s].index);
        }
        for (let index = p << PAGE_BITS; index < end; index++)
          if (!failed.has(index) && !at.has(index)) k.covered.push(index);
        return;
      }
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
      if (this.has(index)) continue;
      this.mark(index, COVERED);
      this.recorded++;
      this.held++;
    }
  }

  /**
   * Forgets every result at an index from `total` on (answers of an earlier
   * run for items past the end of setup): they are not this job's items.
   */
  dropFrom(total: number): void {
    for (let p = total >>> PAGE_BITS; p < this.pages.length; p++) {
      const page = this.pages[p];
      if (page === undefined || page === RELEASED) continue; // (a released page lies below the items pulled)
      for (let at = p === total >>> PAGE_BITS ? total & (PAGE - 1) : 0; at < PAGE; at++) {
        if (page[at] === EMPTY) continue;
        if (page[at] !== FAILED) {
          this.recorded--;
          this.held--;
        }
        page[at] = EMPTY;
        this.filled[p]--;
      }
    }
  }

  /**
   * Hands item `index`'s result on and lets it go (a pipeline stage that
   * streams into the next: its join never runs): `{ value }` once, its slot
   * then marked as held elsewhere; `'failed'` for an item that failed for
   * good; undefined while the item has not settled. (Such a stage has no
   * `combine`: its pages are never released.)
   */
  handOn(index: number): { value: unknown } | 'failed' | undefined {
    const page = this.pages[index >>> PAGE_BITS];
    if (page === undefined || page === RELEASED) return undefined;
    const v = page[index & (PAGE - 1)];
    if (v === EMPTY || v === COVERED) return undefined;
    if (v === FAILED) return 'failed';
    page[index & (PAGE - 1)] = COVERED;
    this.held--;
    return { value: v };
  }

  /** Sets the empty slot of `index` (a result, COVERED or FAILED), allocating its page on first use. */
  private mark(index: number, v: unknown): void {
    const p = index >>> PAGE_BITS;
    let page = this.pages[p];
    if (page === RELEASED) throw new InternalError(`internal: item ${index} settled twice`);
    if (page === undefined) {
      page = this.pages[p] = new Array<unknown>(PAGE).fill(EMPTY);
      this.filled[p] = 0;
      this.livePages++;
    }
    page[index & (PAGE - 1)] = v;
    if (++this.filled[p] === PAGE) this.full.push(p);
  }

  /** Lets page `p` go (every item of it settled): its results join the spilled ones, to be merged. */
  private release(p: number): void {
    const page = this.pages[p] as unknown[];
    for (let at = 0; at < PAGE; at++) {
      const v = page[at];
      if (v === FAILED) continue;
      this.held--;
      if (v !== COVERED) this.spilled.push({ index: (p << PAGE_BITS) + at, value: v });
    }
    this.pages[p] = RELEASED;
    this.livePages--;
  }

  /** Merges the spilled results into one (one merge at a time: an async `combine` is awaited before the next). */
  private merge(): void {
    const merger = this.merger;
    if (!merger || this.pendingMerge || this.spilled.length < 2) return;
    const taken = this.spilled.sort((a, b) => a.index - b.index);
    this.spilled = [];
    const index = taken[0].index;
    const failed = (err: unknown) => {
      this.spilled.push(...taken); // still the job's (a kept result of a failed job)
      this.merger = undefined;
      merger.failed(err);
    };
    let out: unknown;
    try {
      out = merger.merge(
        taken.map((t) => t.value),
        index,
      );
    } catch (err) {
      return failed(err);
    }
    if (!(out instanceof Promise)) {
      this.spilled.push({ index, value: out });
      return;
    }
    this.merging = taken;
    this.pendingMerge = out.then(
      (value) => {
        this.merging = [];
        this.pendingMerge = undefined;
        this.spilled.push({ index, value });
        this.merge();
      },
      (err: unknown) => {
        this.merging = [];
        this.pendingMerge = undefined;
        failed(err);
      },
    );
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
