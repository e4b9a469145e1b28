/**
 * What a batch costs the thread pool, apart from its items: one-item
 * batches of `tasks/straggle.mjs` (the item blocks its thread for `--ms`
 * without CPU) sent through fj's `ThreadPool` as `fj worker` sends them
 * (items and results msgpack-encoded one by one), two batches in flight per
 * thread. CPU from /proc per thread of this process: the main thread's per
 * batch, and all the others' (the pool's threads, V8's and libuv's helpers)
 * per batch. With `--ms 0` the threads run batch after batch; with items
 * that block, each batch finds its thread's code and caches cold, as in a
 * pool of many slots.
 *
 * `--against DIR`: another built checkout's pool in the same rounds
 * (alternating, each in a fresh process). Median of `--rounds`.
 *
 *   node bench/thread-hop.mjs [--threads 32] [--batches 3200] [--ms 50] [--rounds 3] [--against DIR]
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { BENCH_DIR, ROOT, median, table } from './lib.mjs';

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '32' },
    batches: { type: 'string', default: '3200' },
    ms: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '3' },
    against: { type: 'string' },
    root: { type: 'string' },
    once: { type: 'boolean', default: false },
  },
});
const threads = Number(values.threads);
const batches = Number(values.batches);

/** CPU ms of each thread of this process, by thread id. */
function threadCpu() {
  const out = new Map();
  for (const t of readdirSync('/proc/self/task')) {
    try {
      const f = readFileSync(`/proc/self/task/${t}/stat`, 'utf8').split(') ')[1].split(' ');
      out.set(t, (Number(f[11]) + Number(f[12])) * 10);
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** One measurement in this process with the checkout at `root`: prints one JSON line. */
async function once(root) {
  const { ThreadPool } = await import(pathToFileURL(join(root, 'dist', 'src', 'runtime', 'thread-pool.js')).href);
  const { encode } = await import(pathToFileURL(join(root, 'dist', 'src', 'core', 'codec.js')).href);
  const moduleUrl = pathToFileURL(join(BENCH_DIR, 'tasks', 'straggle.mjs')).href;
  const pool = await ThreadPool.start({ size: threads, services: undefined, logLevel: 'warn', idPrefix: 'hop' });
  await pool.keepWarm([moduleUrl]);
  const job = { key: 'hop', moduleUrl, className: 'Straggle', paramsBytes: encode({}) };
  const go = async (n, ms) => {
    const item = encode(ms);
    let next = 0;
    await Promise.all(
      Array.from({ length: threads * 2 }, async () => {
        while (next < n) {
          const i = next++;
          await pool.run(job, i, item, { perItem: true, timeoutMs: 0, concurrency: 1 });
        }
      }),
    );
  };
  await go(threads * 4, 1); // every thread has the job loaded
  const before = threadCpu();
  const t0 = performance.now();
  await go(batches, Number(values.ms));
  const wallMs = performance.now() - t0;
  const after = threadCpu();
  const self = String(process.pid);
  let others = 0;
  for (const [t, ms] of after) if (t !== self) others += ms - (before.get(t) ?? 0);
  const main = after.get(self) - before.get(self);
  await pool.close();
  console.log(JSON.stringify({ wallMs, mainUs: (1000 * main) / batches, othersUs: (1000 * others) / batches }));
}

if (values.once) {
  await once(resolve(values.root ?? ROOT));
  process.exit(0);
}

const roots = [{ name: 'this checkout', root: ROOT }];
if (values.against) roots.push({ name: values.against, root: resolve(values.against) });
const runs = roots.map(() => []);
for (let r = 0; r < Number(values.rounds); r++)
  for (let k = 0; k < roots.length; k++) {
    const i = (k + r) % roots.length;
    const args = [
      ...[fileURLToPath(import.meta.url), '--once', '--root', roots[i].root],
      ...['--threads', values.threads, '--batches', values.batches, '--ms', values.ms],
    ];
    const child = spawnSync(process.execPath, args, { encoding: 'utf8' });
    if (child.status !== 0) throw new Error(`thread-hop round failed:\n${child.stderr}`);
    runs[i].push(JSON.parse(child.stdout.trim().split('\n').pop()));
  }
table(
  `thread hop: ${batches} one-item batches on ${threads} threads, items of ${values.ms} ms, median of ${values.rounds}`,
  ['checkout', 'wall', 'main thread per batch', 'other threads per batch'],
  roots.map((r, i) => [
    r.name,
    `${median(runs[i].map((x) => x.wallMs)).toFixed(0)} ms`,
    `${median(runs[i].map((x) => x.mainUs)).toFixed(1)} µs`,
    `${median(runs[i].map((x) => x.othersUs)).toFixed(1)} µs`,
  ]),
);
