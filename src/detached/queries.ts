/**
 * Looking at the cluster from the store: the recent jobs (`fj jobs`), the
 * live workers (`fj workers`), and forgetting a job (`fj forget`). Only the
 * store is read: no broker is needed to list.
 */
import { UsageError } from '../errors.js';
import { checkJobId } from '../job-id.js';
import type { JobLocation } from '../job-records.js';
import { signerFrom } from '../signing.js';
import { isFinal, type IndexQuery } from '../store/job-index.js';
import { openStore } from '../store/open.js';
import type { PayloadStore } from '../store/store.js';
import { HEARTBEAT_EVERY_MS, type WorkerBeat } from '../worker/heartbeat.js';
import { viewOf, type JobView } from './handle.js';

/** Options of {@link listJobs}. */
export interface ListJobsOptions extends JobLocation, Partial<IndexQuery> {}

/** The jobs in the index, newest first, with their figures; `more` says whether more match past `limit` (default 20). */
export async function listJobs(options: ListJobsOptions = {}): Promise<{ jobs: JobView[]; more: boolean }> {
  const limit = options.limit ?? 20;
  if (!Number.isSafeInteger(limit) || limit < 1) throw new UsageError(`the limit must be a whole number from 1 up, got ${limit}`);
  return withStore(options, async (store) => {
    const page = await store.listJobs({ state: options.state, task: options.task, before: options.before, limit });
    const signer = signerFrom(options.signingKey);
    const jobs = await Promise.all(page.entries.map(async (e) => (await viewOf(store, e.id, signer, e))!));
    return { jobs, more: page.more };
  });
}

/** A worker as `fj workers` shows it. */
export interface WorkerView extends WorkerBeat {
  /** Not heard from for three heartbeats: stopped, hung, or cut off. */
  quiet: boolean;
  /** Tasks whose code here differs from what most workers of its pool run (a stale worker: restart it). */
  staleTasks: string[];
}

/** The workers whose heartbeat is still kept, quiet ones marked, stale code flagged; by pool, then name. */
export async function listWorkers(where: JobLocation = {}): Promise<WorkerView[]> {
  return withStore(where, async (store) => {
    const now = Date.now();
    const beats: WorkerBeat[] = [];
    for (const { text } of await store.listBeacons('workers')) {
      try {
        const b = JSON.parse(text) as WorkerBeat;
        if (typeof b?.name === 'string' && typeof b.pool === 'string' && typeof b.sent === 'number' && b.tasks && typeof b.tasks === 'object') beats.push(b);
      } catch {
        // not a heartbeat
      }
    }
    const live = beats.filter((b) => now - b.sent <= 3 * HEARTBEAT_EVERY_MS);
    return beats
      .map((b) => ({ ...b, quiet: now - b.sent > 3 * HEARTBEAT_EVERY_MS, staleTasks: stale(b, live) }))
      .sort((a, b) => (a.pool < b.pool ? -1 : a.pool > b.pool ? 1 : a.name < b.name ? -1 : 1));
  });
}

/** The tasks whose code hash on `b` is not the one most live workers of its pool have. */
function stale(b: WorkerBeat, live: WorkerBeat[]): string[] {
  const out: string[] = [];
  for (const [task, hash] of Object.entries(b.tasks)) {
    const votes = new Map<string, number>();
    for (const o of live) if (o.pool === b.pool && typeof o.tasks[task] === 'string') votes.set(o.tasks[task]!, (votes.get(o.tasks[task]!) ?? 0) + 1);
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
    if (!isFinal(view.state)) throw new UsageError(`job ${jobId} is ${view.state}: cancel it first ('fj cancel ${jobId}'), then forget it`);
    await store.deleteJob(jobId);
  });
}

async function withStore<T>(where: JobLocation, fn: (store: PayloadStore) => Promise<T>): Promise<T> {
  const store = await openStore(where.store ?? process.env.FJ_STORE_URL);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
