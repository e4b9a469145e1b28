/**
 * Batch sizing: batches grow toward the transport's target time, an
 * observation weighs by its items, and with a known item count no batch
 * takes more than a share of one slot's items.
 */
import { describe, expect, it } from 'vitest';
import { BatchSizer } from '../../src/dispatch/batch-sizer.js';

describe('BatchSizer', () => {
  it('starts at one item and grows at most 4x per answer toward the target', () => {
    const s = new BatchSizer(100, 10_000);
    expect(s.size).toBe(1);
    s.observe(0.01, 1); // 10 µs per item: the target would be 10,000 items
    expect(s.size).toBe(4);
    s.observe(0.04, 4);
    expect(s.size).toBe(16);
  });

  it('weighs an answer by its items: a slow single item (a cold start) hardly moves a size learned from large batches', () => {
    const s = new BatchSizer(100, 100_000);
    for (let k = 0; k < 12; k++) s.observe(10, 1000); // 10 µs per item: 10,000 items per 100 ms
    expect(s.size).toBe(10_000);
    s.observe(5, 1); // one item took 5 ms
    // ~12 µs per item (28 ms over ~2,300 decayed items): ~8,200 items; an average per answer
    // (30% toward 5 ms per item) would have fallen to 66
    expect(s.size).toBeGreaterThan(8_000);
  });

  it("with a known total and slots, caps a batch at a quarter of one slot's share (at least min)", () => {
    const s = new BatchSizer(1000, 100_000, 1, 2);
    for (let k = 0; k < 12; k++) s.observe(1, 1000);
    expect(s.size).toBe(100_000);
    expect(s.next(40_000)).toBe(5_000); // 40,000 / (2 slots x 4)
    expect(s.next(undefined)).toBe(100_000); // a generator's count is not known
    expect(new BatchSizer(1000, 100, 8, 2).next(10)).toBe(8); // never below the item concurrency
    expect(new BatchSizer(1000, 100).next(10)).toBe(1); // no slots given: no cap
  });

  it('a ramp ends when answers are slower than its patience (the target, 250 ms at least)', () => {
    expect(new BatchSizer(4, 1000).patience).toBe(250); // a cold start must not end a ramp of tiny items
    expect(new BatchSizer(1000, 1000).patience).toBe(1000);
    const s = new BatchSizer(20, 1000);
    expect(s.ramping).toBe(true);
    s.slowAnswers();
    expect(s.ramping).toBe(false);
    expect(s.size).toBe(1); // items that slow stay one per batch
    s.observe(0.4, 1); // a later answer still grows it
    expect(s.size).toBe(4);
  });
});
