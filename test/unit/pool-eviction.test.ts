/**
 * A thread keeps a bounded number of (task, params) pairs loaded; a new job's
 * pair evicts the oldest. A batch already queued on the thread must still run
 * with its own task, even when its job's pair is evicted before its turn.
 */
import { describe, expect, it } from 'vitest';
import { decode, encode } from '../../src/core/codec.js';
import { ThreadPool, type PoolJob } from '../../src/runtime/thread-pool.js';

const SLEEPY = new URL('../fixtures/sleepy.ts', import.meta.url).href;

describe('thread pool: eviction of a job with a batch queued', () => {
  it('the queued batch runs with its task although 16 newer jobs were loaded meanwhile', async () => {
    const pool = await ThreadPool.start({ size: 1, services: undefined, logLevel: 'silent', idPrefix: 'evict' });
    try {
      const job = (key: string): PoolJob => ({
        key,
        moduleUrl: SLEEPY,
        className: 'Sleepy',
        paramsBytes: encode({ ms: 200, started: '' }, { hook: 'params' }),
      });
      const a = job('A');
      pool.preload(a);
      const first = pool.run(a, 0, encode([1], { hook: 'setup' }));
      const second = pool.run(a, 1, encode([2], { hook: 'setup' })); // queued behind the first, on the only thread
      for (let i = 0; i < 16; i++) pool.preload(job(`J${i}`)); // evicts A's pair from the thread
      const [r1, r2] = await Promise.all([first, second]);
      expect([r1.failures, r2.failures]).toEqual([undefined, undefined]);
      expect([decode(r1.bytes), decode(r2.bytes)]).toEqual([[2], [4]]);
    } finally {
      await pool.terminate();
    }
  });
});
