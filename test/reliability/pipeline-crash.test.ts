/**
 * A submitted pipeline when its coordinating worker dies (SIGKILL), with
 * nobody attached: (a) during stage 2's join, (b) right after stage 1
 * ended, before the next stage was queued (the worker that ended it dies at
 * the start of its pipeline step: FJ_TEST_KILL_BEFORE_GO_ON, set on that
 * worker only), and (c) during stage 1, while its items run. Replacement workers take the stage's message over from the
 * records: the pipeline ends with eager's output, each stage's join finished
 * once, and no stage was queued twice.
 *
 *   npx vitest run --project reliability test/reliability/pipeline-crash.test.ts
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { attach, pipeline, runPipeline, submitPipeline } from '../../src/index.js';
import { codeQueue } from '../../src/broker/amqp.js';
import { loadAllTasks } from '../../src/task/registry.js';
import { BROKER_URL, brokerAvailable, deleteQueue, startWorkerProc } from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';
import { Count, Square, Sum, type Summed } from '../fixtures/pipeline-crash-stages.js';
import { clean, recording, ROOT, scratch, WorkerPool } from './harness.js';

const available = await brokerAvailable();
const COMMAND = 'npx vitest run --project reliability test/reliability/pipeline-crash.test.ts';
const STAGES = join(ROOT, 'test', 'fixtures', 'pipeline-crash-stages.ts');
const p = pipeline(Count).pipe(Square).pipe(Sum);

/** The joins that finished, by stage name. */
function joins(file: string): Record<string, number> {
  const out: Record<string, number> = {};
  if (!existsSync(file)) return out;
  for (const line of readFileSync(file, 'utf8').split('\n').filter(Boolean)) out[line] = (out[line] ?? 0) + 1;
  return out;
}

