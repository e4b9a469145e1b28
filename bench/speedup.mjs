/**
 * Speed-up of the local executor on CPU-bound items: N items of a busy loop
 * calibrated to ~5 ms each, `local` (one thread per core) vs `eager` (this
 * thread). Goal: ≥ 1.8x on 2 cores.
 *
 * Each round runs both, side by side, alternating which goes first; the
 * ratio is taken within a round. Median of the rounds, after a warm-up.
 * Each round also times a 1-item `local` run (the fixed cost: starting the
 * threads and loading the task in them) and reports the steady-state ratio
 * eager / (local - fixed) beside the whole-run ratio.
 *
 *   node bench/speedup.mjs [items] [rounds] [ms per item]
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { run } from '../dist/src/index.js';
import Spin, { spin } from './tasks/spin.mjs';
import { fmt, median, saveResult, table, timed } from './lib.mjs';

// 1000 items of ~5 ms: a 5-second job, where the ~150 ms fixed start-up of the thread pool is amortized as in real use.
const N = Number(process.argv[2] ?? 1000);
const ROUNDS = Number(process.argv[3] ?? 3);
const TARGET_MS = Number(process.argv[4] ?? 5);
const threads = availableParallelism();

/** Iterations of the busy loop taking TARGET_MS here (median of several timings). */
function calibrate() {
  let iters = 100_000;
  for (let k = 0; k < 4; k++) {
    const samples = [];
    for (let i = 0; i < 15; i++) {
      const t0 = performance.now();
      spin(iters, i);
      samples.push(performance.now() - t0);
    }
    iters = Math.max(1000, Math.round((iters * TARGET_MS) / Math.max(0.01, median(samples))));
  }
  return iters;
}

const iters = calibrate();
const input = { n: N, iters };
const once = async (executor, n = N) => {
  const { ms, value } = await timed(() => run(Spin, { ...input, n }, { executor }));
  if (value.items !== n) throw new Error(`expected ${n} results, got ${value.items}`);
  return ms;
};

await once('local'); // warm-up (also checks both agree)
const rounds = [];
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 === 0 ? ['eager', 'local'] : ['local', 'eager'];
  const t = {};
  for (const e of order) t[e] = await once(e);
  const fixed = await once('local', 1);
  rounds.push({
    eagerMs: t.eager,
    localMs: t.local,
    fixedMs: fixed,
    ratio: t.eager / t.local,
    net: t.eager / Math.max(1, t.local - fixed),
    msPerItem: t.eager / N,
  });
}

const m = (k) => median(rounds.map((r) => r[k]));
const result = {
  items: N,
  itersPerItem: iters,
  threads,
  msPerItemEager: m('msPerItem'),
  eagerMs: m('eagerMs'),
  localMs: m('localMs'),
  fixedMs: m('fixedMs'),
  speedup: m('ratio'),
  steadySpeedup: m('net'),
  goal: 1.8,
};
const rows = rounds.map((r, i) => [
  `round ${i + 1}`,
  fmt.ms(r.eagerMs),
  fmt.ms(r.localMs),
  fmt.x(r.ratio),
  fmt.ms(r.fixedMs),
  fmt.x(r.net),
  r.msPerItem.toFixed(2) + ' ms',
]);
rows.push([
  'median',
  fmt.ms(result.eagerMs),
  fmt.ms(result.localMs),
  fmt.x(result.speedup),
  fmt.ms(result.fixedMs),
  fmt.x(result.steadySpeedup),
  result.msPerItemEager.toFixed(2) + ' ms',
]);
table(
  `speedup: ${N} CPU-bound items (~${TARGET_MS} ms each, ${fmt.int(iters)} iterations), local on ${threads} threads vs eager (${ROUNDS} rounds; goal ≥ 1.8x)`,
  ['', 'eager', 'local', 'eager/local', 'local fixed (n=1)', 'eager/(local-fixed)', 'eager ms/item'],
  rows,
);
console.log(
  `speedup ${fmt.x(result.speedup)} whole run, ${fmt.x(result.steadySpeedup)} without the fixed start-up: goal ≥ 1.8x ${result.speedup >= 1.8 ? 'MET' : 'MISSED'}`,
);
saveResult('speedup', result);
