/**
 * The local executor: a pool of worker threads, one per core by default
 * (the threads transport). The pool serves every job given to this
 * executor, one after another or at once, without respawning threads,
 * until `dispose`.
 *
 * - Dynamic load balancing, automatic batching and backpressure: see the
 *   dispatcher and the threads transport.
 * - Failures: a failed item is retried per the job's policy (see Ledger); a
 *   thread that dies or runs an item past its timeout is replaced, and only
 *   the item it was running is charged an attempt.
 */
import { randomUUID } from 'node:crypto';
import { Dispatcher } from '../dispatch/dispatcher.js';
import { jobLogStyle } from '../core/log.js';
import { UsageError } from '../core/errors.js';
import type { NormalizedOptions } from '../core/job-options.js';
import { ThreadsTransport } from '../dispatch/transports/threads.js';
import { ThreadPool, type PoolJob } from '../runtime/thread-pool.js';
import type { TaskInfo } from '../task/registry.js';
import type { Executor, JobPlan } from './executor.js';

export class LocalExecutor implements Executor {
  private pool: Promise<ThreadPool> | undefined;
  /** A job failed: its threads may still hold work nobody waits for, so `dispose` terminates them at once. */
  private failed = false;

  /** Starts the first thread now: it boots while the job validates and runs setup; more start as batches need them. */
  prepare(options: NormalizedOptions): void {
    this.pool ??= ThreadPool.start({
      size: options.concurrency,
      lazy: true,
      services: options.services,
      logLevel: options.logLevel,
      logStyle: jobLogStyle(options.logFormat),
      idPrefix: 'thread',
    });
    this.pool.catch(() => {}); // reported by map()
  }

  /** Has the threads import the task's module while the input is still being read and validated. */
  warm(task: TaskInfo): void {
    const url = task.moduleUrl;
    if (url)
      void this.pool?.then(
        (pool) => pool.warm(url),
        () => {},
      );
  }

  async map(plan: JobPlan): Promise<void> {
    const { task, options } = plan;
    if (!task.moduleUrl) {
      throw new UsageError(
        `task ${task.name}: the local executor imports the task in worker threads and needs its module; ` +
          'load it by name or path, or add `static module = import.meta.url` to the class',
      );
    }
    this.prepare(options);
    const pool = await this.pool!;
    const job: PoolJob = {
      key: randomUUID(),
      moduleUrl: task.moduleUrl,
      className: task.cls.name,
      paramsBytes: plan.paramsBytes,
    };
    try {
      await new Dispatcher(plan, new ThreadsTransport(plan, pool, job)).run();
    } catch (err) {
      this.failed = true;
      throw err;
    } finally {
      pool.unload(job.key);
    }
  }

  /** Closes the threads: lets them finish what they hold, or, after a failed job, stops them at once. */
  async dispose(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    const p = await pool?.catch(() => undefined);
    await (this.failed ? p?.terminate() : p?.close());
  }
}
