/**
 * `GET /api/events`: server-sent events for a live page. Each connection
 * polls its one topic every `liveEveryMs` and sends it when it changed:
 * `topic=job&id=ID` (the job's detail), `topic=jobs` with the list's filters
 * (the first page), `topic=workers`, `topic=overview`. Each connection holds
 * only its last message; it ends when the page goes.
 */
import type { FastifyInstance } from 'fastify';
import { setTimeout as sleep } from 'node:timers/promises';
import { UsageError } from '../errors.js';
import { isJobId } from '../job-id.js';
import { countByState, workers } from './cluster-api.js';
import { redact, sendError, type DashboardContext } from './context.js';
import { jobDetail, jobsPage } from './jobs-api.js';

type Topic = () => Promise<unknown>;

function topicOf(ctx: DashboardContext, q: Record<string, unknown>): Topic {
  switch (q.topic) {
    case 'job': {
      const id = String(q.id);
      if (!isJobId(id)) throw new UsageError(`'${id}' is not a job id`);
      return async () => (await jobDetail(ctx, id)) ?? { id, gone: true };
    }
    case 'jobs':
      return () => jobsPage(ctx, { state: q.state, task: q.task, label: q.label, limit: q.limit });
    case 'workers':
      return async () => ({ workers: await workers(ctx) });
    case 'overview':
      return async () => {
        const ws = await workers(ctx);
        return { jobs: await countByState(ctx), workersOnline: ws.filter((w) => !w.quiet).length, workersQuiet: ws.filter((w) => w.quiet).length, itemsDone: ws.reduce((n, w) => n + w.itemsDone, 0) };
      };
    default:
      throw new UsageError(`topic must be job, jobs, workers or overview, got '${String(q.topic)}'`);
  }
}

/** Registers the events route. `closing` aborts every stream when the dashboard stops. */
export function eventRoutes(app: FastifyInstance, ctx: DashboardContext, closing: AbortSignal): void {
  app.get('/api/events', async (req, reply) => {
    let topic: Topic;
    try {
      topic = topicOf(ctx, req.query as Record<string, unknown>);
    } catch (err) {
      return sendError(reply, err);
    }
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const gone = new AbortController();
    const stop = () => gone.abort();
    req.raw.on('close', stop);
    closing.addEventListener('abort', stop, { once: true });
    const signal = AbortSignal.any([gone.signal, closing]);
    let last = '';
    let quietSince = Date.now();
    try {
      while (!signal.aborted) {
        let data: string;
        try {
          data = JSON.stringify(await topic());
        } catch (err) {
          data = JSON.stringify({ streamError: redact(err instanceof Error ? err.message : String(err)) });
        }
        if (data !== last) {
          res.write(`data: ${data}\n\n`);
          last = data;
          quietSince = Date.now();
        } else if (Date.now() - quietSince > 15_000) {
          res.write(': still here\n\n'); // keeps proxies from closing an idle stream
          quietSince = Date.now();
        }
        await sleep(ctx.config.liveEveryMs, undefined, { signal }).catch(() => {});
      }
    } finally {
      closing.removeEventListener('abort', stop);
      res.end();
    }
  });
}
