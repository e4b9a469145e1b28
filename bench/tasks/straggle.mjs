/**
 * Benchmark fixture: items of given durations. Each item is a duration in
 * milliseconds and `process` blocks its thread that long without using the
 * CPU (Atomics.wait, a synchronous sleep: one item at a time per thread, as
 * time.sleep in a Celery prefork child). join counts the items and sums the
 * durations. The peers benchmark (bench/peers/run.mjs) generates log-normal
 * durations with a few stragglers.
 */
import { ForkJoinTask } from '../../dist/src/index.js';

const cell = new Int32Array(new SharedArrayBuffer(4));

export default class Straggle extends ForkJoinTask {
  static description = 'Benchmark fixture: items that sleep for their duration (ms)';
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
    Atomics.wait(cell, 0, 0, ms);
    return ms;
  }

  join(results) {
    let slept = 0;
    for (const ms of results) slept += ms;
    return { items: results.length, sleptMs: slept };
  }
}
