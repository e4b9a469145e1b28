/**
 * An item that never returns (no --item-timeout, deaf to ctx.signal) must not
 * hold a worker forever (issue 11, item 13):
 *
 * - `fj cancel` frees its thread: the thread is replaced after a short grace,
 *   and the worker's next job runs;
 * - a redelivered (suspect) item runs alone only for a bounded time: an
 *   unrelated job on the same pool still completes;
 * - a warm shutdown (SIGTERM) waits --shutdown-timeout at most, then gives
 *   what is in hand back to the queue and exits.
 *
 *   npx vitest run --project reliability test/reliability/stuck.test.ts
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BROKER_URL,
  brokerAvailable,
  deleteQueue,
  deleteQueues,
  startWorkerProc,
  stopWorkerProc,
  type WorkerProc,
} from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';
import { attempts } from '../helpers/run-log.js';
import { clean, codeQueueOf, fj, recording, ROOT, scratch, type CliProc, exitWithin } from './harness.js';

const available = await brokerAvailable();
const COMMAND = 'npx vitest run --project reliability test/reliability/stuck.test.ts';
const STUCK = join(ROOT, 'test', 'fixtures', 'stuck.ts');

/** Ready messages in a queue. */
async function ready(queue: string): Promise<number> {
  const conn = await amqp.connect(BROKER_URL);
  try {
    return (await (await conn.createChannel()).checkQueue(queue)).messageCount;
  } finally {
    await conn.close();
  }
}

describe.runIf(available)('an item that never returns', () => {
  const { dir, store } = scratch('stuck');
  const workers: WorkerProc[] = [];
  const runs: CliProc[] = [];
  const queues: string[] = [];
  afterAll(async () => {
    for (const r of runs) if (r.child.exitCode === null) r.child.kill('SIGKILL');
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    for (const q of queues) {
      await deleteQueues(q).catch(() => {});
      await deleteQueue(await codeQueueOf(q, STUCK)).catch(() => {});
    }
    clean(dir);
  });

  function pool(): string {
    const q = `fj.reliability.stuck.${randomUUID()}`;
    queues.push(q);
    return q;
  }
  async function worker(queue: string, args: string[]): Promise<WorkerProc> {
    const w = await startWorkerProc(['--queue', queue, '--store', store, '--tasks', STUCK, ...args]);
    workers.push(w);
    return w;
  }
  function run(queue: string, name: string, value: object, jobId = `${name}-${randomUUID().slice(0, 8)}`): CliProc {
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(value));
    const p = fj(['run', STUCK, file, '--executor', 'amqp', '--queue', queue, '--store', store, '--job-id', jobId]);
    runs.push(p);
    return p;
  }
  /** Another job on the same pool runs to completion within `ms`. */
  async function otherJobCompletes(queue: string, name: string, ms: number): Promise<number> {
    const started = Date.now();
    const p = run(queue, name, { n: 40 });
    expect(await exitWithin(p, ms, `an unrelated job (${name})`, p.stderr), p.stderr()).toBe(0);
    expect(JSON.parse(p.stdout())).toBe(40 * 39);
    return Date.now() - started;
  }

  it('fj cancel frees its thread: the worker runs the next job', async () => {
    const rec = recording('item never returns, fj cancel', COMMAND);
    rec.items = 40;
    rec.faults =
      'a worker with 1 thread holds an item that never returns and ignores ctx.signal; fj cancel; time = the next job on that worker';
    const queue = pool();
    const w = await worker(queue, ['-c', '1']);
    const runLog = join(dir, 'cancel.runs');
    const jobId = `stuck-cancel-${randomUUID().slice(0, 8)}`;
    const a = run(queue, 'cancel', { n: 4, hangAt: [0], runLog }, jobId);
    await waitFor('the stuck item to start', () => attempts(runLog).some((x) => x.i === 0), 20_000, 100);
    const c = fj(['cancel', jobId, '--store', store]);
    expect(await c.exited, c.stderr()).toBe(0);
    expect(await exitWithin(a, 20_000, 'the cancelled run', a.stderr)).toBe(130);
    rec.recoverMs = await otherJobCompletes(queue, 'after-cancel', 30_000);
    expect(w.log()).toMatch(/did not stop within .* of being cancelled/);
    rec.lost = rec.duplicated = 0;
    rec.recovered = 'the thread holding the item was replaced; the next job completed';
  });

  it('a redelivered item that never returns does not block another job on the pool', async () => {
    const rec = recording('item never returns, redelivered', COMMAND);
    rec.items = 40;
    rec.faults =
      'the worker holding an item that never returns is killed (SIGKILL); the item is redelivered to a 2-thread worker; time = an unrelated job on the pool';
    const queue = pool();
    const first = await worker(queue, ['-c', '1']);
    const runLog = join(dir, 'suspect.runs');
    const a = run(queue, 'suspect', { n: 4, hangAt: [0], runLog });
    await waitFor(
      'the stuck item to start',
      () => attempts(runLog).some((x) => x.i === 0 && x.pid === first.child.pid),
      20_000,
      100,
    );
    process.kill(first.child.pid!, 'SIGKILL');
    const second = await worker(queue, ['-c', '2']);
    await waitFor(
      'the stuck item to run again, redelivered',
      () => attempts(runLog).some((x) => x.i === 0 && x.pid === second.child.pid),
      20_000,
      100,
    );
    rec.recoverMs = await otherJobCompletes(queue, 'beside-suspect', 30_000);
    rec.lost = rec.duplicated = 0;
    rec.recovered = 'the suspect item ran alone for a bounded time, then beside the other job';
    a.child.kill('SIGINT'); // Ctrl-C: the stuck job is cancelled
    expect(await exitWithin(a, 20_000, 'the interrupted run', a.stderr)).toBe(130);
  });

  it('SIGTERM waits --shutdown-timeout at most, then gives the item back to the queue and exits', async () => {
    const rec = recording('item never returns, SIGTERM', COMMAND);
    rec.items = 1;
    rec.faults = 'SIGTERM to a worker holding an item that never returns, --shutdown-timeout 2; time = to exit';
    const queue = pool();
    const w = await worker(queue, ['-c', '1', '--shutdown-timeout', '2']);
    const runLog = join(dir, 'term.runs');
    const a = run(queue, 'term', { n: 1, hangAt: [0], runLog });
    await waitFor('the stuck item to start', () => attempts(runLog).some((x) => x.i === 0), 20_000, 100);
    const started = Date.now();
    w.child.kill('SIGTERM');
    expect(await exitWithin(w, 15_000, 'the worker after SIGTERM', w.log)).toBe(0);
    rec.recoverMs = Date.now() - started;
    expect(w.log()).toMatch(/shutdown timeout/);
    const code = await codeQueueOf(queue, STUCK); // where the job's items wait for a worker running its code
    await waitFor('the item to be back on the queue', async () => (await ready(code)) === 1, 10_000, 100);
    rec.lost = rec.duplicated = 0;
    rec.recovered = 'the worker exited; its message went back to the queue';
    a.child.kill('SIGINT');
    expect(await exitWithin(a, 20_000, 'the interrupted run', a.stderr)).toBe(130);
    await stopWorkerProc(w);
  });
});
