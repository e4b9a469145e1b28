/**
 * A live broker that refuses (nacks) a coordinator's work messages for a
 * while must not fail the job: a quorum queue refuses publishes while it
 * elects a new leader (seen in `node bench/cluster.mjs`: a kill -9 of the
 * code queue's leader, then "RabbitMQ refused a message for …" and the job
 * stopped), and a full queue with `overflow: reject-publish` refuses them
 * until it has room. The coordinator sends a refused message again, with a
 * warning naming the queue; refused for 5 s on one connection, it makes
 * another (RabbitMQ 3.10 was seen refusing every message on a channel for
 * good after a quorum queue's leader moved: the job gave up after 5 minutes
 * of refusals while a new channel could publish); it gives up (resumable,
 * exit 3) only once the broker has refused for FJ_RECONNECT_GIVE_UP_MS on
 * end.
 *
 * The refusal is RabbitMQ's own: a policy of `max-length 0, overflow
 * reject-publish` on the job's code queue (`rabbitmqctl set_policy`),
 * cleared after a few seconds, or left in place to see the job give up.
 * Needs `rabbitmqctl` (as in CI); without it the test fails under CI=true
 * and is skipped, with a message, elsewhere.
 *
 *   npx vitest run --project reliability test/reliability/refused-publish.test.ts
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  brokerAvailable,
  deleteQueues,
  findRabbitmqctl,
  startWorkerProc,
  stopWorkerProc,
  type WorkerProc,
} from '../helpers/broker.js';
import {
  acceptPublishes,
  clean,
  codeQueueOf,
  exitWithin,
  fj,
  recording,
  refusePublishes,
  ROOT,
  scratch,
} from './harness.js';

const available = await brokerAvailable();
const ctl = findRabbitmqctl('refused-publish');
const COMMAND = 'npx vitest run --project reliability test/reliability/refused-publish.test.ts';
const SUM = join(ROOT, 'test', 'fixtures', 'sum.ts');
const POLICY = `fj-test-refuse-${randomUUID().slice(0, 8)}`;

const refuse = (queue: string) => refusePublishes(ctl!, POLICY, queue);
const accept = () => acceptPublishes(ctl!, POLICY);

describe.runIf(available && ctl)('a broker that refuses work messages for a while', () => {
  const { dir, store } = scratch('refused');
  const workers: WorkerProc[] = [];
  const queues: string[] = [];
  afterEach(accept);
  afterAll(async () => {
    await accept();
    await Promise.all(workers.map((w) => stopWorkerProc(w)));
    for (const q of queues) await deleteQueues(q).catch(() => {});
    clean(dir);
  });

  async function pool(): Promise<{ queue: string; code: string }> {
    const queue = `fj.reliability.refused.${randomUUID()}`;
    queues.push(queue);
    workers.push(await startWorkerProc(['--queue', queue, '-c', '2', '--store', store, '--tasks', SUM]));
    return { queue, code: await codeQueueOf(queue, SUM) };
  }

  const COUNT = 3000;
  const input = join(dir, 'sum.json');
  writeFileSync(input, JSON.stringify({ count: COUNT }));

  it('refused for 7 s: the job sends its messages again, reconnects, says why, and completes with every item once', async () => {
    const rec = recording('work messages refused for 7 s', COMMAND);
    rec.items = COUNT;
    rec.faults = "a policy has RabbitMQ nack every message to the job's code queue for 7 s from the start";
    const { queue, code } = await pool();
    await refuse(code);
    const out = join(dir, 'out-refused.json');
    const started = Date.now();
    const p = fj(['run', SUM, input, '--executor', 'amqp', '--queue', queue, '--store', store, '-o', out]);
    // refused from its first message on: it warns, and keeps trying
    const warned = Date.now();
    while (!/refused/.test(p.stderr()) && p.child.exitCode === null && Date.now() - warned < 30_000)
      await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 7000));
    await accept();
    expect(await exitWithin(p, 60_000), p.stderr()).toBe(0);
    rec.recoverMs = Date.now() - started;
    expect(JSON.parse(readFileSync(out, 'utf8'))).toBe(COUNT * (COUNT - 1));
    rec.lost = rec.duplicated = 0;
    rec.recovered = 'every refused message sent again, on a new connection after 5 s; each item counted once';
    expect(p.stderr()).toMatch(new RegExp(`RabbitMQ refused .*${code.replace(/\./g, '\\.')}.*sending (it|them) again`));
    expect(p.stderr()).toMatch(
      /the connection to RabbitMQ can no longer publish: RabbitMQ has refused every message on it for 5 s; reconnecting/,
    );
    expect(p.stderr()).toMatch(/reconnected to RabbitMQ/);
    expect(p.stderr()).toMatch(/RabbitMQ takes the job's messages again after \d/);
    expect(p.stderr()).not.toMatch(/\n\s+at /);
  });

  it('refused past FJ_RECONNECT_GIVE_UP_MS: the job stops resumable (exit 3), naming the queue and how long', async () => {
    const rec = recording('work messages refused for good', COMMAND);
    rec.items = COUNT;
    rec.faults = "RabbitMQ nacks every message to the job's code queue; FJ_RECONNECT_GIVE_UP_MS=3000";
    const { queue, code } = await pool();
    await refuse(code);
    const started = Date.now();
    const p = fj(['run', SUM, input, '--executor', 'amqp', '--queue', queue, '--store', store], {
      FJ_RECONNECT_GIVE_UP_MS: '3000',
    });
    expect(await exitWithin(p, 60_000), p.stderr()).toBe(3);
    rec.recoverMs = Date.now() - started;
    rec.lost = rec.duplicated = '-';
    rec.recovered = 'job stopped resumable, naming the queue';
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
    expect(p.stderr()).toMatch(
      new RegExp(`RabbitMQ refused the job's messages for ${code.replace(/\./g, '\\.')} for 3 s`),
    );
    expect(p.stderr()).toMatch(/fj resume/);
    expect(p.stderr()).not.toMatch(/\n\s+at /);
  });
});
