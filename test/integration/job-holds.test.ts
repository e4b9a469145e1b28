/**
 * A worker's held job messages (worker/job-holds.ts), the coordinator's
 * lease, against the real RabbitMQ: a held message leaves the jobs queue and
 * stays held, one copy, through many renewals; released, it is back in the
 * jobs queue at once; when the holder's connection dies (as with kill -9),
 * the broker hands it on to the jobs queue by itself, within the held
 * queue's TTL. And `ResilientLink.setConsuming` stops and starts a consumer,
 * across a reconnect.
 *
 *   npx vitest run --project main test/integration/job-holds.test.ts
 */
import { randomUUID } from 'node:crypto';
import amqp, { type ChannelModel, type ConsumeMessage } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobsQueue, jobsQueueSpec } from '../../src/broker/amqp.js';
import { HELD_TTL_MS } from '../../src/broker/held-queue.js';
import { ResilientLink, type LinkSession } from '../../src/broker/resilient-link.js';
import { createLogger } from '../../src/core/log.js';
import { JobHolds, leaseRenewMs } from '../../src/worker/job-holds.js';
import { BROKER_URL, brokerAvailable, deleteQueues } from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';

const available = await brokerAvailable();

describe.runIf(available)('held job messages (the coordinator’s lease)', () => {
  let direct: ChannelModel;
  const pools: string[] = [];
  const held: string[] = [];
  const links: ResilientLink[] = [];

  beforeAll(async () => {
    direct = await amqp.connect(BROKER_URL);
  });
  afterAll(async () => {
    for (const link of links) await link.close().catch(() => {});
    const ch = await direct.createChannel();
    for (const q of held) await ch.deleteQueue(q).catch(() => {});
    await ch.close().catch(() => {});
    for (const p of pools) await deleteQueues(p).catch(() => {});
    await direct.close().catch(() => {});
  });

  /** A pool's jobs queue with one job message in it, and a link that takes it into `holds`. */
  async function setUp(renewMs: number) {
    const pool = `fj.test.holds.${randomUUID()}`;
    pools.push(pool);
    const holds = new JobHolds({
      name: 'w1',
      log: createLogger('w1', 'warn'),
      queue: pool,
      queueType: 'classic',
      renewMs,
    });
    held.push(holds.queueName);
    const taken: { msg: ConsumeMessage; session: LinkSession }[] = [];
    const link = new ResilientLink({
      name: 'test holds',
      url: () => BROKER_URL,
      topology: {
        queues: [jobsQueueSpec(pool), holds.spec],
        prefetch: 1,
        consumers: [
          {
            queue: jobsQueue(pool),
            options: { noAck: false },
            onMessage: (msg, session) => taken.push({ msg, session }),
          },
          holds.consumer,
        ],
      },
    });
    links.push(link);
    await link.start();
    holds.start(() => link.session);
    const ch = await direct.createChannel();
    const job = randomUUID();
    ch.sendToQueue(jobsQueue(pool), Buffer.from(JSON.stringify({ job })), { persistent: true, headers: { a: 1 } });
    await waitFor('the job message to be delivered', () => taken.length === 1, 5000);
    /** Ready and unacked counts of a queue, read through its declaration (passive). */
    const count = async (q: string) => (await ch.checkQueue(q)).messageCount;
    return { pool, holds, link, taken, job, ch, count };
  }

  it('a held message leaves the jobs queue and stays held, one copy, through renewals; released, it is back at once', async () => {
    const { pool, holds, taken, job, count, link } = await setUp(200);
    const h = await holds.hold(job, taken[0].msg, taken[0].session);
    expect(h.live).toBe(true);
    const first = h.delivery!.msg;
    await new Promise((r) => setTimeout(r, 1500)); // 7 renewals
    expect(h.live).toBe(true);
    expect(h.delivery!.msg).not.toBe(first); // renewed: a fresh copy held
    expect(h.msg.properties.headers?.a).toBe(1); // its headers kept
    expect(await count(jobsQueue(pool))).toBe(0);
    expect(await count(holds.queueName)).toBe(0); // nothing ready: the one copy is held
    // The link's prefetch of 1 on the jobs queue is free again: the hold acked the jobs queue's delivery.
    expect(taken).toHaveLength(1);
    const t = Date.now();
    h.release();
    await waitFor('the released message in the jobs queue', () => taken.length === 2, 3000);
    expect(Date.now() - t).toBeLessThan(1000);
    expect(JSON.parse(taken[1].msg.content.toString()).job).toBe(job);
    await link.close();
  });

  it('the holder’s connection dies: the message goes on to the jobs queue by itself, within the held queue’s TTL', async () => {
    const { pool, holds, taken, job, link } = await setUp(60_000);
    const h = await holds.hold(job, taken[0].msg, taken[0].session);
    expect(h.live).toBe(true);
    // Another consumer of the jobs queue, standing for the next worker.
    const next: string[] = [];
    const other = await direct.createChannel();
    await other.consume(jobsQueue(pool), (m) => {
      if (m) next.push(JSON.parse(m.content.toString()).job as string);
    });
    holds.stop();
    await link.close(); // the holder's connection goes, its delivery unacked, as with kill -9
    const t = Date.now();
    await waitFor('the job message to reach the next worker', () => next.length === 1, HELD_TTL_MS + 5000, 50);
    const ms = Date.now() - t;
    expect(next).toEqual([job]);
    expect(ms).toBeLessThan(HELD_TTL_MS + 2000);
    await other.close();
  }, 30_000);

  it('a message that cannot be moved (its connection gone) leaves no hold behind', async () => {
    const { holds, taken, job, link } = await setUp(60_000);
    const { msg, session } = taken[0];
    await session.conn.close();
    await expect(holds.hold(job, msg, session)).rejects.toThrow();
    expect(holds.has(job)).toBe(false);
    await link.close();
  });

  it('setConsuming stops a consumer and starts it again, and a stopped one stays stopped across a reconnect', async () => {
    const { pool, taken, link, ch } = await setUp(60_000);
    taken[0].session.ch.ack(taken[0].msg);
    await link.setConsuming(jobsQueue(pool), false);
    expect((await ch.checkQueue(jobsQueue(pool))).consumerCount).toBe(0);
    ch.sendToQueue(jobsQueue(pool), Buffer.from(JSON.stringify({ job: 'x' })));
    // A reconnect (the connection cut) keeps it stopped.
    await link.session!.conn.close();
    await waitFor('the link to reconnect', () => link.session !== undefined, 10_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(taken).toHaveLength(1);
    expect((await ch.checkQueue(jobsQueue(pool))).consumerCount).toBe(0);
    await link.setConsuming(jobsQueue(pool), true);
    await waitFor('the waiting message', () => taken.length === 2, 5000);
    expect((await ch.checkQueue(jobsQueue(pool))).consumerCount).toBe(1);
  }, 30_000);

  it('FJ_LEASE_RENEW_MS: a bad value is a usage error naming it', () => {
    expect(leaseRenewMs({})).toBe(60_000);
    expect(leaseRenewMs({ FJ_LEASE_RENEW_MS: '1500' })).toBe(1500);
    expect(() => leaseRenewMs({ FJ_LEASE_RENEW_MS: 'soon' })).toThrow(/FJ_LEASE_RENEW_MS must be .* got "soon"/);
  });
});
