/**
 * `GET /metrics`: Prometheus text from prom-client. Each scrape reads the
 * sources afresh (the index, heartbeats, RabbitMQ, the result records of
 * the most recent ended jobs): restarting the dashboard loses nothing.
 */
import type { FastifyInstance } from 'fastify';
import { Gauge, Histogram, Registry } from 'prom-client';
import { readOutcome } from '../job-records.js';
import { countByState, poolsOf, workers } from './cluster-api.js';
import type { DashboardContext } from './context.js';

/** The job duration histogram covers the result records of this many most recently submitted ended jobs of each final state. */
export const DURATION_SAMPLE = 200;

/** A registry whose metrics read `ctx` on every scrape. */
export function metricsRegistry(ctx: DashboardContext): Registry {
  const registry = new Registry();
  new Gauge({
    name: 'fj_jobs',
    help: 'Jobs in the job index, by state',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [state, n] of Object.entries(await countByState(ctx))) this.set({ state }, n);
    },
  });
  const workerGauge = (name: string, help: string, value: (ws: Awaited<ReturnType<typeof workers>>) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        this.set(value(await workers(ctx)));
      },
    });
  workerGauge('fj_workers_online', 'Workers whose heartbeat is fresh', (ws) => ws.filter((w) => !w.quiet).length);
  workerGauge('fj_worker_items_done', 'Items answered by the online workers since they started (sum of their heartbeats)', (ws) => ws.filter((w) => !w.quiet).reduce((n, w) => n + w.itemsDone, 0));
  workerGauge('fj_worker_busy', 'Batches running or queued on the online workers', (ws) => ws.filter((w) => !w.quiet).reduce((n, w) => n + w.busy, 0));
  new Gauge({
    name: 'fj_queue_messages',
    help: 'Messages ready in each queue of the pools seen in heartbeats (kind: work, jobs, dead)',
    labelNames: ['pool', 'kind'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const p of await ctx.broker.pools(poolsOf(await workers(ctx), ctx.config.queue))) for (const kind of ['work', 'jobs', 'dead'] as const) this.set({ pool: p.pool, kind }, p[kind].messages);
    },
  });
  new Histogram({
    name: 'fj_job_duration_seconds',
    help: `Wall time of ended jobs, from their result records (the ${DURATION_SAMPLE} newest of each final state)`,
    labelNames: ['state'],
    buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600],
    registers: [registry],
    async collect() {
      this.reset();
      for (const state of ['succeeded', 'failed', 'cancelled'] as const) {
        const page = await ctx.store.listJobs({ state, limit: DURATION_SAMPLE });
        const outcomes = await Promise.all(page.entries.map((e) => readOutcome(ctx.store, e.id, ctx.signer).catch(() => undefined)));
        for (const o of outcomes) if (o?.started) this.observe({ state }, Math.max(0, o.finished - o.started) / 1000);
      }
    },
  });
  return registry;
}

/** Registers `GET /metrics`. */
export function metricsRoute(app: FastifyInstance, ctx: DashboardContext): void {
  const registry = metricsRegistry(ctx);
  app.get('/metrics', async (_req, reply) => reply.header('content-type', registry.contentType).send(await registry.metrics()));
}
