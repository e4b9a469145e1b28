/**
 * A job id used again after its job failed fast or was cancelled (issue 11,
 * item 11). Workers remember a cancelled run for hours, to drop its queued
 * messages; a cancel names the coordinator runs it ends, so the new run's
 * messages, under the same job id, are not dropped with them.
 *
 *   npx vitest run --project reliability test/reliability/reuse.test.ts
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerAvailable } from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';
import { attempts } from '../helpers/run-log.js';
import { CHAOS, clean, expected, fj, recording, scratch, WorkerPool, exitWithin } from './harness.js';

const available = await brokerAvailable();
const COMMAND = 'npx vitest run --project reliability test/reliability/reuse.test.ts';

describe.runIf(available)('a job id used again', () => {
  const { dir, store } = scratch('reuse');
  const pool = new WorkerPool(store);
  beforeAll(() => pool.start(2));
  afterAll(async () => {
    await pool.stop();
    clean(dir);
  });

  function input(name: string, value: object): string {
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(value));
    return file;
  }
  const amqpArgs = (jobId: string) => [
    '--executor',
    'amqp',
    '--queue',
    pool.queue,
    '--store',
    store,
    '--job-id',
    jobId,
  ];

  async function runAgain(jobId: string, rec: Partial<{ recoverMs: number | string }>): Promise<void> {
    const n = 300;
    const started = Date.now();
    const p = fj(['run', CHAOS, input(`${jobId}-again`, { n, ms: 1 }), ...amqpArgs(jobId)]);
    expect(await exitWithin(p, 30_000), p.stderr()).toBe(0);
    rec.recoverMs = Date.now() - started;
    expect(JSON.parse(p.stdout())).toEqual(await expected({ n, ms: 1 }));
  }

  it('after a fail-fast failure: the same job id runs to completion', async () => {
    const rec = recording('job id reused after fail-fast', COMMAND);
    rec.items = 300;
    rec.faults = 'a job failed fast (item 5 throws); the same --job-id run again at once; time = the second run';
    const jobId = `reuse-ff-${Date.now()}`;
    const first = fj([
      'run',
      CHAOS,
      input(jobId, { n: 500, ms: 5, throwAt: [5] }),
      ...amqpArgs(jobId),
      '--retries',
      '0',
    ]);
    expect(await exitWithin(first, 30_000), first.stderr()).toBe(1);
    await runAgain(jobId, rec);
    rec.lost = rec.duplicated = 0;
    rec.recovered = "the second run completed; only the failed run's messages were dropped";
  });

  it('after fj cancel: the same job id runs to completion', async () => {
    const rec = recording('job id reused after fj cancel', COMMAND);
    rec.items = 300;
    rec.faults =
      'a job of 60 s items cancelled with fj cancel; the same --job-id run again at once; time = the second run';
    const jobId = `reuse-cancel-${Date.now()}`;
    const runLog = join(dir, `${jobId}.runs`);
    const first = fj(['run', CHAOS, input(jobId, { n: 100, ms: 60_000, runLog }), ...amqpArgs(jobId)]);
    await waitFor(
      'both workers to hold an item',
      () => new Set(attempts(runLog).map((a) => a.pid)).size === 2,
      30_000,
      100,
    );
    const c = fj(['cancel', jobId, '--store', store]);
    expect(await c.exited, c.stderr()).toBe(0);
    expect(await exitWithin(first, 30_000), first.stderr()).toBe(130);
    await runAgain(jobId, rec);
    rec.lost = rec.duplicated = 0;
    rec.recovered = "the second run completed; only the cancelled run's messages were dropped";
  });
});
