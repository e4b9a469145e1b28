/**
 * Rate limits (`rateLimit`, `static rateLimit`, `--rate-limit`): items
 * start no faster than the limit, on every executor, real threads and real
 * `fj worker` processes; the limit of a job submitted to the cluster is kept
 * in its records; 20/s holds across 3 workers over a minute. The figures
 * are the items' own start times.
 *
 *   CI=true npx vitest run --project main test/integration/rate-limit.test.ts
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, submit } from '../../src/index.js';
import {
  BROKER_URL,
  brokerAvailable,
  deleteQueues,
  startWorkerProc,
  stopWorkerProc,
  type WorkerProc,
} from '../helpers/broker.js';
import { runFj } from '../helpers/cli.js';
import RateProbe from '../fixtures/rate-probe.js';

const PROBE = join(import.meta.dirname, '..', 'fixtures', 'rate-probe.ts');
const available = await brokerAvailable();

/** The most starts within any window of `ms` milliseconds. */
function peak(starts: number[], ms: number): number {
  let most = 0;
  for (let i = 0, j = 0; j < starts.length; j++) {
    while (starts[j] - starts[i] >= ms) i++;
    most = Math.max(most, j - i + 1);
  }
  return most;
}

/** Checks that `starts` (sorted) kept to `rate` items a second with a bucket of one second's items. */
function keptTo(starts: number[], rate: number): void {
  const burst = Math.max(1, Math.floor(rate));
  const spanS = (starts.at(-1)! - starts[0]) / 1000;
  // The first `burst` items go at once; the rest at the rate (a little slack for timers).
  expect(spanS).toBeGreaterThan(((starts.length - burst) / rate) * 0.9);
  // In any second: at most a second's worth plus the bucket (10 % slack: a start is stamped when the item runs,
  // after its message's trip to a worker, which a loaded machine stretches unevenly).
  expect(peak(starts, 1000)).toBeLessThanOrEqual((rate + burst) * 1.1);
}

describe('rate limits', () => {
  it.each(['eager', 'local'] as const)(
    '%s: the task’s static rateLimit (40/s) holds; --rate-limit-like rateLimit overrides it (100/s)',
    async (executor) => {
      const own = await run(RateProbe, { n: 120, ms: 0 }, { executor, concurrency: 2 });
      keptTo(own, 40);
      const faster = await run(RateProbe, { n: 300, ms: 0 }, { executor, concurrency: 2, rateLimit: 100 });
      keptTo(faster, 100);
    },
    30_000,
  );

  it('a bad rate is refused where it is given: the option, the flag (exit 2, no stack trace)', async () => {
    await expect(run(RateProbe, { n: 1, ms: 0 }, { executor: 'eager', rateLimit: 0 })).rejects.toThrow(
      'Expected `rateLimit` to be a number of items a second above 0, got `0`',
    );
    class Negative extends RateProbe {
      static override rateLimit = -1;
      static override taskName = 'negative';
    }
    await expect(run(Negative, { n: 1, ms: 0 }, { executor: 'eager' })).rejects.toThrow(
      'task negative: static rateLimit must be a number of items a second above 0, got -1',
    );
    const r = await runFj(['run', PROBE, '-', '--rate-limit', 'fast'], { stdin: '{"n":1}' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--rate-limit must be a number of items a second above 0, got 'fast'");
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  describe.runIf(available)('on workers', () => {
    const queue = `fj.test.rate.${randomUUID()}`;
    const dir = mkdtempSync(join(tmpdir(), 'fj-rate-'));
    const store = `file://${join(dir, 'store')}`;
    const where = { queue, store, broker: BROKER_URL };
    let workers: WorkerProc[] = [];
    beforeAll(async () => {
      workers = await Promise.all(
        [1, 2, 3].map((k) =>
          startWorkerProc(['--queue', queue, '--store', store, '-c', '2', '--name', `rate-${k}`, '--tasks', PROBE], {
            FJ_BROKER_URL: BROKER_URL,
          }),
        ),
      );
    }, 60_000);
    afterAll(async () => {
      await Promise.all(workers.map(stopWorkerProc));
      await deleteQueues(queue).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    });

    it('amqp on 3 workers: 20/s holds across them; a submitted job keeps its limit in its records; two jobs of the task at once share it', async () => {
      keptTo(await run(RateProbe, { n: 100, ms: 20 }, { executor: 'amqp', ...where, rateLimit: 20 }), 20);
      const h = await submit(RateProbe, { n: 60, ms: 0 }, { ...where, rateLimit: 30 });
      keptTo((await h.result({ timeoutMs: 60_000 })) as number[], 30);
      // Two jobs of the task at once share its 20/s (each alone would take ~2 s for its 60 items; together ~4 s).
      const both = await Promise.all(
        [1, 2].map(() => run(RateProbe, { n: 60, ms: 0 }, { executor: 'amqp', ...where, rateLimit: 20 })),
      );
      const starts = both.flat().sort((a, b) => a - b);
      // Each job's first second may use a whole bucket (20) before the first beacons are read.
      expect((starts.at(-1)! - starts[0]) / 1000).toBeGreaterThan(((120 - 2 * 20) / 20) * 0.9);
      expect(
        peak(
          starts.filter((t) => t - starts[0] > 1500),
          1000,
        ),
      ).toBeLessThanOrEqual((20 + 20) * 1.1);
    }, 90_000);

    it('amqp on 3 workers: 20/s holds over a minute, within 10 % in each 10 s of it', async () => {
      // A second's bucket (20) at once, then 60 s at 20/s; counted in the five whole 10 s windows after the first second.
      const starts = await run(RateProbe, { n: 20 + 60 * 20, ms: 5 }, { executor: 'amqp', ...where, rateLimit: 20 });
      keptTo(starts, 20);
      const from = starts[0] + 1000; // after the first second (the bucket)
      const counts = [0, 1, 2, 3, 4].map(
        (k) => starts.filter((t) => t >= from + k * 10_000 && t < from + (k + 1) * 10_000).length,
      );
      for (const c of counts) {
        expect(c).toBeGreaterThanOrEqual(200 * 0.9);
        expect(c).toBeLessThanOrEqual(200 * 1.1);
      }
      const rate = (starts.length - 20) / ((starts.at(-1)! - starts[0]) / 1000);
      console.log(
        `20/s over a minute on 3 workers: ${counts.join(', ')} starts per 10 s; ${rate.toFixed(2)}/s overall`,
      );
      expect(rate).toBeGreaterThan(20 * 0.9);
      expect(rate).toBeLessThanOrEqual(20 * 1.1);
    }, 120_000);
  });
});
