/**
 * Detached jobs (`submit()`), through a real RabbitMQ (FJ_BROKER_URL) and a
 * file store of the bench's own:
 *
 * (a) coordinating costs the items nothing: ONE `fj worker -c 2` runs a job
 *     of CPU-bound items (bench/tasks/spin.mjs, ~1 ms each); the job is
 *     coordinated either elsewhere (`run()` with the amqp executor, in this
 *     process) or by that same worker (`submit()`, then `result()`).
 *     Items/s of each, rounds alternating, median of --rounds. Goal: the
 *     worker that also coordinates within 10% of the one that does not.
 * (b) the job index: `listJobs()` (what `fj jobs` runs) with 10,000 and
 *     100,000 finished jobs in a file store and in Redis (database 9,
 *     flushed): the newest 20, and 20 of a rare state. Median of 5. Goal:
 *     under 200 ms at 10,000.
 * (c) `submit()` of the 40,000-document word-count corpus: from the call to
 *     the handle (validation, storing the input and records, queueing), and
 *     validation alone. Goal: queued within about a second of validation.
 *
 *   node bench/detached.mjs [--parts abc] [--rounds 3] [--items 6000]
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_BROKER, run, submit, listJobs, validate } from '../dist/src/index.js';
import { openStore } from '../dist/src/store/open.js';
import Spin, { calibrate } from './tasks/spin.mjs';
import {
  BENCH_DIR,
  deleteQueues,
  poolQueueNames,
  fmt,
  median,
  saveResult,
  startWorker,
  stopWorker,
  table,
  tempDir,
  writeCorpus,
} from './lib.mjs';

const { values: opt } = parseArgs({
  options: {
    parts: { type: 'string', default: 'abc' },
    rounds: { type: 'string', default: '3' },
    items: { type: 'string', default: '6000' },
  },
});
const ROUNDS = Number(opt.rounds);
const BROKER = process.env.FJ_BROKER_URL ?? DEFAULT_BROKER;
const { dir, cleanup } = tempDir('fj-bench-detached-');
const store = `file://${join(dir, 'store')}`;
const figures = {};

async function partA() {
  const queue = `fj.bench.detached.${randomUUID()}`;
  const w = await startWorker([
    '--queue',
    queue,
    '--store',
    store,
    '-c',
    '2',
    '--tasks',
    join(BENCH_DIR, 'tasks', 'spin.mjs'),
  ]);
  const n = Number(opt.items);
  const input = { n, iters: calibrate(1) };
  const elsewhere = [];
  const here = [];
  try {
    await run(Spin, { n: 200, iters: input.iters }, { executor: 'amqp', queue, store }); // warm-up
    for (let r = 0; r < ROUNDS; r++) {
      let t = performance.now();
      await run(Spin, input, { executor: 'amqp', queue, store });
      elsewhere.push(n / ((performance.now() - t) / 1000));
      t = performance.now();
      const h = await submit(Spin, input, { queue, store });
      await h.result({ pollMs: 20 });
      here.push(n / ((performance.now() - t) / 1000));
    }
  } finally {
    await stopWorker(w);
    await deleteQueues(BROKER, await poolQueueNames(queue, [join(BENCH_DIR, 'tasks', 'spin.mjs')]));
  }
  const a = median(elsewhere);
  const b = median(here);
  figures.coordinating = {
    items: n,
    itemMs: 1,
    elsewhere: Math.round(a),
    inWorker: Math.round(b),
    ratio: +(b / a).toFixed(3),
  };
  table(
    '(a) one fj worker -c 2: items/s of ~1 ms items, coordinated elsewhere vs by the worker itself',
    ['coordinator', 'items/s (median)', 'rounds'],
    [
      ['elsewhere (run -e amqp)', fmt.int(a), elsewhere.map((x) => fmt.int(x)).join(', ')],
      ['the worker (submit)', fmt.int(b), here.map((x) => fmt.int(x)).join(', ')],
      ['ratio', (b / a).toFixed(3), 'goal >= 0.90'],
    ],
  );
}

async function partB() {
  const rows = [];
  const redis = `${process.env.FJ_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'}/9`;
  for (const [name, url] of [
    ['file', `file://${join(dir, 'index-store')}`],
    ['redis', redis],
  ]) {
    const s = await openStore(url);
    if (name === 'redis') {
      const { Redis } = await import('ioredis');
      const admin = new Redis(redis);
      await admin.flushdb();
      await admin.quit();
    }
    let have = 0;
    for (const target of [10_000, 100_000]) {
      const now = Date.now();
      const pending = [];
      for (let i = have; i < target; i++) {
        pending.push(
          s.indexJob({
            id: `bench-${i}`,
            state: i % 1000 === 3 ? 'failed' : 'succeeded',
            task: 'wordcount',
            label: `job ${i}`,
            submitted: now - target + i,
            expires: now + 3600_000,
          }),
        );
        if (pending.length === 500) await Promise.all(pending.splice(0));
      }
      await Promise.all(pending);
      have = target;
      const newest = [];
      const rare = [];
      for (let k = 0; k < 5; k++) {
        let t = performance.now();
        await listJobs({ store: url, limit: 20 });
        newest.push(performance.now() - t);
        t = performance.now();
        await listJobs({ store: url, limit: 20, state: 'failed' });
        rare.push(performance.now() - t);
      }
      rows.push([name, fmt.int(target), median(newest).toFixed(1), median(rare).toFixed(1)]);
      figures[`index_${name}_${target}`] = {
        newestMs: +median(newest).toFixed(1),
        rareStateMs: +median(rare).toFixed(1),
      };
    }
    await s.close();
  }
  table(
    '(b) listJobs (fj jobs): ms, median of 5, store opened each call',
    ['store', 'finished jobs', 'newest 20', '20 failed (1 in 1000)'],
    rows,
  );
}

async function partC() {
  const queue = `fj.bench.detached-submit.${randomUUID()}`;
  const corpus = join(dir, 'corpus.json');
  const bytes = await writeCorpus(corpus);
  const input = JSON.parse(readFileSync(corpus, 'utf8'));
  const val = [];
  const sub = [];
  try {
    for (let r = 0; r < ROUNDS; r++) {
      let t = performance.now();
      await validate('wordcount', input);
      val.push(performance.now() - t);
      t = performance.now();
      await submit('wordcount', input, { queue, store });
      sub.push(performance.now() - t);
    }
  } finally {
    await deleteQueues(BROKER, [`${queue}.jobs`]);
  }
  figures.submit = { inputBytes: bytes, validateMs: Math.round(median(val)), submitMs: Math.round(median(sub)) };
  table(
    `(c) submit() of the word-count corpus (${fmt.mb(bytes)}): ms, median of ${ROUNDS}`,
    ['step', 'ms'],
    [
      ['validation alone', fmt.int(median(val))],
      ['submit (validation, store, records, queue)', fmt.int(median(sub))],
    ],
  );
}

if (opt.parts.includes('a')) await partA();
if (opt.parts.includes('b')) await partB();
if (opt.parts.includes('c')) await partC();
saveResult('detached', figures);
cleanup();
