/**
 * The first job on a freshly started `fj worker` against the same job on the
 * same worker once it has served one: what a worker's first job pays that
 * its later ones do not (each thread importing the task, before the warm
 * pool). Each round starts a fresh worker (`--threads` threads, its own
 * queue), times its start (spawn to its `serving` line), then runs the job
 * twice from this process: `--items` items that each block their thread for
 * `--ms` without using the CPU. The task is a TypeScript module (compiled by
 * tsx in each thread, as a user's task is; `--task js`: bench/tasks/straggle.mjs,
 * plain JavaScript). This process loads the task and compiles its schema
 * before the first round (an eager run of no items), so the figures are
 * the workers'. Median of `--rounds` (5).
 *
 * RabbitMQ at FJ_BROKER_URL (default amqp://guest:guest@127.0.0.1:5672), the
 * default file store. Workers are child processes stopped by PID (SIGTERM);
 * the queues are deleted at the end.
 *
 *   node bench/first-job.mjs [--rounds 5] [--threads 8] [--items 32] [--ms 100] [--task ts|js]
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_BROKER, run } from '../dist/src/index.js';
import {
  BENCH_DIR,
  ROOT,
  deleteQueues,
  poolQueueNames,
  fmt,
  median,
  portAnswers,
  saveResult,
  startWorker,
  stopWorker,
  table,
  tempDir,
} from './lib.mjs';

const { values: opt } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    threads: { type: 'string', default: '8' },
    items: { type: 'string', default: '32' },
    ms: { type: 'string', default: '100' },
    task: { type: 'string', default: 'ts' },
  },
});
const ROUNDS = Number(opt.rounds);
const THREADS = Number(opt.threads);
const ITEMS = Number(opt.items);
const ITEM_MS = Number(opt.ms);
const BROKER = process.env.FJ_BROKER_URL ?? DEFAULT_BROKER;
if (opt.task !== 'ts' && opt.task !== 'js') throw new Error(`--task: ts or js, got ${opt.task}`);

if (!(await portAnswers({ host: new URL(BROKER).hostname, port: Number(new URL(BROKER).port || 5672) }))) {
  console.log(`\nfirst-job: SKIPPED, RabbitMQ does not answer at ${new URL(BROKER).host} (set FJ_BROKER_URL)\n`);
  process.exit(0);
}

let scratch;
/** The task module: straggle.mjs, or the same task in TypeScript in a scratch directory (fj imported from this build). */
function taskFile() {
  if (opt.task === 'js') return join(BENCH_DIR, 'tasks', 'straggle.mjs');
  scratch = tempDir('fj-bench-first-job-');
  const file = join(scratch.dir, 'straggle-ts.mts');
  const fj = pathToFileURL(join(ROOT, 'dist', 'src', 'index.js')).href;
  writeFileSync(
    file,
    `import { ForkJoinTask } from '${fj}';

const cell = new Int32Array(new SharedArrayBuffer(4));

/** bench/tasks/straggle.mjs in TypeScript: items that block their thread for their duration (ms). */
export default class StraggleTs extends ForkJoinTask<{ durations: number[] }, number, number, { items: number }, object> {
  static override module = import.meta.url;
  static override params: string[] = [];
  static override schema = {
    type: 'object',
    properties: { durations: { type: 'array', items: { type: 'number', minimum: 0 } } },
    required: ['durations'],
    additionalProperties: false,
  };
  setup({ durations }: { durations: number[] }): number[] {
    return durations;
  }
  process(ms: number): number {
    Atomics.wait(cell, 0, 0, ms);
    return ms;
  }
  join(results: number[]): { items: number } {
    return { items: results.length };
  }
}
`,
  );
  return file;
}

const TASK = taskFile();
const id = randomUUID();
let current;
let interrupted = false;
const onSignal = () => {
  interrupted = true;
  if (current?.child.exitCode === null) process.kill(current.pid, 'SIGTERM');
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);

/** One job on `queue`: its wall time in this process, call to output. */
async function job(queue) {
  const t0 = performance.now();
  const out = await run(
    TASK,
    { durations: new Array(ITEMS).fill(ITEM_MS) },
    { executor: 'amqp', queue, broker: BROKER },
  );
  if (out.items !== ITEMS) throw new Error(`expected ${ITEMS} results, got ${out.items}`);
  return performance.now() - t0;
}

await run(TASK, { durations: [] }, { executor: 'eager' }); // this process loads the task and its schema now
const rounds = [];
const queues = [];
try {
  for (let r = 0; r < ROUNDS && !interrupted; r++) {
    const queue = `fj.bench.${id}.first${r}`;
    queues.push(...(await poolQueueNames(queue, [TASK])));
    const t0 = performance.now();
    current = await startWorker(
      ['--broker', BROKER, '--queue', queue, '--concurrency', String(THREADS), '--no-coordinate', '--tasks', TASK],
      { timeoutMs: 60_000 },
    );
    const startMs = performance.now() - t0;
    try {
      const firstMs = await job(queue);
      const secondMs = await job(queue);
      rounds.push({ startMs, firstMs, secondMs });
    } finally {
      await stopWorker(current);
    }
  }
} finally {
  await deleteQueues(BROKER, queues).catch(() => {});
  scratch?.cleanup();
}

const ideal = Math.ceil(ITEMS / THREADS) * ITEM_MS;
const med = (k) => median(rounds.map((r) => r[k]));
table(
  `first-job: 1 fj worker x ${THREADS} threads, ${ITEMS} items of ${ITEM_MS} ms (ideal ${fmt.s(ideal)}), ${opt.task} task, ${rounds.length} fresh worker(s)`,
  ['', 'worker start', 'first job', 'second job', 'first - second'],
  [
    ...rounds.map((r, i) => [
      `round ${i + 1}`,
      fmt.s(r.startMs),
      fmt.s(r.firstMs),
      fmt.s(r.secondMs),
      fmt.s(r.firstMs - r.secondMs),
    ]),
    [
      'median',
      fmt.s(med('startMs')),
      fmt.s(med('firstMs')),
      fmt.s(med('secondMs')),
      fmt.s(median(rounds.map((r) => r.firstMs - r.secondMs))),
    ],
  ],
);
saveResult('first-job', { threads: THREADS, items: ITEMS, itemMs: ITEM_MS, task: opt.task, rounds });
