/**
 * Scale-out: one job on a pool of N `fj worker` processes × c threads, with
 * items that block their thread for `--ms` (400 ms) without using the CPU
 * (bench/tasks/straggle.mjs): simulated slots, so a 2-core machine can hold
 * hundreds. Enough items for `--seconds` (20 s) of ideal wall time at each
 * size. For each configuration, on a fresh pool (its own queue), after a
 * short warm-up job: wall time of `run()` in this process (call to output),
 * speed-up (items × ms / wall) and efficiency (speed-up / slots), the
 * coordinator's CPU time (this process) and the workers' (all their
 * threads, from /proc), messages per second (work and
 * result messages), the broker's CPU time and peak RSS (read from /proc
 * when RabbitMQ runs on this host) and the workers' RSS. Median of
 * `--rounds` (3).
 *
 * RabbitMQ at FJ_BROKER_URL (default amqp://guest:guest@127.0.0.1:5672), the
 * default file store. Workers are child processes stopped by PID (SIGTERM);
 * the queues are deleted at the end.
 *
 * `--cold`: no warm-up job, so round 1 is the first job of a freshly started
 * pool (issue 28's first-job figure).
 *
 *   node bench/scale.mjs [--configs 8x4,16x8,32x8] [--rounds 3] [--ms 400] [--seconds 20] [--cold]
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_BROKER, run } from '../dist/src/index.js';
import Straggle from './tasks/straggle.mjs';
import {
  BENCH_DIR,
  deleteQueues,
  fmt,
  median,
  portAnswers,
  mainThreadCpuMs,
  poolQueueNames,
  procStat,
  saveResult,
  startWorker,
  stopWorker,
  table,
} from './lib.mjs';

const { values: opt } = parseArgs({
  options: {
    configs: { type: 'string', default: '8x4,16x8,32x8' },
    rounds: { type: 'string', default: '3' },
    ms: { type: 'string', default: '400' },
    seconds: { type: 'string', default: '20' },
    cold: { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(opt.rounds);
const ITEM_MS = Number(opt.ms);
const BROKER = process.env.FJ_BROKER_URL ?? DEFAULT_BROKER;
const configs = opt.configs.split(',').map((c) => {
  const [n, t] = c.split('x').map(Number);
  if (!(n > 0 && t > 0)) throw new Error(`--configs: ${c} is not WORKERSxTHREADS`);
  return { workers: n, threads: t, slots: n * t };
});

if (!(await portAnswers({ host: new URL(BROKER).hostname, port: Number(new URL(BROKER).port || 5672) }))) {
  console.log(`\nscale: SKIPPED, RabbitMQ does not answer at ${new URL(BROKER).host} (set FJ_BROKER_URL)\n`);
  process.exit(0);
}

/** RabbitMQ's Erlang VM on this host, if it is here. */
function brokerPid() {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (cmd.includes('beam.smp') && cmd.includes('rabbit')) return Number(d);
    } catch {
      // gone, or not ours to read
    }
  }
  return undefined;
}

const beam = brokerPid();
const id = randomUUID();
const queues = [];
const workers = new Set();
let interrupted = false;
const onSignal = () => {
  interrupted = true;
  for (const w of workers) if (w.child.exitCode === null) process.kill(w.pid, 'SIGTERM');
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);

const job = (queue, count, ms) => {
  let stats;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  return run(
    Straggle,
    { durations: new Array(count).fill(ms) },
    { executor: 'amqp', queue, broker: BROKER, onStats: (s) => (stats = s) },
  ).then((value) => {
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    if (value.items !== count) throw new Error(`expected ${count} results, got ${value.items}`);
    return { wallMs, coordCpuMs: (cpu.user + cpu.system) / 1000, messages: stats.messages };
  });
};

