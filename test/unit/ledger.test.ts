/**
 * The ledger's bookkeeping of merged results (`combine`), and how a worker's
 * answer is cut into groups: the pieces that keep "every item counted once"
 * true when batches are merged, redelivered and split.
 */
import { describe, expect, it } from 'vitest';
import { groupsOf } from '../../src/executors/amqp/results.js';
import { HELD_PAGES, Ledger, PAGE_SIZE, type Merger } from '../../src/dispatch/ledger.js';
import { COVERED_BYTES } from '../../src/core/codec.js';
import { InternalError, TaskError } from '../../src/core/errors.js';

const policy = { onFailure: 'collect' as const, maxFailures: () => Infinity, retryDelayMs: 1 };

describe('Ledger.recordGroup', () => {
  it('records a merged result once for all its items; join sees it at the first item', () => {
    const l = new Ledger(policy, 0);
    expect(l.record(0, 'a')).toBe(true);
    expect(l.recordGroup([1, 2, 3], 'b+c+d')).toBe(true);
    expect(l.record(4, 'e')).toBe(true);
    expect(l.recorded).toBe(5);
    expect(l.results(5)).toEqual(['a', 'b+c+d', 'e']);
  });

  it('is all or nothing: a group overlapping a recorded item changes nothing', () => {
    const l = new Ledger(policy, 0);
    l.record(2, 'c');
    expect(l.recordGroup([1, 2, 3], 'b+c+d')).toBe(false);
    expect(l.has(1)).toBe(false);
    expect(l.has(3)).toBe(false);
    expect(l.recorded).toBe(1);
    // the split answers then fill the rest, each once
    expect(l.record(1, 'b')).toBe(true);
    expect(l.record(3, 'd')).toBe(true);
    expect(l.record(3, 'd again')).toBe(false);
    l.record(0, 'a');
    expect(l.results(4)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('a duplicate of a whole group is ignored; covered items count as recorded', () => {
    const l = new Ledger(policy, 0);
    // across a page boundary (pages hold 4096 items)
    expect(l.recordGroup([4095, 4096], 'x')).toBe(true);
    expect(l.recordGroup([4095, 4096], 'x')).toBe(false);
    expect(l.has(4096)).toBe(true);
    expect(l.record(4096, 'y')).toBe(false);
  });

  it('leaves failed items out of a group and out of the results', () => {
    const l = new Ledger(policy, 0);
    l.fail(1, new Error('boom'), 4);
    expect(l.recordGroup([0, 2, 3], 'merged')).toBe(true);
    expect(l.results(4)).toEqual(['merged']);
    expect(l.failures.map((f) => f.index)).toEqual([1]);
  });
});

describe('groupsOf (an fj worker answer)', () => {
  const r = (n: number) => new Uint8Array([n]);
  it('one group per result; covered items join the result before them; failures stand alone', () => {
    const { groups, failed } = groupsOf([r(1), COVERED_BYTES, null, COVERED_BYTES, 'ref', COVERED_BYTES], [{ i: 2 }]);
    expect(groups).toEqual([
      [0, 1, 3],
      [4, 5],
    ]);
    expect(failed).toEqual([2]);
  });

  it('a broken answer leaves no item unanswered: a null or a covered slot with nothing before it counts as failed', () => {
    expect(groupsOf([COVERED_BYTES, r(1), null], undefined)).toEqual({ groups: [[1]], failed: [0, 2] });
  });

  it('without combine every item is its own group', () => {
    expect(groupsOf([r(1), r(2), r(3)], undefined).groups).toEqual([[0], [1], [2]]);
  });
});

describe('Ledger.dropFrom (answers of an earlier run past the end of setup)', () => {
  it('forgets results from the job size on, so they neither count nor take the place of a missing item', () => {
    const ledger = new Ledger({ onFailure: 'fail-fast', maxFailures: () => Infinity, retryDelayMs: 1 }, 0);
    ledger.record(0, 'a');
    ledger.record(2, 'c');
    ledger.record(5, 'beyond');
    ledger.record(2 ** 31, 'far beyond'); // one page, not 2^19 of them
    expect(ledger.recorded).toBe(4);
    ledger.dropFrom(3);
    expect(ledger.recorded).toBe(2);
    expect(ledger.has(5)).toBe(false);
    expect(() => ledger.results(3)).toThrow(/item 1 has no result/);
    ledger.record(1, 'b');
    expect(ledger.results(3)).toEqual(['a', 'b', 'c']);
  });
});

describe("Ledger.kept and restore (a re-run of a job's failed items)", () => {
  it('keeps results and merged groups, not failures; a restored ledger runs only the rest and joins everything in order', () => {
    const l = new Ledger(policy, 0);
    l.record(0, 'a');
    l.recordGroup([1, 2, 4], 'b+c+e'); // item 3 failed out of the group's batch
    l.fail(3, new Error('boom'), 6);
    l.record(5000, 'far'); // another page
    const kept = structuredClone(l.kept()); // it goes through a store
    expect(kept).toEqual({ indices: [0, 1, 5000], values: ['a', 'b+c+e', 'far'], covered: [2, 4] });

    const again = new Ledger(policy, 0);
    again.restore(kept);
    expect(again.recorded).toBe(5);
    expect([0, 1, 2, 3, 4, 5000].map((i) => again.has(i))).toEqual([true, true, true, false, true, true]);
    expect(again.record(3, 'd')).toBe(true);
    for (let i = 5; i < 5000; i++) again.record(i, i);
    const out = again.results(5001);
    expect(out.slice(0, 4)).toEqual(['a', 'b+c+e', 'd', 5]);
    expect(out.at(-1)).toBe('far');
  });

  it('refuses kept results that are not { indices, values, covered }', () => {
    const l = new Ledger(policy, 0);
    expect(() => l.restore({ indices: [0, 1], values: ['a'], covered: [] })).toThrow(/one value per index/);
    expect(() => l.restore({ indices: [-1], values: ['a'], covered: [] })).toThrow(TypeError);
    expect(() => l.restore(null as never)).toThrow(TypeError);
  });
});

describe('Ledger.fail leaves the errors it is given as they were', () => {
  it('collect: one error shared by several items (a merged batch) is recorded "after N attempts" once per item, and not changed', () => {
    const l = new Ledger(policy, 1);
    const shared = new TaskError({ task: 't', hook: 'combine', index: 0 }, new Error('combine broke'));
    const before = shared.message;
    for (const i of [0, 1, 2]) expect(l.fail(i, shared, 3).retry).toBe(true);
    for (const i of [0, 1, 2]) expect(l.fail(i, shared, 3).retry).toBe(false);
    expect(shared.message).toBe(before);
    expect(l.failures.map((f) => f.error.message)).toEqual([0, 1, 2].map(() => `${before} (after 2 attempts)`));
  });

  it('fail-fast: throws a copy amended with its attempts (same class, code, cause and stack); the given error stays as it was', () => {
    const l = new Ledger({ onFailure: 'fail-fast', maxFailures: () => 0, retryDelayMs: 1 }, 1);
    const cause = new Error('boom');
    const given = new TaskError({ task: 't', hook: 'process', index: 4 }, cause);
    const before = given.message;
    expect(l.fail(4, given, 10).retry).toBe(true);
    let thrown: unknown;
    try {
      l.fail(4, given, 10);
    } catch (err) {
      thrown = err;
    }
    expect(given.message).toBe(before);
    expect(thrown).toBeInstanceOf(TaskError);
    expect(thrown).not.toBe(given);
    expect((thrown as TaskError).message).toBe(`${before} (after 2 attempts)`);
    expect((thrown as TaskError).code).toBe('FJ_TASK');
    expect((thrown as TaskError).cause).toBe(cause);
    expect((thrown as TaskError).stack).toBe(given.stack);
  });

  it('fail-fast on a first attempt throws the given error itself, unchanged', () => {
    const l = new Ledger({ onFailure: 'fail-fast', maxFailures: () => 0, retryDelayMs: 1 }, 0);
    const given = new Error('once');
    expect(() => l.fail(0, given, 1)).toThrow(given);
    expect(given.message).toBe('once');
  });
});

describe('Ledger.results', () => {
  it('throws an InternalError naming the item that has neither a result nor a failure', () => {
    const l = new Ledger(policy, 0);
    l.record(0, 'a');
    l.fail(2, new Error('x'), 3);
    let thrown: unknown;
    try {
      l.results(3);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(InternalError);
    expect((thrown as InternalError).code).toBe('FJ_INTERNAL');
    expect((thrown as InternalError).message).toMatch(/item 1 has no result/);
  });
});

describe('Ledger.compact (a task with combine: results of settled pages merged as the job goes)', () => {
  /** A merger that adds numbers, counting its calls; `later`: resolves on a later turn. */
  const adder = (later = false) => {
    const m = {
      calls: 0,
      errors: [] as unknown[],
      merge(values: unknown[]) {
        m.calls++;
        const sum = (values as number[]).reduce((a, b) => a + b, 0);
        return later ? new Promise((r) => setTimeout(() => r(sum), 1)) : sum;
      },
      failed(err: unknown) {
        m.errors.push(err);
      },
    };
    return m;
  };
  const pages = HELD_PAGES + 4;
  const total = pages * PAGE_SIZE;
  /**
   * Records item i as 1, in groups of 100 (a batch's merged result), some
   * failed (collect), compacting as the dispatcher does; returns the most
   * items held at once.
   */
  function fill(l: Ledger, failed: Set<number>): number {
    let most = 0;
    for (let first = 0; first < total; first += 100) {
      const indices = [];
      for (let i = first; i < Math.min(total, first + 100); i++)
        if (failed.has(i)) l.fail(i, new Error('x'), undefined);
        else indices.push(i);
      l.recordGroup(indices, indices.length);
      l.compact(first + 100);
      most = Math.max(most, l.held);
    }
    return most;
  }

  it('holds at most a few pages; join sees one merged result, every item counted once', () => {
    const l = new Ledger(policy, 0);
    const m = adder();
    l.mergeWith(m);
    const most = fill(l, new Set([5, PAGE_SIZE * 3 + 7]));
    expect(most).toBeLessThanOrEqual((HELD_PAGES + 1) * PAGE_SIZE);
    expect(l.recorded).toBe(total - 2);
    const results = l.results(total) as number[];
    expect(results.reduce((a, b) => a + b, 0)).toBe(total - 2);
    expect(results.length).toBeLessThanOrEqual(HELD_PAGES * (PAGE_SIZE / 100 + 2) + 1);
    expect(m.calls).toBeGreaterThan(0);
    // A released item is settled: a late duplicate is ignored, a late failure too.
    expect(l.has(0)).toBe(true);
    expect(l.record(0, 1)).toBe(false);
    expect(l.recordGroup([1, 2], 2)).toBe(false);
    expect(l.fail(1, new Error('late'), total)).toEqual({ retry: false });
  });

  it('keeps nothing back before its budget: a small job joins its results as they came', () => {
    const l = new Ledger(policy, 0);
    l.mergeWith(adder());
    for (let i = 0; i < HELD_PAGES * PAGE_SIZE; i++) l.record(i, 1);
    l.compact(HELD_PAGES * PAGE_SIZE);
    expect(l.held).toBe(HELD_PAGES * PAGE_SIZE);
    expect(l.results(HELD_PAGES * PAGE_SIZE)).toHaveLength(HELD_PAGES * PAGE_SIZE);
  });

  it("never releases a page past the items pulled (an earlier run's answers there may be dropped)", () => {
    const l = new Ledger(policy, 0);
    l.mergeWith(adder());
    for (let i = 0; i < total; i++) l.record(i, 1);
    l.compact(PAGE_SIZE * 2 + 5);
    expect(l.held).toBe(total - 2 * PAGE_SIZE);
    l.dropFrom(PAGE_SIZE * 3);
    expect(l.recorded).toBe(3 * PAGE_SIZE);
    expect((l.results(3 * PAGE_SIZE) as number[]).reduce((a, b) => a + b, 0)).toBe(3 * PAGE_SIZE);
  });

  it('an async combine: results wait for it (idle), and a merged result is kept in order for a re-run', async () => {
    const l = new Ledger(policy, 0);
    l.mergeWith(adder(true));
    fill(l, new Set([PAGE_SIZE + 1]));
    await l.idle();
    expect((l.results(total) as number[]).reduce((a, b) => a + b, 0)).toBe(total - 1);
    // kept: the merged results at their first items, every other settled item covered, the failed one left out
    const k = l.kept();
    expect([...k.indices].sort((a, b) => a - b)).toEqual(k.indices);
    expect([...k.covered].sort((a, b) => a - b)).toEqual(k.covered);
    expect(k.indices.length + k.covered.length).toBe(total - 1);
    expect(k.covered).not.toContain(PAGE_SIZE + 1);
    const again = new Ledger(policy, 0);
    again.restore(k);
    expect(again.has(PAGE_SIZE + 1)).toBe(false);
    again.record(PAGE_SIZE + 1, 1);
    expect((again.results(total) as number[]).reduce((a, b) => a + b, 0)).toBe(total);
  });

  it('a combine that throws: the merger is told once, merges no more, and every result is still there', () => {
    const l = new Ledger(policy, 0);
    const failed: unknown[] = [];
    const merger: Merger = {
      merge: () => {
        throw new Error('combine broke');
      },
      failed: (err) => failed.push(err),
    };
    l.mergeWith(merger);
    fill(l, new Set());
    expect(failed).toHaveLength(1);
    expect((failed[0] as Error).message).toBe('combine broke');
    expect((l.results(total) as number[]).reduce((a, b) => a + b, 0)).toBe(total);
  });
});
