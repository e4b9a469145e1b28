/**
 * Looking after amqp jobs from outside their coordinator: `status()` and
 * `cancel()` (`fj status`, `fj cancel`); `resume()` lives in run.ts. A job's
 * state is in RabbitMQ (its results queue) and the store (its manifest and
 * status records), so any process with the same broker and store can see it.
 *
 * The work is in job-control.ts, imported on first call: importing fj (as
 * every task module and worker thread does) must not load amqplib.
 */
import type { JobHandle, JobView } from './detached/handle.js';
import type { ListJobsOptions, WorkerView } from './detached/queries.js';
import type { SubmitOptions } from './detached/submit.js';
import type { JobLocation, JobReport } from './job-records.js';
import type { TaskClass } from './task/fork-join-task.js';

export type { JobLocation, JobReport, SubmitOptions };
export { attach, JobHandle, type JobView, type ResultOptions } from './detached/handle.js';
export type { ListJobsOptions, WorkerView } from './detached/queries.js';

/**
 * Validates `input`, stores it and the job's records, queues the job for
 * the cluster (a worker of its pool coordinates it) and resolves to its
 * {@link JobHandle} in milliseconds, whatever the job's size. Rejects with
 * InputError for an invalid input (nothing is queued). See
 * detached/submit.ts for the options.
 */
export async function submit(task: TaskClass | string, input: unknown, options?: SubmitOptions): Promise<JobHandle> {
  return (await import('./detached/submit.js')).submit(task, input, options);
}

/**
 * Submits a new job that runs again only the items ended job `jobId` left
 * without a result (they failed, or fail-fast dropped them), from the
 * results that job kept: its output is the whole job's. `task` is the
 * job's task as this process has it (a fix since included). Rejects with
 * UsageError when the job has not ended or kept no results. See
 * detached/rerun.ts.
 */
export async function rerunFailed(task: TaskClass | string, jobId: string, options?: SubmitOptions): Promise<JobHandle> {
  return (await import('./detached/rerun.js')).rerunFailed(task, jobId, options);
}

/**
 * The state of an amqp job: items done, failed and in flight, from the
 * coordinator's status record, plus its results queue on the broker (a
 * queue with no consumer means the coordinator is gone: `fj resume` it).
 * Rejects with UsageError when neither exists.
 */
export async function status(jobId: string, where: JobLocation = {}): Promise<JobReport> {
  return (await import('./job-control.js')).status(jobId, where);
}

/**
 * Cancels an amqp job on every worker: they abort its items in hand
 * (`ctx.signal`) and drop its queued ones. A live coordinator is told too; it
 * stops with CancelledError and cleans up. With no coordinator (it crashed),
 * this deletes the job's results queue and store data itself. A job not
 * attached yet (its input still loading, its setup running) gets a cancel
 * record in the store: its coordinator stops with CancelledError before
 * publishing anything (`pending: true`). A detached job (`submit()`) not
 * attached yet ends cancelled at once, its records kept (`detached: true`).
 * Resolves to whether a coordinator was attached.
 */
export async function cancel(jobId: string, where: JobLocation = {}): Promise<{ coordinator: boolean; pending?: boolean; detached?: boolean }> {
  return (await import('./job-control.js')).cancel(jobId, where);
}

// The queries are imported on first call too: see the note at the top.

/** The jobs in the index, newest first, with their figures; `more` says whether more match past `limit` (default 20). See detached/queries.ts. */
export async function listJobs(options?: ListJobsOptions): Promise<{ jobs: JobView[]; more: boolean }> {
  return (await import('./detached/queries.js')).listJobs(options);
}

/** The workers whose heartbeat is still kept, quiet ones marked, stale code flagged; by pool, then name. See detached/queries.ts. */
export async function listWorkers(where?: JobLocation): Promise<WorkerView[]> {
  return (await import('./detached/queries.js')).listWorkers(where);
}

/** Removes an ended job's output and records now. UsageError when the job is unknown, or has not ended (cancel it first). */
export async function forget(jobId: string, where?: JobLocation): Promise<void> {
  return (await import('./detached/queries.js')).forget(jobId, where);
}
