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
import { encodeChecked } from '../core/codec.js';
import type { KeptResults } from '../dispatch/ledger.js';
import {
  describeError,
  endStatus,
  readOutcome,
  statsRecord,
  writeOutcome,
  type DetachedInfo,
  type JobOutcome,
  type Manifest,
} from '../store/job-records.js';
import type { JobStats } from '../core/job-options.js';
import { sealRecord, type Signer } from '../core/signing.js';
import { entryOf, type IndexEntry, type JobState } from '../store/job-index.js';
import type { PayloadStore } from '../store/store.js';

export { UNFINISHED_GRACE_MS } from '../store/job-index.js';

/** The index entry of a detached job in `state`. */
export function entryFor(jobId: string, task: string, d: DetachedInfo, state: JobState, now = Date.now()): IndexEntry {
  return entryOf({ id: jobId, task, label: d.label, submitted: d.submitted }, state, d.resultTtlMs, now);
}

/** The entry of a job its coordinator has just attached to. */
export function runningEntry(jobId: string, task: string, d: DetachedInfo): IndexEntry {
  return entryFor(jobId, task, d, 'running');
}

export { describeError };

export { statsRecord };

/** How a job ended, before its output is stored. */
export interface Ending {
  state: JobOutcome['state'];
  /** The output, JSON text, when it succeeded. */
  json?: string;
  error?: unknown;
  stats?: JobStats;
  /** Whether `stats.total` is the job's count (setup's items all seen); default true. */
  totalKnown?: boolean;
  started?: number;
  /** The results the job had, when items failed: kept for a re-run of the others (JobOutcome.kept). */
  kept?: KeptResults;
}

/**
 * Writes a detached job's end (see the module comment, steps 1-3) and
 * resolves to the result record. A job whose result record is already
 * there keeps the first: an end is written once.
 */
export async function writeEnding(
  store: PayloadStore,
  jobId: string,
  manifest: Manifest,
  end: Ending,
  coordinator: string,
  signer?: Signer,
  coordinatorHost?: string,
): Promise<JobOutcome> {
  const d = manifest.detached!;
  const finished = Date.now();
  // Step 1, beside the check for an earlier end (the data is content-addressed: storing it twice is harmless).
  const [earlier, outputRef, keptRef] = await Promise.all([
    readOutcome(store, jobId, signer),
    end.json !== undefined ? store.put(jobId, new TextEncoder().encode(end.json)) : undefined,
    end.kept ? store.put(jobId, encodeChecked(end.kept)) : undefined,
  ]);
  if (earlier) return earlier;
  const outcome: JobOutcome = {
    state: end.state,
    coordinator,
    ...(coordinatorHost ? { coordinatorHost } : {}),
    finished,
    ...(end.started ? { started: end.started } : {}),
    ...(outputRef ? { outputRef } : {}),
    ...(end.error !== undefined ? { error: describeError(end.error) } : {}),
    ...(end.stats ? { stats: statsRecord(end.stats, end.totalKnown ?? true) } : {}),
    ...(end.kept && keptRef
      ? { kept: { ref: keptRef, items: end.kept.indices.length + end.kept.covered.length } }
      : {}),
  };
  await writeOutcome(store, jobId, outcome, signer);
  const status = endStatus(outcome, manifest.task.name);
  await Promise.all([
    store.setMeta(jobId, 'status', sealRecord(signer, 'status', jobId, JSON.stringify(status))),
    store.indexJob(entryFor(jobId, manifest.task.name, d, end.state, outcome.finished)),
  ]);
  return outcome;
}

/** A stored output, parsed. */
export async function readOutput(store: PayloadStore, outcome: JobOutcome): Promise<unknown> {
  return JSON.parse(new TextDecoder().decode(await store.get(outcome.outputRef!)));
}
