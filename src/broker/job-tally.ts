/**
 * What a worker's coordinations came to since it started: jobs ended, by
 * state, with a histogram of their wall times, and their items; in all and
 * by task. It travels in the worker's heartbeat, so `/metrics` gives
 * Prometheus counters that only grow for as long as the worker runs (one
 * series per worker and task), read from the sources of truth like
 * everything the dashboard shows. Never by job: job ids are without bound,
 * a worker's tasks are the few it serves.
 */
import type { JobOutcome } from '../store/job-records.js';

/** Upper bounds of the job duration buckets, seconds (Prometheus `le`; `+Inf` follows). */
export const DURATION_BUCKETS = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600] as const;

/** Jobs ended in one state: how many, how many fell in each duration bucket (not cumulative; the last is `+Inf`), and their total seconds. */
export interface EndedJobs {
  count: number;
  buckets: number[];
  sumSeconds: number;
}

/** Tasks a tally keeps apart, at most (a worker serves a few; a heartbeat holding more is malformed). */
export const MAX_TALLY_TASKS = 100;

/** The jobs of one task (or of all) a worker coordinated to their end. */
export interface TaskTally {
  jobs: Record<JobOutcome['state'], EndedJobs>;
  /** Items of those jobs: with a result, failed for good, and attempts retried. */
  items: { succeeded: number; failed: number; retried: number };
}

/** A worker's tally of the detached jobs it coordinated to their end (see the module comment). */
export interface JobTally extends TaskTally {
  /** The same, by task name (absent from workers of fj before the task label). */
  tasks?: Record<string, TaskTally>;
}

const ended = (): EndedJobs => ({
  count: 0,
  buckets: new Array<number>(DURATION_BUCKETS.length + 1).fill(0),
  sumSeconds: 0,
});

/** A tally with nothing counted. */
export function emptyTally(): JobTally {
  return { ...emptyTaskTally(), tasks: {} };
}

function emptyTaskTally(): TaskTally {
  return {
    jobs: { succeeded: ended(), failed: ended(), cancelled: ended() },
    items: { succeeded: 0, failed: 0, retried: 0 },
  };
}

/** Counts the end (its result record) of a job of task `task` into `t`, in all and under its task. */
export function tallyEnd(t: JobTally, o: JobOutcome, task: string): void {
  count(t, o);
  const tasks = (t.tasks ??= {});
  if (!Object.hasOwn(tasks, task) && Object.keys(tasks).length >= MAX_TALLY_TASKS) return;
  count((tasks[task] ??= emptyTaskTally()), o);
}

function count(t: TaskTally, o: JobOutcome): void {
  const e = t.jobs[o.state];
  const seconds = Math.max(0, o.finished - (o.started ?? o.finished)) / 1000;
  const at = DURATION_BUCKETS.findIndex((le) => seconds <= le);
  e.count++;
  e.buckets[at === -1 ? DURATION_BUCKETS.length : at]++;
  e.sumSeconds += seconds;
  t.items.succeeded += o.stats?.items ?? 0;
  t.items.failed += o.stats?.failed ?? 0;
  t.items.retried += o.stats?.retried ?? 0;
}

/** Whether `v`, read from a heartbeat, is a {@link JobTally}: its totals, and its tasks' when there (task names from 1 to 200 characters). */
export function isTally(v: unknown): v is JobTally {
  if (!isTaskTally(v)) return false;
  const { tasks } = v as JobTally;
  if (tasks === undefined) return true;
  if (typeof tasks !== 'object' || tasks === null || Array.isArray(tasks)) return false;
  const entries = Object.entries(tasks);
  return (
    entries.length <= MAX_TALLY_TASKS &&
    entries.every(([name, t]) => name.length > 0 && name.length <= 200 && isTaskTally(t))
  );
}

function isTaskTally(v: unknown): v is TaskTally {
  const t = v as TaskTally | null;
  const count = (n: unknown) => typeof n === 'number' && Number.isFinite(n) && n >= 0;
  const isEnded = (e: EndedJobs | undefined) =>
    !!e &&
    count(e.count) &&
    count(e.sumSeconds) &&
    Array.isArray(e.buckets) &&
    e.buckets.length === DURATION_BUCKETS.length + 1 &&
    e.buckets.every(count);
  return (
    typeof t === 'object' &&
    t !== null &&
    typeof t.jobs === 'object' &&
    t.jobs !== null &&
    isEnded(t.jobs.succeeded) &&
    isEnded(t.jobs.failed) &&
    isEnded(t.jobs.cancelled) &&
    typeof t.items === 'object' &&
    t.items !== null &&
    count(t.items.succeeded) &&
    count(t.items.failed) &&
    count(t.items.retried)
  );
}
