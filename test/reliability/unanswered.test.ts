/**
 * Work that no worker will answer must not leave `fj run` waiting: the
 * coordinator learns why and fails in seconds, naming the cause (issue 11,
 * items 9 and 10). And work that one worker cannot run goes to the workers
 * that can.
 *
 * - workers on another store than the coordinator's dead-letter every
 *   message as "unknown job": the job fails naming the worker and both stores;
 * - a message over a worker's --max-message-bytes: the job fails naming the
 *   worker and the limit;
 * - a pool where one worker lacks the task: the job completes on the others;
 *   a pool where no worker serves it: the job fails naming task and pool.
 *
 *   npx vitest run --project reliability test/reliability/unanswered.test.ts
 */
import { writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { brokerAvailable, deleteQueues, startWorkerProc, stopWorkerProc, type WorkerProc } from '../helpers/broker.js';
import { clean, fj, recording, ROOT, scratch, exitWithin } from './harness.js';

const available = await brokerAvailable();
const COMMAND = 'npx vitest run --project reliability test/reliability/unanswered.test.ts';
const SUM = join(ROOT, 'test', 'fixtures', 'sum.ts');
/** A job that is not answered must fail within this; before the fix it waited forever. */
const FAIL_WITHIN_MS = 20_000;

describe.runIf(available)('work nobody answers is reported, in seconds', () => {
  const { dir, store } = scratch('unanswered');
  const other = scratch('unanswered-other');
  const workers: WorkerProc[] = [];
  const queues: string[] = [];
  afterAll(async () => {
    await Promise.all(workers.map((w) => stopWorkerProc(w)));
    for (const q of queues) await deleteQueues(q).catch(() => {});
    clean(dir);
    clean(other.dir);
  });

  async function worker(queue: string, args: string[]): Promise<WorkerProc> {
    const w = await startWorkerProc(['--queue', queue, '-c', '1', ...args]);
    workers.push(w);
    return w;
  }
  function pool(): string {
    const q = `fj.reliability.unanswered.${randomUUID()}`;
    queues.push(q);
    return q;
  }
  function input(name: string, value: object): string {
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(value));
    return file;
  }

  it('workers on another store: the job fails naming the worker and both stores', async () => {
    const rec = recording('worker on another store', COMMAND);
    rec.items = 500;
    rec.faults = 'the only worker uses another --store than fj run; time = to exit 1';
    const queue = pool();
    await worker(queue, ['--store', other.store, '--tasks', SUM, '--name', 'w-elsewhere']);
    const started = Date.now();
    const p = fj(['run', SUM, input('sum', { count: 500 }), '--executor', 'amqp', '--queue', queue, '--store', store]);
    expect(await exitWithin(p, FAIL_WITHIN_MS), p.stderr()).toBe(1);
    rec.recoverMs = Date.now() - started;
    rec.lost = rec.duplicated = '-';
    rec.recovered = 'job failed, naming the worker and both stores';
    expect(p.stderr()).toMatch(/worker w-elsewhere/);
    expect(p.stderr()).toContain(other.store.replace('file://', ''));
    expect(p.stderr()).toContain(store.replace('file://', ''));
    expect(p.stderr()).not.toMatch(/\n\s+at /);
  });

  it("a message over the worker's --max-message-bytes: the job fails naming the worker and the limit", async () => {
    const rec = recording('message over --max-message-bytes', COMMAND);
    rec.items = 20;
    rec.faults = 'items of 5,000 bytes; the only worker takes messages up to 2,000 bytes; time = to exit 1';
    const queue = pool();
    await worker(queue, ['--store', store, '--max-message-bytes', '2000', '--name', 'w-small']);
    const documents = Array.from({ length: 20 }, (_, i) => `doc${i} `.repeat(700));
    const started = Date.now();
    const p = fj([
      'run',
      'wordcount',
      input('big', { documents }),
      '--executor',
      'amqp',
      '--queue',
      queue,
      '--store',
      store,
    ]);
    expect(await exitWithin(p, FAIL_WITHIN_MS), p.stderr()).toBe(1);
    rec.recoverMs = Date.now() - started;
    rec.lost = rec.duplicated = '-';
    rec.recovered = 'job failed, naming the worker and its limit';
    expect(p.stderr()).toMatch(/worker w-small/);
    expect(p.stderr()).toMatch(/--max-message-bytes 2000/);
    expect(p.stderr()).not.toMatch(/\n\s+at /);
  });

  it('one worker of three lacks the task: the job completes on the other two', async () => {
    const rec = recording('a worker lacks the task', COMMAND);
    const count = 3000;
    rec.items = count;
    rec.faults = '3 workers on one pool, one started without the task module';
    const queue = pool();
    await Promise.all([
      worker(queue, ['--store', store, '--tasks', SUM, '--name', 'w-sum-1']),
      worker(queue, ['--store', store, '--tasks', SUM, '--name', 'w-sum-2']),
      worker(queue, ['--store', store, '--name', 'w-lacking']),
    ]);
    const started = Date.now();
    const p = fj(['run', SUM, input('sum3', { count }), '--executor', 'amqp', '--queue', queue, '--store', store]);
    expect(await exitWithin(p, 60_000), p.stderr()).toBe(0);
    rec.recoverMs = Date.now() - started;
    expect(JSON.parse(p.stdout())).toBe(count * (count - 1));
    rec.lost = rec.duplicated = 0;
    rec.recovered = 'every item ran on the two workers that serve the task';
  });

  it('no worker of the pool serves the task: the job fails fast naming task and pool', async () => {
    const rec = recording('no worker serves the task', COMMAND);
    rec.items = 500;
    rec.faults = '2 workers on the pool, neither started with the task module; time = to exit 1';
    const queue = pool();
    await Promise.all([
      worker(queue, ['--store', store, '--name', 'w-plain-1']),
      worker(queue, ['--store', store, '--name', 'w-plain-2']),
    ]);
    const started = Date.now();
    const p = fj(['run', SUM, input('sum4', { count: 500 }), '--executor', 'amqp', '--queue', queue, '--store', store]);
    expect(await exitWithin(p, FAIL_WITHIN_MS), p.stderr()).toBe(1);
    rec.recoverMs = Date.now() - started;
    rec.lost = rec.duplicated = '-';
    rec.recovered = 'job failed, naming the task and the pool';
    expect(p.stderr()).toContain(`no worker on pool ${queue} serves task "sum"`);
    expect(p.stderr()).not.toContain(`'"`);
    expect(p.stderr()).not.toMatch(/\n\s+at /);
  });
});
