/**
 * Benchmark fixture: I/O-bound items. Each item awaits a timer of `ms`
 * (standing in for a database or HTTP round trip) and returns its value;
 * join counts them. Item concurrency comes from the run (`itemConcurrency`)
 * or the worker (`--item-concurrency`).
 */
import { ForkJoinTask } from '../../dist/src/index.js';

export default class Io extends ForkJoinTask {
  static description = 'Benchmark fixture: items that await a timer (ms)';
  static module = import.meta.url;
  static params = ['ms'];
  static schema = {
    type: 'object',
    properties: { n: { type: 'integer', minimum: 0 }, ms: { type: 'integer', minimum: 0 } },
    required: ['n', 'ms'],
    additionalProperties: false,
  };

  *setup({ n }) {
    for (let i = 0; i < n; i++) yield i;
  }

  async process(i, { ms }, ctx) {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      ctx.signal.addEventListener('abort', () => (clearTimeout(timer), reject(ctx.signal.reason)), { once: true });
    });
    return i;
  }

  join(results) {
    return { items: results.length };
  }
}