const results = [];
try {
  for (const cfg of configs) {
    if (interrupted) break;
    const queue = `fj.bench.${id}.scale${cfg.slots}`;
    queues.push(...(await poolQueueNames(queue, [join(BENCH_DIR, 'tasks', 'straggle.mjs')])));
    const t0 = performance.now();
    const pool = await Promise.all(
      Array.from({ length: cfg.workers }, () =>
        startWorker(
          [
            '--broker',
            BROKER,
            '--queue',
            queue,
            '--concurrency',
            String(cfg.threads),
            '--tasks',
            join(BENCH_DIR, 'tasks', 'straggle.mjs'),
          ],
          { timeoutMs: 120_000 },
        ),
      ),
    );
    for (const w of pool) workers.add(w);
    const startMs = performance.now() - t0;
    // Warm-up: every thread runs the task once. --cold leaves it out: round 1 is then the first job of a fresh pool
    // (its workers serve once their threads have imported the task: fj worker keeps its pool warm).
    if (!opt.cold) await job(queue, cfg.slots * 2, 20);
    const items = Math.round((Number(opt.seconds) * 1000 * cfg.slots) / ITEM_MS);
    const rounds = [];
    for (let r = 0; r < ROUNDS && !interrupted; r++) {
      const b0 = beam && procStat(beam);
      const w0 = pool.map((w) => procStat(w.pid)?.cpuMs ?? 0);
      const m0 = pool.map((w) => mainThreadCpuMs(w.pid) ?? 0);
      let peak = b0?.rss ?? 0;
      const sampler = setInterval(() => (peak = Math.max(peak, (beam && procStat(beam)?.rss) || 0)), 500);
      const m = await job(queue, items, ITEM_MS).finally(() => clearInterval(sampler));
      const b1 = beam && procStat(beam);
      const workerCpuMs = pool.reduce((n, w, i) => n + (procStat(w.pid)?.cpuMs ?? 0) - w0[i], 0);
      const workerMainCpuMs = pool.reduce((n, w, i) => n + (mainThreadCpuMs(w.pid) ?? 0) - m0[i], 0);
      const speedup = (items * ITEM_MS) / m.wallMs;
      rounds.push({
        ...m,
        workerCpuMs,
        workerMainCpuMs,
        cpuPerMessageMs: workerCpuMs / items,
        speedup,
        efficiency: speedup / cfg.slots,
        msgsPerSec: (m.messages * 1000) / m.wallMs,
        brokerCpuMs: b0 && b1 ? b1.cpuMs - b0.cpuMs : undefined,
        brokerPeakRss: b0 ? peak : undefined,
      });
    }
    const workerRss = pool.reduce((n, w) => n + (procStat(w.pid)?.rss ?? 0), 0);
    await Promise.all(pool.map((w) => (workers.delete(w), stopWorker(w))));
    const med = (k) => (rounds.some((r) => r[k] === undefined) ? undefined : median(rounds.map((r) => r[k])));
    const row = {
      ...cfg,
      items,
      itemMs: ITEM_MS,
      idealMs: (items * ITEM_MS) / cfg.slots,
      startMs,
      wallMs: med('wallMs'),
      speedup: med('speedup'),
      efficiency: med('efficiency'),
      coordCpuMs: med('coordCpuMs'),
      workerCpuMs: med('workerCpuMs'),
      workerMainCpuMs: med('workerMainCpuMs'),
      cpuPerMessageMs: med('cpuPerMessageMs'),
      msgsPerSec: med('msgsPerSec'),
      brokerCpuMs: med('brokerCpuMs'),
      brokerPeakRss: med('brokerPeakRss'),
      workerRssPerProcess: workerRss / cfg.workers,
      rounds,
    };
    results.push(row);
    const opt2 = (x, f) => (x === undefined ? 'n/a' : f(x));
    table(
      `scale: ${cfg.workers} workers x ${cfg.threads} threads = ${cfg.slots} slots, ${fmt.int(items)} items of ${ITEM_MS} ms (ideal ${fmt.s(row.idealMs)}); pool started in ${fmt.s(startMs)}`,
      [
        '',
        'wall',
        'speed-up',
        'efficiency',
        'coordinator CPU',
        'workers CPU',
        'of it main threads',
        'per item',
        'messages/s',
        'broker CPU',
        'broker peak RSS',
      ],
      [
        ...rounds.map((r, i) => [
          `round ${i + 1}`,
          fmt.s(r.wallMs),
          fmt.x(r.speedup),
          `${(100 * r.efficiency).toFixed(1)} %`,
          fmt.ms(r.coordCpuMs),
          fmt.ms(r.workerCpuMs),
          fmt.ms(r.workerMainCpuMs),
          `${r.cpuPerMessageMs.toFixed(2)} ms`,
          fmt.int(r.msgsPerSec),
          opt2(r.brokerCpuMs, fmt.ms),
          opt2(r.brokerPeakRss, fmt.mb),
        ]),
        [
          'median',
          fmt.s(row.wallMs),
          fmt.x(row.speedup),
          `${(100 * row.efficiency).toFixed(1)} %`,
          fmt.ms(row.coordCpuMs),
          fmt.ms(row.workerCpuMs),
          fmt.ms(row.workerMainCpuMs),
          `${row.cpuPerMessageMs.toFixed(2)} ms`,
          fmt.int(row.msgsPerSec),
          opt2(row.brokerCpuMs, fmt.ms),
          opt2(row.brokerPeakRss, fmt.mb),
        ],
      ],
    );
    console.log(`workers' RSS: ${fmt.mb(row.workerRssPerProcess)} per process (${cfg.threads} threads each)`);
  }
  saveResult('scale', { broker: new URL(BROKER).host, configs: results });
} finally {
  for (const w of [...workers]) await stopWorker(w).catch(() => {});
  await deleteQueues(BROKER, queues).catch((err) => console.error(`could not delete the bench queues: ${err.message}`));
}
