/**
 * What a coordinator holds for one job stays bounded (issue 24, "a poison
 * job crash-loops the pool"), with real worker threads and a real `fj
 * worker` process:
 *
 * - a task that merges its results (`combine`, a `FoldTask`): the results of
 *   items that all settled are merged on the coordinator as the job goes, so
 *   a job of a million items holds a few pages of them, not a million, and
 *   `join` gets a handful of partials;
 * - a task that does not: its coordinator holds every result for `join`, so
 *   a setup that yields past `maxResults` items fails the job at once with
 *   a LimitError naming the limit, instead of growing the coordinator until
 *   it dies (and the next one, and the next).
 *
 *   CI=true npx vitest run --project main test/integration/bounded-coordinator.test.ts
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LimitError, type RunOptions } from '../../src/index.js';
import { startJob } from '../../src/job/lifecycle.js';
import { HELD_PAGES, PAGE_SIZE, type Ledger } from '../../src/dispatch/ledger.js';
import {
  BROKER_URL,
  brokerAvailable,
  deleteQueues,
  startWorkerProc,
  stopWorkerProc,
  type WorkerProc,
} from '../helpers/broker.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const ENDLESS = join(FIXTURES, 'endless.ts');
const COUNTED_FOLD = join(FIXTURES, 'counted-fold.ts');
const COUNTED_COMBINE = join(FIXTURES, 'counted-combine.ts');

/**
 * Runs `task` on `input`, sampling how many items' results its ledger holds
 * at each progress report; resolves to the output (or the error) and the
 * most held at once.
 */
async function sampled(task: string, input: unknown, options: RunOptions) {
  let ledger: Ledger | undefined;
  let most = 0;
  let reports = 0;
  const outcome = await startJob(
    task,
    { value: input, origin: { onLedger: (l) => (ledger = l) } },
    {
      ...options,
      onProgress: () => {
        if (!ledger) return; // (setup's report comes before the ledger exists)
        reports++;
        most = Math.max(most, ledger.held);
      },
    },
  ).then(
    (r) => ({ output: r.output as Record<string, number>, error: undefined }),
    (e: Error) => ({ output: undefined, error: e }),
  );
  return { ...outcome, most, reports, ledger };
}

describe('a coordinator holds a bounded share of a job', () => {
  // The pages a ledger keeps item by item, plus the ones whose items are still running.
  const bound = (HELD_PAGES + 8) * PAGE_SIZE;

  it('a FoldTask of 1.2 million items: the coordinator merges settled accumulators as it goes', async () => {
    const count = 1_200_000;
    const { output, error, most, reports } = await sampled(
      COUNTED_FOLD,
      { count },
      { executor: 'local', concurrency: 2 },
    );
    expect(error).toBeUndefined();
    expect(output).toMatchObject({ n: count, sum: (count * (count - 1)) / 2 });
    expect(reports).toBeGreaterThan(10);
    // Before: every item's slot held to the end (1.2 M), and one accumulator per batch reached join.
    expect(most).toBeLessThanOrEqual(bound);
    expect(output!.partials).toBeLessThanOrEqual(HELD_PAGES + 8);
  }, 120_000);

  it('a ForkJoinTask with combine, 600,000 items: the same', async () => {
    const count = 600_000;
    const { output, error, most } = await sampled(COUNTED_COMBINE, { count }, { executor: 'local', concurrency: 2 });
    expect(error).toBeUndefined();
    expect(output).toMatchObject({ n: count, sum: (count * (count - 1)) / 2 });
    expect(most).toBeLessThanOrEqual(bound);
    expect(output!.partials).toBeLessThanOrEqual(HELD_PAGES + 8);
  }, 120_000);

  it('a task without combine whose setup yields without end fails at maxResults, naming the limit', async () => {
    const t = Date.now();
    const { error, ledger } = await sampled(ENDLESS, {}, { executor: 'local', concurrency: 2, maxResults: 100_000 });
    expect(error).toBeInstanceOf(LimitError);
    expect(error!.message).toMatch(/more than 100000 items/);
    expect(error!.message).toMatch(/maxResults/);
    expect(error!.message).toMatch(/--max-results/);
    expect(Date.now() - t).toBeLessThan(30_000);
    // It stopped pulling at the limit: the coordinator never held more.
    expect(ledger!.held).toBeLessThanOrEqual(100_000);
  }, 60_000);

  it('a job of exactly maxResults items runs', async () => {
    const { output, error } = await sampled(
      ENDLESS,
      { count: 5000 },
      { executor: 'local', concurrency: 2, maxResults: 5000 },
    );
    expect(error).toBeUndefined();
    expect(output).toBe(5000);
  }, 60_000);
});

const available = await brokerAvailable();

describe.runIf(available)('a coordinator holds a bounded share of a job (amqp, an fj worker process)', () => {
  const queue = `fj.test.bounded.${randomUUID()}`;
  const storeDir = mkdtempSync(join(tmpdir(), 'fj-bounded-'));
  const store = pathToFileURL(storeDir).href;
  const opts = { executor: 'amqp' as const, queue, store, broker: BROKER_URL };
  let worker: WorkerProc;

  beforeAll(async () => {
    worker = await startWorkerProc(['--queue', queue, '--store', store, '-c', '2', '--tasks', ENDLESS, COUNTED_FOLD]);
  });
  afterAll(async () => {
    await stopWorkerProc(worker);
    await deleteQueues(queue);
    rmSync(storeDir, { recursive: true, force: true });
  });

  it('an attached job whose setup yields without end fails at maxResults', async () => {
    const { error } = await sampled(ENDLESS, {}, { ...opts, maxResults: 20_000 });
    expect(error).toBeInstanceOf(LimitError);
    expect(error!.message).toMatch(/more than 20000 items/);
    expect(worker.child.exitCode).toBeNull();
  }, 60_000);

  it('a FoldTask of 300,000 items holds a bounded share', async () => {
    const count = 300_000;
    const { output, error, most } = await sampled(COUNTED_FOLD, { count }, opts);
    expect(error).toBeUndefined();
    expect(output).toMatchObject({ n: count, sum: (count * (count - 1)) / 2 });
    expect(most).toBeLessThanOrEqual((HELD_PAGES + 8) * PAGE_SIZE);
  }, 120_000);
});
