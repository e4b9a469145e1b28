/**
 * The executor seam: an executor runs a job's items and records their
 * results in the job's ledger. Validation, setup, params and join happen
 * once, in `run()`, the same for every executor; an executor only decides
 * where `process` runs. Each one is a {@link Dispatcher} over a transport
 * (inline, threads, RabbitMQ); see docs/architecture.md.
 */
import type { JobPlan } from '../dispatch/job-plan.js';
import type { TaskInfo } from '../task/registry.js';
import type { JobStats, NormalizedOptions } from '../core/job-options.js';

export type { Counters, JobOrigin, JobPlan } from '../dispatch/job-plan.js';

/**
 * Runs the items of jobs. An executor may serve many jobs, one after another
 * or at once (its threads or connection stay up between them) until
 * `dispose`.
 */
export interface Executor {
  /**
   * Optional: starts what the executor needs (threads, connections) while
   * the job validates its input and runs setup.
   */
  prepare?(options: NormalizedOptions): void;
  /** Optional: after `prepare`, gets ready to run this task (a thread pool imports its module while the input is read). */
  warm?(task: TaskInfo): void;
  /**
   * Runs every item, recording results and failures in `plan.ledger`;
   * rejects with the error that ended the job (the ledger's verdict, a
   * cancellation, a transport failure).
   */
  map(plan: JobPlan): Promise<void>;
  /**
   * Optional: the job has ended (after `join`, or by the error that ended
   * it), with its figures so far: an amqp job run attached writes its end
   * into the job index here. Called once, before `dispose`, only after `map`
   * was called.
   */
  finish?(plan: JobPlan, end: JobEnd): Promise<void>;
  /** Releases what the executor started. Safe to call twice. */
  dispose?(): Promise<void>;
}

/** How a job ended, as {@link Executor.finish} and a job's source hear it. */
export interface JobEnd {
  /** What ended it; undefined when it succeeded. */
  error?: unknown;
  /** Its figures when it ended (`total`: the items seen so far unless `totalKnown`). */
  stats: JobStats;
  /** Whether setup's items were all seen (`stats.total` is the job's count). */
  totalKnown: boolean;
}
