/**
 * `fj cancel JOB` while the job's setup is still running: the run's records
 * list the job from its start, so the cancel finds it, and the job stops
 * before any item runs (exit 130) instead of running to completion. A cancel
 * of a job id no run has recorded yet is kept in the store, and a run with
 * that id stops before it starts.
 *
 *   npx vitest run --project reliability test/reliability/cancel-before-start.test.ts
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { brokerAvailable } from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';
import { fj, ROOT, scenario } from './harness.js';

const available = await brokerAvailable();
const SLOW = join(ROOT, 'test', 'fixtures', 'slow-setup.ts');

describe.runIf(available)('cancel before the job attaches', () => {
  const { dir, store, pool } = scenario('cancel-before-start');

  it('fj cancel during a slow setup: the job stops before running any item', async () => {
    const file = join(dir, 'input.json');
    writeFileSync(file, JSON.stringify({ n: 50, setupMs: 4000 }));
    const jobId = `early-${Date.now()}`;
    const run = fj(['run', SLOW, file, '-e', 'amqp', '--queue', pool.queue, '--job-id', jobId, '--store', store]);
    await waitFor('fj run to name the job', () => run.stderr().includes(`job ${jobId}`), 20_000);
    const cancel = fj(['cancel', jobId, '--store', store]);
    expect(await cancel.exited, cancel.stderr()).toBe(0);
    // The run's records list the job from its start (fj jobs shows it in setup), so the cancel finds it.
    expect(cancel.stderr()).toMatch(new RegExp(`^fj: job ${jobId} cancelled`));
    expect(await run.exited, run.stderr()).toBe(130);
    expect(run.stderr()).toContain(`job ${jobId} cancelled by 'fj cancel'`);
    expect(run.stdout()).toBe('');
  });

  it('fj cancel of a job id no run has recorded yet: kept in the store; a run with that id stops before it starts', async () => {
    const file = join(dir, 'input-pending.json');
    writeFileSync(file, JSON.stringify({ n: 5, setupMs: 0 }));
    const jobId = `pending-${Date.now()}`;
    const cancel = fj(['cancel', jobId, '--store', store]);
    expect(await cancel.exited, cancel.stderr()).toBe(0);
    expect(cancel.stderr()).toContain(`no job ${jobId} has attached yet; its cancel is recorded in the store`);
    const run = fj(['run', SLOW, file, '-e', 'amqp', '--queue', pool.queue, '--job-id', jobId, '--store', store]);
    expect(await run.exited, run.stderr()).toBe(130);
    expect(run.stderr()).toContain(`job ${jobId} cancelled by 'fj cancel' before it started`);
    expect(run.stdout()).toBe('');
  });
});
