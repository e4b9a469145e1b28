/**
 * Detached jobs for real: `fj submit` in one process, real `fj worker`
 * processes coordinating, `fj result` / `fj jobs` / `fj cancel` / `fj
 * forget` in others, a real RabbitMQ and file store. (Coordinator kills
 * and a broker restart: test/reliability/detached-crash.test.ts.)
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  attach,
  cancel,
  CancelledError,
  FailuresError,
  listJobs,
  listWorkers,
  run,
  submit,
  TaskError,
} from '../../src/index.js';
import {
  BROKER_URL,
  brokerAvailable,
  deleteQueues,
  startWorkerProc,
  stopWorkerProc,
  type WorkerProc,
} from '../helpers/broker.js';
import { runFj } from '../helpers/cli.js';
import { openStore } from '../../src/store/open.js';
import { readOutcome } from '../../src/store/job-records.js';
import { decode } from '../../src/core/codec.js';
import type { KeptResults } from '../../src/dispatch/ledger.js';
import { waitFor } from '../helpers/wait.js';

const available = await brokerAvailable();
const ROOT = join(import.meta.dirname, '..', '..');
const SLEEPY = join(ROOT, 'test', 'fixtures', 'sleepy.ts');
const SLOW_SETUP = join(ROOT, 'test', 'fixtures', 'slow-setup.ts');
const FLAKY = join(ROOT, 'test', 'fixtures', 'flaky.ts');

async function jobsQueueDepth(queue: string): Promise<number> {
  const conn = await amqp.connect(BROKER_URL);
  try {
    const ch = await conn.createChannel();
    return (await ch.assertQueue(`${queue}.jobs`, { durable: true })).messageCount;
  } finally {
    await conn.close();
  }
}

describe.runIf(available)('detached jobs: fj submit, fj result, fj jobs, fj cancel, fj forget', () => {
  const queue = `fj.test.detached.${randomUUID()}`;
  let dir: string;
  let store: string;
  const workers: WorkerProc[] = [];
  const fj = (args: string[], timeoutMs = 60_000) =>
    runFj([...args, '--store', store], { env: { FJ_BROKER_URL: BROKER_URL }, timeoutMs });
  const common = () => ({ store, broker: BROKER_URL, queue });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fj-detached-'));
    store = `file://${join(dir, 'store')}`;
    for (let i = 0; i < 2; i++)
      workers.push(
        await startWorkerProc(['--queue', queue, '--store', store, '-c', '2', '--tasks', SLEEPY, SLOW_SETUP, FLAKY], {
          FJ_BROKER_URL: BROKER_URL,
        }),
      );
  }, 60_000);
  afterAll(async () => {
    await Promise.all(workers.map(stopWorkerProc));
    for (const q of [queue, `${queue}.jobs`]) await deleteQueues(q).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });

  it.each(['wordcount', 'align'])(
    '%s: submit exits at once with the id; the result, fetched by another process later, is eager’s output',
    async (task) => {
      const file = join(ROOT, 'examples', `${task}.json`);
      const t = Date.now();
      const sub = await fj(['submit', task, file, '--queue', queue, '--label', `test ${task}`]);
      expect(sub.code, sub.stderr).toBe(0);
      expect(Date.now() - t).toBeLessThan(5000); // a fresh process included
      const id = sub.stdout.trim();
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      const res = await fj(['result', id, '--wait', '--timeout', '60']);
      expect(res.code, res.stderr).toBe(0);
      const want = await run(task, JSON.parse(readFileSync(file, 'utf8')), { executor: 'eager' });
      expect(JSON.parse(res.stdout)).toEqual(want);
      // Again, the job already ended: at once, without --wait.
      const again = await fj(['result', id]);
      expect(again.code).toBe(0);
      expect(JSON.parse(again.stdout)).toEqual(want);
      const listed = await fj(['jobs', '--json', '--task', task]);
      const job = (
        JSON.parse(listed.stdout) as { jobs: { id: string; state: string; label: string; coordinator: string }[] }
      ).jobs.find((j) => j.id === id);
      expect(job).toMatchObject({ state: 'succeeded', label: `test ${task}` });
      expect(workers.map((w) => w.log()).join('\n')).toContain(`job ${id} (${task}, "test ${task}"): coordinating`);
    },
    90_000,
  );

  it('an invalid input is refused where it is typed (exit 2, JSON path) and nothing is queued', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ documents: ['ok', 7] }));
    const before = (await listJobs({ store, limit: 1000 })).jobs.length;
    const sub = await fj(['submit', 'wordcount', bad, '--queue', `${queue}.nobody`]);
    expect(sub.code).toBe(2);
    expect(sub.stderr).toContain('/documents/1');
    expect(sub.stdout).toBe('');
    expect(sub.stderr).not.toMatch(/\n\s+at /);
    expect((await listJobs({ store, limit: 1000 })).jobs.length).toBe(before);
    expect(await jobsQueueDepth(`${queue}.nobody`)).toBe(0);
    await deleteQueues(`${queue}.nobody.jobs`).catch(() => {});
  });

  it('fj result: unknown job exit 2; a job not ended yet exit 124 without --wait, and --timeout ends a wait with 124', async () => {
    const unknown = await fj(['result', 'no-such-job']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no job 'no-such-job'.*unknown, forgotten, or its results expired/);
    // A pool no worker serves: the job stays queued.
    const idle = `${queue}.idle`;
    const h = await submit('wordcount', { documents: ['a'] }, { ...common(), queue: idle });
    const now = await fj(['result', h.id]);
    expect(now.code).toBe(124);
    expect(now.stderr).toMatch(/has not ended yet \(queued/);
    const t = Date.now();
    const waited = await fj(['result', h.id, '--wait', '--timeout', '1']);
    expect(waited.code).toBe(124);
    expect(Date.now() - t).toBeGreaterThanOrEqual(1000);
    expect(waited.stderr).toMatch(/gave up waiting .* after 1 s/);
    // Cancelled while queued: its result is 130, its records stay for fj result.
    const cancel = await fj(['cancel', h.id]);
    expect(cancel.code, cancel.stderr).toBe(0);
    const res = await fj(['result', h.id]);
    expect(res.code).toBe(130);
    expect(res.stderr).toMatch(/cancelled by 'fj cancel'/);
    await deleteQueues(`${idle}.jobs`).catch(() => {});
  });

  it('cancel() through the API: a queued job and a running attached one end "cancelled through the API"', async () => {
    const idle = `${queue}.idle-api`;
    const h = await submit('wordcount', { documents: ['a'] }, { ...common(), queue: idle });
    expect(await cancel(h.id, common())).toMatchObject({ detached: true });
    const res = await fj(['result', h.id]);
    expect(res.code).toBe(130);
    expect(res.stderr).toBe(`fj: job ${h.id} cancelled through the API\n`);
    await deleteQueues(`${idle}.jobs`).catch(() => {});
    // Running, its coordinator attached: the cancel message tells it who cancelled.
    const jobId = randomUUID();
    const values = Array.from({ length: 100 }, (_, i) => i);
    const running = run(SLEEPY, { values, ms: 200 }, { ...common(), executor: 'amqp', jobId }).catch((e: unknown) => e);
    await waitFor(
      'the attached job running',
      async () => (await listJobs({ store, limit: 100 })).jobs.find((j) => j.id === jobId && j.done > 0),
      30_000,
    );
    expect(await cancel(jobId, common())).toMatchObject({ coordinator: true });
    const err = await running;
    expect(err).toBeInstanceOf(CancelledError);
    expect((err as Error).message).toBe(`job ${jobId} cancelled through the API`);
  }, 90_000);

  it('a failed job rejects with the error an attached run throws: a TaskError with its hook and item, a FailuresError with its items', async () => {
    const d = await mkdtemp(join(tmpdir(), 'fj-detached-errors-'));
    try {
      const input = { n: 12, dir: d, poison: [4] };
      const attached = await run(FLAKY, input, { executor: 'eager', retries: 0 }).catch((e: unknown) => e);
      const h = await submit(FLAKY, input, { ...common(), retries: 0 });
      const err = await (await attach(h.id, common())).result({ timeoutMs: 60_000 }).catch((e: unknown) => e);
      expect(attached).toBeInstanceOf(TaskError);
      expect(err).toBeInstanceOf(TaskError);
      expect(err).toMatchObject({ hook: 'process', index: 4, code: 'FJ_TASK', exitCode: 1 });
      expect((err as TaskError).message).toBe((attached as TaskError).message);
      expect(((err as TaskError).cause as Error).message).toBe('item 4 is poison');
      const collect = { retries: 0, onFailure: 'collect' as const, maxFailures: 1 };
      const many = { n: 12, dir: d, poison: [2, 7, 9] };
      const wantMany = await run(FLAKY, many, { executor: 'eager', ...collect }).catch((e: unknown) => e);
      const h2 = await submit(FLAKY, many, { ...common(), ...collect });
      const err2 = await h2.result({ timeoutMs: 60_000 }).catch((e: unknown) => e);
      expect(wantMany).toBeInstanceOf(FailuresError);
      expect(err2).toBeInstanceOf(FailuresError);
      // Past the limit of 1: at least 2 of the poison items, each named with its error (eager, one item at a time, stops at the 2nd).
      const failed = (err2 as FailuresError).failures;
      expect(failed.length).toBeGreaterThan(1);
      for (const f of failed) expect(f.error.message).toContain(`item ${f.index} is poison`);
      // The message as the run that ended it wrote it (how many failed depends on how many ran at once).
      expect((err2 as FailuresError).message.split('\n')[0]).toBe(
        `${failed.length} of 12 items failed, more than the 1 allowed (maxFailures):`,
      );
      expect(err2).toMatchObject({ code: 'FJ_FAILURES', exitCode: 1 });
      // fj result prints the same message and exits with the same code.
      const res = await fj(['result', h.id]);
      expect(res.code).toBe(1);
      expect(res.stderr).toContain('item 4 is poison');
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });

  it('fj rerun: after a fail-fast failure, a new job runs only the items without a result and prints the whole output; a module task needs --task; a cancelled job has nothing to re-run', async () => {
    const attemptsDir = await mkdtemp(join(tmpdir(), 'fj-detached-flaky-'));
    const first = await submit(FLAKY, { n: 40, dir: attemptsDir, failFirst: { '25': 1 } }, { ...common(), retries: 0 }); // fail-fast (the default)
    const failed = await fj(['result', first.id, '--wait', '--timeout', '60']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/item 25 failed on attempt 1/);
    const bare = await fj(['rerun', first.id]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain(
      `fj: job ${first.id} runs task "flaky" from a module of its own; name that module to re-run its failed items: fj rerun ${first.id} --task MODULE`,
    );
    const { attempts } = await import('../fixtures/flaky.js');
    const before = Array.from({ length: 40 }, (_, i) => attempts(attemptsDir, i));
    const again = await fj(['rerun', first.id, '--task', FLAKY, '--wait', '--no-progress']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ results: Array.from({ length: 40 }, (_, i) => i), failed: [] });
    // Only the items the first job left without a result ran: item 25, and those fail-fast dropped or had in flight.
    const s = await openStore(store);
    const kept = await readOutcome(s, first.id).then(async (o) => decode<KeptResults>(await s.get(o!.kept!.ref)));
    await s.close();
    expect(kept.indices).not.toContain(25);
    expect(kept.indices.length).toBeGreaterThan(0);
    const ranAgain = Array.from({ length: 40 }, (_, i) => attempts(attemptsDir, i) - before[i]);
    expect(ranAgain).toEqual(Array.from({ length: 40 }, (_, i) => (kept.indices.includes(i) ? 0 : 1)));
    const cancelled = await submit('wordcount', { documents: ['a'] }, { ...common(), queue: `${queue}.idle-rerun` });
    expect((await fj(['cancel', cancelled.id])).code).toBe(0);
    const none = await fj(['rerun', cancelled.id]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain(
      `job ${cancelled.id} cancelled with no failed items to run again (a cancelled job keeps no results)`,
    );
    await deleteQueues(`${queue}.idle-rerun.jobs`).catch(() => {});
    await rm(attemptsDir, { recursive: true, force: true });
  }, 120_000);

  it('a job whose result record exists is never run again: its message delivered again runs nothing', async () => {
    const attemptsDir = await mkdtemp(join(tmpdir(), 'fj-detached-ended-'));
    try {
      const h = await submit(FLAKY, { n: 6, dir: attemptsDir }, common());
      const res = await fj(['result', h.id, '--wait', '--timeout', '60']);
      expect(res.code, res.stderr).toBe(0);
      const { attempts } = await import('../fixtures/flaky.js');
      const before = Array.from({ length: 6 }, (_, i) => attempts(attemptsDir, i));
      expect(before).toEqual([1, 1, 1, 1, 1, 1]);
      const ends = () =>
        workers
          .map((w) => w.log())
          .join('\n')
          .split(`job ${h.id}: succeeded in`).length - 1;
      await waitFor('the worker to log the end', () => ends() === 1, 10_000, 50);
      // The job's message again, as a redelivery (or a copy) would bring it.
      const conn = await amqp.connect(BROKER_URL);
      try {
        const ch = await conn.createConfirmChannel();
        ch.sendToQueue(`${queue}.jobs`, Buffer.from(JSON.stringify({ job: h.id })), { persistent: true });
        await ch.waitForConfirms();
      } finally {
        await conn.close();
      }
      await waitFor('a worker to take the message again', () => ends() === 2, 30_000, 100);
      expect(Array.from({ length: 6 }, (_, i) => attempts(attemptsDir, i))).toEqual(before);
    } finally {
      await rm(attemptsDir, { recursive: true, force: true });
    }
  }, 90_000);

  it('cancel during setup and while running: fj result gives 130, and the workers drop the items', async () => {
    // During setup: slow-setup waits before yielding anything.
    const setupJob = await submit(SLOW_SETUP, { n: 3, setupMs: 3000 }, common());
    await waitFor(
      'the job to be coordinated',
      async () => workers.some((w) => w.log().includes(`job ${setupJob.id} (`)),
      20_000,
      50,
    );
    expect((await fj(['cancel', setupJob.id])).code).toBe(0);
    const r1 = await fj(['result', setupJob.id, '--wait', '--timeout', '30']);
    expect(r1.code, r1.stderr).toBe(130);

    // While running: 40 items of 2 s on 4 threads.
    const running = await submit(SLEEPY, { values: Array.from({ length: 40 }, (_, i) => i), ms: 2000 }, common());
    await waitFor(
      'items to be running',
      async () => ((await running.status()).state === 'running' ? true : undefined),
      20_000,
      100,
    );
    const t = Date.now();
    expect((await fj(['cancel', running.id])).code).toBe(0);
    const r2 = await fj(['result', running.id, '--wait', '--timeout', '30']);
    expect(r2.code, r2.stderr).toBe(130);
    expect(Date.now() - t).toBeLessThan(15_000); // not the 20 s the items would take
    const view = await (await attach(running.id, { store })).status();
    expect(view.state).toBe('cancelled');
  }, 90_000);

  it('a wait on a job removed meanwhile ends with an error (exit 2); results expire after --result-ttl; fj forget removes an ended job, refuses one still queued', async () => {
    const idle = `${queue}.idle2`;
    // Removed while waited on (as the store's expiry or an operator would): the wait ends, naming why.
    const h = await submit('wordcount', { documents: ['a'] }, { ...common(), queue: idle });
    // The child says when it has found the job and begun to wait: only then is the job removed.
    let childSays = '';
    const waiting = runFj(['result', h.id, '--wait', '--store', store], {
      env: { FJ_BROKER_URL: BROKER_URL },
      timeoutMs: 60_000,
      onStderr: (text) => (childSays = text),
    });
    await waitFor('the waiter to begin waiting', () => /has not ended yet; waiting/.test(childSays), 30_000, 50);
    const { openStore } = await import('../../src/store/open.js');
    const s = await openStore(store);
    await s.deleteJob(h.id);
    await s.close();
    const ended = await waiting;
    expect(ended.code).toBe(2);
    expect(ended.stderr).toMatch(/was removed while waiting for it/);

    // A short retention: the cancelled job's records go by themselves.
    const short = await submit('wordcount', { documents: ['b'] }, { ...common(), queue: idle, resultTtlMs: 1500 });
    expect((await fj(['cancel', short.id])).code).toBe(0);
    expect((await fj(['result', short.id])).code).toBe(130);
    await waitFor(
      'the cancelled job to expire',
      async () => ((await fj(['result', short.id])).code === 2 ? true : undefined),
      15_000,
      250,
    );

    const kept = await submit('wordcount', { documents: ['c'] }, { ...common(), queue: idle });
    const refused = await fj(['forget', kept.id]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/is queued: cancel it first/);
    expect((await fj(['cancel', kept.id])).code).toBe(0);
    expect((await fj(['forget', kept.id])).code).toBe(0);
    const after = await fj(['result', kept.id]);
    expect(after.code).toBe(2);
    await deleteQueues(`${idle}.jobs`).catch(() => {});
  }, 60_000);

  it('fj resume coordinates a detached job nobody took, in this terminal; its end is kept for fj result', async () => {
    const pure = `${queue}.pure`;
    const w = await startWorkerProc(['--queue', pure, '--store', store, '-c', '1', '--no-coordinate'], {
      FJ_BROKER_URL: BROKER_URL,
    });
    try {
      const input = { documents: ['x y', 'y z z'] };
      const h = await submit('wordcount', input, { ...common(), queue: pure });
      const resumed = await fj(['resume', h.id]);
      expect(resumed.code, resumed.stderr).toBe(0);
      const want = await run('wordcount', input, { executor: 'eager' });
      expect(JSON.parse(resumed.stdout)).toEqual(want);
      const res = await fj(['result', h.id]);
      expect(res.code).toBe(0);
      expect(JSON.parse(res.stdout)).toEqual(want);
    } finally {
      await stopWorkerProc(w);
      for (const q of [pure, `${pure}.jobs`]) await deleteQueues(q).catch(() => {});
    }
  }, 60_000);

  it('a job no worker of its pool can coordinate fails, naming the task, the pool and each worker', async () => {
    const bare = `${queue}.bare`;
    const w = await startWorkerProc(['--queue', bare, '--store', store, '-c', '1'], { FJ_BROKER_URL: BROKER_URL });
    try {
      const h = await submit(SLEEPY, { values: [1] }, { ...common(), queue: bare });
      const res = await fj(['result', h.id, '--wait', '--timeout', '30']);
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(
        new RegExp(`no worker on pool ${bare.replace(/\./g, '\\.')} can coordinate task sleepy .*lacks the task`),
      );
      expect(res.stderr).not.toMatch(/\n\s+at /);
    } finally {
      await stopWorkerProc(w);
      for (const q of [bare, `${bare}.jobs`]) await deleteQueues(q).catch(() => {});
    }
  }, 60_000);

  it('fj workers flags a worker whose task code differs from its pool’s, and marks one gone quiet', async () => {
    const { openStore } = await import('../../src/store/open.js');
    const own = `file://${join(dir, 'beats')}`;
    const s = await openStore(own);
    const beat = (name: string, hash: string, ago: number) =>
      JSON.stringify({
        name,
        host: 'h',
        pid: 1,
        pool: 'p',
        concurrency: 2,
        busy: 0,
        itemsDone: 0,
        coordinating: [],
        maxJobs: 4,
        tasks: { t: hash },
        version: '0',
        started: 0,
        sent: Date.now() - ago,
      });
    await s.putBeacon('workers', 'h.p.1', beat('h.p.1', 'aaa', 0), 60_000);
    await s.putBeacon('workers', 'h.p.2', beat('h.p.2', 'aaa', 0), 60_000);
    await s.putBeacon('workers', 'h.p.3', beat('h.p.3', 'bbb', 0), 60_000);
    await s.putBeacon('workers', 'h.p.4', beat('h.p.4', 'aaa', 30_000), 60_000);
    await s.close();
    const ws = await listWorkers({ store: own });
    expect(ws.map((w) => [w.name, w.staleTasks, w.quiet])).toEqual([
      ['h.p.1', [], false],
      ['h.p.2', [], false],
      ['h.p.3', ['t'], false],
      ['h.p.4', [], true],
    ]);
    expect(ws.filter((w) => !w.quiet).every((w) => w.mixedTasks.join() === 't')).toBe(true);
    const text = await runFj(['workers', '--store', own]);
    expect(text.stdout).toMatch(/h\.p\.3 .*t@bbb .*pool runs 2\+ versions of t; stale code: t/);
    expect(text.stdout).toMatch(/h\.p\.4 .*\(quiet\)/);

    // A rolling deploy half done: one worker on each version, no majority. No worker is stale; the pool is flagged.
    const two = `file://${join(dir, 'beats-two')}`;
    const t2 = await openStore(two);
    await t2.putBeacon('workers', 'h.q.1', beat('h.q.1', 'aaa11111', 0), 60_000);
    await t2.putBeacon('workers', 'h.q.2', beat('h.q.2', 'bbb22222', 0), 60_000);
    await t2.close();
    const halves = await listWorkers({ store: two });
    expect(halves.map((w) => [w.name, w.staleTasks, w.mixedTasks])).toEqual([
      ['h.q.1', [], ['t']],
      ['h.q.2', [], ['t']],
    ]);
    const shown = await runFj(['workers', '--store', two]);
    expect(shown.stdout).toMatch(/h\.q\.1 .*t@aaa11111 +pool runs 2\+ versions of t/);
    expect(shown.stdout).toMatch(/h\.q\.2 .*t@bbb22222 +pool runs 2\+ versions of t/);
  });

  it('fj workers lists both workers with their pool, threads and task code; fj jobs filters by state', async () => {
    const ws = await listWorkers({ store });
    const ours = ws.filter((w) => w.pool === queue);
    expect(ours.map((w) => w.pid).sort()).toEqual(workers.map((w) => w.child.pid).sort());
    for (const w of ours) {
      expect(w).toMatchObject({ concurrency: 2, maxJobs: 4, quiet: false, staleTasks: [] });
      expect(Object.keys(w.tasks)).toEqual(expect.arrayContaining(['wordcount', 'align', 'sleepy']));
    }
    const text = await fj(['workers']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(queue);
    const cancelled = await fj(['jobs', '--state', 'cancelled', '--json', '--limit', '100']);
    const states = new Set((JSON.parse(cancelled.stdout) as { jobs: { state: string }[] }).jobs.map((j) => j.state));
    expect([...states]).toEqual(['cancelled']);
    const badState = await fj(['jobs', '--state', 'done']);
    expect(badState.code).toBe(2);
  });
});

describe.runIf(available)(
  'detached jobs on a Redis store: submit --wait, --no-coordinate, and every key expires',
  async () => {
    const { redisAvailable, requireServices } = await import('../helpers/services.js');
    const base = process.env.FJ_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
    const up = await redisAvailable(base);
    if (!up && requireServices()) throw new Error(`Redis does not answer at ${base}, and CI requires it`);
    // A database of this run's own (its listing and key checks see only this run's keys): see helpers/redis-db.ts.
    const { claimRedisDb } = await import('../helpers/redis-db.js');
    const db = up ? await claimRedisDb(base) : undefined;
    const REDIS = db?.url ?? base;
    const queue = `fj.test.detached-redis.${randomUUID()}`;
    const workers: WorkerProc[] = [];
    afterAll(async () => {
      await Promise.all(workers.map(stopWorkerProc));
      for (const q of [queue, `${queue}.jobs`]) await deleteQueues(q).catch(() => {});
      await db?.release();
    });

    it.runIf(up)(
      'a pure item worker leaves the job queued; a coordinating one takes it; submit --wait prints the output; no key lives forever',
      async () => {
        const { Redis } = await import('ioredis');
        const admin = new Redis(REDIS);
        const env = { FJ_BROKER_URL: BROKER_URL };
        workers.push(await startWorkerProc(['--queue', queue, '--store', REDIS, '-c', '1', '--no-coordinate'], env));
        expect(workers[0].log()).toContain('not coordinating jobs');
        const file = join(ROOT, 'examples', 'wordcount.json');
        const want = await run('wordcount', JSON.parse(readFileSync(file, 'utf8')), { executor: 'eager' });
        const sub = await runFj(['submit', 'wordcount', file, '--queue', queue, '--store', REDIS], { env });
        expect(sub.code, sub.stderr).toBe(0);
        const id = sub.stdout.trim();
        await new Promise((r) => setTimeout(r, 1500));
        expect((await runFj(['result', id, '--store', REDIS], { env })).code).toBe(124); // nobody coordinates it
        workers.push(await startWorkerProc(['--queue', queue, '--store', REDIS, '-c', '1', '--max-jobs', '2'], env));
        const res = await runFj(['result', id, '--wait', '--timeout', '30', '--store', REDIS], { env });
        expect(res.code, res.stderr).toBe(0);
        expect(JSON.parse(res.stdout)).toEqual(want);
        const waited = await runFj(
          ['submit', 'wordcount', file, '--queue', queue, '--store', REDIS, '--wait', '--result-ttl', '1h'],
          { env, timeoutMs: 60_000 },
        );
        expect(waited.code, waited.stderr).toBe(0);
        expect(JSON.parse(waited.stdout)).toEqual(want);
        expect(waited.stderr).toMatch(/submitted; waiting/);
        // Every key this left in Redis (job data and records, the index, heartbeats) has an expiry.
        const keys = (await admin.keys('*')).filter((k) => k !== 'fj-test:claim');
        expect(keys.length).toBeGreaterThan(3);
        const ttls = await Promise.all(keys.map(async (k) => [k, await admin.pttl(k)] as const));
        expect(ttls.filter(([, t]) => t < 0)).toEqual([]);
        // The 1 h retention was set at the end, not the 7-day default.
        const entry = (await listJobs({ store: REDIS, limit: 1 })).jobs[0];
        expect(entry.expires - (entry.finished ?? 0)).toBe(3600_000);
        await admin.quit();
      },
      90_000,
    );
  },
);
