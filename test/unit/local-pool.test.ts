/**
 * The local executor is long-lived: one pool of threads serves many jobs,
 * one after another and at the same time, without respawning threads.
 */
import { describe, expect, it } from 'vitest';
import type { Executor } from '../../src/executors/executor.js';
import { LocalExecutor } from '../../src/executors/local.js';
import { startJob } from '../../src/job/lifecycle.js';
import Sum from '../fixtures/sum.js';
import ThreadIds from '../fixtures/thread-id.js';

describe('local executor: one pool, many jobs', () => {
  it('runs jobs at once and one after another on the same two threads', async () => {
    const local = new LocalExecutor();
    // startJob disposes what it is given at the end of each job: keep the pool up until the test is done
    const shared: Executor = { prepare: (o) => local.prepare(o), map: (plan) => local.map(plan) };
    const options = { concurrency: 2, logLevel: 'silent' as const };
    try {
      const [a, b, sum] = await Promise.all([
        startJob(ThreadIds, { value: { n: 40, ms: 5 } }, options, shared),
        startJob(ThreadIds, { value: { n: 40, ms: 5 } }, options, shared),
        startJob(Sum, { value: { count: 10_000 } }, options, shared),
      ]);
      const later = await startJob(ThreadIds, { value: { n: 40, ms: 5 } }, options, shared);
      expect(sum.output).toBe(10_000 * 9_999);
      const threads = new Set([...(a.output as number[]), ...(b.output as number[]), ...(later.output as number[])]);
      expect(threads.size).toBe(2); // the same two threads served every job
      expect(threads.has(0)).toBe(false); // none ran on the main thread
    } finally {
      await local.dispose();
    }
  });

  it('starts one thread for a one-item job, and more, up to --concurrency, once batches find every thread busy', async () => {
    const local = new LocalExecutor();
    const shared: Executor = { prepare: (o) => local.prepare(o), map: (plan) => local.map(plan) };
    const options = { concurrency: 4, logLevel: 'silent' as const };
    /** Threads the executor's pool has started so far (ready, or still starting). */
    const started = async () => {
      const pool = (await (local as unknown as { pool: Promise<unknown> }).pool) as {
        threads: unknown[];
        starting: Set<unknown>;
      };
      return pool.threads.length + pool.starting.size;
    };
    try {
      const one = await startJob(ThreadIds, { value: { n: 1, ms: 0 } }, options, shared);
      expect(one.output).toHaveLength(1);
      expect(await started()).toBe(1);
      const many = await startJob(ThreadIds, { value: { n: 400, ms: 5 } }, options, shared);
      expect(await started()).toBe(4);
      expect(new Set(many.output as number[]).size).toBe(4); // every thread took part, the ones started late too
    } finally {
      await local.dispose();
    }
  });
});
