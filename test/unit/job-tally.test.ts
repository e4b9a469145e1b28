/** A worker's tally of the jobs it coordinated: what its heartbeat carries to /metrics. */
import { describe, expect, it } from 'vitest';
import { DURATION_BUCKETS, emptyTally, isTally, tallyEnd } from '../../src/broker/job-tally.js';

describe('job tally', () => {
  it('counts each end in its state and duration bucket, with its items', () => {
    const t = emptyTally();
    tallyEnd(t, {
      state: 'succeeded',
      coordinator: 'w',
      started: 1000,
      finished: 3000,
      stats: {
        items: 9,
        failed: 1,
        retried: 2,
        wallMs: 2000,
        messages: 1,
        bytesPublished: 0,
        bytesStored: 0,
        failures: [],
      },
    });
    tallyEnd(t, { state: 'succeeded', coordinator: 'w', started: 0, finished: 5 * 3600_000 }); // past the last bound: +Inf
    tallyEnd(t, { state: 'cancelled', coordinator: 'w', finished: 10 }); // never started
    expect(t.items).toEqual({ succeeded: 9, failed: 1, retried: 2 });
    expect(t.jobs.succeeded.count).toBe(2);
    expect(t.jobs.succeeded.buckets[DURATION_BUCKETS.indexOf(5)]).toBe(1); // 2 s: in le=5
    expect(t.jobs.succeeded.buckets.at(-1)).toBe(1);
    expect(t.jobs.succeeded.sumSeconds).toBe(2 + 5 * 3600);
    expect(t.jobs.cancelled.buckets[0]).toBe(1); // 0 s
    expect(isTally(structuredClone(t))).toBe(true);
  });

  it('refuses what a heartbeat may hold that is not a tally', () => {
    const t = emptyTally();
    expect(isTally(null)).toBe(false);
    expect(isTally({ ...t, items: { succeeded: -1, failed: 0, retried: 0 } })).toBe(false);
    expect(isTally({ ...t, jobs: { ...t.jobs, failed: { count: 0, buckets: [1], sumSeconds: 0 } } })).toBe(false);
  });
});
