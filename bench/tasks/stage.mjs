/**
 * Benchmark fixture: one stage of a pipeline (bench/pipeline.mjs). The input
 * carries the whole plan, `plan: [{ n, ms }, ...]`, and the index of the
 * stage to run, `stage`; this stage runs `plan[stage].n` items, each of which
 * blocks its thread for `plan[stage].ms` without the CPU (Atomics.wait, as
 * time.sleep in a Celery prefork child, so the work is the same in either
 * system and does not compete with the framework for the 2 cores). Its join
 * passes the plan on with `stage + 1` (the next stage's input) and the sum of
 * its items' values, so three jobs run one after another, or a pipeline of
 * this task three times, do the same work.
 *
 * With `stamps` (a file path) the stage appends, with a clock every process
 * on the machine shares (performance.timeOrigin + performance.now(), in ms,
 * sub-millisecond):
 *   `<stage> s <t>`  as each item starts,
 *   `<stage> e <t>`  as each item ends,
 *   `<stage> j <t>`  as join returns (the last result is in and combined).
 * The benchmark reads them back: the transition from stage k to k+1 is the
 * first `s` of k+1 minus the last `e` of k. Each line is one small
 * O_APPEND write, atomic across the threads and processes that share the file.
 */
import { appendFileSync } from 'node:fs';
import { ForkJoinTask } from '../../dist/src/index.js';

const cell = new Int32Array(new SharedArrayBuffer(4));
const now = () => performance.timeOrigin + performance.now();

export default class Stage extends ForkJoinTask {
  static description = 'Benchmark fixture: one pipeline stage of n items that sleep ms each, with timestamps';
  static module = import.meta.url;
  static taskName = 'bench-stage';
  static params = ['plan', 'stage', 'stamps'];
  static schema = {
    type: 'object',
    properties: {
      plan: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          properties: { n: { type: 'integer', minimum: 0 }, ms: { type: 'number', minimum: 0 } },
          required: ['n', 'ms'],
          additionalProperties: false,
        },
      },
      stage: { type: 'integer', minimum: 0 },
      stamps: { type: 'string' },
      sum: { type: 'number' },
    },
    required: ['plan', 'stage'],
    additionalProperties: false,
  };

  *setup({ plan, stage }) {
    const n = plan[stage].n;
    for (let i = 0; i < n; i++) yield i;
  }

  process(i, { plan, stage, stamps }) {
    if (stamps) appendFileSync(stamps, `${stage} s ${now()}\n`);
    const ms = plan[stage].ms;
    if (ms > 0) Atomics.wait(cell, 0, 0, ms);
    if (stamps) appendFileSync(stamps, `${stage} e ${now()}\n`);
    return i;
  }

  join(results, { plan, stage, stamps }) {
    let sum = 0;
    for (const r of results) sum += r;
    const out = { plan, stage: stage + 1, sum, ...(stamps ? { stamps } : {}) };
    if (stamps) appendFileSync(stamps, `${stage} j ${now()}\n`);
    return out;
  }
}
