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
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runJob } from '../../src/index.js';
import Chaos, { type ChaosOutput } from '../fixtures/chaos.js';
import { BROKER_URL, brokerAvailable, findRabbitmqctl } from '../helpers/broker.js';
import { tcpAnswers } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { expected, recording, scenario } from './harness.js';

const run = promisify(execFile);
const available = await brokerAvailable();
const ctl = findRabbitmqctl('broker-restart');

async function rabbitmqctl(...args: string[]): Promise<void> {
  await run(ctl!, args, { timeout: 120_000 });
}

describe.runIf(available && ctl)('RabbitMQ restart mid-job', () => {
  const { store, pool } = scenario('broker-restart', async () => {
    // Never leave the broker stopped.
    if (!(await tcpAnswers('127.0.0.1', 5672))) await rabbitmqctl('start_app').catch(() => {});
  });

  it('stop_app / start_app during a 1,000-item job: the job completes, output identical to eager', async () => {
    const rec = recording(
      'RabbitMQ restart',
      'npx vitest run --project reliability test/reliability/broker-restart.test.ts',
    );
    const input = { n: 1000, ms: 10 };
    rec.items = input.n;
    const want = await expected(input);
    await pool.start(2);
    const options = {
      executor: 'amqp' as const,
      broker: BROKER_URL,
      queue: pool.queue,
      store,
      logLevel: 'warn' as const,
    };
    const base = await runJob(Chaos, input, options);

    let progressAtStop = 0;
    let done = 0;
    const job = runJob(Chaos, input, { ...options, onProgress: (p) => (done = p.done) });
    let finished = false;
    void job.finally(() => (finished = true)).catch(() => {});
    const restart = (async () => {
      // The job failing or finishing first must end this wait too, not leave it spinning.
      await waitFor('250 items done before stopping the broker', () => done >= 250 || finished, 120_000, 20);
      if (finished) throw new Error(`the job ended after ${done} items, before the broker was stopped`);
      progressAtStop = done;
      await rabbitmqctl('stop_app');
      await new Promise((r) => setTimeout(r, 2000));
      await rabbitmqctl('start_app');
    })();
    const { output, stats } = await job;
    await restart;
    const out = output as ChaosOutput;
    rec.lost = out.missing.length;
    rec.duplicated = out.duplicated.length;
    rec.recovered = 'unconfirmed publishes re-sent, unacked work redelivered';
    rec.recoverMs = stats.wallMs - base.stats.wallMs;
    rec.faults = `rabbitmqctl stop_app after ${progressAtStop} items, start_app 2 s later`;
    expect(progressAtStop).toBeGreaterThan(0);
    expect(progressAtStop).toBeLessThan(1000);
    expect(out).toEqual(want);
    expect(out.duplicated).toEqual([]);
    expect(pool.alive.length).toBe(2); // the workers survived and reconnected
    expect(pool.logs()).toMatch(/reconnected to RabbitMQ/);
  });
});
