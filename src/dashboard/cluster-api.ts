/** The dashboard's cluster routes: workers (heartbeats), queues (RabbitMQ depths), tasks (name, description, schema) and a summary. */
import { readTenants } from '../broker/tenant-queues.js';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { poolJobViews, workerViews, type PoolJobView, type WorkerView } from '../detached/queries.js';
import { poolFairness, tenantWeightsByPool } from '../broker/job-beacon.js';
import { readBeacons } from '../broker/beacon.js';
import { createLogger } from '../core/log.js';
import { packageRoot } from '../core/paths.js';
import { JOB_STATES, type JobState } from '../store/job-index.js';
import { scheduleViews } from '../detached/schedules.js';
import { findSchemaFile, type TaskInfo } from '../task/registry.js';
import { DEFAULT_QUEUE } from '../broker/amqp.js';
import { sendError, type DashboardContext } from './context.js';

/** Workers quiet for longer than this are no longer listed (their beacon may linger): 10 minutes. */
export const DROP_QUIET_MS = 10 * 60 * 1000;

// Beacons dropped as malformed or unsigned are said here, once each (the pages read them every second).
const beaconLog = createLogger('dashboard');

/** The live and recently quiet workers, from beacons read by broker/beacon.ts (checked; with a key, signed). */
export async function workers(ctx: DashboardContext): Promise<WorkerView[]> {
  const now = Date.now();
  const { beats } = await readBeacons(ctx.store, ctx.signer, beaconLog, now);
  return workerViews(beats, now).filter((w) => now - w.sent <= DROP_QUIET_MS);
}

/** The pools to show queues for: those seen in heartbeats, else the default one. */
/** Pool -> task -> the code hashes its live workers run: where jobs of the pool publish their items. */
export function versionsOf(ws: WorkerView[]): Map<string, Map<string, Set<string>>> {
  const out = new Map<string, Map<string, Set<string>>>();
  for (const w of ws) {
    if (w.quiet) continue;
    const tasks = out.get(w.pool) ?? new Map<string, Set<string>>();
    for (const [task, hash] of Object.entries(w.tasks)) tasks.set(task, (tasks.get(task) ?? new Set()).add(hash));
    out.set(w.pool, tasks);
  }
  return out;
}

export function poolsOf(ws: WorkerView[], also?: string): string[] {
  const pools = [...new Set([...ws.map((w) => w.pool), ...(also ? [also] : [])])].sort();
  return pools.length ? pools : [DEFAULT_QUEUE];
}

/** A task's JSON schema as an object (read from its schemas/ file when named), or undefined when it cannot be read. */
export function schemaOf(info: TaskInfo): object | undefined {
  const s = info.cls.schema;
  if (typeof s === 'object' && s !== null) return s;
  if (typeof s !== 'string') return undefined;
  const file = findSchemaFile(
    s,
    info.moduleUrl?.startsWith('file:') ? dirname(fileURLToPath(info.moduleUrl)) : packageRoot,
  );
  try {
    return file ? (JSON.parse(readFileSync(file, 'utf8')) as object) : undefined;
  } catch {
    return undefined;
  }
}

/** Jobs in the index: by state, and by state within each task (at most {@link MAX_COUNTED_TASKS} tasks; the rest under `(other)`). */
export interface JobCounts {
  states: Record<JobState, number>;
  tasks: Record<string, Record<JobState, number>>;
}

/** Tasks counted apart in {@link JobCounts} (a metric label: its values stay few even in an index written by strangers). */
export const MAX_COUNTED_TASKS = 50;

const counted = new WeakMap<DashboardContext, { at: number; counts: Promise<JobCounts> }>();

/**
 * How many jobs of each state the index holds. Counting pages the whole
 * index, so one count serves every caller (the overview's stream, its route,
 * /metrics) for `liveEveryMs`, and callers while it runs wait for it.
 */
export async function countByState(ctx: DashboardContext): Promise<Record<JobState, number>> {
  return (await countJobs(ctx)).states;
}

/** {@link countByState}, with the counts by task beside it (one count serves both). */
export function countJobs(ctx: DashboardContext): Promise<JobCounts> {
  const now = Date.now();
  const last = counted.get(ctx);
  if (last && now - last.at < ctx.config.liveEveryMs) return last.counts;
  const entry = { at: now, counts: countIndex(ctx) };
  counted.set(ctx, entry);
  entry.counts.catch(() => counted.get(ctx) === entry && counted.delete(ctx)); // a failed count is not kept
  return entry.counts;
}

