/**
 * Per-item overhead of the local executor: 100,000 no-op items.
 * Goal: ≤ 10 µs per item (a well-known worker pool costs ~12 µs per task).
 *
 * Each round times, back to back in this process:
 *   - run(noop, {n: 1})      on `local`: the fixed cost (thread start-up, task load, shutdown);
 *   - run(noop, {n: N})      on `local`: raw = total / N, net = (total - fixed) / N;
 *   - run(noop, {n: N})      on `eager`: the per-item cost without threads, for reference.
 * Median of 5 rounds, after one warm-up round.
 *
 *   node bench/overhead.mjs [N] [rounds]
 */
import { run } from '../dist/src/index.js';
import Noop from './tasks/noop.mjs';
import { fmt, median, saveResult, table, timed } from './lib.mjs';

const N = Number(process.argv[2] ?? 100_000);
const ROUNDS = Number(process.argv[3] ?? 5);

async function once(executor, n) {
  let stats;
  const { ms, value } = await timed(() => run(Noop, { n }, { executor, onStats: (s) => (stats = s) }));
  if (value.items !== n) throw new Error(`expected ${n} results, got ${value.items}`);
  return { ms, stats };
}

// Warm-up: module loading, JIT, the schema compile.
await once('local', 1000);
await once('eager', 1000);

const rounds = [];
for (let r = 0; r < ROUNDS; r++) {
  const fixed = await once('local', 1);
  const local = await once('local', N);
  const eager = await once('eager', N);
  rounds.push({
    fixedMs: fixed.ms,
    localMs: local.ms,
    eagerMs: eager.ms,
    rawUs: (local.ms * 1000) / N,
    netUs: ((local.ms - fixed.ms) * 1000) / N,
    eagerUs: (eager.ms * 1000) / N,
    batches: local.stats.messages / 2,
  });
}

const rows = rounds.map((r, i) => [
  `round ${i + 1}`,
  fmt.ms(r.fixedMs),
  fmt.ms(r.localMs),
  fmt.us(r.rawUs),
  fmt.us(r.netUs),
  fmt.us(r.eagerUs),
  r.batches,
]);
const m = (k) => median(rounds.map((r) => r[k]));
const result = {
  items: N,
  rounds: ROUNDS,
  fixedMs: m('fixedMs'),
  localMs: m('localMs'),
  eagerMs: m('eagerMs'),
  rawUsPerItem: m('rawUs'),
  netUsPerItem: m('netUs'),
  eagerUsPerItem: m('eagerUs'),
  goalUsPerItem: 10,
};
rows.push([
  'median',
  fmt.ms(result.fixedMs),
  fmt.ms(result.localMs),
  fmt.us(result.rawUsPerItem),
  fmt.us(result.netUsPerItem),
  fmt.us(result.eagerUsPerItem),
  m('batches'),
]);
table(
  `overhead: ${fmt.int(N)} no-op items, local executor (${ROUNDS} rounds; goal ≤ 10 µs/item net)`,
  ['', 'fixed (n=1)', `local (n=${fmt.int(N)})`, 'raw/item', 'net/item', 'eager/item', 'batches'],
  rows,
);
console.log(
  `net per item ${fmt.us(result.netUsPerItem)}: goal ≤ 10 µs ${result.netUsPerItem <= 10 ? 'MET' : 'MISSED'}`,
);
saveResult('overhead', result);
