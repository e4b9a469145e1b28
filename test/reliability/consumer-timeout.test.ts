/**
 * RabbitMQ's consumer_timeout closes a channel whose delivery stayed
 * unacknowledged too long (checked about once a minute), and leaves the
 * connection open. The coordinator holds its results unacknowledged until
 * the job ends, so a job longer than the timeout meets it; before the fix
 * its consumer was silently gone and the job waited forever. The timeout is
 * lowered to 5 s for the test (`rabbitmqctl eval`, restored afterwards), the
 * job runs ~75 s: the broker closes the results channel once, the
 * coordinator says why, reconnects, receives the results again and counts
 * each once. Then a worker holds an item past the timeout: the broker
 * closes the work channel, the worker says why and reconnects (before the
 * fix it stayed connected and consumed nothing), and the item runs again.
 * Last, a detached job runs past the timeout on two workers: its
 * coordinator holds a lease (worker/job-holds.ts), renewed well inside the
 * timeout, not one unacknowledged delivery for the job's whole life, so the
 * broker never closes the jobs channel, the job keeps its one coordinator and
 * its message is taken from the jobs queue once.
 * Needs `rabbitmqctl` (as in CI); without it the test fails under CI=true
 * and is skipped, with a message, elsewhere.
 *
 *   npx vitest run --project reliability test/reliability/consumer-timeout.test.ts
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { runJob, submit } from '../../src/index.js';
import type { ChaosOutput } from '../fixtures/chaos.js';
import Flaky, { attempts } from '../fixtures/flaky.js';
import {
  BROKER_URL,
  brokerAvailable,
  deleteQueues,
  findRabbitmqctl,
  startWorkerProc,
  stopWorkerProc,
} from '../helpers/broker.js';
import { CHAOS, CHAOS_COMBINED, CHAOS_FOLDED, expected, fj, lineCount, recording, ROOT, scenario } from './harness.js';

const run = promisify(execFile);
const available = await brokerAvailable();
const ctl = findRabbitmqctl('consumer-timeout');

async function setConsumerTimeout(ms: number): Promise<void> {
  await run(ctl!, ['eval', `application:set_env(rabbit, consumer_timeout, ${ms}).`], { timeout: 60_000 });
}

/** The broker's consumer_timeout now: a number of ms, or undefined when it is not set (the broker's built-in default). */
async function readConsumerTimeout(): Promise<number | undefined> {
  const { stdout } = await run(ctl!, ['eval', 'application:get_env(rabbit, consumer_timeout).'], { timeout: 60_000 });
  const text = stdout.trim();
  if (text === 'undefined') return undefined;
  const m = /^\{ok,\s*(\d+)\}$/.exec(text);
  if (!m) throw new Error(`cannot read the broker's consumer_timeout: rabbitmqctl said ${JSON.stringify(text)}`);
  return Number(m[1]);
}

/** Puts back what {@link readConsumerTimeout} read; a failure fails the file (the shared broker must not keep 5 s). */
async function restoreConsumerTimeout(was: number | undefined): Promise<void> {
  if (was === undefined)
    await run(ctl!, ['eval', 'application:unset_env(rabbit, consumer_timeout).'], { timeout: 60_000 });
  else await setConsumerTimeout(was);
  const now = await readConsumerTimeout();
  if (now !== was) throw new Error(`consumer_timeout is ${now} after restoring ${was}`);
}

