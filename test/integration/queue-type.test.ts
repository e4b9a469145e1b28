/**
 * A pool's queue type (`--queue-type`, `FJ_QUEUE_TYPE`, `queueType`) on the
 * real RabbitMQ (one node: a quorum queue of one member):
 *
 * - a quorum pool runs a job end to end (a worker and `runJob` both asking
 *   for quorum), with eager's output, and its queues are quorum queues;
 * - a client asking for the other type than the pool's queue has is a usage
 *   error (exit 2) naming the queue and both types, no stack, no retrying.
 */
import { schedulerQueueSpec } from '../../src/worker/scheduler.js';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { runJob } from '../../src/index.js';
import { resolveQueueType } from '../../src/core/job-options.js';
import { declareQueue, jobsQueueSpec, workQueueSpecs, type QueueSpec } from '../../src/broker/amqp.js';
import Chaos, { type ChaosOutput } from '../fixtures/chaos.js';
import { brokerAvailable, BROKER_URL, startWorkerProc, stopWorkerProc } from '../helpers/broker.js';
import { runFj } from '../helpers/cli.js';

const available = await brokerAvailable();
const CHAOS = join(import.meta.dirname, '..', 'fixtures', 'chaos.ts');

/** Deletes queues whose names start with `prefix` that this file made (named one by one). */
async function deleteAll(names: string[]): Promise<void> {
  const conn = await amqp.connect(BROKER_URL);
  try {
    for (const n of names) {
      const ch = await conn.createChannel();
      ch.on('error', () => {});
      await ch.deleteQueue(n).catch(() => {});
      await ch.close().catch(() => {});
    }
  } finally {
    await conn.close();
  }
}

/** Whether the broker accepts `spec` again as declared: a queue of another type (or other arguments) is refused. */
async function accepts(spec: QueueSpec): Promise<boolean> {
  const conn = await amqp.connect(BROKER_URL);
  try {
    const ch = await conn.createChannel();
    ch.on('error', () => {});
    return await declareQueue(ch, spec).then(
      () => true,
      () => false,
    );
  } finally {
    await conn.close();
  }
}

describe('resolveQueueType', () => {
  it('option, else FJ_QUEUE_TYPE, else classic; anything else names where it came from', () => {
    expect(resolveQueueType(undefined, {})).toBe('classic');
    expect(resolveQueueType(undefined, { FJ_QUEUE_TYPE: 'quorum' })).toBe('quorum');
    expect(resolveQueueType('classic', { FJ_QUEUE_TYPE: 'quorum' })).toBe('classic');
    expect(() => resolveQueueType(undefined, { FJ_QUEUE_TYPE: 'stream' })).toThrow(
      /`queueType` \(from \$FJ_QUEUE_TYPE\) to be classic or quorum, got "stream"/,
    );
    expect(() => resolveQueueType('Quorum', {})).toThrow(/`queueType` to be classic or quorum, got "Quorum"/);
  });
});

describe.runIf(available)('quorum pools on the real RabbitMQ', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fj-queue-type-'));
  const store = `file://${join(dir, 'store')}`;
  const queue = `fj.qtype.${randomUUID()}`;
  const made: string[] = [queue, `${queue}.dead`, `${queue}.jobs`];
  afterAll(async () => {
    await deleteAll(made);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a quorum pool runs a job: output as eager, its queues quorum', async () => {
    const w = await startWorkerProc(['--queue', queue, '--queue-type', 'quorum', '--store', store, '--tasks', CHAOS], {
      FJ_BROKER_URL: BROKER_URL,
    });
    try {
      const input = { n: 60, ms: 1 };
      const want = (await runJob(Chaos, input, { executor: 'eager' })).output;
      const jobId = randomUUID();
      const { output } = await runJob(Chaos, input, {
        executor: 'amqp',
        broker: BROKER_URL,
        queue,
        queueType: 'quorum',
        store,
        jobId,
      });
      expect(output).toEqual(want);
      expect((output as ChaosOutput).duplicated).toEqual([]);
      const [dead, work] = workQueueSpecs(queue, 'quorum');
      const quorum = [dead, work, jobsQueueSpec(queue, 'quorum'), schedulerQueueSpec(queue, 'quorum')];
      for (const spec of quorum) expect(await accepts(spec)).toBe(true);
      // The same queues as classic ones: refused (so the ones above are quorum queues).
      const [deadC, workC] = workQueueSpecs(queue, 'classic');
      const classic = [deadC, workC, jobsQueueSpec(queue, 'classic'), schedulerQueueSpec(queue, 'classic')];
      for (const spec of classic) expect(await accepts(spec)).toBe(false);
    } finally {
      await stopWorkerProc(w);
    }
  });

  it('a worker asking for classic on a quorum pool: exit 2 naming the queue and both types', async () => {
    const r = await runFj(['worker', '--queue', queue, '--store', store, '--no-wait-broker'], {
      env: { FJ_BROKER_URL: BROKER_URL, FJ_QUEUE_TYPE: 'classic' },
      timeoutMs: 30_000,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`queue '${queue}.dead' exists on the broker as a quorum queue`);
    expect(r.stderr).toContain('declares it as a classic queue');
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('fj run asking for quorum on a classic pool: exit 2 naming the queue and both types', async () => {
    const classic = `fj.qtype.${randomUUID()}`;
    made.push(classic, `${classic}.dead`);
    const conn = await amqp.connect(BROKER_URL);
    await (await conn.createChannel()).assertQueue(`${classic}.dead`, { durable: true });
    await conn.close();
    const r = await runFj(
      ['run', CHAOS, '-', '--executor', 'amqp', '--queue', classic, '--queue-type', 'quorum', '--store', store],
      { stdin: JSON.stringify({ n: 3 }), env: { FJ_BROKER_URL: BROKER_URL }, timeoutMs: 30_000 },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`queue '${classic}.dead' exists on the broker as a classic queue`);
    expect(r.stderr).toContain('declares it as a quorum queue');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a quorum pool job of more than 2,000 result messages completes (a quorum queue reads "no prefetch limit" as 2,000)', async () => {
    const w = await startWorkerProc(
      ['--queue', queue, '--queue-type', 'quorum', '--store', store, '--tasks', CHAOS, '-c', '16'],
      { FJ_BROKER_URL: BROKER_URL },
    );
    try {
      const input = { n: 2600, ms: 40 };
      const want = (await runJob(Chaos, { n: input.n }, { executor: 'eager' })).output;
      let messages = 0;
      const { output } = await runJob(Chaos, input, {
        executor: 'amqp',
        broker: BROKER_URL,
        queue,
        queueType: 'quorum',
        store,
        onStats: (s) => (messages = s.messages),
      });
      expect(output).toEqual(want);
      expect(messages / 2).toBeGreaterThan(2000); // else this test shows nothing
    } finally {
      await stopWorkerProc(w);
    }
  }, 120_000);
});
