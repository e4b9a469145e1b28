// test/tasks.test.ts
import { describe, expect, it } from 'vitest';
import { run, InputError } from 'fj';
import WordCount from 'fj/tasks/wordcount';
import Primes from '../tasks/primes.js';

describe('my tasks', () => {
  it('counts primes', async () => {
    const out = await run(Primes, { ranges: [[1, 10], [10, 20]] }, { executor: 'eager' });
    expect(out).toEqual({ primes: 8 });
  });
  it('refuses an input its schema does not allow (2.5 is not an integer)', async () => {
    await expect(run(Primes, { ranges: [[1, 2.5]] }, { executor: 'eager' })).rejects.toBeInstanceOf(InputError);
  });
  it('counts words with a built-in task', async () => {
    const out = await run(WordCount, { documents: ['a b', 'b'] }, { executor: 'eager' });
    expect(out).toEqual({ word_count: { a: 1, b: 2 } });
  });
});
