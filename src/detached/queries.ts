/**
 * Looking at the cluster from the store: the recent jobs (`fj jobs`), the
 * live workers (`fj workers`), and forgetting a job (`fj forget`). Only the
 * store is read: no broker is needed to list.
 */
import { UsageError } from '../core/errors.js';
import { checkJobId } from '../core/job-id.js';
import { locate } from '../core/location.js';
import { readManifest, readOutcome, type JobLocation } from '../store/job-records.js';
import { stageJobId } from '../store/pipeline-records.js';
import { signerFrom, type Signer } from '../core/signing.js';
import { isFinal, type IndexQuery } from '../store/job-index.js';
import { openStore } from '../store/open.js';
import type { PayloadStore } from '../store/store.js';
import type { Logger } from '../core/log.js';
import { isQuiet, readBeacons, type WorkerBeat, type WorkerState } from '../broker/beacon.js';
import { readJobBeacons } from '../broker/job-beacon.js';
import { viewMatches, viewOf, type JobView } from './job-view.js';

/** Options of {@link listJobs}. */
export interface ListJobsOptions extends JobLocation, Partial<IndexQuery> {}

/**
 * The jobs in the index, newest first, with their figures; `more` says
 * whether more match past `limit` (default 20). With a signing key, a job's
 * task, label and state are those of its signed records, and `state` and
 * `task` filter on them: an index entry rewritten in the store neither
 * lists a job under another state or task nor shows a forged label.
 */
export async function listJobs(options: ListJobsOptions = {}): Promise<{ jobs: JobView[]; more: boolean }> {
  const limit = options.limit ?? 20;
  if (!Number.isSafeInteger(limit) || limit < 1)
    throw new UsageError(`the limit must be a whole number from 1 up, got ${limit}`);
  return withStore(options, async (store) => {
    const signer = signerFrom(options.signingKey);
    const q = { state: options.state, task: options.task };
    const jobs: JobView[] = [];
    let before = options.before;
    for (;;) {
      const page = await store.listJobs({ ...q, before, limit: limit - jobs.length });
      const views = await Promise.all(page.entries.map((e) => viewOf(store, e.id, signer, e)));
      for (const v of views) if (v && (!signer || viewMatches(v, q))) jobs.push(v);
      const last = page.entries.at(-1);
      // Without a key every entry is a job; with one, entries the signed records disown leave room for the next page.
      if (!page.more || !last || jobs.length >= limit) return { jobs, more: page.more };
      before = { submitted: last.submitted, id: last.id };
    }
  });
}

/** A worker as `fj workers` shows it. */
export interface WorkerView extends WorkerBeat {
  /**
   * `warming` while its threads import the task modules it serves (it takes
   * no work yet), then `ready`; a worker of fj before the warm pool, which
   * does not say, is `ready`.
   */
  state: WorkerState;
  /** Not heard from for three heartbeats: stopped, hung, or cut off. */
  quiet: boolean;
  /** Tasks whose code here differs from what most workers of its pool run (a stale worker: restart it). */
  staleTasks: string[];
  /**
   * Tasks of which the live workers of its pool run more than one version
   * (a rolling deploy under way, or a worker left behind): each job's items
   * go only to workers with its code, so nothing runs on the wrong code,
   * but a job whose code no worker runs any more fails or follows
   * (`onCodeChange`).
   */
  mixedTasks: string[];
}

/**
 * The workers whose heartbeat is still kept, quiet ones marked, stale code
 * flagged; by pool, then name. Beacons are read by broker/beacon.ts: a
 * malformed one (or, with a signing key, an unsigned or forged one) is left
 * out and said on `log`'s warn.
 */
export async function listWorkers(where: JobLocation = {}, log?: Logger): Promise<WorkerView[]> {
  return withStore(where, async (store) => {
    const now = Date.now();
    return workerViews((await readBeacons(store, signerFrom(where.signingKey), log, now)).beats, now);
  });
}

/** A job running on a pool now, as its coordinator's beacon says (`fj workers`: who holds the slots). */
export interface PoolJobView {
  job: string;
  pool: string;
  weight: number;
  priority: number;
  /** Absent: none. */
  tenant?: string;
  /** Its work messages awaiting results (its share of the pool's slots, in proportion to the others'). */
  inFlight: number;
  /** Whether it could use more of the pool than it holds. */
  wants: boolean;
  /** When its coordinator last wrote its beacon (ms since the epoch). */
  sent: number;
}

