/**
 * The local executor: a pool of worker threads, one per core by default.
 *
 * - Dynamic load balancing: each thread holds at most two batches (one
 *   running, one queued), so a slow item never leaves other threads idle.
 * - Automatic batching: batch sizes adapt so a batch takes a few
 *   milliseconds; tiny items travel by the thousand, 5 ms items one by one.
 * - Backpressure: items are pulled from `setup` only when a thread has room,
 *   so a generator is consumed lazily and a job never holds all its items.
 * - Failures: a failed item is retried per the job's policy (see Ledger); a
 *   thread that dies or runs an item past its timeout is replaced, and only
 *   the item it was running is charged an attempt.
 * Items and results cross threads msgpack-encoded, buffers transferred.
 */
import { randomUUID } from 'node:crypto';
import { assertPlain, decode, detach, encodeChecked } from '../codec.js';
import { CancelledError, FjError, TaskError } from '../errors.js';
import { BatchLost, ThreadPool, type BatchDone, type PoolJob } from '../worker/pool.js';
import { fromWire } from '../worker/wire-error.js';
import { BatchSizer, COMBINED_TARGET_MS } from './batch-sizer.js';
import { Retries } from './ledger.js';
import type { NormalizedOptions } from '../options.js';
import type { Executor, JobPlan } from './executor.js';

/** A batch should take about this long in a thread. */
const TARGET_BATCH_MS = 4;
/** Never more items than this in one batch. */
const MAX_BATCH = 4096;

export class LocalExecutor implements Executor {
  private pool: Promise<ThreadPool> | undefined;

  /** Starts the threads now: they boot while the job validates and runs setup. */
  prepare(options: NormalizedOptions): void {
    this.pool = ThreadPool.start({ size: options.concurrency, services: options.services, logLevel: options.logLevel, idPrefix: 'thread' });
    this.pool.catch(() => {}); // reported by map()
  }

  async map(plan: JobPlan): Promise<void> {
    const { task, options } = plan;
    if (!task.moduleUrl) {
      throw new FjError(
        `task ${task.name}: the local executor imports the task in worker threads and needs its module; ` +
          'load it by name or path, or add `static module = import.meta.url` to the class',
        'FJ_USAGE',
        2,
      );
    }
    if (!this.pool) this.prepare(options);
    const pool = await this.pool!;
    this.pool = undefined;
    let ok = false;
    try {
      const job: PoolJob = { key: randomUUID(), moduleUrl: task.moduleUrl, className: task.cls.name, paramsBytes: plan.paramsBytes };
      pool.preload(job);
      await new Dispatch(plan, pool, job).run();
      ok = true;
    } finally {
      // After a failure nothing in hand is worth waiting for: terminate at once.
      await (ok ? pool.close() : pool.terminate());
    }
  }

  async dispose(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await (await pool?.catch(() => undefined))?.terminate();
  }
}

/** Items to run again: contiguous, starting at `first`. */
interface Rerun {
  first: number;
  items: unknown[];
}

/** One job's dispatch loop over a thread pool. */
class Dispatch {
  private readonly sizer: BatchSizer;
  /** Retries whose backoff is over, and innocent items of lost batches: sent before new items. */
  private readonly reruns: Rerun[] = [];
  /** Retries waiting out their backoff. */
  private readonly retries: Retries;
  private inFlight = 0;
  private pulling = false;
  private failed = false;
  private resolve!: () => void;
  private reject!: (err: unknown) => void;

  constructor(
    private readonly plan: JobPlan,
    private readonly pool: ThreadPool,
    private readonly job: PoolJob,
  ) {
    this.retries = new Retries(plan.ledger, plan.log);
    this.sizer = new BatchSizer(plan.task.combines ? COMBINED_TARGET_MS.local : TARGET_BATCH_MS, MAX_BATCH);
  }

