/**
 * Benchmark fixture: `n` no-op items. setup yields the integers 0..n-1 (a
 * generator, consumed lazily), process returns 0, join counts the results.
 * Measures the framework's own per-item cost (overhead, amqp) and the peak
 * memory of a job that never holds all its items (memory).
 */
import { ForkJoinTask } from '../../dist/src/index.js';

export default class Noop extends ForkJoinTask {
  static description = 'Benchmark fixture: n no-op items';
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

  process() {
    return 0;
  }

  join(results) {
    return { items: results.length };
  }
}
