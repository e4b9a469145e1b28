/**
 * RabbitMQ is stopped and started again (`rabbitmqctl stop_app` /
 * `start_app`) in the middle of a job. The coordinator and the workers
 * reconnect with backoff, declare their queues again, re-send what the
 * broker had not confirmed, and the job completes with the eager output.
 * Needs `rabbitmqctl` on this machine (as in CI); without it the test fails
 * under CI=true and is skipped, with a message, elsewhere.
 *
 *   npx vitest run --project reliability test/reliability/broker-restart.test.ts
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runJob } from '../../src/index.js';
import Chaos, { type ChaosOutput } from '../fixtures/chaos.js';
import { BROKER_URL, brokerAvailable, REQUIRE } from '../helpers/broker.js';
import { tcpAnswers } from '../helpers/services.js';
import { expected, record, scenario } from './harness.js';

const run = promisify(execFile);
const available = await brokerAvailable();
const ctl = ['/usr/sbin/rabbitmqctl', '/usr/lib/rabbitmq/bin/rabbitmqctl'].find((p) => existsSync(p));
if (!ctl && REQUIRE) throw new Error('rabbitmqctl is not installed, and CI=true/FJ_REQUIRE_BROKER=1 requires the broker-restart scenario');
if (!ctl) console.warn('SKIPPING the broker-restart scenario: rabbitmqctl is not installed here');

async function rabbitmqctl(...args: string[]): Promise<void> {
  await run(ctl!, args, { timeout: 120_000 });
}

describe.runIf(available && ctl)('RabbitMQ restart mid-job', () => {
  const { store, pool } = scenario('broker-restart', async () => {
    // Never leave the broker stopped.
    if (!(await tcpAnswers('127.0.0.1', 5672))) await rabbitmqctl('start_app').catch(() => {});
  });

  it('stop_app / start_app during a 1,000-item job: the job completes, output identical to eager', async () => {
    const input = { n: 1000, ms: 10 };
    const want = await expected(input);
    await pool.start(2);
    const options = { executor: 'amqp' as const, broker: BROKER_URL, queue: pool.queue, store, logLevel: 'warn' as const };
    const base = await runJob(Chaos, input, options);

    let progressAtStop = 0;
    let done = 0;
    const job = runJob(Chaos, input, { ...options, onProgress: (p) => (done = p.done) });
    const restart = (async () => {
      while (done < 250) await new Promise((r) => setTimeout(r, 20));
      progressAtStop = done;
      await rabbitmqctl('stop_app');
      await new Promise((r) => setTimeout(r, 2000));
      await rabbitmqctl('start_app');
    })();
    const restartedAt = Date.now();
    const { output, stats } = await job;
    await restart;
    const out = output as ChaosOutput;
    expect(progressAtStop).toBeGreaterThan(0);
    expect(progressAtStop).toBeLessThan(1000);
    expect(out).toEqual(want);
    expect(out.duplicated).toEqual([]);
    expect(pool.alive.length).toBe(2); // the workers survived and reconnected
    expect(pool.logs()).toMatch(/reconnected to RabbitMQ/);
    record({
      scenario: 'RabbitMQ restart',
      items: 1000,
      lost: 1000 - out.items,
      duplicated: out.duplicated.length,
      recovered: 'unconfirmed publishes re-sent, unacked work redelivered',
      recoverMs: stats.wallMs - base.stats.wallMs,
      faults: `rabbitmqctl stop_app after ${progressAtStop} items, start_app 2 s later`,
      command: 'npx vitest run --project reliability test/reliability/broker-restart.test.ts',
    });
    void restartedAt;
  });
});
