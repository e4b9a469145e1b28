/**
 * A consumer of the job's code queue that takes messages and never answers
 * must not hold the job forever. On a cluster, a quorum queue went on
 * counting the consumer of a channel on a killed node after its worker had
 * reconnected elsewhere, and the messages checked out to it came back one
 * every ~20 s (`bench/cluster.mjs`); a hung client that is not an fj worker
 * does the same on one node, and that is what this test starts: a plain
 * AMQP consumer of the job's code queue, prefetch 3, that never acks. Before
 * the fix the job waited as long as that consumer lived. Now, once the
 * broker counts more consumers than live workers run the code (their
 * heartbeats) and nothing waits in the queue, the messages unanswered for
 * 10 s are sent again, and the live worker answers them (each item once).
 *
 *   npx vitest run --project reliability test/reliability/ghost-consumer.test.ts
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BROKER_URL,
  brokerAvailable,
  deleteQueues,
  startWorkerProc,
  stopWorkerProc,
  type WorkerProc,
} from '../helpers/broker.js';
import { clean, codeQueueOf, exitWithin, fj, recording, ROOT, scratch } from './harness.js';

const available = await brokerAvailable();
const COMMAND = 'npx vitest run --project reliability test/reliability/ghost-consumer.test.ts';
const SUM = join(ROOT, 'test', 'fixtures', 'sum.ts');

describe.runIf(available)('a consumer that holds messages and never answers', () => {
  const { dir, store } = scratch('ghost');
  const queue = `fj.reliability.ghost.${randomUUID()}`;
  let worker: WorkerProc | undefined;
  let rogue: amqp.ChannelModel | undefined;
  afterAll(async () => {
    await rogue?.close().catch(() => {});
    if (worker) await stopWorkerProc(worker);
    await deleteQueues(queue).catch(() => {});
    clean(dir);
  });

  it('the job sends what it holds again after 10 s and ends with every item once', async () => {
    const rec = recording('a consumer that never answers', COMMAND);
    const count = 2000;
    rec.items = count;
    rec.faults = "a plain AMQP consumer of the job's code queue takes up to 3 messages and never acks them";
    worker = await startWorkerProc(['--queue', queue, '-c', '2', '--store', store, '--tasks', SUM]);
    const code = await codeQueueOf(queue, SUM);
    rogue = await amqp.connect(BROKER_URL);
    const ch = await rogue.createChannel();
    await ch.prefetch(3);
    let held = 0;
    await ch.consume(code, () => void held++, { noAck: false });
    const input = join(dir, 'sum.json');
    writeFileSync(input, JSON.stringify({ count }));
    const out = join(dir, 'out.json');
    const started = Date.now();
    const p = fj(['run', SUM, input, '--executor', 'amqp', '--queue', queue, '--store', store, '-o', out]);
    expect(await exitWithin(p, 60_000), p.stderr()).toBe(0);
    rec.recoverMs = Date.now() - started;
    expect(held).toBeGreaterThan(0); // the rogue did take messages
    expect(JSON.parse(readFileSync(out, 'utf8'))).toBe(count * (count - 1));
    rec.lost = rec.duplicated = 0;
    rec.recovered = `the ${held} message(s) the rogue took sent again after 10 s, answered by the live worker; each item once`;
    expect(p.stderr()).toMatch(
      /RabbitMQ counts 2 consumer\(s\) of .* but 1 live worker\(s\) run the job's code, and nothing waits in it: a consumer that is gone holds messages; sent \d+ message\(s\) unanswered for 10 s again/,
    );
    expect(p.stderr()).not.toMatch(/\n\s+at /);
  });
});
