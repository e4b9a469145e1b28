/**
 * A delayed pipeline (`submitPipeline(…, { delayMs })`, `fj submit PIPELINE
 * --in`) on real `fj worker` processes (issue 27): it is `scheduled` (the
 * pipeline and its first stage), nothing runs before it is due, then its
 * pool's scheduler releases the first stage, the pipeline shows it running
 * and ends with eager's output. Cancelled while held, it ends cancelled at
 * once, its first stage too, and no stage ever runs.
 *
 *   CI=true npx vitest run --project reliability test/reliability/delayed-pipeline.test.ts
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancel, listJobs, pipeline, runPipeline, submitPipeline, type JobView } from '../../src/index.js';
import { codeQueue } from '../../src/broker/amqp.js';
import { stageJobId } from '../../src/store/pipeline-records.js';
import { loadAllTasks } from '../../src/task/registry.js';
import { BROKER_URL, brokerAvailable, deleteQueue } from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';
import { Count, Square, Sum } from '../fixtures/pipeline-crash-stages.js';
import { clean, ROOT, scratch, WorkerPool } from './harness.js';

const available = await brokerAvailable();
const STAGES = join(ROOT, 'test', 'fixtures', 'pipeline-crash-stages.ts');
const p = pipeline(Count).pipe(Square).pipe(Sum);

/** Stage joins that finished (one line per join). */
function joinCount(file: string): number {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0;
}

describe.runIf(available)('a delayed pipeline', () => {
  const { dir, store } = scratch('delayed-pipeline');
  const workers = new WorkerPool(store, [STAGES, '-c', '2']);
  const where = { store, queue: workers.queue, broker: BROKER_URL };
  const view = async (id: string): Promise<JobView | undefined> =>
    (await listJobs({ store, limit: 100 })).jobs.find((j) => j.id === id);
  beforeAll(() => workers.start(2), 60_000);
  afterAll(async () => {
    await workers.stop();
    for (const t of await loadAllTasks(STAGES))
      await deleteQueue(codeQueue(workers.queue, t.name, t.codeHash)).catch(() => {});
    for (const q of ['scheduler', 'jobs']) await deleteQueue(`${workers.queue}.${q}`).catch(() => {});
    clean(dir);
  });

  it('is scheduled, runs nothing before it is due, then runs its stages and ends as eager', async () => {
    const joinLog = join(dir, 'joins-delayed.log');
    const input = { n: 20, ms: 5, joinLog };
    const want = (await runPipeline(p, { ...input, joinLog: join(dir, 'eager.log') }, { executor: 'eager' })).output;
    const t0 = Date.now();
    const handle = await submitPipeline(p, input, { ...where, delayMs: 3000 });
    const held = await view(handle.id);
    expect(held?.state).toBe('scheduled');
    expect(held!.due! - t0).toBeGreaterThanOrEqual(3000);
    expect((await view(stageJobId(handle.id, 1)))?.state).toBe('scheduled');
    // Released when due: the pipeline shows its first stage running (its status, not `scheduled`).
    await waitFor('the pipeline running', async () => (await view(handle.id))?.state === 'running', 15_000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(3000);
    expect(await handle.result({ timeoutMs: 60_000 })).toEqual(want);
    const started = (await view(stageJobId(handle.id, 1)))?.started ?? 0;
    expect(started - held!.due!).toBeGreaterThanOrEqual(0); // not before it was due
    expect(started - held!.due!).toBeLessThan(3000); // and soon after
    expect(joinCount(joinLog)).toBe(3);
    expect((await view(handle.id))?.state).toBe('succeeded');
  }, 90_000);

  it('cancelled while held: ends cancelled at once, its first stage too, and no stage ever runs', async () => {
    const joinLog = join(dir, 'joins-cancelled.log');
    const handle = await submitPipeline(p, { n: 5, joinLog }, { ...where, delayMs: 3000 });
    const report = await cancel(handle.id, where);
    expect(report.pipeline?.stages).toEqual([stageJobId(handle.id, 1)]);
    expect((await view(handle.id))?.state).toBe('cancelled');
    expect((await view(stageJobId(handle.id, 1)))?.state).toBe('cancelled');
    await expect(handle.result({ timeoutMs: 5000 })).rejects.toThrow(/cancelled/);
    await new Promise((r) => setTimeout(r, 5000)); // past its due time
    expect(joinCount(joinLog)).toBe(0);
    expect((await view(stageJobId(handle.id, 1)))?.started).toBeUndefined();
    expect(await view(stageJobId(handle.id, 2))).toBeUndefined(); // nothing went on
    expect(workers.logs()).not.toContain(`job ${stageJobId(handle.id, 1)} (`); // no worker coordinated it
  }, 60_000);

  it('a delayed pipeline and its options: a time in the past is a usage error, nothing stored', async () => {
    const id = `delayed-bad-${Date.now()}`;
    await expect(
      submitPipeline(p, { n: 1, joinLog: join(dir, 'x') }, { ...where, jobId: id, at: '2020-01-01T00:00:00Z' }),
    ).rejects.toThrow(/at \(--at\) 2020-01-01T00:00:00.000Z is in the past/);
    expect(await view(id)).toBeUndefined();
  });
});
