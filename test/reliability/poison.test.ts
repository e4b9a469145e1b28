/**
 * Poison items, through the real CLI and real workers: one that always
 * throws, and one that kills its worker process every time. Under fail-fast
 * the job exits 1 quickly, naming the item and the hook, and the workers drop
 * the rest of the job; under collect every other item completes.
 *
 *   npx vitest run --project reliability test/reliability/poison.test.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROKER_URL, brokerAvailable } from '../helpers/broker.js';
import { value, type ChaosOutput } from '../fixtures/chaos.js';
import { waitFor } from '../helpers/wait.js';
import { attempts } from '../helpers/run-log.js';
import { MAX_CRASHES } from '../../src/worker/crash-count.js';
import { CHAOS, clean, codeQueueOf, fj, recording, scratch, WorkerPool } from './harness.js';

const COMMAND = 'npx vitest run --project reliability test/reliability/poison.test.ts';

const available = await brokerAvailable();

async function queueDepth(queue: string): Promise<number> {
  const conn = await amqp.connect(BROKER_URL);
  try {
    return (await (await conn.createChannel()).checkQueue(queue)).messageCount;
  } finally {
    await conn.close();
  }
}

/** The chaos sum over items 0 .. n-1 except `skip`. */
function sumWithout(n: number, skip: number[]): number {
  let sum = 0;
  for (let i = 0; i < n; i++) if (!skip.includes(i)) sum += value(i);
  return sum;
}

