/**
 * The job index and worker beacons every store keeps beside its payloads:
 * the shapes, and the rules the three stores share (what a query matches,
 * how an entry is checked when read back, when an entry has expired).
 *
 * - The **job index** has one entry per amqp job: id, state, task, label,
 *   when it was submitted, and when the store removes it (`expires`). It is
 *   what `fj jobs` and the dashboard list, newest first; it never holds the
 *   job's figures (those are in its status record, read for the few jobs a
 *   page shows), so listing stays cheap with 100,000 jobs.
 * - A **beacon** is a small record that lives for a while unless written
 *   again: a worker's heartbeat. Listing returns the live ones.
 *
 * Every entry and beacon has an expiry; nothing in the store lives forever.
 */
import { TransportError } from '../core/errors.js';

/**
 * The states a job passes through: (scheduled →) queued → running → succeeded, failed or cancelled.
 * `scheduled`: a delayed job (`fj submit --at/--in`) held in the store until it is due.
 */
export const JOB_STATES = ['scheduled', 'queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
/** A job's state in the index. */
export type JobState = (typeof JOB_STATES)[number];

/** Whether `state` is one a job never leaves. */
export function isFinal(state: JobState): boolean {
  return state === 'succeeded' || state === 'failed' || state === 'cancelled';
}

/** One job in the index. */
export interface IndexEntry {
  /** The job id. */
  id: string;
  state: JobState;
  /** The task's name. */
  task: string;
  /** The job's human description (`--label`, else the task's description). */
  label: string;
  /** When the job was submitted (ms since the epoch). */
  submitted: number;
  /** When the store removes the job, its records and this entry (ms since the epoch). */
  expires: number;
}

/** What to list from the index. */
export interface IndexQuery {
  state?: JobState;
  task?: string;
  /** At most this many entries. */
  limit: number;
  /** Only entries older than this one (the last entry of the previous page): pagination. */
  before?: { submitted: number; id: string };
}

/** A page of the index, newest first. */
export interface IndexPage {
  entries: IndexEntry[];
  /** Whether more entries match past this page (never silently capped). */
  more: boolean;
}

/**
 * Beacon kinds: the namespaces beacons live in. `workers`: heartbeats; `jobs`: running jobs' coordinators
 * on their pools (broker/job-beacon.ts: fair shares); `due`: the delayed jobs not yet released to their
 * pool (detached/delay.ts); `schedules` and `schedule-runs`: periodic jobs, their definitions and the
 * last tick each ran (detached/schedules.ts); `tenants`: the tenants that queue jobs on each pool
 * (broker/tenant-queues.ts).
 */
export type BeaconKind = 'workers' | 'jobs' | 'due' | 'schedules' | 'schedule-runs' | 'tenants';

/** How long an ended job's records are kept by default (`fj submit --result-ttl`; an attached job's, always), ms. */
export const DEFAULT_RESULT_TTL_MS = 7 * 24 * 3600 * 1000;
/** A job not yet ended is kept this long past its retention at most: a leak guard, should every coordinator of it vanish. */
export const UNFINISHED_GRACE_MS = 7 * 24 * 3600 * 1000;

/**
 * The index entry of job `id` in `state`, kept `retentionMs` past `now`
 * once it has ended (and {@link UNFINISHED_GRACE_MS} longer while it has
 * not): detached and attached jobs are indexed alike.
 */
export function entryOf(
  job: { id: string; task: string; label: string; submitted: number },
  state: JobState,
  retentionMs: number,
  now = Date.now(),
): IndexEntry {
  return {
    id: job.id,
    state,
    task: job.task,
    label: job.label,
    submitted: job.submitted,
    expires: now + retentionMs + (isFinal(state) ? 0 : UNFINISHED_GRACE_MS),
  };
}

/** Labels are cut to this many characters. */
export const MAX_LABEL = 200;

/** Whether `e` matches the query's filters (not its limit). */
export function matches(e: IndexEntry, q: IndexQuery): boolean {
  if (q.state !== undefined && e.state !== q.state) return false;
  if (q.task !== undefined && e.task !== q.task) return false;
  if (q.before && !olderThan(e, q.before)) return false;
  return true;
}

/** Whether `e` sorts after `mark` in the index's order (submitted descending, then id descending). */
export function olderThan(e: { submitted: number; id: string }, mark: { submitted: number; id: string }): boolean {
  return e.submitted < mark.submitted || (e.submitted === mark.submitted && e.id < mark.id);
}

/** The index's order: newest first, ties by id. */
export function newestFirst(a: IndexEntry, b: IndexEntry): number {
  return b.submitted - a.submitted || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** Checks an entry before a store writes it (TransportError naming the field). */
export function checkEntry(e: IndexEntry): IndexEntry {
  const bad = (what: string) =>
    new TransportError(`job index: bad entry for ${JSON.stringify(e?.id)}: ${what}`, { resumable: false });
  if (!e || typeof e.id !== 'string') throw bad('id');
  if (!(JOB_STATES as readonly string[]).includes(e.state)) throw bad('state');
  if (typeof e.task !== 'string' || e.task.length === 0 || e.task.length > 200) throw bad('task');
  if (typeof e.label !== 'string') throw bad('label');
  if (!Number.isSafeInteger(e.submitted) || e.submitted < 0) throw bad('submitted');
  if (!Number.isSafeInteger(e.expires) || e.expires < 0) throw bad('expires');
  return {
    id: e.id,
    state: e.state,
    task: e.task,
    label: e.label.slice(0, MAX_LABEL),
    submitted: e.submitted,
    expires: e.expires,
  };
}

/** An entry read back from a store, checked field by field; undefined when it is not one (a store is data, not trusted shape). */
export function readEntry(text: string): IndexEntry | undefined {
  try {
    return checkEntry(JSON.parse(text) as IndexEntry);
  } catch {
    return undefined;
  }
}

const BEACON_NAME = /^[A-Za-z0-9_:-][A-Za-z0-9._:-]{0,199}$/;

/** Throws TransportError unless `name` is a safe beacon name (it becomes a file name and a Redis key part). */
export function checkBeaconName(name: string): string {
  if (typeof name !== 'string' || !BEACON_NAME.test(name) || name.includes('..')) {
    throw new TransportError(
      `payload store: bad beacon name ${JSON.stringify(name)}: expected 1-200 characters of A-Z a-z 0-9 . _ : -, not starting with "."`,
      { resumable: false },
    );
  }
  return name;
}

/** Throws TransportError unless `ttlMs` is a whole number of milliseconds above 0. */
export function checkTtl(ttlMs: number): number {
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0)
    throw new TransportError(`payload store: bad expiry ${ttlMs} ms`, { resumable: false });
  return ttlMs;
}
