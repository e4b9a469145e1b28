/**
 * Cancellation across workers: `fj cancel JOB` from another process, and
 * Ctrl-C (SIGINT) on `fj run`. The run exits 130; the workers abort the job's
 * items in hand (ctx.signal) and drop its queued ones, so nothing of it stays
 * on the work queue; its results queue and store data are deleted.
 *
 *   npx vitest run --project reliability test/reliability/cancel.test.ts
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROKER_URL, brokerAvailable } from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';
import { aborted, attempts } from '../helpers/run-log.js';
import { CHAOS, clean, codeQueueOf, fj, recording, scratch, WorkerPool, type Record_ } from './harness.js';

const available = await brokerAvailable();

/** A queue's ready messages; undefined when there is no such queue (404). Any other failure is thrown, not read as "gone". */
async function queueState(queue: string): Promise<number | undefined> {
  const conn = await amqp.connect(BROKER_URL);
  try {
    const ch = await conn.createChannel();
    ch.on('error', () => {}); // a 404 closes the channel; the awaited call reports it
    return (await ch.checkQueue(queue)).messageCount;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined; // no such queue
    throw err;
  } finally {
    await conn.close().catch(() => {});
  }
}

const COMMAND = 'npx vitest run --project reliability test/reliability/cancel.test.ts';
/** Items far longer than the test: only an abort through ctx.signal ends one in time. */
const ITEM_MS = 60_000;

describe.runIf(available)('cancellation', () => {
  const { dir, store } = scratch('cancel');
  const pool = new WorkerPool(store);
  beforeAll(() => pool.start(2));
  afterAll(async () => {
    await pool.stop();
    clean(dir);
  });

  it('queueState tells a missing queue from a broken connection', async () => {
    expect(await queueState(`fj.no-such-queue.${Date.now()}`)).toBe(undefined);
    expect(await queueState(pool.queue)).toBeTypeOf('number');
  });

  /** Where the job's work messages wait: the chaos task's code queue on the pool. */
  const work = () => codeQueueOf(pool.queue);

  async function startLongJob(jobId: string) {
    const file = join(dir, `${jobId}.json`);
    const runLog = join(dir, `${jobId}.runs`);
    writeFileSync(file, JSON.stringify({ n: 400, ms: ITEM_MS, runLog }));
    const p = fj([
      'run',
      CHAOS,
      file,
      '--executor',
      'amqp',
      '--queue',
      pool.queue,
      '--store',
      store,
      '--job-id',
      jobId,
    ]);
    // Wait until both workers run an item. The job's other messages wait meanwhile, in the workers' prefetch
    // (a job alone on a pool sizes its window to the pool's capacity: fair shares, so none wait in the queue itself).
    await waitFor(
      `job ${jobId} to run items on both workers`,
      () => {
        if (p.child.exitCode !== null) throw new Error(`fj run exited early:\n${p.stderr()}`);
        const pids = new Set(attempts(runLog).map((a) => a.pid));
        return /job \S+ \(fj status/.test(p.stderr()) && pids.size === 2;
      },
      30_000,
      100,
    );
    return { p, runLog };
  }

  async function expectCleanedUp(jobId: string, runLog: string, started: number, rec: Partial<Record_>): Promise<void> {
    await waitFor(
      'the work queue to hold nothing of the job',
      async () => (await queueState(await work())) === 0,
      10_000,
      100,
    );
    const drainedMs = Date.now() - started;
    rec.recoverMs = drainedMs;
    // The items in hand saw ctx.signal abort: each of the 2 workers had one running.
    const stopped = await waitFor(
      'the items in hand to see ctx.signal abort',
      () => (aborted(runLog).length >= 2 ? aborted(runLog) : undefined),
      10_000,
    );
    const ran = attempts(runLog).length;
    rec.recovered = `${stopped.length} items in hand aborted through ctx.signal, ${400 - ran} never started`;
    rec.lost = '-';
    rec.duplicated = '-';
    expect(new Set(stopped)).toEqual(new Set(attempts(runLog).map((a) => a.i))); // every item that started was aborted, none finished
    expect(drainedMs).toBeLessThan(ITEM_MS);
    expect(await queueState(`fj.results.${jobId}`)).toBe(undefined); // results queue deleted
    // The store keeps only the records that list the job as cancelled (fj jobs, its counts): no payloads.
    const kept = join(fileURLToPath(store), jobId);
    expect(existsSync(kept) ? readdirSync(kept).sort() : []).toEqual(['meta-index', 'meta-result', 'meta-status']);
    const listed = fj(['jobs', '--json', '--store', store]);
    expect(await listed.exited).toBe(0);
    const { jobs } = JSON.parse(listed.stdout()) as { jobs: { id: string; state: string; attached?: boolean }[] };
    const row = jobs.find((j) => j.id === jobId);
    expect(row).toMatchObject({ state: 'cancelled', attached: true });
    await waitFor(
      `the workers to log the cancel of ${jobId}`,
      () => new RegExp(`job ${jobId} cancelled`).test(pool.logs()),
      10_000,
    );
  }

  it('fj cancel JOB: the run exits 130, the job stops on every worker and leaves nothing behind but its records', async () => {
    const rec = recording('cancel (fj cancel)', COMMAND);
    rec.items = 400;
    rec.faults = `fj cancel while items of ${ITEM_MS / 1000} s ran; time = until the work queue held nothing of the job`;
    const jobId = `cancel-${Date.now()}`;
    const { p: run, runLog } = await startLongJob(jobId);
    const started = Date.now();
    const c = fj(['cancel', jobId, '--store', store]);
    expect(await c.exited, c.stderr()).toBe(0);
    expect(c.stderr()).toMatch(`job ${jobId} cancelled`);
    expect(await run.exited).toBe(130);
    expect(run.stderr()).toMatch(/cancelled by 'fj cancel'/);
    expect(run.stdout()).toBe('');
    await expectCleanedUp(jobId, runLog, started, rec);
  });

  it('Ctrl-C on fj run: exit 130, same clean-up', async () => {
    const rec = recording('cancel (Ctrl-C)', COMMAND);
    rec.items = 400;
    rec.faults = `Ctrl-C while items of ${ITEM_MS / 1000} s ran; time = until the work queue held nothing of the job`;
    const jobId = `sigint-${Date.now()}`;
    const { p: run, runLog } = await startLongJob(jobId);
    const started = Date.now();
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(130);
    expect(run.stderr()).toMatch(/interrupted \(Ctrl-C\)/);
    await expectCleanedUp(jobId, runLog, started, rec);
  });
});
