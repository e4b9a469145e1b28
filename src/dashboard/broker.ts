/**
 * The dashboard's link to RabbitMQ: one connection, opened on first use and
 * again after it is lost, for queue depths and for re-queueing a job
 * message. Depths come from `checkQueue` (no management plugin needed).
 */
import type { Channel, ChannelModel } from 'amqplib';
import type { QueueType } from '../core/location.js';
import { normalizeOptions } from '../core/job-options.js';
import { SIGNATURE_HEADER, type Signer } from '../core/signing.js';
import { assertJobsQueue, codeQueue, connect, deadLetterQueue, jobsQueue, withHeartbeat } from '../broker/amqp.js';
import { tenantJobsQueue } from '../broker/tenant-queues.js';

/** One queue's figures. `missing`: the broker has no such queue. */
export interface QueueFigures {
  name: string;
  messages: number;
  consumers: number;
  missing?: boolean;
}

/** A pool's queues: its work queue, its jobs queue and its dead letters. */
export interface PoolQueues {
  pool: string;
  /** The pool's work: its own queue's consumers (its workers), and the messages of that queue and of every code queue in `code`. */
  work: QueueFigures;
  /** The queues of the task versions the pool's live workers run (`<pool>.code.<task>.<hash>`), where jobs publish their items. */
  code: QueueFigures[];
  /** The jobs waiting for a coordinator: the pool's jobs queue's consumers, and the messages of it and of every tenant's jobs queue. */
  jobs: QueueFigures;
  dead: QueueFigures;
}

export class BrokerLink {
  private conn: Promise<ChannelModel> | undefined;

  constructor(private readonly url: string | undefined) {}

  private async connection(): Promise<ChannelModel> {
    this.conn ??= connect(
      withHeartbeat(normalizeOptions({ executor: 'amqp', broker: this.url }).broker),
      'fj dashboard',
    ).then(
      (c) => {
        const drop = () => (this.conn = undefined);
        c.on('close', drop);
        c.on('error', drop);
        return c;
      },
      (err) => {
        this.conn = undefined;
        throw err;
      },
    );
    return this.conn;
  }

  /** A channel for `fn`, closed after (a failed `checkQueue` closes a channel, so one each). */
  private async withChannel<T>(fn: (ch: Channel) => Promise<T>): Promise<T> {
    const ch = await (await this.connection()).createChannel();
    ch.on('error', () => {});
    try {
      return await fn(ch);
    } finally {
      await ch.close().catch(() => {});
    }
  }

  /** The figures of one queue (not declaring it). */
  async queue(name: string): Promise<QueueFigures> {
    try {
      return await this.withChannel(async (ch) => {
        const q = await ch.checkQueue(name);
        return { name, messages: q.messageCount, consumers: q.consumerCount };
      });
    } catch (err) {
      if ((err as { code?: number }).code === 404) return { name, messages: 0, consumers: 0, missing: true };
      throw err;
    }
  }

  /**
   * The queues of each pool; `versions` (pool -> task -> code hashes, from
   * the live workers' heartbeats) names its code queues, and `tenantsOf`
   * (from the store) its tenants' jobs queues.
   */
  async pools(
    pools: string[],
    versions: ReadonlyMap<string, ReadonlyMap<string, ReadonlySet<string>>> = new Map(),
    tenantsOf: (pool: string) => Promise<string[]> = async () => [],
  ): Promise<PoolQueues[]> {
    return Promise.all(
      pools.map(async (pool) => {
        const names = [...(versions.get(pool) ?? new Map<string, ReadonlySet<string>>())].flatMap(([task, hashes]) =>
          [...hashes].map((hash) => codeQueue(pool, task, hash)),
        );
        const code = (await Promise.all(names.map((n) => this.queue(n)))).filter((q) => !q.missing);
        const own = await this.queue(pool);
        const work = { ...own, messages: own.messages + code.reduce((n, q) => n + q.messages, 0) };
        return {
          pool,
          work,
          code,
          jobs: await this.jobs(pool, await tenantsOf(pool)),
          dead: await this.queue(deadLetterQueue(pool)),
        };
      }),
    );
  }

  /** A pool's jobs queue, its messages counted with those of its tenants' jobs queues (broker/tenant-queues.ts). */
  private async jobs(pool: string, tenants: string[]): Promise<QueueFigures> {
    const [own, ...theirs] = await Promise.all(
      [jobsQueue(pool), ...tenants.map((t) => tenantJobsQueue(pool, t))].map((n) => this.queue(n)),
    );
    return { ...own, messages: own.messages + theirs.reduce((n, q) => n + q.messages, 0) };
  }

  /**
   * Puts a job's message on its pool's jobs queue again, as `submit()` does,
   * so a worker of the pool takes it and coordinates it from its records. A
   * worker that finds another coordinator attached puts it back to look again
   * later, and one that finds the job ended drops it: a spare message does no harm.
   */
  async requeueJob(jobId: string, pool: string, signer: Signer | undefined, type: QueueType): Promise<void> {
    const ch = await (await this.connection()).createConfirmChannel();
    ch.on('error', () => {});
    try {
      await assertJobsQueue(ch, pool, type);
      const headers = signer ? { [SIGNATURE_HEADER]: signer.sign('job', jobId) } : {};
      ch.sendToQueue(jobsQueue(pool), Buffer.from(JSON.stringify({ job: jobId })), {
        persistent: true,
        messageId: jobId,
        type: 'fj.job',
        headers,
      });
      await ch.waitForConfirms();
    } finally {
      await ch.close().catch(() => {});
    }
  }

  async close(): Promise<void> {
    const c = this.conn;
    this.conn = undefined;
    if (c) await (await c.catch(() => undefined))?.close().catch(() => {});
  }
}
