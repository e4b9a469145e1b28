/**
 * The amqp in-flight window (transports/window.ts), against a model of a
 * pool: its workers hold up to `capacity` messages (the sum of their
 * prefetch), and what the jobs have in flight beyond that waits ready on the
 * broker. Every job sends as much as its window allows (long items: always
 * full).
 */
import { describe, expect, it } from 'vitest';
import { Window, WINDOW_DEFAULTS } from '../../src/executors/amqp/window.js';

/** A pool of `consumers` workers holding `capacity` messages, and the jobs on it. */
class Pool {
  readonly jobs: Window[] = [];
  readonly readings: number[] = [];

  constructor(
    public capacity: number,
    public consumers: number,
  ) {}

  get ready(): number {
    return Math.max(0, this.jobs.reduce((n, w) => n + w.limit, 0) - this.capacity);
  }

  /** One poll by every job; `known` hands the jobs the pool's capacity (worker heartbeats). */
  poll(known = false): void {
    const ready = this.ready;
    this.readings.push(ready);
    for (const w of this.jobs)
      w.observe({ ready, consumers: this.consumers, capacity: known ? this.capacity : undefined }, w.limit);
  }

  polls(n: number): void {
    for (let i = 0; i < n; i++) this.poll();
  }
}

describe('Window', () => {
  it('grows to fill a large pool, then keeps a few messages ready per worker', () => {
    const pool = new Pool(512, 32); // 32 workers x 8 threads, prefetch 16 each
    pool.jobs.push(new Window());
    pool.polls(10);
    expect(pool.jobs[0].limit).toBeGreaterThan(512);
    pool.readings.length = 0;
    pool.polls(200);
    const target = pool.jobs[0].target(32);
    // Every worker's prefetch stays full (something is always ready), and the backlog stays small.
    expect(Math.min(...pool.readings)).toBeGreaterThan(0);
    expect(Math.max(...pool.readings)).toBeLessThanOrEqual(5 * target);
  });

  it('keeps few messages for a small pool (short items need no more)', () => {
    const pool = new Pool(4, 1); // one worker at --concurrency 2
    pool.jobs.push(new Window());
    pool.polls(30);
    expect(pool.jobs[0].limit).toBeLessThanOrEqual(4 + 5 * pool.jobs[0].target(1));
    expect(pool.ready).toBeGreaterThan(0);
  });

  it('follows workers joining and leaving', () => {
    const pool = new Pool(64, 4);
    pool.jobs.push(new Window());
    pool.polls(30);
    pool.capacity = 2048;
    pool.consumers = 128;
    pool.polls(10);
    expect(pool.jobs[0].limit).toBeGreaterThan(2048);
    pool.capacity = 64;
    pool.consumers = 4;
    pool.polls(30);
    expect(pool.jobs[0].limit).toBeLessThanOrEqual(64 + 5 * pool.jobs[0].target(4));
    expect(pool.ready).toBeGreaterThan(0);
  });

  it('shares a pool between jobs: a job started later grows toward an even share', () => {
    const pool = new Pool(512, 32);
    const first = new Window();
    pool.jobs.push(first);
    pool.polls(50);
    const second = new Window();
    pool.jobs.push(second);
    pool.polls(300);
    expect(second.limit).toBeGreaterThan(0.7 * first.limit);
    expect(first.limit + second.limit).toBeGreaterThan(512);
  });

  it('jumps to a known capacity at once (the seam for worker heartbeats)', () => {
    const pool = new Pool(4000, 250);
    pool.jobs.push(new Window());
    pool.poll(true);
    expect(pool.jobs[0].limit).toBeGreaterThanOrEqual(4000 + pool.jobs[0].target(250));
  });

  it('does not grow while the job sends less than its window (its last items)', () => {
    const w = new Window();
    expect(w.observe({ ready: 0, consumers: 8 }, 3)).toBe(false);
    expect(w.limit).toBe(WINDOW_DEFAULTS.initial);
  });

  it('is bounded by bytes in flight as well as by messages, with room for one message always', () => {
    const w = new Window({ ...WINDOW_DEFAULTS, maxBytes: 1000 });
    expect(w.hasRoom(1, 999)).toBe(true);
    expect(w.hasRoom(1, 1000)).toBe(false);
    expect(w.hasRoom(0, 5000)).toBe(true);
    expect(w.hasRoom(WINDOW_DEFAULTS.initial, 0)).toBe(false);
  });

  it('stays within its bounds', () => {
    const w = new Window({ ...WINDOW_DEFAULTS, max: 100 });
    for (let i = 0; i < 20; i++) w.observe({ ready: 0, consumers: 1000 }, w.limit);
    expect(w.limit).toBe(100);
    for (let i = 0; i < 50; i++) w.observe({ ready: 10_000, consumers: 0 }, w.limit);
    expect(w.limit).toBe(WINDOW_DEFAULTS.min);
  });
});
