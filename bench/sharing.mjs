/**
 * Sharing a pool between jobs: N `fj worker` processes × c threads, items
 * that block their thread for `--ms` (400 ms) without using the CPU
 * (bench/tasks/stamp.mjs: each item returns when it ran), attached jobs
 * (`run()`, executor amqp) started at staggered times on the one pool.
 *
 * - equal: `--jobs` (4) jobs of `--items` (320) each, started `--gap` (0.3 s)
 *   apart, with `--weights` (all 1). Each job's start, end and slowdown
 *   (its wall time / the wall time of one such job alone, measured first),
 *   Jain's fairness index J = (Σx)² / (n·Σx²) over the time all jobs
 *   overlap (x: each job's slot-seconds in that time, from the items' own
 *   start and end times, divided by its weight), and the pool's efficiency
 *   (slot-seconds used / slots × the time from the first start to the last
 *   end).
 * - small: a `--huge` (1,600) item job, then a `--small` (16) item job
 *   `--delay` (2 s) later: the small one's wall time, its time alone on the
 *   whole pool (measured) and the ideal on half the pool (its share), and
 *   the ratio of its wall time to that ideal.
 *
 * - priority: a `--huge` item job, then an `--items` item job at priority 1
 *   `--delay` later: the high one's wall time against its time alone, and
 *   the slots the low one held meanwhile (its floor).
 *
 * - flood: detached jobs (`submit()`) of `--flood-items` (8) items each:
 *   tenant team-a queues `--flood` (200) of them, then team-b one; team-b's
 *   slowdown is its time from submission to result against the same job's
 *   on the idle pool. Run twice, side by side (`--flood-modes`): `tenants`
 *   (each job names its tenant: tenants' jobs queues) and `one-queue` (no
 *   tenants: the pool's one first-come, first-served jobs queue, as every
 *   job had before 2026-12-07); `untenanted` is a third: team-a's jobs name
 *   no tenant, team-b's does. Team-a's jobs are cancelled after each.
 *
 * RabbitMQ at FJ_BROKER_URL (default amqp://guest:guest@127.0.0.1:5672), a
 * file store of its own. Workers are child processes stopped by PID; the
 * queues (the pool's, its code queues and jobs queue) are deleted at the end.
 *
 *   node bench/sharing.mjs [--workers 4] [--threads 8] [--ms 400] [--scenarios equal,small,priority]
 *                          [--jobs 4] [--items 320] [--gap 0.3] [--weights 1,1,1,1]
 *                          [--huge 1600] [--small 16] [--delay 2]
 *                          [--flood 200] [--flood-items 8] [--flood-modes tenants,untenanted,one-queue]
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_BROKER, run, submit } from '../dist/src/index.js';
import { tenantJobsQueue } from '../dist/src/broker/tenant-queues.js';
import Stamp from './tasks/stamp.mjs';
import {
  BENCH_DIR,
  deleteQueues,
  poolQueueNames,
  fmt,
  portAnswers,
  saveResult,
  startWorker,
  stopWorker,
  table,
  tempDir,
} from './lib.mjs';

const { values: opt } = parseArgs({
  options: {
    workers: { type: 'string', default: '4' },
    threads: { type: 'string', default: '8' },
    ms: { type: 'string', default: '400' },
    scenarios: { type: 'string', default: 'equal,small' },
    jobs: { type: 'string', default: '4' },
    items: { type: 'string', default: '320' },
    gap: { type: 'string', default: '0.3' },
    weights: { type: 'string' },
    huge: { type: 'string', default: '1600' },
    small: { type: 'string', default: '16' },
    delay: { type: 'string', default: '2' },
    flood: { type: 'string', default: '200' },
    'flood-items': { type: 'string', default: '8' },
    'flood-modes': { type: 'string', default: 'tenants,one-queue' },
  },
});
const WORKERS = Number(opt.workers);
const THREADS = Number(opt.threads);
const SLOTS = WORKERS * THREADS;
const ITEM_MS = Number(opt.ms);
const JOBS = Number(opt.jobs);
const WEIGHTS = opt.weights ? opt.weights.split(',').map(Number) : new Array(JOBS).fill(1);
if (WEIGHTS.length !== JOBS || !WEIGHTS.every((w) => w > 0)) throw new Error(`--weights: ${JOBS} positive numbers`);
const BROKER = process.env.FJ_BROKER_URL ?? DEFAULT_BROKER;

if (!(await portAnswers({ host: new URL(BROKER).hostname, port: Number(new URL(BROKER).port || 5672) }))) {
  console.log(`\nsharing: SKIPPED, RabbitMQ does not answer at ${new URL(BROKER).host} (set FJ_BROKER_URL)\n`);
  process.exit(0);
}

const queue = `fj.bench.${randomUUID()}.sharing`;
const { dir, cleanup } = tempDir('fj-sharing-');
const store = `file://${dir}`;
const workers = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One job: its wall time from its own start, and its items' [start, end] spans. */
async function job(items, weight, t0, priority = 0) {
  const started = performance.now() - t0;
  const out = await run(
    Stamp,
    { durations: new Array(items).fill(ITEM_MS) },
    {
      executor: 'amqp',
      queue,
      broker: BROKER,
      store,
      ...(weight === 1 ? {} : { weight }),
      ...(priority === 0 ? {} : { priority }),
    },
  );
  const ended = performance.now() - t0;
  if (out.spans.length !== items) throw new Error(`expected ${items} results, got ${out.spans.length}`);
  return { started, ended, wallMs: ended - started, spans: out.spans };
}

