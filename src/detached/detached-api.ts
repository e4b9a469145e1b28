/**
 * The detached-job and job-control functions fj exports (`submit`,
 * `rerunFailed`, `status`, `cancel`, `resume`, the queries), each loading its
 * implementation on first call: importing fj (as every task module and worker
 * thread does) must not load amqplib. Only src/index.ts imports this file;
 * code inside fj imports the implementations.
 */
import type { JobHandle } from './handle.js';
import type { JobView } from './job-view.js';
import type { ListJobsOptions, PoolJobView, WorkerView } from './queries.js';
import type { SubmitOptions } from './submit.js';
import type { DelayOptions } from './delay.js';
import type { ScheduleJobOptions, ScheduleOptions, ScheduleRun, ScheduleView } from './schedules.js';
import type { JobLocation, JobReport, PoolState } from '../store/job-records.js';
import type { JobResult } from '../job/lifecycle.js';
import type { CancelReport, ResumeOptions } from './control.js';
import type { TaskClass } from '../task/fork-join-task.js';

export type { CancelReport, JobLocation, JobReport, PoolState, ResumeOptions, SubmitOptions };
export type { DelayOptions, ScheduleJobOptions, ScheduleOptions, ScheduleRun, ScheduleView };
export { attach, JobHandle, type JobView, type ResultOptions } from './handle.js';
export type { ListJobsOptions, PoolJobView, WorkerView } from './queries.js';

/**
 * Validates `input`, stores it and the job's records, queues the job for
 * the cluster (a worker of its pool coordinates it) and resolves to its
 * {@link JobHandle} in milliseconds, whatever the job's size; with `at` or
 * `delayMs`, holds it (`scheduled`) until it is due. Rejects with
 * InputError for an invalid input (nothing is queued). See
 * detached/submit.ts for the options.
 */
export async function submit(task: TaskClass | string, input: unknown, options?: SubmitOptions): Promise<JobHandle> {
  return (await import('./submit.js')).submit(task, input, options);
}

/**
 * Submits a new job that runs again only the items ended job `jobId` left
 * without a result (they failed, or fail-fast dropped them), from the
 * results that job kept: its output is the whole job's. `task` is the
 * job's task as this process has it (a fix since included). Rejects with
 * UsageError when the job has not ended or kept no results. See
 * detached/rerun.ts.
 */
export async function rerunFailed(
  task: TaskClass | string,
  jobId: string,
  options?: SubmitOptions,
): Promise<JobHandle> {
  return (await import('./rerun.js')).rerunFailed(task, jobId, options);
}

/**
 * The state of an amqp job: items done, failed and in flight, from the
 * coordinator's status record, plus its results queue on the broker (a
 * queue with no consumer means the coordinator is gone: `fj resume` it).
 * Rejects with UsageError when neither exists.
 */
export async function status(jobId: string, where: JobLocation = {}): Promise<JobReport> {
  return (await import('./control.js')).status(jobId, where);
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
 * Resolves to whether a coordinator was attached and, when none was, the
 * job's pool: messages of the job still queued there are dropped by the
 * workers as they take them (`pool.messages` counts every job's). The
 * job's error says it was "cancelled through the API" (`fj cancel` and the
 * dashboard say their own names).
 */
export async function cancel(jobId: string, where: JobLocation = {}): Promise<CancelReport> {
  return (await import('./control.js')).cancel(jobId, where, 'api');
}

/**
 * Re-attaches to an amqp job whose coordinator died (`fj resume`): reads the
 * job's manifest from the store, checks that the task's code and the input
 * file are unchanged, records the results already in the job's results
 * queue, publishes only the items without one, then joins once.
 *
 * `options` may override how to reach the broker and store, the log level and
 * the callbacks; the job's own settings (retries, policy) come from the
 * manifest. A job of a task module of its own needs `options.task`: fj never
 * loads code that a store record names. Rejects with UsageError when the job
 * is unknown, finished, still attached to a live coordinator, or its task or
 * input changed; a refused resume touches nothing.
 */
export async function resume(jobId: string, options: ResumeOptions = {}): Promise<JobResult<unknown>> {
  return (await import('./control.js')).resume(jobId, options);
}

/** The jobs in the index, newest first, with their figures; `more` says whether more match past `limit` (default 20). See detached/queries.ts. */
export async function listJobs(options?: ListJobsOptions): Promise<{ jobs: JobView[]; more: boolean }> {
  return (await import('./queries.js')).listJobs(options);
}

/**
 * The jobs running on the store's pools now, as their coordinators announce
 * them every 0.5 s for fair shares (weight, priority, tenant, messages in
 * flight): who holds the slots. By pool, then priority. See
 * detached/queries.ts.
 */
export async function listPoolJobs(where?: JobLocation): Promise<PoolJobView[]> {
  return (await import('./queries.js')).listPoolJobs(where);
}

/** The workers whose heartbeat is still kept, quiet ones marked, stale code flagged; by pool, then name. See detached/queries.ts. */
export async function listWorkers(where?: JobLocation): Promise<WorkerView[]> {
  return (await import('./queries.js')).listWorkers(where);
}

/** Removes an ended job's output and records now. UsageError when the job is unknown, or has not ended (cancel it first). */
export async function forget(jobId: string, where?: JobLocation): Promise<void> {
  return (await import('./queries.js')).forget(jobId, where);
}

/**
 * Adds a schedule (a periodic job): `task` runs with `input` at every tick
 * of `options.cron` (in `options.timezone`), each tick as a detached job
 * `<name>.<tick>` on the pool's workers. The input is validated now. Rejects
 * with UsageError (a bad name, cron expression or time zone, a name in use)
 * or InputError. See detached/schedules.ts.
 */
export async function addSchedule(
  name: string,
  task: TaskClass | string,
  input: unknown,
  options: ScheduleOptions,
): Promise<ScheduleView> {
  return (await import('./schedules.js')).addSchedule(name, task, input, options);
}

/** The schedules in the store: definition, next tick, last run. */
export async function listSchedules(where?: JobLocation): Promise<ScheduleView[]> {
  return (await import('./schedules.js')).listSchedules(where);
}

/** Pauses schedule `name`: no tick runs until it is resumed. */
export async function pauseSchedule(name: string, where?: JobLocation): Promise<ScheduleView> {
  return (await import('./schedules.js')).pauseSchedule(name, where);
}

/** Resumes schedule `name`: ticks from now on run (those missed while it was paused do not). */
export async function resumeSchedule(name: string, where?: JobLocation): Promise<ScheduleView> {
  return (await import('./schedules.js')).resumeSchedule(name, where);
}

/** Removes schedule `name`; the jobs it ran stay. */
export async function removeSchedule(name: string, where?: JobLocation): Promise<void> {
  return (await import('./schedules.js')).removeSchedule(name, where);
}
