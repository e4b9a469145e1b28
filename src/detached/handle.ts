/**
 * A handle on a detached job, from {@link submit} or {@link attach}: its
 * state, its result (waiting for it, with a deadline and a signal), cancel.
 * Everything is read from the store, so any process that can reach it
 * holds the same job. A wait never outlives the job: one that is
 * forgotten or expires while waited on ends the wait with an error.
 */
import { CancelledError, TimeoutError, UsageError, WorkerRefusedError } from '../core/errors.js';
import { checkJobId } from '../core/job-id.js';
import { locate } from '../core/location.js';
import {
  outcomeError,
  readOutcome,
  readRefusal,
  readStatus,
  type JobLocation,
  type JobOutcome,
} from '../store/job-records.js';
import type { Progress } from '../core/job-options.js';
import { signerFrom } from '../core/signing.js';
import { openStore } from '../store/open.js';
import type { PayloadStore } from '../store/store.js';
import { readOutput } from './entries.js';
import { viewOf, type JobView } from './job-view.js';

export type { JobView } from './job-view.js';

/** Options of {@link JobHandle.result}. */
export interface ResultOptions {
  /** Stops waiting (rejects with the signal's reason); the job goes on. */
  signal?: AbortSignal;
  /** Gives up waiting after this long (TimeoutError); the job goes on. Default: wait for the end. */
  timeoutMs?: number;
  /** Called as the job's progress changes. */
  onProgress?: (p: Progress) => void;
  /** How often the store is looked at, ms. Default 250. */
  pollMs?: number;
  /**
   * Called once, when the job is found not ended yet and the wait begins (not for a job that has ended),
   * with what it is: `pipeline` for a submitted pipeline (its status names a stage), else `job`.
   */
  onWaiting?: (kind: 'job' | 'pipeline') => void;
}

export class JobHandle {
  constructor(
    /** The job's id. */
    readonly id: string,
    private readonly where: JobLocation = {},
  ) {}

  /** The job's state and figures now. Rejects with UsageError when the job is unknown, forgotten or expired. */
  async status(): Promise<JobView> {
    return this.withStore(async (store) => {
      const view = await viewOf(store, this.id, signerFrom(this.where.signingKey));
      if (!view) throw gone(this.id, store, false);
      return view;
    });
  }

  /**
   * The job's output once it has ended (at once if it has). Rejects with the
   * error that ended it, as `run()` would have thrown it: its class (a
   * `TaskError` with its hook, item and original error as `cause`, a
   * `FailuresError` with its failed items, an `InputError` with its
   * problems), message, code and exit code; CancelledError when it was cancelled, UsageError when the
   * job is unknown or is forgotten or expires meanwhile, WorkerRefusedError
   * when the job is still queued and a worker of its pool dead-lettered its
   * message unrun (signed with another key than the pool's), TimeoutError
   * past `timeoutMs`.
   */
  async result(options: ResultOptions = {}): Promise<unknown> {
    const outcome = await this.wait(options);
    return this.withStore((store) => settle(store, outcome, this.id));
  }

