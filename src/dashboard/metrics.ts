/**
 * `GET /metrics`: Prometheus text from prom-client. Each scrape reads the
 * sources afresh (the index, heartbeats, RabbitMQ): restarting the
 * dashboard loses nothing. Counters and the duration histogram come from
 * the tallies in the workers' heartbeats: one series per coordinating
 * worker and task, growing while the worker runs (a restarted worker starts
 * again from zero, which Prometheus's rate() reads as a counter reset).
 * Labels stay few: tasks and workers, never job ids.
 */
import { readTenants } from '../broker/tenant-queues.js';
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Registry, type Metric, type MetricValueWithName } from 'prom-client';
import { poolFairness, readJobBeacons, tenantWeightsByPool } from '../broker/job-beacon.js';
import { DURATION_BUCKETS, isTally, type JobTally, type TaskTally } from '../broker/job-tally.js';
import { countJobs, poolsOf, versionsOf, workers } from './cluster-api.js';
import type { DashboardContext } from './context.js';

/**
 * The tallies of the listed workers (live, and quiet for less than 10
 * minutes), by worker name and task; a worker of fj before the task label
 * gives its totals, labelled by worker alone.
 */
type Labelled = { labels: { worker: string; task?: string }; tally: TaskTally };
async function tallies(ctx: DashboardContext): Promise<Labelled[]> {
  return (await workers(ctx)).flatMap((w): Labelled[] => {
    if (!isTally(w.tally)) return [];
    const t: JobTally = w.tally;
    if (!t.tasks) return [{ labels: { worker: w.name }, tally: t }];
    return Object.entries(t.tasks).map(([task, tally]) => ({ labels: { worker: w.name, task }, tally }));
  });
}

/**
 * `fj_job_duration_seconds{worker,task,state}`: the wall times of the jobs
 * each worker coordinated to their end, as the buckets of its tally say. A
 * histogram prom-client cannot take from counts already made, so this
 * metric gives the registry its values itself.
 */
class DurationHistogram {
  readonly name = 'fj_job_duration_seconds';
  readonly help =
    'Wall time of the detached jobs each worker coordinated to their end since it started (its heartbeat), by task and final state';
  readonly type = 'histogram';
  readonly aggregator = 'sum';

  constructor(private readonly ctx: DashboardContext) {}

  async get(): Promise<{
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: MetricValueWithName<string>[];
  }> {
    const values: MetricValueWithName<string>[] = [];
    for (const { labels, tally } of await tallies(this.ctx)) {
      for (const [state, e] of Object.entries(tally.jobs)) {
        let below = 0;
        e.buckets.forEach((n, k) => {
          below += n;
          values.push({
            metricName: `${this.name}_bucket`,
            labels: { ...labels, state, le: k < DURATION_BUCKETS.length ? DURATION_BUCKETS[k] : '+Inf' },
            value: below,
          });
        });
        values.push({ metricName: `${this.name}_sum`, labels: { ...labels, state }, value: e.sumSeconds });
        values.push({ metricName: `${this.name}_count`, labels: { ...labels, state }, value: e.count });
      }
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {}
}

/** Each pool's fairness now, from its running jobs' beacons and its live workers' tenant weights. */
async function fairnessNow(ctx: DashboardContext): Promise<Map<string, { index: number; jobs: number }>> {
  const [all, ws] = await Promise.all([readJobBeacons(ctx.store, ctx.signer, undefined), workers(ctx)]);
  const beats = all.filter((b) => !b.ended);
  return poolFairness(beats, tenantWeightsByPool(ws.filter((w) => !w.quiet)));
}

/** A registry whose metrics read `ctx` on every scrape. */
export function metricsRegistry(ctx: DashboardContext): Registry {
  const registry = new Registry();
  new Gauge({
    name: 'fj_jobs',
    help: 'Jobs in the job index, by task and state (tasks past the 50th counted as task "(other)")',
    labelNames: ['task', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [task, states] of Object.entries((await countJobs(ctx)).tasks))
        for (const [state, n] of Object.entries(states)) this.set({ task, state }, n);
    },
  });
  const fairness = (pick: (f: { index: number; jobs: number }) => number) =>
    async function collect(this: Gauge) {
      this.reset();
      for (const [pool, f] of await fairnessNow(ctx)) this.set({ pool }, pick(f));
    };
  new Gauge({
    name: 'fj_pool_fairness',
    help: "Jain's fairness index of each pool's slots now, over each job's in-flight messages divided by its part of the pool (tenants by their weights, then their jobs by weight), among the jobs of the highest priority present that could use more (1: as the policy wants; 1/n: one job holds all)",
    labelNames: ['pool'],
    registers: [registry],
    collect: fairness((f) => f.index),
  });
  new Gauge({
    name: 'fj_pool_jobs_sharing',
    help: 'Jobs counted in fj_pool_fairness: those of the highest priority present on the pool that could use more slots',
    labelNames: ['pool'],
    registers: [registry],
    collect: fairness((f) => f.jobs),
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
  workerGauge(
    'fj_worker_items_done',
    'Items answered by the online workers since they started (sum of their heartbeats)',
    (ws) => ws.filter((w) => !w.quiet).reduce((n, w) => n + w.itemsDone, 0),
  );
  workerGauge('fj_worker_busy', 'Batches running or queued on the online workers', (ws) =>
    ws.filter((w) => !w.quiet).reduce((n, w) => n + w.busy, 0),
  );
  new Gauge({
    name: 'fj_queue_messages',
    help: 'Messages ready in each queue of the pools seen in heartbeats (kind: work, jobs, dead)',
    labelNames: ['pool', 'kind'],
    registers: [registry],
    async collect() {
      this.reset();
      const ws = await workers(ctx);
      for (const p of await ctx.broker.pools(poolsOf(ws, ctx.config.queue), versionsOf(ws), (pool) =>
        readTenants(ctx.store, pool),
      ))
        for (const kind of ['work', 'jobs', 'dead'] as const) this.set({ pool: p.pool, kind }, p[kind].messages);
    },
  });
  const itemCounter = (what: keyof TaskTally['items'], help: string) =>
    new Counter({
      name: `fj_job_items_${what}_total`,
      help: `${help}, in the detached jobs each worker coordinated to their end since it started (its heartbeat), by task`,
      labelNames: ['worker', 'task'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const { labels, tally } of await tallies(ctx)) this.inc(labels, tally.items[what]);
      },
    });
  itemCounter('succeeded', 'Items with a result');
  itemCounter('failed', 'Items failed for good');
  itemCounter('retried', 'Attempts retried');
  registry.registerMetric(new DurationHistogram(ctx) as unknown as Metric);
  new Gauge({
    name: 'fj_dashboard_event_streams',
    help: 'Event streams (live pages) open on this dashboard now; more than its maxStreams are refused',
    registers: [registry],
    collect() {
      this.set(ctx.events.streams);
    },
  });
  new Counter({
    name: 'fj_dashboard_topic_polls_total',
    help: 'Polls of the live topics since this dashboard started (one a tick per topic, shared by its streams)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(ctx.events.polls);
    },
  });
  return registry;
}

/** Registers `GET /metrics`. */
export function metricsRoute(app: FastifyInstance, ctx: DashboardContext): void {
  const registry = metricsRegistry(ctx);
  app.get('/metrics', async (_req, reply) =>
    reply.header('content-type', registry.contentType).send(await registry.metrics()),
  );
}
