/**
 * A detached job as `fj jobs`, `status()` and the dashboard show it: its
 * index entry with its figures from its status and result records (and,
 * for a pipeline's stage, the link to its pipeline).
 */
import type { JobPhase } from '../core/job-options.js';
import type { signerFrom } from '../core/signing.js';
import type { IndexEntry, JobState } from '../store/job-index.js';
import {
  readManifest,
  readOutcome,
  readStatus,
  totalOf,
  type JobOutcome,
  type JobStatus,
} from '../store/job-records.js';
import type { PayloadStore } from '../store/store.js';

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
  /** A stage's job of a submitted pipeline: the pipeline's id, and the stage's number (0: the on-error stage). */
  pipeline?: { id: string; stage: number };
  /** A `scheduled` (delayed) job: when it is due (ms since the epoch). */
  due?: number;
  /** How it shares its pool, when set at submission (`--tenant`, `--priority`, `--weight`; absent: none, 0, 1). */
  tenant?: string;
  priority?: number;
  weight?: number;
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
    readManifest(store, jobId, signer).catch(() => undefined),
  ]);
  const link = m?.pipeline ? { pipeline: { id: m.pipeline.id, stage: m.pipeline.stage } } : {};
  const { tenant, priority, weight } = m?.options ?? {};
  const sharing = {
    ...(tenant !== undefined ? { tenant } : {}),
    ...(priority !== undefined && priority !== 0 ? { priority } : {}),
    ...(weight !== undefined && weight !== 1 ? { weight } : {}),
  };
  const withProblems = (v: JobView): JobView => ({
    ...v,
    ...link,
    ...sharing,
    ...(problems.length ? { error: problems.join('; ') } : {}),
  });
  if (!signer) return withProblems(merge(e, s ?? undefined, o ?? undefined));
  if (!m?.detached) return undefined;
  const state: JobState =
    o?.state ?? (s?.state === 'scheduled' ? 'scheduled' : !s || s.state === 'queued' ? 'queued' : 'running');
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
    ...(!o && s?.state === 'scheduled' && s.due !== undefined ? { due: s.due } : {}),
  };
}
