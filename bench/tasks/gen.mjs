/**
 * Benchmark fixture for peak memory: setup is a generator of `n` items (the
 * integers 0..n-1), process returns a small number, join returns the sum.
 * With lazy consumption the job never holds all its items, only the results.
 */
import { ForkJoinTask } from '../../dist/src/index.js';

export default class Gen extends ForkJoinTask {
  static description = 'Benchmark fixture: a generator setup of n items';
  static module = import.meta.url;
  static params = [];
  static schema = {
    type: 'object',
    properties: { n: { type: 'integer', minimum: 0 } },
    required: ['n'],
    additionalProperties: false,
  };

  *setup({ n }) {
    for (let i = 0; i < n; i++) yield i;
  }

  process(i) {
    return i & 7;
  }

  join(results) {
    let sum = 0;
    for (const r of results) sum += r;
    return { items: results.length, sum };
  }
}
