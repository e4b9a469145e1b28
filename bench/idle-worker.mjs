/**
 * What an idle `fj worker -c 8` costs: its CPU time (all its threads, from
 * /proc) per second of wall time, measured over `--seconds` once it has
 * settled for `--settle` seconds (V8's memory reducer runs its collections
 * in the first half minute after start). With `--against DIR`, another
 * built checkout's worker idles beside this one's, on a queue of its own,
 * over the same seconds (before/after figures side by side).
 *
 * RabbitMQ at FJ_BROKER_URL (default amqp://guest:guest@127.0.0.1:5672), the
 * default file store. Workers are stopped by PID; their queues are deleted.
 *
 *   node bench/idle-worker.mjs [--settle 45] [--seconds 30] [--against DIR]
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_BROKER } from '../dist/src/index.js';
import { ROOT, deleteQueues, poolQueueNames, procStat, stopWorker, table, whenReady } from './lib.mjs';

const { values: opt } = parseArgs({
  options: {
    settle: { type: 'string', default: '45' },
    seconds: { type: 'string', default: '30' },
    against: { type: 'string' },
  },
});
const BROKER = process.env.FJ_BROKER_URL ?? DEFAULT_BROKER;
const id = randomUUID().slice(0, 8);
const roots = [{ name: 'this checkout', root: ROOT }];
if (opt.against) roots.push({ name: resolve(opt.against), root: resolve(opt.against) });

const workers = await Promise.all(
  roots.map(async ({ name, root }, i) => {
    const queue = `fj.bench.idle.${id}.${i}`;
    const child = spawn(
      process.execPath,
      [join(root, 'dist', 'src', 'cli', 'main.js'), 'worker', '-c', '8', '--queue', queue, '--broker', BROKER],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    return { name, root, queue, ...(await whenReady(child, /serving /, `fj worker (${name})`, 60_000)) };
  }),
);
try {
  await new Promise((r) => setTimeout(r, Number(opt.settle) * 1000));
  const before = workers.map((w) => procStat(w.pid).cpuMs);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, Number(opt.seconds) * 1000));
  const seconds = (performance.now() - t0) / 1000;
  const rows = workers.map((w, i) => [
    w.name,
    `${((procStat(w.pid).cpuMs - before[i]) / seconds).toFixed(1)} ms/s`,
    `${(procStat(w.pid).rss / 1e6).toFixed(1)} MB`,
  ]);
  table(
    `an idle fj worker -c 8: CPU per second over ${seconds.toFixed(0)} s, after ${opt.settle} s settling, side by side`,
    ['worker', 'CPU', 'RSS'],
    rows,
  );
} finally {
  await Promise.all(workers.map((w) => stopWorker(w)));
  await deleteQueues(BROKER, (await Promise.all(workers.map((w) => poolQueueNames(w.queue, [], w.root)))).flat());
}
