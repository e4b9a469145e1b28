/**
 * The dashboard does not slow jobs: ONE `fj worker -c 2` runs detached jobs
 * of CPU-bound items (bench/tasks/spin.mjs, ~1 ms each) through a real
 * RabbitMQ (FJ_BROKER_URL) and a file store of the bench's own, while an
 * `fj dashboard` process runs beside it. Rounds alternate: the page closed
 * (no client), then open and live-updating (three server-sent event streams,
 * as two tabs hold them: the running job's page, the jobs list, the
 * overview; each looked at every second). Items/s from submit to result,
 * median of --rounds. Goal: open within 5% of closed.
 *
 *   node bench/dashboard.mjs [--rounds 5] [--items 6000]
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_BROKER, submit } from '../dist/src/index.js';
import Spin, { calibrate } from './tasks/spin.mjs';
import {
  BENCH_DIR,
  CLI,
  ROOT,
  deleteQueues,
  poolQueueNames,
  fmt,
  median,
  saveResult,
  startWorker,
  stopWorker,
  table,
  tempDir,
  whenReady,
} from './lib.mjs';

const { values: opt } = parseArgs({
  options: { rounds: { type: 'string', default: '5' }, items: { type: 'string', default: '6000' } },
});
const ROUNDS = Number(opt.rounds);
const N = Number(opt.items);
const BROKER = process.env.FJ_BROKER_URL ?? DEFAULT_BROKER;
const TOKEN = randomUUID();
const { dir, cleanup } = tempDir('fj-bench-dashboard-');
const store = `file://${join(dir, 'store')}`;
const queue = `fj.bench.dashboard.${randomUUID()}`;

/** Opens a server-sent event stream and reads it until aborted; resolves to the number of messages read. */
async function stream(url, signal) {
  let messages = 0;
  try {
    const res = await fetch(url, { signal, headers: { accept: 'text/event-stream' } });
    const decoder = new TextDecoder();
    for await (const chunk of res.body) messages += (decoder.decode(chunk).match(/^data: /gm) ?? []).length;
  } catch (err) {
    if (!signal.aborted) throw err;
  }
  return messages;
}

/** One job of N items; with `base`, three live streams read while it runs. */
async function round(input, base) {
  const t = performance.now();
  const h = await submit(Spin, input, { queue, store });
  const stop = new AbortController();
  const streams = base
    ? [`topic=job&id=${h.id}`, 'topic=jobs', 'topic=overview'].map((q) =>
        stream(`${base}/api/events?${q}`, stop.signal),
      )
    : [];
  await h.result({ pollMs: 20 });
  const rate = N / ((performance.now() - t) / 1000);
  stop.abort();
  const messages = (await Promise.all(streams)).reduce((a, b) => a + b, 0);
  return { rate, messages };
}

const worker = await startWorker([
  '--queue',
  queue,
  '--store',
  store,
  '-c',
  '2',
  '--tasks',
  join(BENCH_DIR, 'tasks', 'spin.mjs'),
]);
const dashChild = spawn(
  process.execPath,
  [CLI, 'dashboard', '--port', '0', '--store', store, '--queue', queue, '--token', TOKEN],
  { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FJ_BROKER_URL: BROKER } },
);
const dash = await whenReady(dashChild, /dashboard on http:\/\/\S+\//, 'fj dashboard', 30_000);
const base = /dashboard on (http:\/\/[^/\s]+)\//.exec(dash.log())[1];
const closed = [];
const open = [];
let messages = 0;
try {
  const input = { n: N, iters: calibrate(1) };
  await round({ n: 200, iters: input.iters }); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    closed.push((await round(input)).rate);
    const o = await round(input, base);
    open.push(o.rate);
    messages += o.messages;
  }
} finally {
  await stopWorker(dash);
  await stopWorker(worker);
  await deleteQueues(BROKER, await poolQueueNames(queue, [join(BENCH_DIR, 'tasks', 'spin.mjs')]));
  cleanup();
}
const a = median(closed);
const b = median(open);
table(
  `one fj worker -c 2, ${N} items of ~1 ms: items/s with the dashboard page closed vs open and live-updating`,
  ['dashboard page', 'items/s (median)', 'rounds'],
  [
    ['closed', fmt.int(a), closed.map((x) => fmt.int(x)).join(', ')],
    ['open (3 live streams)', fmt.int(b), open.map((x) => fmt.int(x)).join(', ')],
    ['ratio', (b / a).toFixed(3), `goal >= 0.95; ${messages} live messages read`],
  ],
);
saveResult('dashboard', {
  items: N,
  itemMs: 1,
  closed: Math.round(a),
  open: Math.round(b),
  ratio: +(b / a).toFixed(3),
  liveMessages: messages,
});
