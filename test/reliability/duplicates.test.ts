/**
 * Forced duplicate deliveries. A relay between the coordinator's queue and
 * the workers' queue forwards every work message, re-sends a share of them
 * at once (two workers run the same items) and another share later, after
 * their first result is in (a redelivery after the result was recorded). The
 * coordinator must count each item once and join once.
 *
 *   npx vitest run --project reliability test/reliability/duplicates.test.ts
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import amqp from 'amqplib';
import { describe, expect, it } from 'vitest';
import { runJob } from '../../src/index.js';
import { codeQueueSpec } from '../../src/broker/amqp.js';
import { loadAllTasks } from '../../src/task/registry.js';
import Chaos, { type ChaosOutput } from '../fixtures/chaos.js';
import { BROKER_URL, brokerAvailable, deleteQueue, deleteQueues } from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';
import { rerun } from '../helpers/run-log.js';
import { CHAOS, codeQueueOf, expected, lineCount, recording, scenario } from './harness.js';

const available = await brokerAvailable();

describe.runIf(available)('duplicate deliveries', () => {
  const { dir, store, pool } = scenario('duplicates', async () => {
    await deleteQueues(relayQueue).catch(() => {});
    await deleteQueue(await codeQueueOf(relayQueue)).catch(() => {});
  });
  const relayQueue = `${pool.queue}.relay`;

  it('30% of messages sent twice at once and 20% again after their result: each item counted once, join once', async () => {
    const rec = recording(
      'duplicate deliveries',
      'npx vitest run --project reliability test/reliability/duplicates.test.ts',
    );
    const joinLog = join(dir, 'join.log');
    const runLog = join(dir, 'runs.log');
    const input = { n: 1000, ms: 2, joinLog, runLog };
    rec.items = input.n;
    const want = await expected(input);
    await pool.start(2);

    // The job's items go to the chaos code queue of the relay's pool (the relay is that pool's only
    // consumer of it), and on to the chaos code queue of the workers' pool.
    const [chaos] = await loadAllTasks(CHAOS);
    const relaySpec = codeQueueSpec(relayQueue, chaos.name, chaos.codeHash);
    const relayIn = relaySpec.name;
    const workersIn = await codeQueueOf(pool.queue);
    const conn = await amqp.connect(BROKER_URL);
    const ch = await conn.createChannel();
    await ch.assertQueue(`${relayQueue}.dead`, { durable: true });
    await ch.assertQueue(relayIn, relaySpec.options);
    let forwarded = 0;
    let immediate = 0;
    let late = 0;
    let lateSent = 0;
    const timers: NodeJS.Timeout[] = [];
    await ch.consume(relayIn, (msg) => {
      if (!msg) return;
      const send = () => ch.sendToQueue(workersIn, msg.content, { ...msg.properties, persistent: true });
      send();
      forwarded++;
      if (Math.random() < 0.3) {
        send();
        immediate++;
      }
      if (Math.random() < 0.2) {
        late++;
        timers.push(setTimeout(() => (send(), lateSent++), 300));
      }
      ch.ack(msg);
    });

    const { output, stats } = await runJob(Chaos, input, {
      executor: 'amqp',
      broker: BROKER_URL,
      queue: relayQueue,
      store,
    });
    // The late copies go out 300 ms after their original, and are answered into a deleted results queue.
    await waitFor(`the ${late} late copies to be sent`, () => lateSent === late, 10_000);
    await waitFor(
      'the workers to be idle (the work queue empty)',
      async () => (await ch.checkQueue(workersIn)).messageCount === 0,
      10_000,
      100,
    );
    timers.forEach(clearTimeout);
    await conn.close();

    const out = output as ChaosOutput;
    const runTwice = rerun(runLog).length;
    rec.lost = out.missing.length;
    rec.duplicated = out.duplicated.length;
    rec.recovered = `${immediate + late} duplicate messages; ${runTwice} items run more than once, counted once`;
    rec.recoverMs = '-';
    rec.faults = `${forwarded} messages relayed; ${immediate} re-sent at once, ${late} re-sent 300 ms later`;
    expect(immediate + late).toBeGreaterThan(0);
    expect(runTwice, 'the duplicates reached the workers').toBeGreaterThan(0);
    expect(out).toEqual(want);
    expect(out.duplicated).toEqual([]);
    expect(stats.items).toBe(1000);
    expect(lineCount(readFileSync(joinLog, 'utf8'))).toBe(1);
  });
});