  run(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      const onAbort = () => this.fail(this.plan.signal.reason ?? new CancelledError());
      if (this.plan.signal.aborted) return onAbort();
      this.plan.signal.addEventListener('abort', onAbort, { once: true });
      this.pool.onThreadReady = () => void this.pump();
      this.pool.onThreadLost = (why) => this.plan.log.warn(`lost a worker thread: ${why}; a new one takes its place`);
      void this.pump();
    });
  }

  /** Fills every thread with room: re-runs first, then items pulled from setup. */
  private async pump(): Promise<void> {
    if (this.pulling || this.failed) return;
    this.pulling = true;
    try {
      const { items, task } = this.plan;
      while (this.pool.hasRoom && (this.reruns.length > 0 || !items.done)) {
        const rerun = this.reruns.shift();
        if (rerun) {
          this.send(rerun.first, rerun.items);
          continue;
        }
        const first = items.index;
        const maybe = items.take(this.sizer.size);
        const batch = maybe instanceof Promise ? await maybe : maybe;
        if (this.failed) return;
        if (batch.length === 0) break;
        for (let i = 0; i < batch.length; i++) assertPlain(batch[i], { task: task.name, hook: 'setup', index: first + i });
        this.send(first, batch);
      }
    } catch (err) {
      this.fail(err);
      return;
    } finally {
      this.pulling = false;
    }
    this.finishIfDone();
  }

  private send(first: number, values: unknown[]): void {
    const { counters, options } = this.plan;
    const bytes = detach(encodeChecked(values));
    counters.messages++;
    counters.bytesPublished += bytes.length;
    this.inFlight++;
    this.pool.run(this.job, first, bytes, { timeoutMs: options.itemTimeoutMs, signal: this.plan.signal }).then(
      (r) => this.onDone(first, values, r),
      (err) => this.onLost(first, values, err),
    );
  }

  private onDone(first: number, values: unknown[], r: BatchDone): void {
    this.inFlight--;
    if (this.failed) return;
    const { counters, ledger } = this.plan;
    counters.bytesPublished += r.bytes.length;
    counters.messages++;
    const failed = new Map(r.failures?.map((f) => [f.i, f.error]));
    let recorded = 0;
    const ok: number[] = [];
    for (let i = 0; i < values.length; i++) {
      const error = failed.get(i);
      if (error) this.itemFailed(first + i, values[i], fromWire(error));
      else ok.push(first + i);
    }
    if (!r.combined) {
      const results = decode<unknown[]>(r.bytes);
      for (const index of ok) if (ledger.record(index, results[index - first])) recorded++;
    } else if (ok.length) {
      // one merged result for the items that did not fail
      if (ledger.recordGroup(ok, decode(r.bytes))) recorded = ok.length;
      // Some of them already have a result (not expected: batches are disjoint); a merged
      // result cannot be split, so the others run again, uncharged.
      else for (const index of ok) if (!ledger.has(index)) this.reruns.push({ first: index, items: [values[index - first]] });
    }
    if (this.failed) return;
    this.sizer.observe(r.ms, values.length);
    this.plan.progress(recorded);
    void this.pump();
  }

  /** A batch died with its thread: the item it was running failed an attempt; the others run again. */
  private onLost(first: number, values: unknown[], err: unknown): void {
    this.inFlight--;
    if (this.failed) return;
    if (!(err instanceof BatchLost)) return this.fail(err);
    const at = err.culprit === undefined ? -1 : err.culprit - first;
    if (at < 0) this.reruns.push({ first, items: values });
    else {
      if (at > 0) this.reruns.push({ first, items: values.slice(0, at) });
      if (at + 1 < values.length) this.reruns.push({ first: first + at + 1, items: values.slice(at + 1) });
      this.itemFailed(err.culprit!, values[at], new TaskError({ task: this.plan.task.name, hook: 'process', index: err.culprit }, new Error(err.reason)));
    }
    void this.pump();
  }

  /** Applies the failure policy to a failed attempt; schedules the retry. */
  private itemFailed(index: number, value: unknown, err: Error): void {
    try {
      this.retries.failed(index, err, this.plan.items.total, () => {
        this.reruns.push({ first: index, items: [value] });
        void this.pump();
      });
    } catch (fatal) {
      this.fail(fatal);
    }
  }

  private finishIfDone(): void {
    if (this.failed || !this.plan.items.done || this.inFlight > 0 || this.reruns.length > 0 || this.retries.pending > 0) return;
    this.failed = true; // settled
    this.resolve();
  }

  private fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.retries.clear();
    this.pool.abort();
    void this.plan.items.close();
    this.reject(err);
  }
}