/** Slot-ms of `spans` inside [from, to] (epoch ms). */
function slotMs(spans, from, to) {
  let sum = 0;
  for (const [s, e] of spans) sum += Math.max(0, Math.min(e, to) - Math.max(s, from));
  return sum;
}

/** Jain's fairness index of xs. */
function jain(xs) {
  const sum = xs.reduce((a, b) => a + b, 0);
  const sq = xs.reduce((a, b) => a + b * b, 0);
  return (sum * sum) / (xs.length * sq);
}

const figures = { workers: WORKERS, threads: THREADS, slots: SLOTS, itemMs: ITEM_MS };
try {
  workers.push(
    ...(await Promise.all(
      Array.from({ length: WORKERS }, () =>
        startWorker(
          [
            ...['--broker', BROKER, '--store', store, '--queue', queue],
            ...['--concurrency', String(THREADS), '--tasks', join(BENCH_DIR, 'tasks', 'stamp.mjs')],
          ],
          { timeoutMs: 120_000 },
        ),
      ),
    )),
  );
  await job(SLOTS * 2, 1, performance.now()); // warm-up: every thread loads the task
  await sleep(2500); // the warm-up's coordinator beacon expires

  if (opt.scenarios.includes('equal')) {
    const items = Number(opt.items);
    const alone = await job(items, 1, performance.now());
    await sleep(2500);
    const t0 = performance.now();
    const epoch0 = Date.now(); // t0 on the items' clock
    const gap = Number(opt.gap) * 1000;
    const runs = await Promise.all(
      WEIGHTS.map(async (w, i) => {
        await sleep(i * gap);
        return job(items, w, t0);
      }),
    );
    // The overlap: from the last job's start to the first job's end (epoch ms, the items' clock).
    const from = epoch0 + Math.max(...runs.map((r) => r.started));
    const to = epoch0 + Math.min(...runs.map((r) => r.ended));
    const used = runs.map((r) => slotMs(r.spans, from, to));
    const index = jain(used.map((x, i) => x / WEIGHTS[i]));
    const first = Math.min(...runs.flatMap((r) => r.spans.map(([s]) => s)));
    const last = Math.max(...runs.flatMap((r) => r.spans.map(([, e]) => e)));
    const efficiency = (JOBS * items * ITEM_MS) / (SLOTS * (last - first));
    table(
      `sharing, equal: ${JOBS} jobs x ${items} items of ${ITEM_MS} ms, ${Number(opt.gap)} s apart, on ${WORKERS} workers x ${THREADS} threads = ${SLOTS} slots; one alone: ${fmt.s(alone.wallMs)}; ideal for all: ${fmt.s((JOBS * items * ITEM_MS) / SLOTS)}`,
      ['job', 'weight', 'start', 'end', 'wall', 'slowdown', 'slots held in overlap'],
      runs.map((r, i) => [
        `${i + 1}`,
        String(WEIGHTS[i]),
        fmt.s(r.started),
        fmt.s(r.ended),
        fmt.s(r.wallMs),
        `${(r.wallMs / alone.wallMs).toFixed(2)}x`,
        (used[i] / (to - from)).toFixed(1),
      ]),
    );
    console.log(
      `overlap ${fmt.s(to - from)}: Jain's index ${index.toFixed(3)}; pool efficiency ${(100 * efficiency).toFixed(1)} %; ends spread ${fmt.s(Math.max(...runs.map((r) => r.ended)) - Math.min(...runs.map((r) => r.ended)))}`,
    );
    figures.equal = {
      jobs: JOBS,
      items,
      gapS: Number(opt.gap),
      weights: WEIGHTS,
      aloneMs: alone.wallMs,
      runs: runs.map((r, i) => ({
        started: r.started,
        ended: r.ended,
        wallMs: r.wallMs,
        slots: used[i] / (to - from),
      })),
      overlapMs: to - from,
      jain: index,
      efficiency,
    };
    await sleep(2500);
  }

  if (opt.scenarios.includes('small')) {
    const huge = Number(opt.huge);
    const small = Number(opt.small);
    const alone = await job(small, 1, performance.now());
    await sleep(2500);
    const t0 = performance.now();
    const bigRun = job(huge, 1, t0);
    await sleep(Number(opt.delay) * 1000);
    const s = await job(small, 1, t0);
    const big = await bigRun;
    const idealShare = Math.ceil(small / (SLOTS / 2)) * ITEM_MS;
    table(
      `sharing, small behind huge: ${small} items ${Number(opt.delay)} s after ${huge} items (${ITEM_MS} ms each) on ${SLOTS} slots`,
      ['job', 'start', 'end', 'wall', 'alone (whole pool)', 'ideal on half the pool', 'wall / ideal on half'],
      [
        ['huge', fmt.s(big.started), fmt.s(big.ended), fmt.s(big.wallMs), '', '', ''],
        [
          'small',
          fmt.s(s.started),
          fmt.s(s.ended),
          fmt.s(s.wallMs),
          fmt.s(alone.wallMs),
          fmt.s(idealShare),
          `${(s.wallMs / idealShare).toFixed(2)}x`,
        ],
      ],
    );
    figures.small = {
      huge,
      small,
      delayS: Number(opt.delay),
      smallWallMs: s.wallMs,
      smallAloneMs: alone.wallMs,
      idealOnShareMs: idealShare,
      hugeWallMs: big.wallMs,
    };
  }
  if (opt.scenarios.includes('priority')) {
    const huge = Number(opt.huge);
    const items = Number(opt.items);
    await sleep(2500);
    const alone = await job(items, 1, performance.now());
    await sleep(2500);
    const t0 = performance.now();
    const epoch0 = Date.now();
    const lowRun = job(huge, 1, t0);
    await sleep(Number(opt.delay) * 1000);
    const high = await job(items, 1, t0, 1);
    const low = await lowRun;
    const during = slotMs(low.spans, epoch0 + high.started, epoch0 + high.ended) / (high.ended - high.started);
    table(
      `sharing, priority: ${items} items at priority 1, ${Number(opt.delay)} s after ${huge} items at priority 0 (${ITEM_MS} ms each) on ${SLOTS} slots`,
      ['job', 'start', 'end', 'wall', 'alone (whole pool)', 'slowdown', 'slots held while the high one ran'],
      [
        ['low', fmt.s(low.started), fmt.s(low.ended), fmt.s(low.wallMs), '', '', during.toFixed(1)],
        [
          'high',
          fmt.s(high.started),
          fmt.s(high.ended),
          fmt.s(high.wallMs),
          fmt.s(alone.wallMs),
          `${(high.wallMs / alone.wallMs).toFixed(2)}x`,
          (slotMs(high.spans, epoch0 + high.started, epoch0 + high.ended) / (high.ended - high.started)).toFixed(1),
        ],
      ],
    );
    figures.priority = { huge, items, highWallMs: high.wallMs, highAloneMs: alone.wallMs, lowSlotsDuring: during };
  }
  if (opt.scenarios.includes('flood')) {
    const n = Number(opt.flood);
    const input = { durations: new Array(Number(opt['flood-items'])).fill(ITEM_MS) };
    const detached = (tenant) => submit(Stamp, input, { queue, broker: BROKER, store, ...(tenant ? { tenant } : {}) });
    /** Team-b's one job: from its submission to its result, ms. */
    const timeB = async (tenant) => {
      const t = performance.now();
      await (await detached(tenant)).result({ timeoutMs: 3_600_000 });
      return performance.now() - t;
    };
    await sleep(2500);
    const aloneMs = await timeB('team-b');
    const rows = [];
    figures.flood = { jobs: n, items: input.durations.length, aloneMs, modes: {} };
    for (const mode of opt['flood-modes'].split(',')) {
      if (!['tenants', 'untenanted', 'one-queue'].includes(mode)) throw new Error(`--flood-modes: no mode ${mode}`);
      const t = performance.now();
      const a = [];
      for (let i = 0; i < n; i++) a.push(await detached(mode === 'tenants' ? 'team-a' : undefined));
      const queuedMs = performance.now() - t;
      await sleep(1000);
      const wallMs = await timeB(mode === 'one-queue' ? undefined : 'team-b');
      rows.push([mode, fmt.s(queuedMs), fmt.s(wallMs), fmt.s(aloneMs), `${(wallMs / aloneMs).toFixed(2)}x`]);
      figures.flood.modes[mode] = { queuedMs, wallMs, slowdown: wallMs / aloneMs };
      for (const h of a) await h.cancel().catch(() => {});
      await Promise.all(a.map((h) => h.wait({ timeoutMs: 600_000 }).catch(() => {})));
    }
    table(
      `sharing, flood: team-a queues ${n} detached jobs of ${input.durations.length} items (${ITEM_MS} ms each), then team-b one, on ${SLOTS} slots (${WORKERS} workers coordinating 4 jobs each)`,
      ['jobs queued', "team-a's queued in", "team-b's job: submitted to result", 'alone', 'slowdown'],
      rows,
    );
  }
  saveResult('sharing', { broker: new URL(BROKER).host, ...figures });
} finally {
  for (const w of workers) await stopWorker(w).catch(() => {});
  // The pool's every queue (a code queue for every task the workers serve, the built-ins too), and its tenants' jobs queues.
  const tenantQueues = ['team-a', 'team-b'].map((t) => tenantJobsQueue(queue, t));
  await deleteQueues(BROKER, [...(await poolQueueNames(queue, [Stamp])), ...tenantQueues]).catch((err) =>
    console.error(`could not delete the bench queues: ${err.message}`),
  );
  cleanup();
}
