/**
 * RabbitMQ refuses a worker's results for a while (a `basic.nack` on each
 * publish: here a policy capping the job's results queue at 0 messages with
 * `overflow: reject-publish`; in a cluster, a quorum queue whose leader is
 * moving) while the connection stays up. The worker keeps each result it
 * computed and publishes it again until the broker takes it, so the job
 * ends with eager's output once the refusals stop; refused for 5 s on a
 * connection where no result gets through, it makes a new connection (its
 * unacked messages run again). Before 2026-12-07 a
 * refused result left its work message unacknowledged on a live connection
 * ("it will be redelivered", but nothing did): the job stopped short of its
 * last items, as a CI run of the cluster's rolling restart did.
 *
 *   npx vitest run --project reliability test/reliability/refused-replies.test.ts
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { runJob } from '../../src/index.js';
import Chaos, { type ChaosOutput } from '../fixtures/chaos.js';
import { BROKER_URL, brokerAvailable, findRabbitmqctl } from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';
import { acceptPublishes, expected, refusePublishes, scenario } from './harness.js';

const available = await brokerAvailable();
const ctl = findRabbitmqctl('refused-replies');

describe.runIf(available && ctl)('results the broker refuses for a while', () => {
  const policy = `fj-test-refuse-${randomUUID().slice(0, 8)}`;
  const { store, pool } = scenario('refused-replies', () => acceptPublishes(ctl!, policy));

  it('are published again until taken: the job ends with eager’s output, nothing dead-lettered', async () => {
    const input = { n: 200, ms: 5 };
    const want = await expected(input);
    await pool.start(1);
    const jobId = randomUUID();
    await refusePublishes(ctl!, policy, `fj.results.${jobId}`);
    let done = 0;
    const job = runJob(Chaos, input, {
      executor: 'amqp',
      broker: BROKER_URL,
      queue: pool.queue,
      store,
      jobId,
      logLevel: 'warn',
      onProgress: (p) => (done = p.done),
    });
    job.catch(() => {});
    await waitFor('the worker to see its results refused', () => /refused/i.test(pool.logs()), 30_000, 100);
    await new Promise((r) => setTimeout(r, 7000)); // refused for a while, not once: past the 5 s that gives a connection up
    expect(done).toBe(0);
    await acceptPublishes(ctl!, policy);
    const ended = await Promise.race([
      job.then((r) => r.output as ChaosOutput),
      new Promise<string>((r) => setTimeout(() => r(`still running after 60 s, ${done} of ${input.n} done`), 60_000)),
    ]);
    expect(ended).toEqual(want);
    expect(pool.logs()).not.toMatch(/dead-letter/i);
    // refused for 5 s with none of its results getting through, the worker made a new connection
    expect(pool.logs()).toMatch(
      /can no longer publish: RabbitMQ has refused every result on it for \d+ s; reconnecting/,
    );
  }, 120_000);
});
