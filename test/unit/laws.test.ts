/**
 * `checkLaws` (eager): a task whose combine or fold breaks a law fails, naming
 * the two groupings that disagreed; lawful tasks pass and give their output.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ForkJoinTask, LawsError, OptionError, run, type ProcessContext, type RunOptions } from '../../src/index.js';
import WordCount from '../../tasks/wordcount.js';
import Combined from '../fixtures/combined.js';
import Folded from '../fixtures/folded.js';
import Sum from '../fixtures/sum.js';
import { Concat, Mean, MeanOfMeans, OffByOneSeed, SmallestPartial, UnsortedCounts } from '../fixtures/lawless.js';

const checked = { executor: 'eager', checkLaws: { seed: 1 } } satisfies RunOptions;
const letters = { items: 'abcdefghijklmnopqrstuvwxyz'.split('') };
const scratch = mkdtempSync(join(tmpdir(), 'fj-laws-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Adds its items; `process` says which item it runs through `ctx.log.info`. */
class LoggedSum extends ForkJoinTask<{ items: number[] }, number, number, number> {
  static override schema = {
    type: 'object',
    properties: { items: { type: 'array', items: { type: 'number' } } },
    required: ['items'],
  };
  *setup({ items }: { items: number[] }): Generator<number> {
    yield* items;
  }
  process(item: number, _params: unknown, ctx: ProcessContext): number {
    ctx.log.info(`ran item ${ctx.index}`);
    return item;
  }
  override combine(partials: number[]): number {
    return partials.reduce((a, b) => a + b, 0);
  }
  join(partials: number[]): number {
    return partials.reduce((a, b) => a + b, 0);
  }
}

async function lawsError(promise: Promise<unknown>): Promise<LawsError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LawsError);
  return err as LawsError;
}

describe('checkLaws', () => {
  it('a fold that is not commutative (concatenation) fails, naming the two groupings and their outputs', async () => {
    const err = await lawsError(run(Concat, letters, checked));
    expect(err.groupings[0]).toBe('eager (runs of 64 items)');
    expect(err.groupings[1]).toMatch(/^(random runs, some items alone|items scattered over groups): \[/);
    expect(err.outputs[0]).toBe('abcdefghijklmnopqrstuvwxyz');
    expect(err.outputs[1]).not.toBe('abcdefghijklmnopqrstuvwxyz');
    expect(err.message).toContain('(seed 1)');
    expect(err.message).toContain(err.groupings[1]);
  });

  it('a seed that is not the identity fails at the first grouping with more than one group', async () => {
    const err = await lawsError(run(OffByOneSeed, letters, checked));
    expect(err.outputs).toEqual([27, 27 + 25]); // one seed vs 26
    expect(err.groupings[1]).toMatch(/^each item alone: \[0\] \[1\] \[2\]/);
  });

  it('a combine that is not associative (a mean of means) fails', async () => {
    const err = await lawsError(run(MeanOfMeans, { items: [1, 2, 3, 4, 5, 6, 7, 8, 9, 100] }, checked));
    // The first grouping that differs (seed 1): means 1, 4 and 31, whose mean is 12; its output sorts lower.
    expect(err.groupings).toEqual(['eager (runs of 64 items)', 'random runs: [0] [1-5] [6-9]']);
    expect(err.outputs).toEqual([14.5, 12]);
  });

  it('an output that sorts lower than the reference is caught as one that sorts higher', async () => {
    const err = await lawsError(run(SmallestPartial, letters, checked));
    // one group: 26; each item alone: the smallest partial is 1
    expect(err.outputs).toEqual([26, 1]);
    expect(err.groupings[1]).toMatch(/^each item alone: \[0\] \[1\] \[2\]/);
  });

  it('the same values in another key order fail too, and the message says so', async () => {
    const err = await lawsError(
      run(
        UnsortedCounts,
        { items: 'abcabdaceb'.split('') },
        { executor: 'eager', checkLaws: { seed: 3, batchings: 20 } },
      ),
    );
    expect(err.message).toMatch(/the same entries in another key order/);
  });

  it('the same seed gives the same groupings', async () => {
    const a = await lawsError(run(Concat, letters, { executor: 'eager', checkLaws: { seed: 99 } }));
    const b = await lawsError(run(Concat, letters, { executor: 'eager', checkLaws: { seed: 99 } }));
    expect(b.groupings).toEqual(a.groupings);
  });

  it('lawful tasks pass under every grouping and give their output: wordcount (a FoldTask), a combine, no combine', async () => {
    const docs = { documents: ['a b a', '', 'c  b', 'héllo __proto__ a', 'constructor b'] };
    expect(await run(WordCount, docs, { executor: 'eager', checkLaws: { batchings: 12 } })).toEqual({
      word_count: JSON.parse('{"__proto__": 1, "a": 3, "b": 3, "c": 1, "constructor": 1, "héllo": 1}'),
    });
    expect(
      await run(Mean, { items: [1, 2, 3, 4, 5, 6, 7, 8, 9, 100] }, { executor: 'eager', checkLaws: { batchings: 12 } }),
    ).toBe(14.5);
    expect(await run(Sum, { count: 10 }, { executor: 'eager', checkLaws: true })).toBe(90);
  });

  it('an output that reports its own grouping (how many partials join got) is caught too', async () => {
    const err = await lawsError(run(Folded, { n: 40, dir: scratch }, checked));
    expect(err.outputs).toMatchObject([{ sum: 780, partials: 1 }, { sum: 780 }]);
    const again = await lawsError(run(Combined, { n: 40, dir: scratch }, checked));
    expect(again.outputs).toMatchObject([{ sum: 780, partials: 1 }, { sum: 780 }]);
  });

  it("shows a task's ctx.log info lines under every grouping, as the eager run does (at the default level)", async () => {
    const lines: string[] = [];
    const write = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      expect(
        await run(LoggedSum, { items: [1, 2, 3] }, { executor: 'eager', checkLaws: { seed: 1, batchings: 2 } }),
      ).toBe(6);
    } finally {
      write.mockRestore();
    }
    // The eager run, then two groupings: item 0 ran three times, and said so each time.
    expect(lines.filter((l) => /fj info \[loggedsum\] ran item 0\n$/i.test(l))).toHaveLength(3);
  });

  it('is an eager option: OptionError on another executor, or for a bad value', async () => {
    await expect(run(Concat, letters, { executor: 'local', checkLaws: true })).rejects.toThrow(OptionError);
    await expect(run(Concat, letters, { executor: 'eager', checkLaws: { batchings: 0 } })).rejects.toThrow(
      /checkLaws\.batchings/,
    );
  });
});