/** Counts the index page by page (it holds entries only, never figures). */
async function countIndex(ctx: DashboardContext): Promise<JobCounts> {
  const zero = () => Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
  const counts: JobCounts = { states: zero(), tasks: {} };
  const byTask = new Map<string, Record<JobState, number>>();
  await Promise.all(
    JOB_STATES.map(async (state) => {
      let before: { submitted: number; id: string } | undefined;
      for (;;) {
        const page = await ctx.store.listJobs({ state, before, limit: 1000 });
        counts.states[state] += page.entries.length;
        for (const e of page.entries) {
          const task = byTask.has(e.task) || byTask.size < MAX_COUNTED_TASKS ? e.task : '(other)';
          let t = byTask.get(task);
          if (!t) byTask.set(task, (t = zero()));
          t[state]++;
        }
        const last = page.entries.at(-1);
        if (!page.more || !last) break;
        before = { submitted: last.submitted, id: last.id };
      }
    }),
  );
  counts.tasks = Object.fromEntries(byTask);
  return counts;
}

/** Registers the cluster routes. */
/** The overview's summary (`GET /api/overview` and its event stream): jobs by state, workers online and quiet, items done. */
export async function overview(ctx: DashboardContext) {
  const ws = await workers(ctx);
  return {
    jobs: await countByState(ctx),
    workersOnline: ws.filter((w) => !w.quiet).length,
    workersQuiet: ws.filter((w) => w.quiet).length,
    itemsDone: ws.reduce((n, w) => n + w.itemsDone, 0),
  };
}

/** A pool's jobs now, and how evenly they share it. */
export interface PoolSharing {
  pool: string;
  /** Jain's index of the shares (see `poolFairness`): 1 an even split, 1/n one job holding everything. */
  fairness: number;
  /** The jobs the index counts: those of the highest priority present that could use more. */
  counted: number;
  jobs: PoolJobView[];
}

/** Each pool with a job running now, by name: its jobs (from their coordinators' beacons) and its fairness index. */
async function sharing(ctx: DashboardContext): Promise<PoolSharing[]> {
  const [jobs, ws] = await Promise.all([poolJobViews(ctx.store, ctx.signer), workers(ctx)]);
  return [...poolFairness(jobs, tenantWeightsByPool(ws.filter((w) => !w.quiet)))].map(([pool, f]) => ({
    pool,
    fairness: f.index,
    counted: f.jobs,
    jobs: jobs.filter((j) => j.pool === pool),
  }));
}

export function clusterRoutes(app: FastifyInstance, ctx: DashboardContext): void {
  app.get('/api/workers', async (_req, reply) => {
    try {
      return { workers: await workers(ctx) };
    } catch (err) {
      return sendError(reply, err);
    }
  });

  // The schedules (periodic jobs), read-only: `fj schedule` changes them.
  app.get('/api/schedules', async (_req, reply) => {
    try {
      return { schedules: await scheduleViews(ctx.store, ctx.signer) };
    } catch (err) {
      return sendError(reply, err);
    }
  });

  // Who holds each pool's slots now (its jobs' beacons), and Jain's index of their shares: the workers page charts it over time.
  app.get('/api/sharing', async (_req, reply) => {
    try {
      return { pools: await sharing(ctx), now: Date.now() };
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get('/api/queues', async (_req, reply) => {
    try {
      const ws = await workers(ctx);
      return {
        pools: await ctx.broker.pools(poolsOf(ws, ctx.config.queue), versionsOf(ws), (pool) =>
          readTenants(ctx.store, pool),
        ),
      };
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get('/api/tasks', async () => ({
    tasks: [...ctx.tasks.values()].map((t) => ({
      name: t.name,
      description: t.description,
      queue: t.queue ?? null,
      schema: schemaOf(t) ?? null,
    })),
  }));

  app.get('/api/overview', async (_req, reply) => {
    try {
      return { ...(await overview(ctx)), now: Date.now() };
    } catch (err) {
      return sendError(reply, err);
    }
  });
}
