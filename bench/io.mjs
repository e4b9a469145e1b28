/**
 * I/O-bound items: N items that each await `ms` (a timer standing in for a
 * database round trip), 2 threads, item concurrency 1 and C. local (2 worker
 * threads) and amqp (one real `fj worker --concurrency 2 --item-concurrency
 * C` on a fresh `fj.bench.<uuid>.io` queue, stopped by PID, the queues
 * deleted at the end; SKIPPED without a broker). Items/s end to end, median
 * of the rounds; the variants alternate within each round.
 *
 *   node bench/io.mjs [--items 2000] [--ms 50] [--item-concurrency 32] [--rounds 3]
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { run } from '../dist/src/index.js';
import Io from './tasks/io.mjs';
import {
  BENCH_DIR,
  deleteQueues,
  poolQueueNames,
  fmt,
  median,
  portAnswers,
  saveResult,
  startWorker,
  stopWorker,
  table,
  timed,
} from './lib.mjs';

const { values: opt } = parseArgs({
  options: {
    items: { type: 'string', default: '2000' },
    ms: { type: 'string', default: '50' },
    'item-concurrency': { type: 'string', default: '32' },
    rounds: { type: 'string', default: '3' },
  },
});
const N = Number(opt.items);
const MS = Number(opt.ms);
const C = Number(opt['item-concurrency']);
const ROUNDS = Number(opt.rounds);
const BROKER = process.env.FJ_BROKER_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const queue = `fj.bench.${randomUUID()}.io`;

async function once(options) {
  const { ms, value } = await timed(() => run(Io, { n: N, ms: MS }, options));
  if (value.items !== N) throw new Error(`expected ${N} results, got ${value.items}`);
  return (N / ms) * 1000;
}

const broker = await portAnswers({ host: new URL(BROKER).hostname, port: Number(new URL(BROKER).port || 5672) });
const workers = [];
const rates = {
  'local, item concurrency 1': [],
  [`local, item concurrency ${C}`]: [],
  [`amqp, item concurrency ${C}`]: [],
};
try {
  let worker;
  if (broker) {
    worker = await startWorker([
      '--broker',
      BROKER,
      '--queue',
      queue,
      '--concurrency',
      '2',
      '--item-concurrency',
      String(C),
      '--tasks',
      join(BENCH_DIR, 'tasks', 'io.mjs'),
    ]);
    workers.push(worker);
  } else console.log(`amqp: SKIPPED, RabbitMQ does not answer at ${new URL(BROKER).host}`);
  for (let r = 0; r < ROUNDS; r++) {
    // concurrency 1 would take N * MS / 2 ms: a tenth of the items says the same rate
    const { ms } = await timed(() =>
      run(Io, { n: Math.ceil(N / 10), ms: MS }, { executor: 'local', concurrency: 2, itemConcurrency: 1 }),
    );
    rates['local, item concurrency 1'].push((Math.ceil(N / 10) / ms) * 1000);
    rates[`local, item concurrency ${C}`].push(await once({ executor: 'local', concurrency: 2, itemConcurrency: C }));
    if (worker)
      rates[`amqp, item concurrency ${C}`].push(
        await once({ executor: 'amqp', broker: BROKER, queue, itemConcurrency: C }),
      );
  }
} finally {
  for (const w of workers) await stopWorker(w);
  if (broker) await deleteQueues(BROKER, await poolQueueNames(queue, [join(BENCH_DIR, 'tasks', 'io.mjs')]));
}

const figures = { items: N, ms: MS, itemConcurrency: C, threads: 2, rounds: ROUNDS };
const rows = [];
for (const [name, xs] of Object.entries(rates)) {
  if (!xs.length) continue;
  figures[name] = { median: median(xs), rounds: xs };
  rows.push([name, fmt.int(median(xs)), xs.map((x) => Math.round(x)).join(' / ')]);
}
table(`I/O-bound items: ${N} x await ${MS} ms, 2 threads`, ['variant', 'items/s (median)', 'rounds'], rows);
saveResult('io', figures);
