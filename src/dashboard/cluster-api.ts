/** The dashboard's cluster routes: workers (heartbeats), queues (RabbitMQ depths), tasks (name, description, schema) and a summary. */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { listWorkers, type WorkerView } from '../detached/queries.js';
import { packageRoot } from '../paths.js';
import { JOB_STATES, type JobState } from '../store/job-index.js';
import { findSchemaFile, type TaskInfo } from '../task/registry.js';
import { DEFAULT_QUEUE } from '../transport/amqp.js';
import { sendError, type DashboardContext } from './context.js';

/** Workers quiet for longer than this are no longer listed (their beacon may linger): 10 minutes. */
export const DROP_QUIET_MS = 10 * 60 * 1000;

/** The live and recently quiet workers. */
export async function workers(ctx: DashboardContext): Promise<WorkerView[]> {
  const now = Date.now();
  return (await listWorkers({ store: ctx.config.store })).filter((w) => now - w.sent <= DROP_QUIET_MS);
}

/** The pools to show queues for: those seen in heartbeats, else the default one. */
export function poolsOf(ws: WorkerView[], also?: string): string[] {
  const pools = [...new Set([...ws.map((w) => w.pool), ...(also ? [also] : [])])].sort();
  return pools.length ? pools : [DEFAULT_QUEUE];
}

/** A task's JSON schema as an object (read from its schemas/ file when named), or undefined when it cannot be read. */
export function schemaOf(info: TaskInfo): object | undefined {
  const s = info.cls.schema;
  if (typeof s === 'object' && s !== null) return s;
  if (typeof s !== 'string') return undefined;
  const file = findSchemaFile(s, info.moduleUrl?.startsWith('file:') ? dirname(fileURLToPath(info.moduleUrl)) : packageRoot);
  try {
    return file ? (JSON.parse(readFileSync(file, 'utf8')) as object) : undefined;
  } catch {
    return undefined;
  }
}

/** How many jobs of each state the index holds (counted page by page: the index holds entries only, never figures). */
export async function countByState(ctx: DashboardContext): Promise<Record<JobState, number>> {
  const counts = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
  await Promise.all(
    JOB_STATES.map(async (state) => {
      let before: { submitted: number; id: string } | undefined;
      for (;;) {
        const page = await ctx.store.listJobs({ state, before, limit: 1000 });
        counts[state] += page.entries.length;
        const last = page.entries.at(-1);
        if (!page.more || !last) break;
        before = { submitted: last.submitted, id: last.id };
      }
    }),
  );
  return counts;
}

/** Registers the cluster routes. */
export function clusterRoutes(app: FastifyInstance, ctx: DashboardContext): void {
  app.get('/api/workers', async (_req, reply) => {
    try {
      return { workers: await workers(ctx) };
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get('/api/queues', async (_req, reply) => {
    try {
      return { pools: await ctx.broker.pools(poolsOf(await workers(ctx), ctx.config.queue)) };
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get('/api/tasks', async () => ({
    tasks: [...ctx.tasks.values()].map((t) => ({ name: t.name, description: t.description, queue: t.queue ?? null, schema: schemaOf(t) ?? null })),
  }));

  app.get('/api/overview', async (_req, reply) => {
    try {
      const ws = await workers(ctx);
      return { jobs: await countByState(ctx), workersOnline: ws.filter((w) => !w.quiet).length, workersQuiet: ws.filter((w) => w.quiet).length, itemsDone: ws.reduce((n, w) => n + w.itemsDone, 0), now: Date.now() };
    } catch (err) {
      return sendError(reply, err);
    }
  });
}
