/**
 * A handle on a detached job, from {@link submit} or {@link attach}: its
 * state, its result (waiting for it, with a deadline and a signal), cancel.
 * Everything is read from the store, so any process that can reach it
 * holds the same job. A wait never outlives the job: one that is
 * forgotten or expires while waited on ends the wait with an error.
 */
import { CancelledError, FjError, TimeoutError, UsageError, WorkerRefusedError } from '../core/errors.js';
import { checkJobId } from '../core/job-id.js';
import { locate } from '../core/location.js';
import {
  readManifest,
  readOutcome,
  readRefusal,
  readStatus,
  totalOf,
  type JobLocation,
  type JobOutcome,
  type JobStatus,
} from '../store/job-records.js';
import type { JobPhase, Progress } from '../core/job-options.js';
import { signerFrom } from '../core/signing.js';
import type { IndexEntry, JobState } from '../store/job-index.js';
import { openStore } from '../store/open.js';
import type { PayloadStore } from '../store/store.js';
import { readOutput } from './entries.js';

/** A detached job as `fj jobs` and `status()` show it. */
export interface JobView extends IndexEntry {
  /** Items done, failed, and in all (null until known). */
  done: number;
  failed: number;
  total: number | null;
  /** Who coordinates it (or did, to its end): the worker's `--name`, else `<host>:<pid>`. */
  coordinator: string;
  /** Where that coordinator runs (or ran): `<host>:<pid>`. */
  coordinatorHost?: string;
  /** While it runs: `setup`, `items` or `join`. */
  phase?: JobPhase;
  /** A submitted pipeline, while it runs: the stage it is at (`2/3 align`, `on-error report`); its job is `<id>.<number>`. */
  stage?: string;
  /** When it first started (its first coordinator's start, kept through takeovers), and when it ended (ms since the epoch). */
  started?: number;
  finished?: number;
  /** It ran attached (`fj run -e amqp`, `run()`): its output went to that process and is not kept. */
  attached?: boolean;
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
  /** Called once, when the job is found not ended yet and the wait begins (not for a job that has ended). */
  onWaiting?: () => void;
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
        if (left <= 0) {
          const where = s ? ` (${s.state}, ${s.done} of ${s.total ?? '?'} items done)` : '';
          throw new TimeoutError(
            timeoutMs
              ? `gave up waiting for job ${this.id} after ${Math.round(timeoutMs / 1000)} s${where}; it goes on ('fj result ${this.id} --wait' waits again)`
              : `job ${this.id} has not ended yet${where}: 'fj result ${this.id} --wait' waits for it`,
          );
        }
        if (round === 0) onWaiting?.();
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
  const e = o.error;
  if (o.state === 'cancelled') throw new CancelledError(e?.message ?? 'job cancelled');
  throw new FjError(e?.message ?? 'the job failed', e?.code ?? 'FJ_INTERNAL', e?.exitCode ?? 1);
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

/**
 * A job's index entry with its figures from its status and result records;
 * undefined when it has no entry. With a signer, the index (which is not
 * signed) is only where to look: task, label, submitted and state come from
 * the job's signed records (manifest, result, status), and an entry no
 * signed manifest backs is no job (undefined).
 */
export async function viewOf(
  store: PayloadStore,
  jobId: string,
  signer: ReturnType<typeof signerFrom>,
  entry?: IndexEntry,
): Promise<JobView | undefined> {
  const e = entry ?? (await store.indexEntry(jobId));
  if (!e) return undefined;
  // A record of the wrong shape is not used; what is wrong with it becomes the view's error.
  const problems: string[] = [];
  const unusable = (err: unknown) => void problems.push((err as Error).message);
  const [s, o, m] = await Promise.all([
    readStatus(store, jobId, signer).catch(unusable),
    readOutcome(store, jobId, signer).catch(unusable),
    signer ? readManifest(store, jobId, signer).catch(() => undefined) : undefined,
  ]);
  const withProblems = (v: JobView): JobView => (problems.length ? { ...v, error: problems.join('; ') } : v);
  if (!signer) return withProblems(merge(e, s ?? undefined, o ?? undefined));
  if (!m?.detached) return undefined;
  const state: JobState = o?.state ?? (!s || s.state === 'queued' ? 'queued' : 'running');
  return withProblems(
    merge(
      { ...e, task: m.task.name, label: m.detached.label, submitted: m.detached.submitted, state },
      s ?? undefined,
      o ?? undefined,
    ),
  );
}

/** Whether a view matches a listing's filters (state, task): with a signer, applied to the signed fields {@link viewOf} gives. */
export function viewMatches(v: JobView, q: { state?: JobState; task?: string }): boolean {
  return (q.state === undefined || v.state === q.state) && (q.task === undefined || v.task === q.task);
}

// eslint-disable-next-line complexity -- one `??` per field: the result record's figures, else the status record's
function merge(e: IndexEntry, s: JobStatus | undefined, o: JobOutcome | undefined): JobView {
  const started = o?.started ?? s?.started;
  const host = o ? o.coordinatorHost : s?.coordinatorHost;
  const phase = !o && e.state === 'running' && s?.state === 'running' ? s.phase : undefined;
  return {
    ...e,
    ...(o ? { state: o.state } : {}),
    done: o?.stats?.items ?? s?.done ?? 0,
    failed: o?.stats?.failed ?? s?.failed ?? 0,
    total: o?.stats ? totalOf(o.stats) : (s?.total ?? null),
    coordinator: o?.coordinator ?? s?.coordinator ?? '',
    ...(host ? { coordinatorHost: host } : {}),
    ...(phase ? { phase } : {}),
    ...(!o && s?.state === 'running' && s.stage ? { stage: s.stage } : {}),
    ...(started ? { started } : {}),
    ...(o ? { finished: o.finished } : {}),
    ...(o?.attached || s?.attached ? { attached: true } : {}),
    ...(o?.error ? { error: o.error.message } : {}),
  };
}