describe.runIf(available)('a submitted pipeline: its coordinating worker killed (SIGKILL)', () => {
  const { dir, store } = scratch('pipeline-crash');
  // The pool's workers serve the chaos tasks (the harness's) and this file's stages (the args follow --tasks).
  const workers = new WorkerPool(store, [STAGES, '-c', '2']);
  const where = { store, queue: workers.queue, broker: BROKER_URL };
  afterAll(async () => {
    await workers.stop();
    for (const t of await loadAllTasks(STAGES))
      await deleteQueue(codeQueue(workers.queue, t.name, t.codeHash)).catch(() => {});
    clean(dir);
  });

  /** What eager gives for `input`, its joins logged to a file of its own. */
  async function eager(n: number): Promise<Summed> {
    return (await runPipeline(p, { n, joinLog: join(dir, `eager-${n}.log`) }, { executor: 'eager' })).output;
  }

  it('(a) during stage 2’s join: another worker takes stage 2 over, its join finishes once, and the pipeline ends as eager', async () => {
    const rec = recording('pipeline: coordinating worker kill -9 during a stage’s join', COMMAND);
    const joinLog = join(dir, 'joins-a.log');
    const input = { n: 300, ms: 5, joinMs: 4000, joinLog };
    rec.items = 3 * input.n;
    const want = await eager(input.n);
    await workers.start(2);
    const stopSupervising = workers.supervise(2);
    try {
      const handle = await submitPipeline(p, input, where);
      await waitFor('stage 2 to be queued', async () => (await handle.status()).stage?.startsWith('2/3'), 60_000, 50);
      const stage2 = await attach(`${handle.id}.2`, where);
      const victim = await waitFor(
        'stage 2 to be in its join',
        async () => {
          const v = await stage2.status().catch(() => undefined);
          const pid = Number(v?.coordinatorHost?.split(':').at(-1));
          return v?.phase === 'join' && pid > 0 ? pid : undefined;
        },
        60_000,
        50,
      );
      process.kill(victim, 'SIGKILL');
      workers.killed.push(victim);
      const t = Date.now();
      const out = (await handle.result({ timeoutMs: 120_000 })) as Summed;
      rec.recoverMs = Date.now() - t;
      expect(out).toEqual(want);
      expect(joins(joinLog)).toEqual({ 'crash-count': 1, 'crash-square': 1, 'crash-sum': 1 });
      const v2 = await stage2.status();
      expect(v2.state).toBe('succeeded');
      expect(v2.coordinator).not.toBe('');
      rec.lost = input.n - out.distinct;
      rec.duplicated = out.count - out.distinct;
      rec.recovered = `stage 2 taken over by the other worker from its records; its join started again and finished once; every stage's join finished once`;
      rec.faults = `3 stages of ${input.n} items on 2 workers; the worker coordinating stage 2 killed (SIGKILL) during its 4 s join, a replacement started; time = from the kill to the pipeline's end`;
    } finally {
      await stopSupervising();
    }
  }, 240_000);

  it('(c) during stage 1, its items running: another worker takes stage 1 over, every join finishes once, and the pipeline ends as eager', async () => {
    const rec = recording('pipeline: coordinating worker kill -9 during a stage’s items', COMMAND);
    const joinLog = join(dir, 'joins-c.log');
    // 300 items of 40 ms on 2 workers of 2 slots: stage 1 runs ~3 s, seen running between its status writes.
    const input = { n: 300, ms: 40, joinMs: 0, joinLog };
    rec.items = 3 * input.n;
    const want = await eager(input.n);
    const stopSupervising = workers.supervise(2);
    try {
      await waitFor('2 workers', () => workers.alive.length >= 2, 30_000);
      const handle = await submitPipeline(p, input, where);
      const stage1 = await waitFor(
        'stage 1 to be queued',
        async () => attach(`${handle.id}.1`, where).catch(() => undefined),
        30_000,
        50,
      );
      let seen: unknown;
      const victim = await waitFor(
        'stage 1 to be coordinated, 20 of its items done',
        async () => {
          const v = await stage1.status().catch(() => undefined);
          seen = v && { state: v.state, done: v.done, phase: v.phase, host: v.coordinatorHost };
          const pid = Number(v?.coordinatorHost?.split(':').at(-1));
          return v?.state === 'running' && v.done > 20 && v.done < input.n && pid > 0 ? pid : undefined;
        },
        60_000,
        50,
      ).catch((err: Error) => {
        throw new Error(`${err.message}; stage 1 last seen: ${JSON.stringify(seen)}`);
      });
      const before = await stage1.status();
      process.kill(victim, 'SIGKILL');
      workers.killed.push(victim);
      const t = Date.now();
      const out = (await handle.result({ timeoutMs: 120_000 })) as Summed;
      rec.recoverMs = Date.now() - t;
      expect(out).toEqual(want);
      expect(joins(joinLog)).toEqual({ 'crash-count': 1, 'crash-square': 1, 'crash-sum': 1 });
      const after = await stage1.status();
      expect(after.state).toBe('succeeded');
      expect(after.coordinatorHost).not.toBe(before.coordinatorHost); // taken over by another worker
      await expect(attach(`${handle.id}.2`, where).then(async (h) => (await h.status()).state)).resolves.toBe(
        'succeeded',
      );
      rec.lost = input.n - out.distinct;
      rec.duplicated = out.count - out.distinct;
      rec.recovered = `stage 1 taken over by another worker from its records, the items the dead one held run again; every stage's join finished once`;
      rec.faults = `3 stages of ${input.n} items of ${input.ms} ms on 2 workers; the worker coordinating stage 1 killed (SIGKILL) once 20 of its items were done, a replacement started; time = from the kill to the pipeline's end`;
    } finally {
      await stopSupervising();
    }
  }, 240_000);

  it('(b) after stage 1 ended, before stage 2 was queued: its message is taken again, stage 2 queued once, the pipeline ends as eager', async () => {
    const rec = recording('pipeline: coordinating worker kill -9 between two stages', COMMAND);
    const joinLog = join(dir, 'joins-b.log');
    const input = { n: 300, ms: 5, joinMs: 0, joinLog };
    rec.items = 3 * input.n;
    const want = await eager(input.n);
    // The only worker at first: it coordinates stage 1 and dies (SIGKILL) as it ends it, before the pipeline's next step.
    for (const w of workers.alive) process.kill(w.child.pid!, 'SIGKILL');
    await waitFor('the pool to be empty', () => workers.alive.length === 0, 10_000);
    const victim = await startWorkerProc(
      ['--queue', workers.queue, '--store', store, '--tasks', STAGES, '-c', '2', '--name', 'victim'],
      { FJ_BROKER_URL: BROKER_URL, FJ_TEST_KILL_BEFORE_GO_ON: '1' },
    );
    workers.workers.push(victim);
    const handle = await submitPipeline(p, input, where);
    const died = await victim.exited;
    const t = Date.now();
    const stage1 = await (await attach(`${handle.id}.1`, where)).status();
    expect(stage1.state).toBe('succeeded'); // ended, its result record written…
    expect(stage1.coordinator).toBe('victim');
    await expect(attach(`${handle.id}.2`, where).then(async (h) => h.status())).rejects.toThrow(/no job/); // …and stage 2 not queued
    expect(died).toBe(null); // killed by a signal
    const stopSupervising = workers.supervise(2);
    try {
      const out = (await handle.result({ timeoutMs: 120_000 })) as Summed;
      rec.recoverMs = Date.now() - t;
      expect(out).toEqual(want);
      expect(joins(joinLog)).toEqual({ 'crash-count': 1, 'crash-square': 1, 'crash-sum': 1 });
      const after = await (await attach(`${handle.id}.1`, where)).status();
      expect(after.finished).toBe(stage1.finished); // stage 1 was not run again: its record is the victim's
      expect(workers.logs()).toMatch(new RegExp(`job ${handle.id}\\.1: pipeline ${handle.id} went on`));
      rec.lost = input.n - out.distinct;
      rec.duplicated = out.count - out.distinct;
      rec.recovered = `stage 1's message taken again by a new worker, which found the stage ended and queued stage 2; every stage's join finished once`;
      rec.faults = `3 stages of ${input.n} items; the only worker, having ended stage 1, killed (SIGKILL) before queueing stage 2 (a test hook); 2 replacements started; time = from its death to the pipeline's end`;
    } finally {
      await stopSupervising();
    }
  }, 240_000);
});
