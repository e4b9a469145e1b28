/**
 * The dispatcher: one job's items, from `setup` to the ledger, over any
 * transport. The same rules hold on every executor:
 *
 * - Backpressure: items are pulled from `setup` only while the transport has
 *   room, so a generator is consumed lazily and a job never holds all its
 *   items.
 * - Automatic batching: batch sizes adapt to the time items take where they
 *   run (see BatchSizer), as the transport asks.
 * - Exactly-once effect: each item of a batch is answered once; later or
 *   duplicate answers are ignored, and the ledger records a result once per
 *   item. A merged result (`combine`) answers its items all at once or not at
 *   all: a merged value cannot be split, so when some of its items were
 *   answered already it is dropped and the others run again, uncharged (a
 *   few items may run twice; none is left waiting for an answer that may
 *   never come).
 * - Failures: a failed attempt is judged by the ledger (retry after a
 *   backoff, record the failure, or end the job); a lost batch charges only
 *   the item that was running, and its other items run again, uncharged.
 * - Resume, and a re-run of failed items (a restored ledger): items that
 *   already have a result are never sent.
 * - Bounded coordinator: a task with `combine` has the results of settled
 *   pages merged as answers come (Ledger.compact); a task without it holds
 *   every result for `join`, so the job fails with LimitError as soon as
 *   setup yields more than `maxResults` items (before they are sent).
 *
 * States: `starting` (the transport opens) → `running` (items pulled and
 * sent) → `draining` (`setup` is exhausted; waiting for answers and
 * retries) → `done`; any state → `failed` (the first error ends the job).
 */
import { assertPlainAt } from '../core/codec.js';
import {
  CancelledError,
  FjError,
  InternalError,
  isRetryable,
  LimitError,
  TaskError,
  TransportError,
} from '../core/errors.js';
import { afterLoss } from '../runtime/lost-batch.js';
import type { JobPlan } from './job-plan.js';
import { burstOf, RateGate } from './rate-gate.js';
import { BatchSizer } from './batch-sizer.js';
import { Retries } from './retries.js';
import type { Answer, Batch, Transport, TransportEvents } from './transport.js';

/** The most items a job can have (the ledger indexes them with 32 bits). */
const MAX_ITEMS = 2 ** 32 - 1;

/** Where a dispatcher is in a job's life. */
export type DispatchState = 'starting' | 'running' | 'draining' | 'done' | 'failed';

/** A batch in flight, with which of its items have been answered. */
class SentBatch implements Batch {
  /** 1 for each item answered; allocated on the first partial answer. */
  answered: Uint8Array | undefined;
  /** Items not answered yet. */
  left: number;

  constructor(
    readonly first: number,
    readonly values: readonly unknown[],
  ) {
    this.left = values.length;
  }

  /** Whether `index` is one of this batch's items. */
  holds(index: number): boolean {
    return Number.isSafeInteger(index) && index >= this.first && index < this.first + this.values.length;
  }

  /**
   * Marks items answered; returns whether they were answered for the first
   * time. All or nothing: when only some of them were (a merged group
   * overlapping earlier answers), marks none and returns false.
   */
  take(indices: readonly number[]): boolean {
    for (const i of indices) if (!this.holds(i)) return false;
    const answered = (this.answered ??= new Uint8Array(this.values.length));
    for (const i of indices) if (answered[i - this.first] === 1) return false;
    for (const i of indices) answered[i - this.first] = 1;
    this.left -= indices.length;
    return true;
  }

  /** Marks the whole batch answered, when nothing of it was; false otherwise. */
  takeAll(): boolean {
    if (this.answered !== undefined || this.left !== this.values.length) return false;
    this.left = 0;
    return true;
  }

  /** The items not answered yet, as runs of contiguous items; marks them answered. */
  takeRest(): { first: number; values: unknown[] }[] {
    const runs: { first: number; values: unknown[] }[] = [];
    let run: { first: number; values: unknown[] } | undefined;
    for (let k = 0; k < this.values.length; k++) {
      if (this.answered?.[k] === 1) {
        run = undefined;
        continue;
      }
      if (!run) runs.push((run = { first: this.first + k, values: [] }));
      run.values.push(this.values[k]);
    }
    this.answered = new Uint8Array(this.values.length).fill(1);
    this.left = 0;
    return runs;
  }
}

