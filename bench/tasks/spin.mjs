/**
 * Benchmark fixture: `n` CPU-bound items. Each item runs a fixed busy loop of
 * `iters` iterations (a fixed amount of work, not a fixed wall time, so a
 * descheduled thread does not shorten it); the benchmark calibrates `iters`
 * to about 5 ms on this machine. join sums the items' checksums.
 */
import { ForkJoinTask } from '../../dist/src/index.js';

/** The busy loop; exported so the benchmark calibrates the very same code. */
export function spin(iters, seed) {
  let x = seed | 0;
  for (let i = 0; i < iters; i++) x = (Math.imul(x, 1103515245) + 12345) | 0;
  return x & 0xff;
}

/** Iterations of the busy loop that take about `ms` on this machine. */
export function calibrate(ms) {
  let iters = 100_000;
  for (;;) {
    const t = performance.now();
    spin(iters, 1);
    const took = performance.now() - t;
    if (took > 20) return Math.round((iters * ms) / took);
    iters *= 2;
  }
}

export default class Spin extends ForkJoinTask {
  static description = 'Benchmark fixture: n items of a fixed busy loop';
  static module = import.meta.url;
  static params = ['iters'];
  static schema = {
    type: 'object',
    properties: { n: { type: 'integer', minimum: 0 }, iters: { type: 'integer', minimum: 0 } },
    required: ['n', 'iters'],
    additionalProperties: false,
  };

  *setup({ n }) {
    for (let i = 0; i < n; i++) yield i;
  }

  process(i, { iters }) {
    return spin(iters, i);
  }

  join(results) {
    let sum = 0;
    for (const r of results) sum += r;
    return { items: results.length, checksum: sum };
  }
}
