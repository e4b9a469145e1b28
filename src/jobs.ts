/**
 * Looking after amqp jobs from outside their coordinator: `status()` and
 * `cancel()` (`fj status`, `fj cancel`); `resume()` lives in run.ts. A job's
 * state is in RabbitMQ (its results queue) and the store (its manifest and
 * status records), so any process with the same broker and store can see it.
 */
import type { Channel, ChannelModel } from 'amqplib';
import { UsageError } from './errors.js';
import { checkJobId, type JobStatus } from './executors/amqp.js';
import { normalizeOptions } from './options.js';
import { openStore } from './store/open.js';
import type { PayloadStore } from './store/store.js';
import { assertControlExchange, connect, publishCancel, resultsQueue, withHeartbeat } from './transport/amqp.js';

/** Where to find a job: the broker and store it ran with. */
export interface JobLocation {
  /** Default `FJ_BROKER_URL`, else `amqp://guest:guest@127.0.0.1:5672`. */
  broker?: string;
  /** Default `FJ_STORE_URL`, else the default file store. */
  store?: string;
}

/** What `status()` finds. */
export interface JobReport {
  jobId: string;
  /** The coordinator's last status record; undefined when the store holds none. */
  status: JobStatus | undefined;
  /** The job's results queue: results waiting, and whether a coordinator consumes it. Undefined when it does not exist. */
  resultsQueue: { messages: number; coordinators: number } | undefined;
}

/**
 * The state of an amqp job: items done, failed and in flight, from the
 * coordinator's status record, plus its results queue on the broker (a
 * queue with no consumer means the coordinator is gone: `fj resume` it).
 * Rejects with UsageError when neither exists.
 */
export async function status(jobId: string, where: JobLocation = {}): Promise<JobReport> {
  checkJobId(jobId);
  return withBrokerAndStore(where, async (conn, store) => {
    const raw = await store.getMeta(jobId, 'status');
    const report: JobReport = {
      jobId,
      status: raw ? (JSON.parse(Buffer.from(raw).toString('utf8')) as JobStatus) : undefined,
      resultsQueue: await resultsQueueState(conn, jobId),
    };
    if (!report.status && !report.resultsQueue && !(await store.getMeta(jobId, 'manifest'))) throw unknownJob(jobId, store);
    return report;
  });
}

/**
 * Cancels an amqp job on every worker: they abort its items in hand
 * (`ctx.signal`) and drop its queued ones. A live coordinator is told too; it
 * stops with CancelledError and cleans up. With no coordinator (it crashed),
 * this deletes the job's results queue and store data itself. Resolves to
 * whether a coordinator was attached.
 */
export async function cancel(jobId: string, where: JobLocation = {}): Promise<{ coordinator: boolean }> {
  checkJobId(jobId);
  return withBrokerAndStore(where, async (conn, store) => {
    const queue = await resultsQueueState(conn, jobId);
    if (!queue && !(await store.getMeta(jobId, 'manifest'))) throw unknownJob(jobId, store);
    const ch = await channel(conn);
    await assertControlExchange(ch);
    publishCancel(ch, jobId);
    const coordinator = (queue?.coordinators ?? 0) > 0;
    if (coordinator) {
      ch.sendToQueue(resultsQueue(jobId), Buffer.alloc(0), { type: 'fj.cancel' });
      // The coordinator deletes its results queue as it stops.
      for (let i = 0; i < 100 && (await resultsQueueState(conn, jobId)); i++) await new Promise((r) => setTimeout(r, 100));
    } else {
      if (queue) await ch.deleteQueue(resultsQueue(jobId));
      await store.deleteJob(jobId);
    }
    await ch.close().catch(() => {});
    return { coordinator };
  });
}

async function withBrokerAndStore<T>(where: JobLocation, fn: (conn: ChannelModel, store: PayloadStore) => Promise<T>): Promise<T> {
  const opts = normalizeOptions({ executor: 'amqp', broker: where.broker, store: where.store });
  const store = await openStore(opts.store || undefined);
  let conn: ChannelModel | undefined;
  try {
    conn = await connect(withHeartbeat(opts.broker), 'fj job control');
    return await fn(conn, store);
  } finally {
    await conn?.close().catch(() => {});
    await store.close();
  }
}

async function channel(conn: ChannelModel): Promise<Channel> {
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  return ch;
}

/** The results queue's depth and consumers; undefined when it does not exist (checkQueue closes its channel then). */
async function resultsQueueState(conn: ChannelModel, jobId: string): Promise<JobReport['resultsQueue']> {
  const ch = await channel(conn);
  try {
    const q = await ch.checkQueue(resultsQueue(jobId));
    return { messages: q.messageCount, coordinators: q.consumerCount };
  } catch {
    return undefined;
  } finally {
    await ch.close().catch(() => {});
  }
}

function unknownJob(jobId: string, store: PayloadStore): UsageError {
  return new UsageError(`no job '${jobId}' on the broker or in the store ${store.url}: it finished, was cancelled, or never started (pass the --broker and --store it ran with)`);
}
