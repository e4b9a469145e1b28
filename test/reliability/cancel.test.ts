/**
 * Cancellation across workers: `fj cancel JOB` from another process, and
 * Ctrl-C (SIGINT) on `fj run`. The run exits 130; the workers abort the job's
 * items in hand (ctx.signal) and drop its queued ones, so nothing of it stays
 * on the work queue; its results queue and store data are deleted.
 *
 *   npx vitest run --project reliability test/reliability/cancel.test.ts
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROKER_URL, brokerAvailable } from '../helpers/broker.js';
import { CHAOS, clean, fj, record, scratch, WorkerPool } from './harness.js';

const available = await brokerAvailable();

async function queueState(queue: string): Promise<number | undefined> {
  const conn = await amqp.connect(BROKER_URL);
  try {
    const ch = await conn.createChannel();
    ch.on('error', () => {});
    return (await ch.checkQueue(queue)).messageCount;
  } catch {
    return undefined; // no such queue
  } finally {
    await conn.close().catch(() => {});
  }
}

describe.runIf(available)('cancellation', () => {
  const { dir, store } = scratch('cancel');
  const pool = new WorkerPool(store);
  beforeAll(() => pool.start(2));
  afterAll(async () => {
    await pool.stop();
    clean(dir);
  });

  async function startLongJob(jobId: string) {
    const file = join(dir, `${jobId}.json`);
    writeFileSync(file, JSON.stringify({ n: 400, ms: 300 }));
    const p = fj(['run', CHAOS, file, '--executor', 'amqp', '--queue', pool.queue, '--store', store, '--job-id', jobId]);
    // Wait until items are running and more are queued.
    const end = Date.now() + 30_000;
    while (!/job \S+ \(fj status/.test(p.stderr()) || ((await queueState(pool.queue)) ?? 0) === 0) {
      if (Date.now() > end) throw new Error(`job did not start:\n${p.stderr()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 700));
    return p;
  }

  async function expectCleanedUp(jobId: string, started: number, how: string): Promise<void> {
    const end = Date.now() + 10_000;
    while (((await queueState(pool.queue)) ?? 0) > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    const drainedMs = Date.now() - started;
    expect(await queueState(pool.queue)).toBe(0); // nothing of the job left on the work queue
    expect(await queueState(`fj.results.${jobId}`)).toBe(undefined); // results queue deleted
    expect(existsSync(join(fileURLToPath(store), jobId))).toBe(false); // store cleaned
    await new Promise((r) => setTimeout(r, 300));
    expect(pool.logs()).toMatch(new RegExp(`job ${jobId} cancelled`));
    record({ scenario: `cancel (${how})`, items: 400, lost: 0, duplicated: 0, recovered: '-', recoverMs: drainedMs, faults: `${how} while items ran; time = until the work queue held nothing of the job`, command: 'npx vitest run --project reliability test/reliability/cancel.test.ts' });
  }

  it('fj cancel JOB: the run exits 130, the job stops on every worker and leaves nothing behind', async () => {
    const jobId = `cancel-${Date.now()}`;
    const run = await startLongJob(jobId);
    const started = Date.now();
    const c = fj(['cancel', jobId, '--store', store]);
    expect(await c.exited, c.stderr()).toBe(0);
    expect(c.stderr()).toMatch(`job ${jobId} cancelled`);
    expect(await run.exited).toBe(130);
    expect(run.stderr()).toMatch(/cancelled by 'fj cancel'/);
    expect(run.stdout()).toBe('');
    await expectCleanedUp(jobId, started, 'fj cancel');
  });

  it('Ctrl-C on fj run: exit 130, same clean-up', async () => {
    const jobId = `sigint-${Date.now()}`;
    const run = await startLongJob(jobId);
    const started = Date.now();
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(130);
    expect(run.stderr()).toMatch(/interrupted \(Ctrl-C\)/);
    await expectCleanedUp(jobId, started, 'Ctrl-C');
  });
});
