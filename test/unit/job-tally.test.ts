/** A worker's tally of the jobs it coordinated: what its heartbeat carries to /metrics. */
import { describe, expect, it } from 'vitest';
import { DURATION_BUCKETS, emptyTally, isTally, MAX_TALLY_TASKS, tallyEnd } from '../../src/broker/job-tally.js';

describe('job tally', () => {
  it('counts each end in its state and duration bucket, with its items', () => {
    const t = emptyTally();
    tallyEnd(
      t,
      {
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
      },
      'sum',
    );
    tallyEnd(t, { state: 'succeeded', coordinator: 'w', started: 0, finished: 5 * 3600_000 }, 'sum'); // past the last bound: +Inf
    tallyEnd(t, { state: 'cancelled', coordinator: 'w', finished: 10 }, 'align'); // never started
    expect(t.items).toEqual({ succeeded: 9, failed: 1, retried: 2 });
    expect(t.jobs.succeeded.count).toBe(2);
    expect(t.jobs.succeeded.buckets[DURATION_BUCKETS.indexOf(5)]).toBe(1); // 2 s: in le=5
    expect(t.jobs.succeeded.buckets.at(-1)).toBe(1);
    expect(t.jobs.succeeded.sumSeconds).toBe(2 + 5 * 3600);
    expect(t.jobs.cancelled.buckets[0]).toBe(1); // 0 s
    expect(isTally(structuredClone(t))).toBe(true);
    // The same by task: the items and both succeeded jobs are sum's, the cancelled one align's.
    expect(t.tasks!.sum.items).toEqual({ succeeded: 9, failed: 1, retried: 2 });
    expect(t.tasks!.sum.jobs.succeeded.count).toBe(2);
    expect(t.tasks!.sum.jobs.cancelled.count).toBe(0);
    expect(t.tasks!.align.jobs.cancelled.count).toBe(1);
    expect(t.tasks!.align.items.failed).toBe(0);
  });

  it('keeps at most MAX_TALLY_TASKS tasks apart (their totals count every job)', () => {
    const t = emptyTally();
    for (let i = 0; i <= MAX_TALLY_TASKS; i++)
      tallyEnd(t, { state: 'succeeded', coordinator: 'w', finished: 1 }, `t${i}`);
    expect(Object.keys(t.tasks!)).toHaveLength(MAX_TALLY_TASKS);
    expect(t.jobs.succeeded.count).toBe(MAX_TALLY_TASKS + 1);
    expect(isTally(t)).toBe(true);
  });

  it('reads a tally without tasks (a worker of fj before the task label)', () => {
    const { tasks: _, ...old } = emptyTally();
    expect(isTally(old)).toBe(true);
  });

  it('refuses what a heartbeat may hold that is not a tally', () => {
    const t = emptyTally();
    expect(isTally(null)).toBe(false);
    expect(isTally({ ...t, items: { succeeded: -1, failed: 0, retried: 0 } })).toBe(false);
    expect(isTally({ ...t, jobs: { ...t.jobs, failed: { count: 0, buckets: [1], sumSeconds: 0 } } })).toBe(false);
    expect(isTally({ ...t, tasks: { sum: { ...t, items: { succeeded: 'x', failed: 0, retried: 0 } } } })).toBe(false);
    expect(isTally({ ...t, tasks: { '': emptyTally() } })).toBe(false);
    expect(isTally({ ...t, tasks: [] })).toBe(false);
    const many = Object.fromEntries(Array.from({ length: MAX_TALLY_TASKS + 1 }, (_, i) => [`t${i}`, emptyTally()]));
    expect(isTally({ ...t, tasks: many })).toBe(false);
  });
});
