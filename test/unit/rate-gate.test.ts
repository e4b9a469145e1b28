/** The dispatcher's rate limit (src/dispatch/rate-gate.ts): a token bucket of one second's items. */
import { describe, expect, it } from 'vitest';
import { burstOf, RateGate } from '../../src/dispatch/rate-gate.js';

describe('RateGate', () => {
  it('lets a burst through at once, then holds the rate: 60 items at 100/s take about 0.5 s after the first 10', async () => {
    const gate = new RateGate(() => 100, 10);
    const signal = new AbortController().signal;
    const t = performance.now();
    const at: number[] = [];
    for (let i = 0; i < 60; i++) {
      await gate.take(1, signal);
      at.push(performance.now() - t);
    }
    expect(at[9]).toBeLessThan(50); // the burst
    expect(at[59]).toBeGreaterThan(450); // 50 more at 100/s
    expect(at[59]).toBeLessThan(1500);
  });

  it('a batch larger than the bucket waits for a full bucket, and the debt is waited out by the next', async () => {
    const gate = new RateGate(() => 20, 5);
    const signal = new AbortController().signal;
    const t = performance.now();
    await gate.take(5, signal); // the full bucket
    await gate.take(10, signal); // waits for 5 tokens (250 ms), goes 5 into debt
    const second = performance.now() - t;
    await gate.take(1, signal); // waits out the debt and one more token (300 ms)
    const third = performance.now() - t;
    expect(second).toBeGreaterThan(200);
    expect(third - second).toBeGreaterThan(250);
  });

  it('follows a rate that changes, and stops waiting when the job is cancelled', async () => {
    let rate = 1;
    const gate = new RateGate(() => rate, 1);
    const ac = new AbortController();
    await gate.take(1, ac.signal);
    setTimeout(() => (rate = 1000), 100);
    const t = performance.now();
    await gate.take(1, ac.signal); // at 1/s it would wait 1 s; the new rate is read within 250 ms
    expect(performance.now() - t).toBeLessThan(600);
    rate = 0.01; // the bucket is empty: the next item waits 100 s
    const waiting = gate.take(1, ac.signal);
    setTimeout(() => ac.abort(new Error('cancelled')), 50);
    await expect(waiting).rejects.toThrow('cancelled');
  });

  it('sizes the bucket at one second of items, at least one', () => {
    expect(burstOf(40)).toBe(40);
    expect(burstOf(2.5)).toBe(2);
    expect(burstOf(0.2)).toBe(1);
  });
});
