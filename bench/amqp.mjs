/**
 * The amqp executor through a real RabbitMQ (FJ_BROKER_URL, default
 * amqp://guest:guest@127.0.0.1:5672) and the default file store. Workers are
 * `fj worker` child processes on a unique queue `fj.bench.<uuid>...`, stopped
 * by PID with SIGTERM at the end; the queues are deleted at the end.
 *
 * (b) throughput: N no-op items (default 200,000), ONE worker at
 *     --concurrency 2, items/s end to end (run() in this process, from call
 *     to output). Goal ≥ 20,000/s. Median of 3 after a warm-up.
 * (a) bytes: word count of the 40,000-document corpus with two workers:
 *     (bytesPublished + bytesStored) / input bytes, from --stats. Goal ≤ 2x.
 * (c) alignment: `node scripts/gen-align.mjs --reference-length 50000
 *     --edits 700 --edit-length 200` (about 25 s eager here); whole-process
 *     time of `fj run align` on amqp (2 workers, --concurrency 1 each: one
 *     single-threaded worker per core), local and eager, rounds rotating the
 *     order. Median of 3.
 *
 *   node bench/amqp.mjs [--parts abc] [--tiny 200000] [--rounds 3] [--edits 700] [--reference 50000]
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_BROKER, run } from '../dist/src/index.js';
import Noop from './tasks/noop.mjs';
import {
  BENCH_DIR,
  CLI,
  ROOT,
  deleteQueues,
  poolQueueNames,
  portAnswers,
  fmt,
  median,
  saveResult,
  startWorker,
  stopWorker,
  table,
  tempDir,
  timeSpawn,
  timed,
  writeCorpus,
} from './lib.mjs';

const { values: opt } = parseArgs({
  options: {
    parts: { type: 'string', default: 'bac' },
    tiny: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '3' },
    docs: { type: 'string', default: '40000' },
    edits: { type: 'string', default: '700' },
    reference: { type: 'string', default: '50000' },
  },
});
const ROUNDS = Number(opt.rounds);
const BROKER = process.env.FJ_BROKER_URL ?? DEFAULT_BROKER;
const id = randomUUID();
const qTiny = `fj.bench.${id}.tiny`;
const qPool = `fj.bench.${id}`;
/** Every queue the bench's two pools declare (jobs, scheduler, a code queue per task their workers serve). */
const queues = [
  ...(await poolQueueNames(qTiny, [join(BENCH_DIR, 'tasks', 'noop.mjs')])),
  ...(await poolQueueNames(qPool)),
];

if (!(await portAnswers({ host: new URL(BROKER).hostname, port: Number(new URL(BROKER).port || 5672) }))) {
  console.log(`\namqp: SKIPPED, RabbitMQ does not answer at ${new URL(BROKER).host} (set FJ_BROKER_URL)\n`);
  process.exit(0);
}

const workers = new Set();
const start = async (args) => {
  const w = await startWorker(['--broker', BROKER, ...args]);
  workers.add(w);
  return w;
};
const stop = async (w) => {
  workers.delete(w);
  return stopWorker(w);
};
const { dir, cleanup } = tempDir();
let interrupted = false;
const onSignal = () => {
  interrupted = true;
  for (const w of workers) if (w.child.exitCode === null) process.kill(w.pid, 'SIGTERM');
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);

