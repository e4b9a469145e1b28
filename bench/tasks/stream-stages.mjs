/**
 * Benchmark fixture for bench/pipeline-stream.mjs: two stages that block
 * their thread for given times without using the CPU (Atomics.wait, as
 * straggle.mjs), so a stage's pool of slots, not the two cores, bounds it.
 * - `Tail`: one item per duration (ms) of `durations`; its result is the duration.
 * - `Follow`: blocks `after` ms per item. After a barrier its items are
 *   `values` (Tail's output); streaming (`{ stream: true }`) they are Tail's
 *   results as they arrive, and its input is Tail's input (`after` is read from it).
 */
import { ForkJoinTask } from '../../dist/src/index.js';

const cell = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms) => Atomics.wait(cell, 0, 0, ms);

export class Tail extends ForkJoinTask {
  static taskName = 'tail';
  static module = import.meta.url;
  static params = ['after'];
  static schema = {
    type: 'object',
    properties: { durations: { type: 'array', items: { type: 'number', minimum: 0 } }, after: { type: 'number' } },
    required: ['durations', 'after'],
  };

  setup({ durations }) {
    return durations;
  }

  process(ms) {
    sleep(ms);
    return ms;
  }

  join(values, { after }) {
    return { values, after };
  }
}

export class Follow extends ForkJoinTask {
  static taskName = 'follow';
  static module = import.meta.url;
  static params = ['after'];
  static schema = {
    type: 'object',
    properties: { after: { type: 'number' }, values: { type: 'array' }, durations: { type: 'array' } },
    required: ['after'],
  };

  setup({ values }) {
    return values;
  }

  process(v, { after }) {
    sleep(after);
    return v;
  }

  join(values) {
    return { items: values.length, sum: values.reduce((a, b) => a + b, 0) };
  }
}