describe.runIf(available && ctl)('RabbitMQ consumer_timeout during a long job', () => {
  // Read before any test changes it, and put back after the last one (before the pool stops).
  let was: number | undefined;
  let read = false;
  beforeAll(async () => {
    was = await readConsumerTimeout();
    read = true;
  });
  const { dir, store, pool } = scenario('consumer-timeout', async () => {
    if (read) await restoreConsumerTimeout(was);
  });

  it('the broker closes the results channel; the coordinator reconnects and counts every result once', async () => {
    // Channels read the timeout when they open: set it before the worker and the coordinator start.
    const rec = recording(
      'RabbitMQ consumer_timeout (results held past it)',
      'npx vitest run --project reliability test/reliability/consumer-timeout.test.ts',
    );
    await setConsumerTimeout(5000);
    const input = { n: 150, ms: 500 };
    rec.items = input.n;
    rec.faults =
      'consumer_timeout lowered to 5 s; the broker closed the coordinator’s results channel at its ~60 s check';
    const want = await expected({ n: input.n }); // the output does not depend on how long items take
    const file = join(dir, 'input.json');
    writeFileSync(file, JSON.stringify(input));
    await pool.start(1); // one thread: 150 x 500 ms = 75 s, past the broker's first check at ~60 s
    const started = Date.now();
    const job = fj([
      'run',
      CHAOS,
      file,
      '--executor',
      'amqp',
      '--queue',
      pool.queue,
      '--store',
      store,
      '--stats',
      join(dir, 'stats.json'),
    ]);
    const code = await job.exited;
    const err = job.stderr();
    rec.recoverMs = Date.now() - started - 75_000; // over the job's 75 s of work
    expect(code, err).toBe(0);
    const out = JSON.parse(job.stdout()) as ChaosOutput;
    rec.lost = out.missing.length;
    rec.duplicated = out.duplicated.length;
    const redelivered = (err.match(/reconnected to RabbitMQ/g) ?? []).length;
    rec.recovered = `results channel closed and reopened ${redelivered} time(s); results delivered again, counted once`;
    expect(out).toEqual(want);
    expect(err).toMatch(/RabbitMQ closed the results channel after its consumer_timeout .*timed out/);
    expect(err).toMatch(/reconnected to RabbitMQ/);
    expect(err).not.toMatch(/\n\s+at /);
  }, 240_000);

  it('a worker holding an item past it: the broker closes the work channel; the worker reconnects and the item runs again', async () => {
    await setConsumerTimeout(5000);
    const queue = `fj.reliability.ct.${randomUUID()}`;
    const attemptsDir = join(dir, 'flaky');
    mkdirSync(attemptsDir, { recursive: true });
    const flaky = join(ROOT, 'test', 'fixtures', 'flaky.ts');
    const worker = await startWorkerProc(['--queue', queue, '--store', store, '--tasks', flaky, '-c', '1'], {
      FJ_BROKER_URL: BROKER_URL,
    });
    try {
      // Item 1 waits on its first attempt until it is aborted: it is still unacknowledged at the broker's ~60 s check.
      const { output } = await runJob(
        Flaky,
        { n: 3, dir: attemptsDir, hangFirst: [1], hang: 'wait' },
        { executor: 'amqp', broker: BROKER_URL, queue, store },
      );
      expect(output).toEqual({ results: [0, 1, 2], failed: [] });
      expect(attempts(attemptsDir, 1)).toBe(2);
      expect(worker.log()).toMatch(
        /RabbitMQ closed the work channel: a message stayed unacknowledged past its consumer_timeout/,
      );
      expect(worker.log()).toMatch(/reconnected to RabbitMQ/);
      expect(worker.child.exitCode).toBe(null); // still serving
    } finally {
      await stopWorkerProc(worker);
      await deleteQueues(queue).catch(() => {});
    }
  }, 240_000);
  it('a detached job longer than the timeout keeps its one coordinator; its message is taken once, never put back', async () => {
    const rec = recording(
      'RabbitMQ consumer_timeout (a detached job past it)',
      'npx vitest run --project reliability test/reliability/consumer-timeout.test.ts',
    );
    await setConsumerTimeout(5000);
    const queue = `fj.reliability.ct.${randomUUID()}`;
    const joinLog = join(dir, 'join-lease.log');
    const input = { n: 300, ms: 500, joinLog };
    rec.items = input.n;
    const want = await expected(input);
    // Leases renewed every second here (FJ_LEASE_RENEW_MS), inside the lowered 5 s timeout; by default every minute.
    const workers = await Promise.all(
      [0, 1].map(() =>
        startWorkerProc(
          ['--queue', queue, '--store', store, '--tasks', CHAOS, CHAOS_COMBINED, CHAOS_FOLDED, '-c', '1', '--verbose'],
          { FJ_BROKER_URL: BROKER_URL, FJ_LEASE_RENEW_MS: '1000' },
        ),
      ),
    );
    try {
      const started = Date.now();
      const job = await submit(CHAOS, input, { store, queue, label: 'lease' });
      const output = (await job.result({ timeoutMs: 200_000 })) as ChaosOutput;
      const took = Date.now() - started;
      const logs = workers.map((w) => w.log()).join('\n');
      rec.faults = `consumer_timeout lowered to 5 s; a detached job of ${Math.round(took / 1000)} s on 2 workers`;
      rec.lost = output.missing.length;
      rec.duplicated = output.duplicated.length;
      expect(output).toEqual(want);
      expect(took, 'the job must outlast the broker’s first consumer_timeout check (~60 s)').toBeGreaterThan(65_000);
      expect(lineCount(readFileSync(joinLog, 'utf8'))).toBe(1);
      // One coordinator for the whole job: coordinated once, never taken over, the jobs channel never closed.
      expect(logs.match(new RegExp(`job ${job.id} \\(chaos, "lease"\\): coordinating`, 'g')) ?? [], logs).toHaveLength(
        1,
      );
      expect(logs).not.toMatch(/RabbitMQ closed the jobs channel/);
      expect(logs).not.toMatch(new RegExp(`job ${job.id} is coordinated by another worker`));
      // Its message left the jobs queue once: no worker took it again to look (the put-back loop of before).
      expect(logs.match(new RegExp(`job ${job.id}: taken from the jobs queue`, 'g')) ?? [], logs).toHaveLength(1);
      rec.recovered = 'one coordinator throughout; its job message taken from the jobs queue once';
      rec.recoverMs = 'none needed (no takeover)';
    } finally {
      await Promise.all(workers.map((w) => stopWorkerProc(w)));
      await deleteQueues(queue).catch(() => {});
    }
  }, 300_000);
});
