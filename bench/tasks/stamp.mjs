/**
 * Benchmark fixture: items that block their thread for their duration (ms,
 * as straggle.mjs) and record when they ran. Each result is the item's
 * [start, end] in ms since the epoch (the worker's clock: one host), so a
 * bench or test can tell how many slots each job held at any moment
 * (bench/sharing.mjs, test/reliability/fair-share.test.ts).
 */
import { ForkJoinTask } from '../../dist/src/index.js';

const cell = new Int32Array(new SharedArrayBuffer(4));

export default class Stamp extends ForkJoinTask {
  static description = 'Benchmark fixture: items that sleep for their duration (ms) and return when they ran';
  static module = import.meta.url;
  static params = [];
  static schema = {
    type: 'object',
    properties: { durations: { type: 'array', items: { type: 'number', minimum: 0 } } },
    required: ['durations'],
    additionalProperties: false,
  };

  setup({ durations }) {
    return durations;
  }

  process(ms) {
    const start = Date.now();
    Atomics.wait(cell, 0, 0, ms);
    return [start, Date.now()];
  }

  join(results) {
    return { spans: results };
  }
}