  /**
   * Waits for the job's end (at once if it has ended) and resolves to its
   * result record, whatever the end: what `fj result` prints from. Rejects
   * as {@link result} does for a job that is unknown, gone or waited on too long.
   */
  async wait(options: ResultOptions = {}): Promise<JobOutcome> {
    const { signal, timeoutMs, onProgress, onWaiting, pollMs = 250 } = options;
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    return this.withStore(async (store) => {
      const signer = signerFrom(this.where.signingKey);
      let last = '';
      for (let round = 0; ; round++) {
        signal?.throwIfAborted();
        if (!(await store.indexEntry(this.id))) throw gone(this.id, store, round > 0);
        const outcome = await readOutcome(store, this.id, signer);
        if (outcome) return outcome;
        const s = await readStatus(store, this.id, signer);
        if (!s || s.state === 'queued') await refused(store, this.id);
        const seen = s ? `${s.done}/${s.total}/${s.phase}` : '';
        if (s && onProgress && seen !== last)
          onProgress({ done: s.done, total: s.total ?? undefined, ...(s.phase ? { phase: s.phase } : {}) });
        last = seen;
        const left = deadline - Date.now();
        // A pipeline runs no items of its own: where it is, is its stage.
        const kind = s?.stage ? 'pipeline' : 'job';
        if (left <= 0) {
          const where = s
            ? s.stage
              ? ` (${s.state}, at stage ${s.stage})`
              : ` (${s.state}, ${s.done} of ${s.total ?? '?'} items done)`
            : '';
          throw new TimeoutError(
            timeoutMs
              ? `gave up waiting for ${kind} ${this.id} after ${Math.round(timeoutMs / 1000)} s${where}; it goes on ('fj result ${this.id} --wait' waits again)`
              : `${kind} ${this.id} has not ended yet${where}: 'fj result ${this.id} --wait' waits for it`,
          );
        }
        if (round === 0) onWaiting?.(kind);
        await pause(Math.min(pollMs, left), signal);
      }
    });
  }

  /** The output of a job that succeeded, else the error it ended with (see {@link result}). */
  async settle(outcome: JobOutcome): Promise<unknown> {
    return this.withStore((store) => settle(store, outcome, this.id));
  }

  /** Cancels the job (see `cancel()`): while queued, during setup, or while it runs. */
  async cancel(): Promise<void> {
    const { cancel } = await import('./control.js');
    await cancel(this.id, this.where);
  }

  private async withStore<T>(fn: (store: PayloadStore) => Promise<T>): Promise<T> {
    const store = await openStore(locate(this.where).store);
    try {
      return await fn(store);
    } finally {
      await store.close();
    }
  }
}

/**
 * Waits `ms`, or rejects with the signal's own reason once it aborts (timers/promises
 * would reject with an AbortError instead, hiding the CancelledError a caller gave).
 */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason as Error);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A handle on an existing detached job (checked to exist). */
export async function attach(jobId: string, where: JobLocation = {}): Promise<JobHandle> {
  const handle = new JobHandle(checkJobId(jobId), where);
  await handle.status();
  return handle;
}

/** The output, or the error the job ended with. */
async function settle(store: PayloadStore, o: JobOutcome, jobId: string): Promise<unknown> {
  if (o.state === 'succeeded' && o.attached)
    throw new UsageError(
      `job ${jobId} succeeded, run attached on ${o.coordinatorHost ?? o.coordinator}: its output went to the process that ran it ('fj run', 'run()') and is not kept`,
    );
  if (o.state === 'succeeded') return readOutput(store, o);
  if (o.state === 'cancelled') throw new CancelledError(o.error?.message ?? 'job cancelled');
  throw outcomeError(o);
}

/** Throws WorkerRefusedError when a worker left a note that it dead-lettered the job's message unrun (see `writeRefusal`). */
async function refused(store: PayloadStore, jobId: string): Promise<void> {
  const r = await readRefusal(store, jobId).catch(() => undefined);
  if (!r) return;
  throw new WorkerRefusedError(
    `job ${jobId} is queued, and worker ${r.by} of pool ${r.pool} refused a message for it unrun: ${r.reason}; the message is in ${r.pool}.dead ('fj dead list --queue ${r.pool}'): give the pool's workers the key the job was submitted with, then 'fj dead requeue --queue ${r.pool}' sends it back`,
  );
}

function gone(jobId: string, store: PayloadStore, meanwhile: boolean): UsageError {
  return meanwhile
    ? new UsageError(`job ${jobId} was removed while waiting for it (forgotten, or its results expired)`)
    : new UsageError(
        `no job '${jobId}' in the store ${store.url}: unknown, forgotten, or its results expired (pass the --store it was submitted with)`,
      );
}
