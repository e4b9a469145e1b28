/**
 * The lost-batch rule, written once for the dispatcher and the `fj worker`
 * message runner: a culprit is charged and the rest runs again; suspects are
 * charged nothing and each runs again alone; a batch that had not started
 * runs again whole.
 */
import { describe, expect, it } from 'vitest';
import { afterLoss } from '../../src/runtime/lost-batch.js';

const run = { first: 10, values: ['a', 'b', 'c', 'd', 'e'] };

describe('afterLoss', () => {
  it('runs a batch that had not started again whole, charging nothing', () => {
    expect(afterLoss(run, { culprit: undefined })).toEqual({ again: [run] });
  });

  it('charges the culprit and runs the items before and after it again, whole', () => {
    expect(afterLoss(run, { culprit: 12 })).toEqual({
      again: [
        { first: 10, values: ['a', 'b'] },
        { first: 13, values: ['d', 'e'] },
      ],
      charged: { index: 12, value: 'c' },
    });
    expect(afterLoss(run, { culprit: 10 })).toEqual({
      again: [{ first: 11, values: ['b', 'c', 'd', 'e'] }],
      charged: { index: 10, value: 'a' },
    });
    expect(afterLoss(run, { culprit: 14 })).toEqual({
      again: [{ first: 10, values: ['a', 'b', 'c', 'd'] }],
      charged: { index: 14, value: 'e' },
    });
  });

  it('charges no suspect and runs each alone, so a repeat crash names its item', () => {
    expect(afterLoss(run, { culprit: undefined, suspects: { from: 11, to: 12 } })).toEqual({
      again: [
        { first: 10, values: ['a'] },
        { first: 11, values: ['b'] },
        { first: 12, values: ['c'] },
        { first: 13, values: ['d', 'e'] },
      ],
    });
  });

  it('clips suspects to the run (a run of a batch whose other items were answered)', () => {
    expect(afterLoss(run, { culprit: undefined, suspects: { from: 8, to: 10 } }).again).toEqual([
      { first: 10, values: ['a'] },
      { first: 11, values: ['b', 'c', 'd', 'e'] },
    ]);
    expect(afterLoss(run, { culprit: undefined, suspects: { from: 14, to: 20 } }).again).toEqual([
      { first: 10, values: ['a', 'b', 'c', 'd'] },
      { first: 14, values: ['e'] },
    ]);
  });

  it('leaves a run whole when the culprit or the suspects are outside it', () => {
    expect(afterLoss(run, { culprit: 9 })).toEqual({ again: [run] });
    expect(afterLoss(run, { culprit: 15 })).toEqual({ again: [run] });
    expect(afterLoss(run, { culprit: undefined, suspects: { from: 0, to: 7 } })).toEqual({ again: [run] });
    expect(afterLoss(run, { culprit: undefined, suspects: { from: 15, to: 20 } })).toEqual({ again: [run] });
  });
});
