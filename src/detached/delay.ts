/**
 * Delayed jobs (`fj submit --at/--in`, `submit(…, { at | delayMs })`): a job
 * recorded at once and held in the store until it is due, then released to
 * its pool by the pool's scheduler (worker/scheduler.ts).
 *
 * Why the store and not RabbitMQ's per-message TTL with a dead-letter
 * exchange into the jobs queue: a queue expires messages only from its head,
 * so a job due in a minute queued behind one due tomorrow waits until
 * tomorrow (one queue per delay would be needed); a held message cannot be
 * listed or cancelled without consuming it; and a message that waits for
 * months sits in the broker's memory and disk. In the store the job is an
 * ordinary record (`fj jobs` lists it `scheduled`, `fj cancel` ends it), and
 * a `due` beacon (store.ts) points the scheduler at it: one small record per
 * held job, dropped once it is released (worker/release-due.ts).
 *
 * The guarantee: a held job is released at its due time by the active
 * scheduler of its pool; with no worker of the pool up then, it is
 * released as soon as one is, late, and the worker's log says by how much.
 */
import { UsageError } from '../core/errors.js';
import type { Signer } from '../core/signing.js';
import { writeManifest, type Manifest } from '../store/job-records.js';
import { UNFINISHED_GRACE_MS } from '../store/job-index.js';
import type { PayloadStore } from '../store/store.js';
import { writeFreshStatus } from './queue-job.js';

/** A job may be delayed at most this long: 366 days. */
export const MAX_DELAY_MS = 366 * 24 * 3600 * 1000;
/** A job released this long or more after its due time is logged as late. */
export const LATE_MS = 5000;

/** What a `due` beacon says: which pool's scheduler releases the job, and when (worker/release-due.ts reads it). */
export interface DueNote {
  queue: string;
  due: number;
}

/** When to start a delayed job: at most one of the two. */
export interface DelayOptions {
  /** Start the job at this time (a Date, or an ISO 8601 time with its offset, like `2026-12-08T02:00:00Z`). Must be in the future. */
  at?: Date | string;
  /** Start the job this many milliseconds from now (from 1 up to 366 days). */
  delayMs?: number;
}

/**
 * The due time (ms since the epoch) `o` asks for, or undefined when it asks
 * for none. UsageError naming the option when both are given, when `at` is
 * not a time or is in the past, or when the delay is out of range.
 */
export function dueTime(o: DelayOptions, now = Date.now()): number | undefined {
  if (o.at !== undefined && o.delayMs !== undefined) throw new UsageError('give at (--at) or delayMs (--in), not both');
  if (o.delayMs !== undefined) {
    if (typeof o.delayMs !== 'number' || !Number.isFinite(o.delayMs) || o.delayMs < 1 || o.delayMs > MAX_DELAY_MS)
      throw new UsageError(`delayMs (--in) must be from 1 ms to 366 days, got ${String(o.delayMs)}`);
    return now + Math.round(o.delayMs);
  }
  if (o.at === undefined) return undefined;
  const ms = parseTime(o.at);
  if (ms <= now)
    throw new UsageError(
      `at (--at) ${new Date(ms).toISOString()} is in the past (now ${new Date(now).toISOString()}): give a future time`,
    );
  if (ms - now > MAX_DELAY_MS) throw new UsageError(`at (--at) is more than 366 days ahead: ${String(o.at)}`);
  return ms;
}

function parseTime(at: Date | string): number {
  const ms =
    at instanceof Date
      ? at.getTime()
      : typeof at === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)$/i.test(at.trim())
        ? Date.parse(at.trim())
        : NaN;
  if (!Number.isFinite(ms))
    throw new UsageError(
      `at (--at) must be an ISO 8601 time with its offset, like 2026-12-08T02:00:00Z or 2026-12-08T03:00+01:00, got ${JSON.stringify(String(at))}`,
    );
  return ms;
}

/**
 * Records a delayed job whose input is stored: its manifest (`detached.due`
 * set), a `scheduled` status record and index entry (kept until past its
 * due time plus its retention), and the `due` beacon its pool's scheduler
 * finds it by. Nothing goes to the broker.
 */
export async function holdJob(
  store: PayloadStore,
  jobId: string,
  manifest: Manifest,
  signer: Signer | undefined,
): Promise<void> {
  const d = manifest.detached!;
  const due = d.due!;
  await Promise.all([
    writeManifest(store, jobId, manifest, signer),
    writeFreshStatus(store, jobId, manifest, signer, 'scheduled', { updated: manifest.created, due }),
  ]);
  const note: DueNote = { queue: manifest.queue, due };
  await store.putBeacon('due', jobId, JSON.stringify(note), due - Date.now() + d.resultTtlMs + UNFINISHED_GRACE_MS);
}
