/**
 * The flood: tenant team-a queues 16 detached jobs on a pool whose one
 * worker coordinates 2 at a time, then team-b queues one. Tenants' jobs
 * wait in queues of their own (broker/tenant-queues.ts) and a worker with
 * room takes the next job from the tenant with the fewest running
 * (worker/tenant-admission.ts): team-b's job starts at the next free slot,
 * while most of team-a's are still queued. Through the pool's one FIFO jobs
 * queue (before 2026-12-07) it started 7.4 s after it was submitted, behind
 * 14 of team-a's, and ended after all of them. Jobs that name no tenant
 * are one more tenant in that order: their flood of the pool's own jobs
 * queue does not hold back a tenant's job either.
 *
 *   npx vitest run --project reliability test/reliability/tenant-flood.test.ts
 */
import { describe, expect, it } from 'vitest';
import { submit, type JobHandle } from '../../src/index.js';
import type { JobOutcome } from '../../src/store/job-records.js';
import {
  brokerAvailable,
  BROKER_URL,
  deleteQueue,
  deleteQueues,
  startWorkerProc,
  stopWorkerProc,
} from '../helpers/broker.js';
import { tenantJobsQueue } from '../../src/broker/tenant-queues.js';
import { CHAOS, clean, scratch } from './harness.js';

const available = await brokerAvailable();

/**
 * Queues 16 jobs of `flooder` (a tenant's, or, with undefined, jobs that name
 * none) on a pool whose one worker coordinates 2 at a time, then team-b's one;
 * resolves to when team-b's job started after it was submitted, how many of
 * the 16 started in between, and how many ended after it.
 */
async function flood(name: string, flooder: string | undefined) {
  const { dir, store } = scratch(name);
  const queue = `fj.test.flood.${Date.now().toString(36)}`;
  const worker = await startWorkerProc([
    '--queue',
    queue,
    '--store',
    store,
    '--tasks',
    CHAOS,
    '-c',
    '4',
    '--max-jobs',
    '2',
  ]);
  try {
    const options = { broker: BROKER_URL, queue, store };
    const a: JobHandle[] = [];
    for (let i = 0; i < 16; i++) a.push(await submit(CHAOS, { n: 8, ms: 250 }, { ...options, tenant: flooder }));
    await new Promise((r) => setTimeout(r, 1000));
    const bSubmitted = Date.now();
    const b = await submit(CHAOS, { n: 8, ms: 250 }, { ...options, tenant: 'team-b' });
    const ends: JobOutcome[] = await Promise.all([...a, b].map((h) => h.wait({ timeoutMs: 150_000 })));
    const aEnds = ends.slice(0, 16);
    const bEnd = ends[16];
    expect(ends.map((o) => o.state)).toEqual(Array(17).fill('succeeded'));
    const bStarted = bEnd.started!;
    const startedBetween = aEnds.filter((o) => o.started! > bSubmitted && o.started! < bStarted).length;
    const endedAfter = aEnds.filter((o) => o.finished > bEnd.finished).length;
    console.log(
      `flood by ${flooder ?? 'jobs without a tenant'}: team-b's job started ${bStarted - bSubmitted} ms after it was submitted, ${startedBetween} of the 16 started in between, ${endedAfter} of 16 ended after it`,
    );
    return { startedBetween, endedAfter };
  } finally {
    await stopWorkerProc(worker);
    await deleteQueues(queue);
    for (const t of ['team-a', 'team-b']) await deleteQueue(tenantJobsQueue(queue, t));
    clean(dir);
  }
}

describe.runIf(available)('a tenant that floods the pool with jobs', () => {
  it('does not hold back another tenant’s one job: it starts at the next free slot', { timeout: 180_000 }, async () => {
    const { startedBetween, endedAfter } = await flood('tenant-flood', 'team-a');
    expect(startedBetween).toBeLessThanOrEqual(3);
    expect(endedAfter).toBeGreaterThanOrEqual(10);
  });

  it(
    'jobs that name no tenant count as one more tenant: their flood does not hold back a tenant’s job',
    { timeout: 180_000 },
    async () => {
      const { startedBetween, endedAfter } = await flood('untenanted-flood', undefined);
      expect(startedBetween).toBeLessThanOrEqual(3);
      expect(endedAfter).toBeGreaterThanOrEqual(10);
    },
  );
});
