/**
 * A handle on a detached job, from {@link submit} or {@link attach}: its
 * state, its result (waiting for it, with a deadline and a signal), cancel.
 * Everything is read from the store, so any process that can reach it
 * holds the same job. A wait never outlives the job: one that is
 * forgotten or expires while waited on ends the wait with an error.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CancelledError, FjError, TimeoutError, UsageError } from '../errors.js';
import { checkJobId } from '../job-id.js';
import { readOutcome, readStatus, type JobLocation, type JobOutcome, type JobStatus } from '../job-records.js';
import type { Progress } from '../options.js';
import { signerFrom } from '../signing.js';
import type { IndexEntry } from '../store/job-index.js';
import { openStore } from '../store/open.js';
import type { PayloadStore } from '../store/store.js';
import { readOutput } from './entries.js';

/** A detached job as `fj jobs` and `status()` show it. */
export interface JobView extends IndexEntry {
  /** Items done, failed, and in all (null until known). */
  done: number;
  failed: number;
  total: number | null;
  /** Who coordinates it (or did, to its end). */
  coordinator: string;
  /** When its coordinator started it, and when it ended (ms since the epoch). */
  started?: number;
  finished?: number;
  /** Why it failed or was cancelled. */
  error?: string;
}

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
   * error that ended it (same message, code and exit code as `fj run`
   * would give), CancelledError when it was cancelled, UsageError when the
   * job is unknown or is forgotten or expires meanwhile, TimeoutError past
   * `timeoutMs`.
   */
  async result(options: ResultOptions = {}): Promise<unknown> {
    const outcome = await this.wait(options);
    return this.withStore((store) => settle(store, outcome));
  }

  /**
   * Waits for the job's end (at once if it has ended) and resolves to its
   * result record, whatever the end: what `fj result` prints from. Rejects
   * as {@link result} does for a job that is unknown, gone or waited on too long.
   */
  async wait(options: ResultOptions = {}): Promise<JobOutcome> {
    const { signal, timeoutMs, onProgress, pollMs = 250 } = options;
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
        const seen = s ? `${s.done}/${s.total}` : '';
        if (s && onProgress && seen !== last) onProgress({ done: s.done, total: s.total ?? undefined });
        last = seen;
        const left = deadline - Date.now();
        if (left <= 0) {
          const where = s ? ` (${s.state}, ${s.done} of ${s.total ?? '?'} items done)` : '';
          throw new TimeoutError(
            timeoutMs ? `gave up waiting for job ${this.id} after ${Math.round(timeoutMs / 1000)} s${where}; it goes on ('fj result ${this.id} --wait' waits again)` : `job ${this.id} has not ended yet${where}: 'fj result ${this.id} --wait' waits for it`,
          );
        }
        await sleep(Math.min(pollMs, left), undefined, { signal });
      }
    });
  }

  /** The output of a job that succeeded, else the error it ended with (see {@link result}). */
  async settle(outcome: JobOutcome): Promise<unknown> {
    return this.withStore((store) => settle(store, outcome));
  }

  /** Cancels the job (see `cancel()`): while queued, during setup, or while it runs. */
  async cancel(): Promise<void> {
    const { cancel } = await import('../jobs.js');
    await cancel(this.id, this.where);
  }

  private async withStore<T>(fn: (store: PayloadStore) => Promise<T>): Promise<T> {
    const store = await openStore(this.where.store ?? process.env.FJ_STORE_URL);
    try {
      return await fn(store);
    } finally {
      await store.close();
    }
  }
}

/** A handle on an existing detached job (checked to exist). */
export async function attach(jobId: string, where: JobLocation = {}): Promise<JobHandle> {
  const handle = new JobHandle(checkJobId(jobId), where);
  await handle.status();
  return handle;
}

/** The output, or the error the job ended with. */
async function settle(store: PayloadStore, o: JobOutcome): Promise<unknown> {
  if (o.state === 'succeeded') return readOutput(store, o);
  const e = o.error;
  if (o.state === 'cancelled') throw new CancelledError(e?.message ?? 'job cancelled');
  throw new FjError(e?.message ?? 'the job failed', e?.code ?? 'FJ_INTERNAL', e?.exitCode ?? 1);
}

function gone(jobId: string, store: PayloadStore, meanwhile: boolean): UsageError {
  return meanwhile
    ? new UsageError(`job ${jobId} was removed while waiting for it (forgotten, or its results expired)`)
    : new UsageError(`no job '${jobId}' in the store ${store.url}: unknown, forgotten, or its results expired (pass the --store it was submitted with)`);
}

/** A job's index entry with its figures from its status and result records; undefined when it has no entry. */
export async function viewOf(store: PayloadStore, jobId: string, signer: ReturnType<typeof signerFrom>, entry?: IndexEntry): Promise<JobView | undefined> {
  const e = entry ?? (await store.indexEntry(jobId));
  if (!e) return undefined;
  const [s, o] = await Promise.all([readStatus(store, jobId, signer).catch(() => undefined), readOutcome(store, jobId, signer).catch(() => undefined)]);
  return merge(e, s, o);
}

function merge(e: IndexEntry, s: JobStatus | undefined, o: JobOutcome | undefined): JobView {
  return {
    ...e,
    ...(o ? { state: o.state } : {}),
    done: o?.stats?.items ?? s?.done ?? 0,
    failed: o?.stats?.failed ?? s?.failed ?? 0,
    total: o?.stats ? o.stats.items + o.stats.failed : (s?.total ?? null),
    coordinator: o?.coordinator ?? s?.coordinator ?? '',
    ...(o?.started ? { started: o.started } : {}),
    ...(o ? { finished: o.finished } : {}),
    ...(o?.error ? { error: o.error.message } : {}),
  };
}
