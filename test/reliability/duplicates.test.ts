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
import Chaos, { type ChaosOutput } from '../fixtures/chaos.js';
import { BROKER_URL, brokerAvailable, deleteQueues } from '../helpers/broker.js';
import { expected, lineCount, record, scenario } from './harness.js';

const available = await brokerAvailable();

describe.runIf(available)('duplicate deliveries', () => {
  const { dir, store, pool } = scenario('duplicates', async () => {
    await deleteQueues(relayQueue).catch(() => {});
  });
  const relayQueue = `${pool.queue}.relay`;

  it('30% of messages sent twice at once and 20% again after their result: each item counted once, join once', async () => {
    const joinLog = join(dir, 'join.log');
    const input = { n: 1000, ms: 2, joinLog };
    const want = await expected(input);
    await pool.start(2);

    const conn = await amqp.connect(BROKER_URL);
    const ch = await conn.createChannel();
    await ch.assertQueue(`${relayQueue}.dead`, { durable: true });
    await ch.assertQueue(relayQueue, { durable: true, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': `${relayQueue}.dead` } });
    let forwarded = 0;
    let immediate = 0;
    let late = 0;
    const timers: NodeJS.Timeout[] = [];
    await ch.consume(relayQueue, (msg) => {
      if (!msg) return;
      const send = () => ch.sendToQueue(pool.queue, msg.content, { ...msg.properties, persistent: true });
      send();
      forwarded++;
      if (Math.random() < 0.3) {
        send();
        immediate++;
      }
      if (Math.random() < 0.2) {
        late++;
        timers.push(setTimeout(send, 300));
      }
      ch.ack(msg);
    });

    const { output, stats } = await runJob(Chaos, input, { executor: 'amqp', broker: BROKER_URL, queue: relayQueue, store });
    await new Promise((r) => setTimeout(r, 500)); // let the late copies arrive and be answered into a deleted queue
    timers.forEach(clearTimeout);
    await conn.close();

    const out = output as ChaosOutput;
    expect(immediate + late).toBeGreaterThan(0);
    expect(out).toEqual(want);
    expect(out.duplicated).toEqual([]);
    expect(stats.items).toBe(1000);
    expect(lineCount(readFileSync(joinLog, 'utf8'))).toBe(1);
    record({
      scenario: 'duplicate deliveries',
      items: 1000,
      lost: 1000 - out.items,
      duplicated: out.duplicated.length,
      recovered: `${immediate + late} duplicate messages ignored`,
      recoverMs: '-',
      faults: `${forwarded} messages relayed; ${immediate} re-sent at once, ${late} re-sent 300 ms later`,
      command: 'npx vitest run --project reliability test/reliability/duplicates.test.ts',
    });
  });
});