/** Runs one job's items over a transport. Create one per job; `run` once. */
export class Dispatcher implements TransportEvents {
  state: DispatchState = 'starting';
  private readonly sizer: BatchSizer;
  /** Retries whose backoff is over, and innocent items of lost batches: sent before new items. */
  private readonly reruns: { first: number; values: unknown[] }[] = [];
  private readonly retries: Retries;
  private readonly inFlight = new Set<SentBatch>();
  /** The job's rate limit, when it has one (rate-gate.ts). */
  private readonly rate: RateGate | undefined;

  private pulling = false;
  /** While probing: ends the ramp when no answer comes within the sizer's patience ({@link holdProbe}). */
  private probeTimer: NodeJS.Timeout | undefined;
  /** When the newest answer that timed a batch came (or the job started running). */
  private lastTimedAnswer = 0;
  private error: unknown;
  private settle!: () => void;
  private readonly settled = new Promise<void>((r) => (this.settle = r));

  constructor(
    private readonly plan: JobPlan,
    private readonly transport: Transport,
  ) {
    this.retries = new Retries(plan.ledger, plan.log);
    const limit = plan.options.rateLimit ?? plan.task.rateLimit;
    if (limit !== undefined) this.rate = new RateGate(() => transport.rateShare?.(limit) ?? limit, burstOf(limit));
    const { targetMs, max, slots } = transport.batching;
    // A batch holds at least one item per lane of a thread (item concurrency), or the lanes stay idle.
    this.sizer = new BatchSizer(
      targetMs,
      max,
      Math.min(max, plan.options.itemConcurrency ?? plan.task.concurrency),
      slots,
    );
  }

  /** Batches sent and not fully answered. */
  get batchesInFlight(): number {
    return this.inFlight.size;
  }

