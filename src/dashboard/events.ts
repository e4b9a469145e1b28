/**
 * `GET /api/events`: server-sent events for a live page. A topic is
 * `topic=job&id=ID` (the job's detail), `topic=jobs` with the list's filters
 * (the first page), `topic=workers` or `topic=overview`; each is sent when it
 * changed. One poll per topic, every `liveEveryMs`, is shared by all the
 * streams of that topic: it starts with the first and stops with the last, so
 * ten open pages of the overview cost what one does. At most `maxStreams`
 * streams are open at once (one more is 503). Each stream holds only its
 * place in its topic's list; it ends when the page goes.
 *
 * `POST /api/events/ticket` (with the token) answers a one-use ticket a
 * stream carries as `?ticket=` where reads need the token (guard.ts).
 */
import type { FastifyInstance } from 'fastify';
import { setTimeout as sleep } from 'node:timers/promises';
import { UsageError } from '../core/errors.js';
import { isJobId } from '../core/job-id.js';
import { overview, workers } from './cluster-api.js';
import { redact, sendError, type DashboardContext } from './context.js';
import type { StreamTickets } from './guard.js';
import { jobDetail, jobsPage } from './jobs-api.js';

type Topic = () => Promise<unknown>;

/** A stream's end of its topic: what it is sent. */
type Subscriber = (chunk: string) => void;

/** A quiet stream is sent a comment this often, so proxies do not close it: 15 s. */
const KEEP_ALIVE_MS = 15_000;

function topicOf(ctx: DashboardContext, q: Record<string, unknown>): { key: string; run: Topic } {
  const text = (v: unknown) => (typeof v === 'string' ? v : '');
  switch (q.topic) {
    case 'job': {
      const id = text(q.id);
      if (!isJobId(id)) throw new UsageError(`'${id}' is not a job id`);
      return { key: `job ${id}`, run: async () => (await jobDetail(ctx, id)) ?? { id, gone: true } };
    }
    case 'jobs': {
      const f = { state: q.state, task: q.task, label: q.label, limit: q.limit };
      return { key: `jobs ${JSON.stringify(Object.values(f).map(text))}`, run: () => jobsPage(ctx, f) };
    }
    case 'workers':
      return { key: 'workers', run: async () => ({ workers: await workers(ctx) }) };
    case 'overview':
      return { key: 'overview', run: () => overview(ctx) };
    default:
      throw new UsageError(`topic must be job, jobs, workers or overview, got '${text(q.topic)}'`);
  }
}

/** One topic's poll, shared by its subscribers. */
class TopicPoll {
  readonly subscribers = new Set<Subscriber>();
  private last = '';
  private stopper = new AbortController();

  constructor(
    private readonly run: Topic,
    private readonly everyMs: number,
    private readonly polled: () => void,
  ) {}

  /** Adds a stream: it gets the last message at once, if any. Starts the poll with the first. */
  add(s: Subscriber): void {
    this.subscribers.add(s);
    if (this.last) s(`data: ${this.last}\n\n`);
    if (this.subscribers.size === 1) void this.loop(this.stopper.signal);
  }

  /** Removes a stream; the poll stops with the last. */
  remove(s: Subscriber): void {
    if (!this.subscribers.delete(s) || this.subscribers.size) return;
    this.stopper.abort();
    this.stopper = new AbortController();
  }

  private async loop(signal: AbortSignal): Promise<void> {
    let quietSince = Date.now();
    while (!signal.aborted) {
      let data: string;
      try {
        this.polled();
        data = JSON.stringify(await this.run());
      } catch (err) {
        data = JSON.stringify({ streamError: redact(err instanceof Error ? err.message : String(err)) });
      }
      if (signal.aborted) return;
      if (data !== this.last) {
        this.last = data;
        quietSince = Date.now();
        for (const s of this.subscribers) s(`data: ${data}\n\n`);
      } else if (Date.now() - quietSince > KEEP_ALIVE_MS) {
        quietSince = Date.now();
        for (const s of this.subscribers) s(': still here\n\n');
      }
      await sleep(this.everyMs, undefined, { signal }).catch(() => {});
    }
  }
}

/** The open streams and their topics' polls; its figures go to /metrics. */
export class EventHub {
  private readonly topics = new Map<string, TopicPoll>();
  private open = 0;
  /** Polls run since the dashboard started, every topic together. */
  polls = 0;

  constructor(
    private readonly everyMs: number,
    readonly maxStreams: number,
  ) {}

  /** Streams open now. */
  get streams(): number {
    return this.open;
  }

  /** Whether {@link maxStreams} streams are open: one more is refused. */
  get full(): boolean {
    return this.open >= this.maxStreams;
  }

  /** Subscribes `s` to the topic `key` (polled by `run`), even past the cap (check {@link full} first). Returns the unsubscribe. */
  subscribe(key: string, run: Topic, s: Subscriber): () => void {
    this.open++;
    const poll = this.topics.get(key) ?? new TopicPoll(run, this.everyMs, () => this.polls++);
    this.topics.set(key, poll);
    poll.add(s);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.open--;
      poll.remove(s);
      if (!poll.subscribers.size) this.topics.delete(key);
    };
  }
}

/** Registers the events routes. `closing` aborts every stream when the dashboard stops. */
export function eventRoutes(
  app: FastifyInstance,
  ctx: DashboardContext,
  tickets: StreamTickets,
  closing: AbortSignal,
): void {
  app.post('/api/events/ticket', async () => ({ ticket: tickets.issue() }));

  app.get('/api/events', async (req, reply) => {
    let topic: { key: string; run: Topic };
    try {
      topic = topicOf(ctx, req.query as Record<string, unknown>);
    } catch (err) {
      return sendError(reply, err);
    }
    if (ctx.events.full)
      return reply.code(503).send({
        error: `${ctx.events.maxStreams} event streams are open, as many as this dashboard serves (maxStreams): close a page, or raise it`,
        code: 'FJ_BUSY',
      });
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const unsubscribe = ctx.events.subscribe(topic.key, topic.run, (chunk) => res.write(chunk));
    const stop = () => {
      closing.removeEventListener('abort', stop);
      unsubscribe();
      res.end();
    };
    req.raw.on('close', stop);
    closing.addEventListener('abort', stop, { once: true });
    if (closing.aborted) stop();
  });
}
