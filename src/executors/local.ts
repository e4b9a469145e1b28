/**
 * The local executor: a pool of worker threads, one per core by default.
 *
 * - Dynamic load balancing: each thread holds at most two batches (one
 *   running, one queued), so a slow item never leaves other threads idle.
 * - Automatic batching: batch sizes adapt so a batch takes a few
 *   milliseconds; tiny items travel by the thousand, 5 ms items one by one.
 * - Backpressure: items are pulled from `setup` only when a thread has room,
 *   so a generator is consumed lazily and a job never holds all its items.
 * Items and results cross threads msgpack-encoded, buffers transferred.
 */
import { randomUUID } from 'node:crypto';
import { assertPlain, decode, detach, encodeChecked } from '../codec.js';
import { FjError } from '../errors.js';
import { ThreadPool, type PoolJob } from '../worker/pool.js';
import { BatchSizer } from './batch-sizer.js';
import { OrderedResults } from './ordered-results.js';
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

  async map(plan: JobPlan): Promise<unknown[]> {
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
      const results = await new Dispatch(plan, pool, job).run();
      ok = true;
      return results;
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

/** One job's dispatch loop over a thread pool. */
class Dispatch {
  private readonly results = new OrderedResults();
  private readonly sizer = new BatchSizer(TARGET_BATCH_MS, MAX_BATCH);
  private inFlight = 0;
  private pulling = false;
  private failed = false;
  private resolve!: (results: unknown[]) => void;
  private reject!: (err: unknown) => void;

  constructor(
    private readonly plan: JobPlan,
    private readonly pool: ThreadPool,
    private readonly job: PoolJob,
  ) {}

  run(): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      const onAbort = () => this.fail(this.plan.signal.reason ?? new Error('job cancelled'));
      if (this.plan.signal.aborted) return onAbort();
      this.plan.signal.addEventListener('abort', onAbort, { once: true });
      void this.pump();
    });
  }

  /** Fills every thread with room, pulling items from setup as needed. */
  private async pump(): Promise<void> {
    if (this.pulling || this.failed) return;
    this.pulling = true;
    try {
      const { items, task, counters } = this.plan;
      while (this.pool.hasRoom && !items.done) {
        const first = items.index;
        const maybe = items.take(this.sizer.size);
        const batch = maybe instanceof Promise ? await maybe : maybe;
        if (this.failed) return;
        if (batch.length === 0) break;
        for (let i = 0; i < batch.length; i++) assertPlain(batch[i], { task: task.name, hook: 'setup', index: first + i });
        const bytes = detach(encodeChecked(batch));
        counters.messages++;
        counters.bytesPublished += bytes.length;
        this.inFlight++;
        this.pool.run(this.job, first, bytes).then(
          (r) => this.onDone(first, batch.length, r),
          (err) => this.fail(err),
        );
      }
    } catch (err) {
      this.fail(err);
      return;
    } finally {
      this.pulling = false;
    }
    this.finishIfDone();
  }

  private onDone(first: number, count: number, r: { bytes: Uint8Array; ms: number }): void {
    this.inFlight--;
    if (this.failed) return;
    const { counters } = this.plan;
    counters.bytesPublished += r.bytes.length;
    counters.messages++;
    counters.items += count;
    this.results.add(first, decode<unknown[]>(r.bytes));
    this.sizer.observe(r.ms, count);
    this.plan.progress(count);
    void this.pump();
  }

  private finishIfDone(): void {
    if (this.failed || !this.plan.items.done || this.inFlight > 0) return;
    this.resolve(this.results.toArray());
  }

  private fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.pool.abort();
    void this.plan.items.close();
    this.reject(err);
  }
}
