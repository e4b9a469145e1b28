/**
 * The item timeout on the eager executor (runtime/item-timeout.ts): nothing
 * watches the caller's thread, so `runBatch` and `foldBatch` race each hook
 * call against it. A fold that hangs fails naming the fold hook and its item.
 */
import { describe, expect, it } from 'vitest';
import { FoldTask, run, TaskError } from '../../src/index.js';

interface Numbers {
  n: number;
}

/** Sums its items; item 7's fold waits until its signal aborts. */
class HangingFold extends FoldTask<Numbers, number, { sum: number }, number> {
  static override module = import.meta.url;
  static override schema = {
    type: 'object',
    properties: { n: { type: 'integer' } },
    required: ['n'],
  };
  *setup(input: Numbers): Generator<number> {
    for (let i = 0; i < input.n; i++) yield i;
  }
  seed(): { sum: number } {
    return { sum: 0 };
  }
  async fold(
    acc: { sum: number },
    item: number,
    _params: unknown,
    ctx: { signal: AbortSignal },
  ): Promise<{ sum: number }> {
    if (item === 7) await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
    acc.sum += item;
    return acc;
  }
  combine(accs: { sum: number }[]): { sum: number } {
    return { sum: accs.reduce((a, b) => a + b.sum, 0) };
  }
  join(accs: { sum: number }[]): number {
    return accs.reduce((a, b) => a + b.sum, 0);
  }
}

describe('item timeout, eager', () => {
  it('a fold that does not settle in time fails the job: TaskError of hook fold naming the item, "timed out after"', async () => {
    const started = Date.now();
    const err = await run(HangingFold, { n: 20 }, { executor: 'eager', itemTimeoutMs: 300 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TaskError);
    expect(err).toMatchObject({ hook: 'fold', index: 7 });
    expect((err as Error).message).toMatch(/timed out after 300 ms/);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
