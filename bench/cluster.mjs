/**
 * fj on the three-node RabbitMQ cluster of scripts/rabbit-cluster.sh (root:
 * network namespaces) with a quorum pool, side by side with the machine's
 * one classic node (FJ_BROKER_URL, default amqp://guest:guest@127.0.0.1:5672)
 * in the same run:
 *
 * (t) tiny items/s: N no-op items (default 50,000), ONE worker at
 *     --concurrency 2, end to end (run() in this process); rounds alternate
 *     classic node / cluster, median of each, and their ratio.
 * (k) node kill to progress: on the cluster, a job of tiny items; once a
 *     fifth is done, kill -9 of the node leading the pool's code queue; the
 *     time from the kill until the job has made 1% more progress, the
 *     longest time without progress after the kill (with the worker's last
 *     warnings when over 10 s), and the job's end (every result once). The
 *     node is restarted after. Median over the rounds.
 *
 * Starts the cluster if it is not running, and stops it at the end unless
 * it was running before. Workers are stopped by PID; the classic node's
 * queues are deleted at the end.
 *
 *   sudo node bench/cluster.mjs [--tiny 50000] [--rounds 3]
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { DEFAULT_BROKER, run } from '../dist/src/index.js';
import { codeQueue } from '../dist/src/broker/amqp.js';
import { loadAllTasks } from '../dist/src/task/registry.js';
import Noop from './tasks/noop.mjs';
import {
  BENCH_DIR,
  ROOT,
  deleteQueues,
  poolQueueNames,
  fmt,
  median,
  saveResult,
  startWorker,
  stopWorker,
  table,
  timed,
} from './lib.mjs';

const exec = promisify(execFile);
const { values: opt } = parseArgs({
  options: { tiny: { type: 'string', default: '50000' }, rounds: { type: 'string', default: '3' } },
});
const N = Number(opt.tiny);
const ROUNDS = Number(opt.rounds);
const SINGLE = process.env.FJ_BROKER_URL ?? DEFAULT_BROKER;
const SCRIPT = join(ROOT, 'scripts', 'rabbit-cluster.sh');
const NOOP = join(BENCH_DIR, 'tasks', 'noop.mjs');
const cluster = async (...args) => (await exec(SCRIPT, args, { timeout: 200_000 })).stdout.trim();

if (process.getuid?.() !== 0) {
  console.log('\ncluster: SKIPPED, scripts/rabbit-cluster.sh needs root (network namespaces)\n');
  process.exit(0);
}
const wasRunning = /running \(pid/.test(await cluster('status').catch(() => ''));
const t0 = Date.now();
const URLS = await cluster('start');
const startMs = Date.now() - t0;
const id = randomUUID();
const qSingle = `fj.bench.${id}.classic`;
const qCluster = `fj.bench.${id}.quorum`;
const [noop] = await loadAllTasks(NOOP);
const workers = [];
const figures = { items: N, rounds: ROUNDS, clusterStartMs: wasRunning ? undefined : startMs };
try {
  const single = await startWorker(['--broker', SINGLE, '--queue', qSingle, '-c', '2', '--tasks', NOOP]);
  const quorum = await startWorker([
    '--broker',
    URLS,
    '--queue',
    qCluster,
    '--queue-type',
    'quorum',
    '-c',
    '2',
    '--tasks',
    NOOP,
  ]);
  workers.push(single, quorum);
  const opts = {
    classic: { executor: 'amqp', broker: SINGLE, queue: qSingle },
    quorum: { executor: 'amqp', broker: URLS, queue: qCluster, queueType: 'quorum' },
  };
  const once = async (which, n, onProgress) => {
    const { ms, value } = await timed(() => run(Noop, { n }, { ...opts[which], onProgress }));
    if (value.items !== n) throw new Error(`${which}: expected ${n} results, got ${value.items}`);
    return ms;
  };
  await once('classic', 5000);
  await once('quorum', 5000);
  const tiny = { classic: [], quorum: [] };
  for (let r = 0; r < ROUNDS; r++)
    for (const which of r % 2 ? ['quorum', 'classic'] : ['classic', 'quorum'])
      tiny[which].push((N * 1000) / (await once(which, N)));
  const med = { classic: median(tiny.classic), quorum: median(tiny.quorum) };
  figures.tinyPerSec = { ...med, ratio: med.quorum / med.classic, rounds: tiny };
  table(
    `tiny items/s, ${N} no-op items, one worker -c 2 (median of ${ROUNDS}, rounds alternating)`,
    ['broker', 'items/s', 'rounds'],
    [
      ['one classic node', fmt.int(med.classic), tiny.classic.map(fmt.int).join(' ')],
      ['3-node cluster, quorum', fmt.int(med.quorum), tiny.quorum.map(fmt.int).join(' ')],
      ['ratio', (med.quorum / med.classic).toFixed(2), ''],
    ],
  );

  // (k) kill -9 of the code queue's leader, mid-job.
  const codeQ = codeQueue(qCluster, noop.name, noop.codeHash);
  const kills = [];
  const K = N * 4;
  for (let r = 0; r < ROUNDS; r++) {
    const leader = await cluster('leader', codeQ);
    let done = 0;
    const seen = [];
    const job = once('quorum', K, (p) => {
      done = p.done;
      seen.push([Date.now(), p.done]);
    });
    while (done < K / 5) await new Promise((res) => setTimeout(res, 20));
    const at = Date.now();
    const doneAt = done;
    await cluster('kill', leader);
    const ms = await job;
    const back = seen.find(([t, d]) => t > at && d >= doneAt + K / 100);
    // the longest wait between two progress reports after the kill (a stall the job's time hides the cause of)
    let stallMs = 0;
    for (let i = 1; i < seen.length; i++)
      if (seen[i][0] > at) stallMs = Math.max(stallMs, seen[i][0] - Math.max(at, seen[i - 1][0]));
    kills.push({ node: Number(leader), toProgressMs: back ? back[0] - at : null, stallMs, jobMs: ms });
    if (stallMs > 10_000) {
      const lines = quorum
        .log()
        .slice(-8000)
        .split('\n')
        .filter((l) => / (warn|error) /.test(l));
      console.log(
        `round ${r + 1}: no progress for ${fmt.ms(stallMs)}; the worker's last warnings:\n${lines.slice(-12).join('\n')}`,
      );
    }
    await cluster('restart', leader);
  }
  figures.killToProgressMs = median(kills.map((k) => k.toProgressMs ?? Infinity));
  figures.kills = kills;
  table(
    `kill -9 of the code queue's leader node with a fifth of ${K} tiny items done: time until 1% more is done`,
    ['round', 'node killed', 'to progress', 'longest stall', 'job'],
    [
      ...kills.map((k, i) => [
        `${i + 1}`,
        k.node,
        k.toProgressMs === null ? 'never' : fmt.ms(k.toProgressMs),
        fmt.ms(k.stallMs),
        fmt.ms(k.jobMs),
      ]),
      [
        'median',
        '',
        fmt.ms(figures.killToProgressMs),
        fmt.ms(median(kills.map((k) => k.stallMs))),
        fmt.ms(median(kills.map((k) => k.jobMs))),
      ],
    ],
  );
  saveResult('cluster', figures);
} finally {
  for (const w of workers) await stopWorker(w);
  // A worker declares a code queue for every task it serves: the built-in ones and noop.
  await deleteQueues(SINGLE, await poolQueueNames(qSingle, [NOOP])).catch(() => {});
  if (wasRunning) await deleteQueues(URLS.split(',')[0], await poolQueueNames(qCluster, [NOOP])).catch(() => {});
  else await cluster('stop');
}
