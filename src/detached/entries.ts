/**
 * A detached job's place in the index, and its end. The end is written in
 * one order, so a reader never sees a job "succeeded" without its output,
 * and a coordinator dying half-way leaves a job the next one can finish:
 *
 * 1. the output (JSON text, content-addressed in the job's store data);
 * 2. the result record (state, output ref, or the error `fj run` would print);
 * 3. the status record and the index entry, with the job's retention: from
 *    here on the store removes everything at `finished + resultTtlMs`;
 * 4. the results queue, deleted last (it held the items' results until the
 *    output was safe).
 */
import { encodeChecked } from '../codec.js';
import type { KeptResults } from '../dispatch/ledger.js';
import { FjError, isInstance, thrownParts } from '../errors.js';
import { readOutcome, writeOutcome, type DetachedInfo, type JobOutcome, type JobStatsRecord, type JobStatus, type Manifest } from '../job-records.js';
import type { JobStats } from '../options.js';
import { sealRecord, type Signer } from '../signing.js';
import type { IndexEntry, JobState } from '../store/job-index.js';
import type { PayloadStore } from '../store/store.js';

/** A job not yet ended is kept this long past its retention at most: a leak guard, should every coordinator of it vanish. */
export const UNFINISHED_GRACE_MS = 7 * 24 * 3600 * 1000;

/** The index entry of a detached job in `state`. */
export function entryFor(jobId: string, task: string, d: DetachedInfo, state: JobState, now = Date.now()): IndexEntry {
  const final = state === 'succeeded' || state === 'failed' || state === 'cancelled';
  return { id: jobId, state, task, label: d.label, submitted: d.submitted, expires: now + d.resultTtlMs + (final ? 0 : UNFINISHED_GRACE_MS) };
}

/** The entry of a job its coordinator has just attached to. */
export function runningEntry(jobId: string, task: string, d: DetachedInfo): IndexEntry {
  return entryFor(jobId, task, d, 'running');
}

/** What `fj run` prints for an error, as a result record keeps it. */
export function describeError(err: unknown): NonNullable<JobOutcome['error']> {
  if (isInstance(err, FjError)) return { code: err.code, message: err.message, exitCode: err.exitCode };
  const { name, message } = thrownParts(err);
  return { code: 'FJ_INTERNAL', message: `internal error (please report it): ${name}: ${message}`, exitCode: 1 };
}

/** The figures kept in a result record (failures capped at 100). */
export function statsRecord(s: JobStats): JobStatsRecord {
  return {
    items: s.items,
    failed: s.failed,
    retried: s.retried,
    wallMs: s.wallMs,
    messages: s.messages,
    bytesPublished: s.bytesPublished,
    bytesStored: s.bytesStored,
    failures: s.failures.slice(0, 100).map((f) => ({ index: f.index, attempts: f.attempts, error: f.error })),
  };
}

/** How a job ended, before its output is stored. */
export interface Ending {
  state: JobOutcome['state'];
  /** The output, JSON text, when it succeeded. */
  json?: string;
  error?: unknown;
  stats?: JobStats;
  started?: number;
  /** The results the job had, when items failed: kept for a re-run of the others (JobOutcome.kept). */
  kept?: KeptResults;
}

/**
 * Writes a detached job's end (see the module comment, steps 1-3) and
 * resolves to the result record. A job whose result record is already
 * there keeps the first: an end is written once.
 */
export async function writeEnding(store: PayloadStore, jobId: string, manifest: Manifest, end: Ending, coordinator: string, signer?: Signer): Promise<JobOutcome> {
  const d = manifest.detached!;
  const earlier = await readOutcome(store, jobId, signer);
  if (earlier) return earlier;
  const outcome: JobOutcome = {
    state: end.state,
    coordinator,
    finished: Date.now(),
    ...(end.started ? { started: end.started } : {}),
    ...(end.json !== undefined ? { outputRef: await store.put(jobId, new TextEncoder().encode(end.json)) } : {}),
    ...(end.error !== undefined ? { error: describeError(end.error) } : {}),
    ...(end.stats ? { stats: statsRecord(end.stats) } : {}),
    ...(end.kept ? { kept: { ref: await store.put(jobId, encodeChecked(end.kept)), items: end.kept.indices.length + end.kept.covered.length } } : {}),
  };
  await writeOutcome(store, jobId, outcome, signer);
  const s = end.stats;
  const status: JobStatus = {
    state: end.state === 'succeeded' ? 'done' : end.state,
    task: manifest.task.name,
    total: s ? s.items + s.failed : null,
    done: s?.items ?? 0,
    failed: s?.failed ?? 0,
    retried: s?.retried ?? 0,
    inFlightMessages: 0,
    coordinator,
    updated: new Date(outcome.finished).toISOString(),
    ...(outcome.error ? { error: outcome.error.message } : {}),
  };
  await store.setMeta(jobId, 'status', sealRecord(signer, 'status', jobId, JSON.stringify(status)));
  await store.indexJob(entryFor(jobId, manifest.task.name, d, end.state, outcome.finished));
  return outcome;
}

/** A stored output, parsed. */
export async function readOutput(store: PayloadStore, outcome: JobOutcome): Promise<unknown> {
  return JSON.parse(new TextDecoder().decode(await store.get(outcome.outputRef!)));
}