describe.runIf(available)('poison items', () => {
  const { dir, store } = scratch('poison');
  const pool = new WorkerPool(store);
  let stopSupervisor: () => Promise<void>;
  beforeAll(async () => {
    await pool.start(3);
    stopSupervisor = pool.supervise(3); // killed workers are replaced, as systemd would
  });
  afterAll(async () => {
    await stopSupervisor();
    await pool.stop();
    clean(dir);
  });

  function input(name: string, value: object): string {
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(value));
    return file;
  }
  const amqpArgs = () => ['--executor', 'amqp', '--queue', pool.queue, '--store', store, '--retry-delay', '50'];

  it('an item that always throws, fail-fast: exit 1 within seconds naming item and hook; the rest of the job is dropped', async () => {
    const rec = recording('poison item (throws), fail-fast', COMMAND);
    // 2,000 items of 50 ms on 3 workers: finishing the job would take 2000 * 50 / 3 ms (33 s) of work alone.
    const n = 2000;
    const ms = 50;
    const wholeJobMs = (n * ms) / 3;
    const runLog = join(dir, 'throw-ff.runs');
    rec.items = n;
    rec.faults = `item 150 always throws; --retries 1; ${ms} ms items on 3 workers; time = to exit 1`;
    const started = Date.now();
    const p = fj(['run', CHAOS, input('throw-ff', { n, ms, throwAt: [150], runLog }), ...amqpArgs(), '--retries', '1']);
    expect(await p.exited, p.stderr()).toBe(1);
    const took = Date.now() - started;
    rec.recoverMs = took;
    expect(p.stderr()).toMatch(/chaos\.process on item 150 failed: item 150 always throws \(after 2 attempts\)/);
    expect(p.stderr()).not.toMatch(/\n\s+at /);
    expect(p.stdout()).toBe('');
    // Failed fast: sooner than the job's work itself would take.
    expect(took).toBeLessThan(wholeJobMs);
    // No orphaned work: the queue empties, and the workers stop running the job's items.
    await waitFor(
      'the work queue to hold nothing of the failed job',
      async () => (await queueDepth(await codeQueueOf(pool.queue))) === 0,
      10_000,
      200,
    );
    let count = -1;
    await waitFor(
      'the workers to stop running items of the failed job',
      () => {
        const now = attempts(runLog).length;
        const still = now === count;
        count = now;
        return still;
      },
      20_000,
      1000,
    );
    const distinct = new Set(attempts(runLog).map((a) => a.i)).size;
    rec.recovered = `${n - distinct} of ${n} items dropped, never run`;
    rec.lost = '-';
    rec.duplicated = '-';
    // Dropped, not finished: well under half the items ever ran.
    expect(distinct, `${distinct} of ${n} items ran after the job failed`).toBeLessThan(n / 2);
  });

  it('an item that always throws, collect: every other item completes; the failure is on stderr and in --stats', async () => {
    const rec = recording('poison item (throws), collect', COMMAND);
    const n = 500;
    rec.items = n;
    rec.faults = 'item 77 always throws; --retries 1';
    const statsFile = join(dir, 'collect-stats.json');
    const started = Date.now();
    const p = fj([
      'run',
      CHAOS,
      input('throw-c', { n, ms: 2, throwAt: [77] }),
      ...amqpArgs(),
      '--retries',
      '1',
      '--on-failure',
      'collect',
      '--stats',
      statsFile,
    ]);
    expect(await p.exited, p.stderr()).toBe(0);
    rec.recoverMs = Date.now() - started;
    const out = JSON.parse(p.stdout()) as ChaosOutput;
    const stats = JSON.parse(readFileSync(statsFile, 'utf8')) as {
      items: number;
      failed: number;
      retried: number;
      failures: { index: number; attempts: number; error: { message: string } }[];
    };
    const failedIdx = stats.failures.map((f) => f.index);
    rec.lost = out.missing.filter((i) => !failedIdx.includes(i)).length;
    rec.duplicated = out.duplicated.length;
    rec.recovered = `${out.items} completed; ${stats.failed} failed after ${stats.failures[0]?.attempts} attempts`;
    expect(out.items).toBe(n - 1);
    expect(out.missing).toEqual([77]);
    expect(out.duplicated).toEqual([]);
    expect(out.sum).toBe(sumWithout(n, [77]));
    expect(p.stderr()).toMatch(/1 item\(s\) failed[\s\S]*item 77: .*item 77 always throws \(after 2 attempts\)/);
    expect(stats.failed).toBe(1);
    expect(stats.failures.map((f) => [f.index, f.attempts])).toEqual([[77, 2]]);
    expect(stats.failures[0].error.message).toMatch(/item 77 always throws/);
    expect(stats.retried).toBeGreaterThanOrEqual(1);
  });

  it('an innocent item whose worker is killed from outside during each of its first 3 runs completes', async () => {
    // A kill -9 from outside (an operator, the kernel's OOM killer for another
    // process's memory) that lands while an item runs alone looks to the next
    // worker exactly like a crash the item caused. Coincidences must not fail
    // an item: it fails as poison only after MAX_CRASHES deaths while it ran
    // alone; its first run, in its original message, is not counted.
    const rec = recording('innocent item, its worker killed from outside 3 times', COMMAND);
    const runLog = join(dir, 'innocent.runs');
    rec.items = 1;
    rec.faults = 'the worker running item 0 is SIGKILLed from outside during each of its first 3 runs';
    const started = Date.now();
    const p = fj([
      'run',
      CHAOS,
      input('innocent', { n: 1, ms: 1500, runLog }),
      ...amqpArgs(),
      '--on-failure',
      'collect',
    ]);
    for (let k = 0; k < 3; k++) {
      await waitFor(`run ${k + 1} of item 0`, () => attempts(runLog).length > k, 30_000, 20);
      process.kill(attempts(runLog)[k].pid, 'SIGKILL');
    }
    expect(await p.exited, p.stderr()).toBe(0);
    rec.recoverMs = Date.now() - started;
    const out = JSON.parse(p.stdout()) as ChaosOutput;
    rec.lost = out.missing.length;
    rec.duplicated = out.duplicated.length;
    rec.recovered = `completed on run ${attempts(runLog).length}`;
    expect(out).toMatchObject({ items: 1, missing: [], duplicated: [] });
    expect(attempts(runLog)).toHaveLength(4);
  });

  it(`an item that kills its worker process every time, collect: it fails after ${MAX_CRASHES} deaths alone, every other item completes`, async () => {
    const rec = recording('poison item (kills its worker), collect', COMMAND);
    const n = 300;
    rec.items = n;
    const started = Date.now();
    // Every worker process that died of a SIGKILL: a replacement may take the poison item before it is ready.
    const killed = () => pool.spawned.filter((w) => w.child.signalCode === 'SIGKILL').length;
    const killsBefore = killed();
    const p = fj([
      'run',
      CHAOS,
      input('kill-c', { n, ms: 2, killAt: [123] }),
      ...amqpArgs(),
      '--on-failure',
      'collect',
    ]);
    expect(await p.exited, p.stderr()).toBe(0);
    rec.recoverMs = Date.now() - started;
    // A worker's exit reaches this process on its own schedule: the last one may die moments before the run ends.
    await waitFor('the workers that died to be seen', () => killed() - killsBefore >= MAX_CRASHES, 3000, 50).catch(
      () => {},
    );
    const deaths = killed() - killsBefore;
    rec.faults = `item 123 SIGKILLs its worker process every time (${deaths} workers died, replaced)`;
    const out = JSON.parse(p.stdout()) as ChaosOutput;
    rec.lost = out.missing.filter((i) => i !== 123).length;
    rec.duplicated = out.duplicated.length;
    rec.recovered = `${out.items} completed; the poison item failed after ${deaths} worker deaths`;
    expect(out.items).toBe(n - 1);
    expect(out.missing).toEqual([123]);
    expect(out.duplicated).toEqual([]);
    expect(out.sum).toBe(sumWithout(n, [123]));
    expect(p.stderr()).toMatch(/item 123 .*worker process died/);
    // MAX_CRASHES deaths alone, and one more when it died in its original batch.
    const story = () =>
      `fj run's stderr:\n${p.stderr()}\nthe workers' logs:\n${pool.spawned.map((w) => w.log()).join('\n')}`;
    expect(deaths, story()).toBeGreaterThanOrEqual(MAX_CRASHES);
    expect(deaths, story()).toBeLessThanOrEqual(MAX_CRASHES + 1);
  });
});
