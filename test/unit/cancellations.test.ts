import { describe, expect, it } from 'vitest';
import { Cancellations } from '../../src/worker/cancellations.js';

describe("fj worker's cancellations", () => {
  it('a cancel naming runs aborts only those runs in hand and drops only their messages', () => {
    const c = new Cancellations();
    const a = c.take('job', 'r1');
    const b = c.take('job', 'r2');
    const other = c.take('other', 'r1');
    expect(c.heard({ type: 'cancel', job: 'job', runs: ['r1'] }, new Error('cancelled'))).toBe(1);
    expect([a.signal.aborted, b.signal.aborted, other.signal.aborted]).toEqual([true, false, false]);
    expect(c.isCancelled('job', 'r1')).toBe(true);
    expect(c.isCancelled('job', 'r2')).toBe(false);
    expect(c.isCancelled('job', undefined)).toBe(false);
  });

  it('a cancel without runs ends every run of the job, those taken later included', () => {
    const c = new Cancellations();
    const a = c.take('job', 'r1');
    const b = c.take('job', undefined);
    expect(c.heard({ type: 'cancel', job: 'job' }, new Error('cancelled'))).toBe(2);
    expect([a.signal.aborted, b.signal.aborted]).toEqual([true, true]);
    expect(c.isCancelled('job', 'r9')).toBe(true);
  });

  it('a released message is not aborted; abortAll aborts what is in hand', () => {
    const c = new Cancellations();
    const done = c.take('job', 'r1');
    c.release('job', done);
    const held = c.take('job', 'r1');
    c.abortAll(new Error('connection lost'));
    expect(done.signal.aborted).toBe(false);
    expect(held.signal.aborted).toBe(true);
    expect((held.signal.reason as Error).message).toBe('connection lost');
  });
});