const figures = { broker: new URL(BROKER).host, store: 'default file store' };
try {
  // (b) throughput of tiny items, one worker at --concurrency 2.
  if (opt.parts.includes('b')) {
    const N = Number(opt.tiny);
    const w = await start(['--queue', qTiny, '--concurrency', '2', '--tasks', join(BENCH_DIR, 'tasks', 'noop.mjs')]);
    const once = async (n) => {
      let stats;
      const { ms, value } = await timed(() =>
        run(Noop, { n }, { executor: 'amqp', queue: qTiny, broker: BROKER, onStats: (s) => (stats = s) }),
      );
      if (value.items !== n) throw new Error(`expected ${n} results, got ${value.items}`);
      return { ms, stats };
    };
    await once(10_000); // warm-up: connections, the task loaded, params fetched
    const rounds = [];
    for (let r = 0; r < ROUNDS && !interrupted; r++) {
      const { ms, stats } = await once(N);
      rounds.push({
        ms,
        perSec: (N * 1000) / ms,
        messages: stats.messages / 2,
        bytes: stats.bytesPublished + stats.bytesStored,
      });
    }
    await stop(w);
    const rows = rounds.map((r, i) => [`round ${i + 1}`, fmt.ms(r.ms), fmt.int(r.perSec), r.messages, fmt.mb(r.bytes)]);
    const b = {
      items: N,
      wallMs: median(rounds.map((r) => r.ms)),
      itemsPerSec: median(rounds.map((r) => r.perSec)),
      workMessages: median(rounds.map((r) => r.messages)),
      goal: 20_000,
    };
    rows.push(['median', fmt.ms(b.wallMs), fmt.int(b.itemsPerSec), b.workMessages, '']);
    table(
      `amqp (b): ${fmt.int(N)} no-op items, 1 worker --concurrency 2, end to end (${ROUNDS} rounds; goal ≥ 20,000/s)`,
      ['', 'wall', 'items/s', 'work msgs', 'bytes'],
      rows,
    );
    console.log(
      `throughput ${fmt.int(b.itemsPerSec)} items/s: goal ≥ 20,000/s ${b.itemsPerSec >= 20_000 ? 'MET' : 'MISSED'}`,
    );
    figures.throughput = b;
  }

  // (a) and (c) share two workers.
  if ((opt.parts.includes('a') || opt.parts.includes('c')) && !interrupted) {
    const pool = [];
    for (let i = 0; i < 2; i++) pool.push(await start(['--queue', qPool, '--concurrency', '1']));
    const statsFile = join(dir, 'stats.json');
    const fjRun = async (task, input, executor) => {
      const extra = executor === 'amqp' ? ['--queue', qPool, '--broker', BROKER] : [];
      const { ms } = await timeSpawn(process.execPath, [
        CLI,
        'run',
        task,
        input,
        '--executor',
        executor,
        '--no-progress',
        '--stats',
        statsFile,
        ...extra,
      ]);
      return { ms, stats: JSON.parse(readFileSync(statsFile, 'utf8')) };
    };

    if (opt.parts.includes('a')) {
      const docs = Number(opt.docs);
      const corpus = join(dir, 'corpus.json');
      const inputBytes = await writeCorpus(corpus, { docs, words: 100, vocab: 5000, seed: 42 });
      const { ms, stats } = await fjRun('wordcount', corpus, 'amqp');
      if (stats.items !== docs) throw new Error(`expected ${docs} items, got ${stats.items}`);
      const a = {
        documents: docs,
        inputBytes,
        bytesPublished: stats.bytesPublished,
        bytesStored: stats.bytesStored,
        messages: stats.messages,
        ratio: (stats.bytesPublished + stats.bytesStored) / inputBytes,
        processMs: ms,
        jobMs: stats.wallMs,
        goal: 2,
      };
      table(
        `amqp (a): word count, ${fmt.int(docs)} documents, 2 workers: bytes through broker and store (goal ≤ 2x input)`,
        ['input', 'published', 'stored', 'messages', '(published+stored)/input', 'process wall'],
        [
          [
            fmt.mb(inputBytes),
            fmt.mb(a.bytesPublished),
            fmt.mb(a.bytesStored),
            fmt.int(a.messages),
            fmt.x(a.ratio),
            fmt.ms(ms),
          ],
        ],
      );
      console.log(`bytes ratio ${fmt.x(a.ratio)}: goal ≤ 2x ${a.ratio <= 2 ? 'MET' : 'MISSED'}`);
      figures.bytes = a;
    }

    if (opt.parts.includes('c') && !interrupted) {
      const input = join(dir, 'align.json');
      const genArgs = [
        '--reference-length',
        opt.reference,
        '--edits',
        opt.edits,
        '--edit-length',
        '200',
        '--seed',
        '7',
      ];
      await timeSpawn(process.execPath, [join(ROOT, 'scripts', 'gen-align.mjs'), ...genArgs], { stdoutFile: input });
      const executors = ['eager', 'local', 'amqp'];
      const rounds = [];
      for (let r = 0; r < ROUNDS && !interrupted; r++) {
        const order = executors.map((_, i) => executors[(i + r) % executors.length]);
        const t = {};
        for (const e of order) {
          const { ms, stats } = await fjRun('align', input, e);
          if (stats.items !== Number(opt.edits))
            throw new Error(`align ${e}: expected ${opt.edits} items, got ${stats.items}`);
          t[e] = ms;
        }
        rounds.push({ ...t, local: t.local, vsLocal: t.eager / t.local, vsAmqp: t.eager / t.amqp });
      }
      const m = (k) => median(rounds.map((r) => r[k]));
      const c = {
        generator: `node scripts/gen-align.mjs ${genArgs.join(' ')}`,
        inputBytes: statSync(input).size,
        eagerMs: m('eager'),
        localMs: m('local'),
        amqpMs: m('amqp'),
        speedupLocal: m('vsLocal'),
        speedupAmqp: m('vsAmqp'),
      };
      const rows = rounds.map((r, i) => [
        `round ${i + 1}`,
        fmt.s(r.eager),
        fmt.s(r.local),
        fmt.s(r.amqp),
        fmt.x(r.vsLocal),
        fmt.x(r.vsAmqp),
      ]);
      rows.push([
        'median',
        fmt.s(c.eagerMs),
        fmt.s(c.localMs),
        fmt.s(c.amqpMs),
        fmt.x(c.speedupLocal),
        fmt.x(c.speedupAmqp),
      ]);
      table(
        `amqp (c): align, ${opt.edits} edits x 200 bases on a ${fmt.int(Number(opt.reference))}-base reference, whole \`fj run\` process (${ROUNDS} rounds)`,
        ['', 'eager', 'local (2 threads)', 'amqp (2 workers)', 'eager/local', 'eager/amqp'],
        rows,
      );
      figures.align = c;
    }
    for (const w of pool) await stop(w);
  }
  saveResult('amqp', figures);
} finally {
  for (const w of [...workers]) await stop(w).catch(() => {});
  await deleteQueues(BROKER, queues).catch((err) => console.error(`could not delete the bench queues: ${err.message}`));
  cleanup();
}
