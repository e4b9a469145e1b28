import { ForkJoinTask } from '../../dist/src/index.js';
import { threadId } from 'node:worker_threads';
const cell = new Int32Array(new SharedArrayBuffer(4));
export default class StraggleTrace extends ForkJoinTask {
  static description = 'trace';
  static module = import.meta.url;
  static schema = { type: 'object', properties: { durations: { type: 'array' } } };
  setup({ durations }) { return durations; }
  process(ms, _p, ctx) { const s = Date.now(); Atomics.wait(cell, 0, 0, ms); return { i: ctx.index, ms, s, e: Date.now(), t: threadId }; }
  join(r) { return r; }
}