/** The jobs running on the store's pools now (their coordinators' beacons, at most 5 s old): by pool, then priority (highest first), then id. */
export async function listPoolJobs(where: JobLocation = {}): Promise<PoolJobView[]> {
  return withStore(where, (store) => poolJobViews(store, signerFrom(where.signingKey)));
}

/** {@link listPoolJobs} on an open store (the dashboard's). */
export async function poolJobViews(store: PayloadStore, signer: Signer | undefined): Promise<PoolJobView[]> {
  return (await readJobBeacons(store, signer, undefined))
    .filter((b) => !b.ended)
    .map(({ job, pool, weight, priority, tenant, inFlight, wants, sent }) => ({
      job,
      pool,
      weight,
      priority,
      ...(tenant === undefined ? {} : { tenant }),
      inFlight,
      wants,
      sent,
    }))
    .sort((a, b) =>
      a.pool !== b.pool ? (a.pool < b.pool ? -1 : 1) : b.priority - a.priority || (a.job < b.job ? -1 : 1),
    );
}

/** Beats (read by broker/beacon.ts) as {@link WorkerView}s: quiet ones marked, stale code flagged; by pool, then name. */
export function workerViews(beats: WorkerBeat[], now: number = Date.now()): WorkerView[] {
  const live = beats.filter((b) => !isQuiet(b, now));
  return beats
    .map((b) => ({
      ...b,
      state: b.state ?? ('ready' as const),
      quiet: isQuiet(b, now),
      staleTasks: stale(b, live),
      mixedTasks: mixed(b, live),
    }))
    .sort((a, b) => (a.pool < b.pool ? -1 : a.pool > b.pool ? 1 : a.name < b.name ? -1 : 1));
}

/** The tasks of `b` that the live workers of its pool run in more than one version. */
function mixed(b: WorkerBeat, live: WorkerBeat[]): string[] {
  return Object.keys(b.tasks).filter(
    (task) =>
      new Set(live.filter((o) => o.pool === b.pool && Object.hasOwn(o.tasks, task)).map((o) => o.tasks[task])).size > 1,
  );
}

/** The tasks whose code hash on `b` is not the one most live workers of its pool have. */
function stale(b: WorkerBeat, live: WorkerBeat[]): string[] {
  const out: string[] = [];
  for (const [task, hash] of Object.entries(b.tasks)) {
    const votes = new Map<string, number>();
    for (const o of live)
      if (o.pool === b.pool && Object.hasOwn(o.tasks, task))
        votes.set(o.tasks[task], (votes.get(o.tasks[task]) ?? 0) + 1);
    const best = Math.max(0, ...votes.values());
    if ((votes.get(hash) ?? 0) < best) out.push(task);
  }
  return out;
}

/** Removes an ended job's output and records now. UsageError when the job is unknown, or has not ended (cancel it first). */
export async function forget(jobId: string, where: JobLocation = {}): Promise<void> {
  checkJobId(jobId);
  await withStore(where, async (store) => {
    const view = await viewOf(store, jobId, signerFrom(where.signingKey));
    if (!view) throw new UsageError(`no job '${jobId}' in the store ${store.url}: unknown, forgotten, or expired`);
    if (!isFinal(view.state))
      throw new UsageError(`job ${jobId} is ${view.state}: cancel it first ('fj cancel ${jobId}'), then forget it`);
    const signer = signerFrom(where.signingKey);
    const plan = (await readManifest(store, jobId, signer).catch(() => undefined))?.plan;
    await store.deleteJob(jobId);
    // A submitted pipeline: its stages' jobs go with it (those of its own that have ended).
    if (plan)
      for (let n = 0; n <= plan.stages.length; n++) {
        const stage = stageJobId(jobId, n);
        const link = (await readManifest(store, stage, signer).catch(() => undefined))?.pipeline;
        if (link?.id === jobId && (await readOutcome(store, stage, signer))) await store.deleteJob(stage);
      }
  });
}

async function withStore<T>(where: JobLocation, fn: (store: PayloadStore) => Promise<T>): Promise<T> {
  const store = await openStore(locate(where).store);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