  /** Opens the transport, runs every item, closes the transport; rejects with the error that ended the job. */
  async run(): Promise<void> {
    const { signal } = this.plan;
    // The caller's own FjError stands; any other reason (an AbortError, a string) becomes a CancelledError.
    const onAbort = () =>
      this.fail(
        signal.reason instanceof FjError
          ? signal.reason
          : new CancelledError('job cancelled', { cause: signal.reason }),
      );
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      if (signal.aborted) onAbort();
      else {
        await this.transport.open(this);
        if (this.live) {
          this.state = 'running';
          this.lastTimedAnswer = Date.now();
          void this.pump();
        }
      }
    } catch (err) {
      this.fail(err);
    }
    await this.settled;
    clearTimeout(this.probeTimer);
    signal.removeEventListener('abort', onAbort);
    this.retries.clear();
    await this.transport.close(this.state === 'failed' ? this.error : undefined);
    if (this.state === 'failed') throw this.error;
  }

  /** While sizes still ramp up (BatchSizer.ramping), one batch per slot (two when the transport does not say) is in flight: each answer grows the next, instead of a window of one-item batches. */
  private get probing(): boolean {
    const { rampSlots, slots } = this.transport.batching;
    return this.sizer.ramping && this.inFlight.size >= (rampSlots ?? slots ?? 2);
  }

  /** Probing waits for an answer at most the sizer's patience: items slower than that get every idle slot now (BatchSizer.slowAnswers). */
  private holdProbe(): void {
    if (this.probeTimer || !this.live || !this.probing) return;
    const wait = Math.max(0, this.lastTimedAnswer + this.sizer.patience - Date.now());
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      if (Date.now() - this.lastTimedAnswer >= this.sizer.patience) this.sizer.slowAnswers();
      if (this.probing) this.holdProbe();
      else void this.pump();
    }, wait);
    this.probeTimer.unref();
  }

  private get live(): boolean {
    return this.state !== 'done' && this.state !== 'failed';
  }

  // --- sending -------------------------------------------------------------

  /** Fills the transport while it has room: re-runs first, then items pulled from setup. */
  private async pump(): Promise<void> {
    if (this.pulling || (this.state !== 'running' && this.state !== 'draining')) return;
    this.pulling = true;
    try {
      const { items } = this.plan;
      // Room is asked last: only when there is something to send (the amqp transport counts a refusal as demand).
      while (this.live && !this.probing && (this.reruns.length > 0 || !items.done) && this.transport.hasRoom) {
        const rerun = this.reruns.shift();
        if (rerun) {
          await this.send(rerun.first, rerun.values);
          continue;
        }
        const first = items.index;
        const size = this.sizer.next(items.total);
        // Under a rate limit a batch is at most one second's items: each starts within a second of the rate allowing it.
        const maybe = items.take(this.rate ? Math.min(size, this.rate.burst) : size);
        const values = maybe instanceof Promise ? await maybe : maybe;
        if (!this.live) return;
        this.checkLimit();
        if (values.length > 0) await this.sendNew(first, values);
      }
      this.holdProbe();
      if (items.done && this.state === 'running') {
        this.state = 'draining';
        // Answers of an earlier run for indices past the end of setup were never this job's items.
        this.plan.ledger.dropFrom(items.total ?? items.index);
      }
    } catch (err) {
      this.fail(err);
      return;
    } finally {
      this.pulling = false;
    }
    this.finishIfDone();
  }

  /** Sends items fresh from setup: checked for the wire; on resume, only those without a result, as contiguous runs. */
  private async sendNew(first: number, values: unknown[]): Promise<void> {
    const { ledger, task } = this.plan;
    const resuming = this.plan.origin.resume === true || this.plan.origin.seeded === true;
    let runFirst = first;
    for (let k = 0; k < values.length; k++) {
      const index = first + k;
      if (resuming && ledger.has(index)) {
        if (index > runFirst) await this.send(runFirst, values.slice(runFirst - first, k));
        runFirst = index + 1;
        continue;
      }
      assertPlainAt(values[k], task.name, 'setup', index);
    }
    if (runFirst === first) await this.send(first, values);
    else if (runFirst < first + values.length) await this.send(runFirst, values.slice(runFirst - first));
  }

  private async send(first: number, values: unknown[]): Promise<void> {
    if (this.rate) await this.rate.take(values.length, this.plan.signal);
    const batch = new SentBatch(first, values);
    this.inFlight.add(batch);
    const sending = this.transport.send(batch);
    if (sending) await sending;
  }

  /**
   * A task without `combine` holds every result until `join`: past
   * `maxResults` items the job fails now, with LimitError naming the limit,
   * rather than when its coordinator runs out of memory (and the next one).
   */
  private checkLimit(): void {
    const { task, items, options } = this.plan;
    if (task.combines) return;
    const limit = options.maxResults;
    const seen = Math.max(items.index, items.total ?? 0);
    if (seen <= limit) return;
    throw new LimitError(
      `task ${task.name}: setup yielded more than ${limit} items, the most results a coordinator holds for join ` +
        `(maxResults). The task has no combine, so every result waits in memory for join. ` +
        `Raise the limit with --max-results N (the maxResults option) if the coordinator has the memory, ` +
        `or give the task a combine (or make it a FoldTask) so that results merge as they arrive.`,
    );
  }

  // --- answers (TransportEvents) -------------------------------------------

  // eslint-disable-next-line complexity -- failures, values and groups of one answer, each checked against its batch in turn
  answer(a: Answer): void {
    if (!this.live) return;
    const batch = this.own(a.batch);
    if (a.batch && !batch) return; // a batch already settled (a late answer after a loss)
    const { ledger } = this.plan;
    let recorded = 0;
    const failed = new Set<number>();
    for (const f of a.failures ?? []) {
      failed.add(f.index);
      if (batch?.take([f.index])) this.itemFailed(f.index, batch.values[f.index - batch.first], f.error);
    }
    if (a.values) {
      const first = a.first ?? batch?.first ?? 0;
      const whole =
        batch !== undefined &&
        failed.size === 0 &&
        first === batch.first &&
        a.values.length === batch.values.length &&
        batch.takeAll();
      for (let k = 0; k < a.values.length; k++) {
        const index = first + k;
        if (failed.has(index)) continue;
        if (batch && !whole && !batch.take([index])) continue;
        if (!batch && !this.inJob(index)) continue;
        if (ledger.record(index, a.values[k])) recorded++;
      }
    }
    for (const g of a.groups ?? []) {
      if (!g.indices.every((i) => (batch ? batch.holds(i) : this.inJob(i)))) continue;
      if (batch && !batch.take(g.indices)) {
        // Some of its items were answered already (a redelivered message split item by item):
        // the merged value cannot be split, so it is dropped and its other items run again, uncharged.
        for (const i of g.indices) if (batch.take([i])) this.rerun(batch, i);
        continue;
      }
      if (ledger.recordGroup(g.indices, g.value)) {
        recorded += g.indices.length;
        continue;
      }
      // Some of its items have a result already (an answer of the run before `fj resume`): the same.
      if (batch) for (const i of g.indices) if (!ledger.has(i)) this.rerun(batch, i);
    }
    if (a.ms !== undefined && a.ran) {
      this.sizer.observe(a.ms, a.ran);
      this.lastTimedAnswer = Date.now();
    }
    if (recorded) ledger.compact(this.plan.items.index);
    if (batch) this.settleBatch(batch);
    if (recorded) this.plan.progress(recorded);
    void this.pump();
  }

  failed(b: Batch | undefined, first: number, count: number, error: Error): void {
    if (!this.live) return;
    const batch = this.own(b);
    if (!batch) return; // an earlier run's message: it was sent again
    if (!isRetryable(error) || error instanceof TransportError) return this.fail(error);
    // Item by item: some may have been answered already (another copy of the message, split item by item).
    for (let i = first; i < first + count; i++) {
      if (batch.holds(i) && batch.take([i]))
        this.itemFailed(
          i,
          batch.values[i - batch.first],
          new TaskError({ task: this.plan.task.name, hook: 'process', index: i }, error),
        );
    }
    this.settleBatch(batch);
    void this.pump();
  }

  lost(b: Batch, culprit: number | undefined, reason: string, suspects?: { from: number; to: number }): void {
    if (!this.live) return;
    const batch = this.own(b);
    if (!batch) return;
    // The unanswered items run again by the lost-batch rule (a culprit charged, suspects each alone); one answered already is not charged.
    let charged: { index: number; value: unknown } | undefined;
    for (const run of batch.takeRest()) {
      const after = afterLoss(run, { culprit, suspects });
      this.reruns.push(...after.again);
      charged ??= after.charged;
    }
    if (charged)
      this.itemFailed(
        charged.index,
        charged.value,
        new TaskError({ task: this.plan.task.name, hook: 'process', index: charged.index }, new Error(reason)),
      );
    this.settleBatch(batch);
    void this.pump();
  }

  room(): void {
    void this.pump();
  }

  fatal(error: Error): void {
    this.fail(error);
  }

  // --- bookkeeping ----------------------------------------------------------

  /** The dispatcher's own record of `b`, if it is one of this job's batches still in flight. */
  private own(b: Batch | undefined): SentBatch | undefined {
    return b instanceof SentBatch && this.inFlight.has(b) ? b : undefined;
  }

  /**
   * Whether `index` can be an item of this job (for answers to an earlier
   * run's messages, which arrive before setup yields their items again):
   * below the job's size once known, else below the most items a job can
   * have; those past the end of setup are dropped when it ends.
   */
  private inJob(index: number): boolean {
    const { items } = this.plan;
    const bound = items.total ?? MAX_ITEMS;
    return Number.isSafeInteger(index) && index >= 0 && index < bound;
  }

  private settleBatch(batch: SentBatch): void {
    if (batch.left > 0) return;
    this.inFlight.delete(batch);
    this.transport.done?.(batch);
    this.finishIfDone();
  }

  /** Sends item `index` of `batch` again, uncharged. */
  private rerun(batch: SentBatch, index: number): void {
    this.reruns.push({ first: index, values: [batch.values[index - batch.first]] });
  }

  /** Applies the failure policy to a failed attempt; schedules the retry. */
  private itemFailed(index: number, value: unknown, err: Error): void {
    try {
      this.retries.failed(index, err, this.plan.items.total, () => {
        this.reruns.push({ first: index, values: [value] });
        void this.pump();
      });
      this.plan.ledger.compact(this.plan.items.index); // a failed item may be the last of its page to settle
    } catch (fatal) {
      this.fail(fatal);
    }
  }

  private finishIfDone(): void {
    if (!this.live || this.pulling || !this.plan.items.done) return;
    if (this.inFlight.size > 0 || this.reruns.length > 0 || this.retries.pending > 0 || this.transport.busy) return;
    const total = this.plan.items.total ?? 0;
    const missing = total - this.plan.ledger.settled;
    // A backstop: nothing is left to wait for, yet items have no result (a bug).
    if (missing > 0)
      return this.fail(
        new InternalError(`internal: ${missing} of ${total} items have no result and nothing more will answer`),
      );
    this.state = 'done';
    this.settle();
  }

  private fail(err: unknown): void {
    if (!this.live) return;
    this.state = 'failed';
    this.error = err instanceof Error ? err : new TransportError(String(err));
    this.retries.clear();
    void this.plan.items.close();
    this.settle();
  }
}
