/**
 * The reliability scenarios trust the chaos fixture's join to find lost and
 * doubled items (test/fixtures/chaos.ts `summary`): it must see every index
 * up to the job's size, not only up to the highest one that arrived.
 */
import { describe, expect, it } from 'vitest';
import { summary, value, type Params } from '../fixtures/chaos.js';

const params = (n: number): Params => ({ n, ms: 0, throwAt: [], killAt: [], joinLog: '', runLog: '' });
const r = (i: number) => ({ i, v: value(i) });

describe('chaos summary', () => {
  it('lists the last items as missing when they never arrived, though another was doubled', () => {
    // 5 results for a job of 5, but item 4 is lost and item 1 came twice
    const out = summary([r(0), r(1), r(1), r(2), r(3)], params(5));
    expect(out.missing).toEqual([4]);
    expect(out.duplicated).toEqual([1]);
    expect(out.items).toBe(5);
    expect(out.sum).toBe(value(0) + 2 * value(1) + value(2) + value(3));
  });

  it('lists every index of a job with no results', () => {
    expect(summary([], params(3)).missing).toEqual([0, 1, 2]);
  });
});
