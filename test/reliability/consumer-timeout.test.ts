/**
 * RabbitMQ's consumer_timeout closes a channel whose delivery stayed
 * unacknowledged too long (checked about once a minute), and leaves the
 * connection open. The coordinator holds its results unacknowledged until
 * the job ends, so a job longer than the timeout meets it; before the fix
 * its consumer was silently gone and the job waited forever. The timeout is
 * lowered to 5 s for the test (`rabbitmqctl eval`, restored afterwards), the
 * job runs ~75 s: the broker closes the results channel once, the
 * coordinator says why, reconnects, receives the results again and counts
 * each once. (fj workers take the same path through the same code; their
 * deliveries here stay far below 5 s.)
 * Needs `rabbitmqctl` (as in CI); without it the test fails under CI=true
 * and is skipped, with a message, elsewhere.
 *
 *   npx vitest run --project reliability test/reliability/consumer-timeout.test.ts
 */
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { brokerAvailable, REQUIRE } from '../helpers/broker.js';
import { CHAOS, expected, fj, record, scenario } from './harness.js';

const run = promisify(execFile);
const available = await brokerAvailable();
const ctl = ['/usr/sbin/rabbitmqctl', '/usr/lib/rabbitmq/bin/rabbitmqctl'].find((p) => existsSync(p));
if (!ctl && REQUIRE) throw new Error('rabbitmqctl is not installed, and CI=true/FJ_REQUIRE_BROKER=1 requires the consumer-timeout scenario');
if (!ctl) console.warn('SKIPPING the consumer-timeout scenario: rabbitmqctl is not installed here');

async function setConsumerTimeout(ms: number | 'default'): Promise<void> {
  const expr = ms === 'default' ? 'application:set_env(rabbit, consumer_timeout, 1800000).' : `application:set_env(rabbit, consumer_timeout, ${ms}).`;
  await run(ctl!, ['eval', expr], { timeout: 60_000 });
}

describe.runIf(available && ctl)('RabbitMQ consumer_timeout during a long job', () => {
  const { dir, store, pool } = scenario('consumer-timeout', () => setConsumerTimeout('default').catch(() => {}));

  it('the broker closes the results channel; the coordinator reconnects and counts every result once', async () => {
    // Channels read the timeout when they open: set it before the worker and the coordinator start.
    await setConsumerTimeout(5000);
    const input = { n: 150, ms: 500 };
    const want = await expected({ n: input.n }); // the output does not depend on how long items take
    const file = join(dir, 'input.json');
    writeFileSync(file, JSON.stringify(input));
    await pool.start(1); // one thread: 150 x 500 ms = 75 s, past the broker's first check at ~60 s
    const started = Date.now();
    const job = fj(['run', CHAOS, file, '--executor', 'amqp', '--queue', pool.queue, '--store', store, '--stats', join(dir, 'stats.json')]);
    const code = await job.exited;
    const err = job.stderr();
    expect(code, err).toBe(0);
    expect(JSON.parse(job.stdout())).toEqual(want);
    expect(err).toMatch(/RabbitMQ closed the results channel after its consumer_timeout .*timed out/);
    expect(err).toMatch(/reconnected to RabbitMQ/);
    expect(err).not.toMatch(/\n\s+at /);
    record({
      scenario: 'RabbitMQ consumer_timeout (results held past it)',
      items: 150,
      lost: 150 - (JSON.parse(job.stdout()) as { items: number }).items,
      duplicated: 0,
      recovered: 'results delivered again after the reconnect, counted once',
      recoverMs: Date.now() - started - 75_000,
      faults: 'consumer_timeout lowered to 5 s; the broker closed the coordinator’s results channel at its ~60 s check',
      command: 'npx vitest run --project reliability test/reliability/consumer-timeout.test.ts',
    });
  }, 240_000);
});
