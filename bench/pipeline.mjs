/**
 * Pipelines (issue 25): what chaining stages costs.
 *
 * The stages are bench/tasks/stage.mjs (`bench-stage`): a plan of stages
 * `[{ n, ms }, ...]`, each stage `n` items that block their thread for `ms`
 * (Atomics.wait: no CPU, so the framework is not competing with the items
 * for the 2 cores), its join passing the plan on to the next stage. Every
 * item and join appends a timestamp (performance.timeOrigin + now(), a clock
 * all processes share) to a file of the run; from them:
 *
 *   transition = first item start of stage k+1 - last item end of stage k
 *              = (join of k: join returns - last item end)
 *              + (start-up of k+1: its first item starts - join of k returns)
 *
 * Variants, each round running every one once, the order rotating (medians
 * of --rounds, after a small warm-up round):
 *   local            runPipeline, executor local (2 threads)   vs 3 jobs run() one after another
 *   amqp             runPipeline, executor amqp                 vs 3 jobs run() one after another
 *   submitted        submitPipeline + result()                  vs 3 jobs submit() + result() one after another
 *   galaxy (fj)      submitPipeline: stage 1 item | N items | 1 item, on-error stage
 *   galaxy (Celery)  chain(setup | chord(N item tasks, callback) | metadata), link_error
 * amqp, submitted and galaxy on ONE `fj worker -c 2` (fresh `fj.bench.<uuid>`
 * queue, a file store of the run's own); Celery on one `celery worker
 * --pool prefork --concurrency 2` (bench/peers: celery_app.py, client.py),
 * its result backend Redis database 12. Celery's time is client.py's own
 * (canvas built to result in hand), fj's from the call to the result: both
 * exclude interpreter start-up. result() polls the store every --poll-ms.
 * Celery's galaxy tasks append the same timestamp lines as the stage task
 * (bench/peers/celery_app.py): the same work on both sides (until Dec 2026
 * only fj's items paid for them), and Celery's transitions measured too.
 *
 * Goals: transition ≤ 50 ms local, ≤ 150 ms amqp; 3-stage pipeline ≤ 1.05x
 * the 3 separate jobs (local, amqp, submitted); Galaxy chain: fj ≥ 2x
 * faster than Celery. Streaming between stages: bench/pipeline-stream.mjs.
 *
 *   node bench/pipeline.mjs [--parts lasg] [--rounds 7] [--items 100] [--ms 20]
 *       [--galaxy-items 200] [--galaxy-ms 2] [--poll-ms 10] [--store file|redis]
 *
 * --store: fj's payload store, a file store of the run's own (default) or
 * Redis (database 11, keys under a prefix of the run's, deleted at the end),
 * as Celery's result backend is.
 *
 * Writes bench/out/pipeline.json. Prints SKIPPED for the broker parts when
 * RabbitMQ does not answer (and for Celery when it does not import).
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { DEFAULT_BROKER, pipeline, run, runPipeline, submit, submitPipeline } from '../dist/src/index.js';
import { normalizeOptions } from '../dist/src/core/job-options.js';
import { LocalExecutor } from '../dist/src/executors/local.js';
import { startJob } from '../dist/src/job/lifecycle.js';
import Stage from './tasks/stage.mjs';
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
  tempDir,
  timeSpawn,
} from './lib.mjs';
import { PEERS_DIR, PYTHON, pythonEnv, startCeleryWorker, stopTree } from './peers/proc.mjs';

const { values: opt } = parseArgs({
  options: {
    parts: { type: 'string', default: 'lasg' },
    rounds: { type: 'string', default: '7' },
    items: { type: 'string', default: '100' },
    ms: { type: 'string', default: '20' },
    'galaxy-items': { type: 'string', default: '200' },
    'galaxy-ms': { type: 'string', default: '2' },
    'poll-ms': { type: 'string', default: '10' },
    'quiet-wait': { type: 'string', default: '60' },
    store: { type: 'string', default: 'file' },
  },
});
const ROUNDS = Number(opt.rounds);
const POLL = Number(opt['poll-ms']);
const BROKER = process.env.FJ_BROKER_URL ?? DEFAULT_BROKER;
const REDIS_URL = 'redis://127.0.0.1:6379/12';
const id = randomUUID();
const QUEUE = `fj.bench.${id}`;
const CEL_Q = `celery.bench.${id}`;
const STAGE_FILE = join(BENCH_DIR, 'tasks', 'stage.mjs');
const { dir, cleanup } = tempDir('fj-bench-pipeline-');
// fj's store: a file store of the run's own, or (--store redis) Redis, as Celery's result backend is (keys under a prefix of the run's own, deleted at the end).
const REDIS_PREFIX = `fj-bench-${id}`;
const store =
  opt.store === 'redis' ? `redis://127.0.0.1:6379/11?prefix=${REDIS_PREFIX}` : `file://${join(dir, 'store')}`;
if (!['file', 'redis'].includes(opt.store)) throw new Error(`--store: file or redis, not ${opt.store}`);

/** Deletes the run's keys from Redis (--store redis). */
async function deleteRedisKeys() {
  const { Redis } = await import('ioredis');
  const r = new Redis('redis://127.0.0.1:6379/11');
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${REDIS_PREFIX}:*`, 'COUNT', 1000);
      if (keys.length) await r.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

const plan3 = (n, ms) => [
  { n, ms },
  { n, ms },
  { n, ms },
];
const PLAN = plan3(Number(opt.items), Number(opt.ms));
const GMS = Number(opt['galaxy-ms']);
const GN = Number(opt['galaxy-items']);
const GPLAN = [
  { n: 1, ms: GMS },
  { n: GN, ms: GMS },
  { n: 1, ms: GMS },
];

// The pipeline: the stage task three times, each stage named, an on-error stage that never runs here.
const bench3 = pipeline(Stage, { name: 'one' })
  .pipe(Stage, { name: 'two' })
  .pipe(Stage, { name: 'three' })
  .onError('failure-record', { executor: 'eager' })
  .named('bench-3');
const galaxy = pipeline(Stage, { name: 'setup' })
  .pipe(Stage, { name: 'items' })
  .pipe(Stage, { name: 'metadata' })
  .onError('failure-record', { executor: 'eager' })
  .named('bench-galaxy');

// ------------------------------------------------------------------ stamps

// ------------------------------------------------------------------ a quiet machine

/** Fraction of the machine's CPU time busy over `ms` (from /proc/stat), as bench/peers measures it. */
async function cpuBusy(ms) {
  const read = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return { idle: f[3] + f[4], total: f.slice(0, 8).reduce((a, b) => a + b, 0) };
  };
  const a = read();
  await new Promise((r) => setTimeout(r, ms));
  const b = read();
  return b.total > a.total ? 1 - (b.idle - a.idle) / (b.total - a.total) : 0;
}

/** Before each round, our workers idle: waits up to --quiet-wait seconds for the machine to be under 50 % busy. Returns how busy it was. */
async function waitQuiet() {
  const until = performance.now() + Number(opt['quiet-wait']) * 1000;
  let busy = await cpuBusy(700);
  while (busy > 0.5 && performance.now() < until && !interrupted) busy = await cpuBusy(1000);
  return busy;
}

let runNo = 0;
const stampFile = () => join(dir, `stamps-${++runNo}.txt`);

/** Per stage: first item start, last item end, join end; and the transitions between stages. */
function readStamps(file, stages) {
  const by = Array.from({ length: stages }, () => ({ s: Infinity, e: -Infinity, j: undefined, items: 0 }));
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    const [k, what, t] = line.split(' ');
    const st = by[Number(k)];
    const v = Number(t);
    if (what === 's') {
      st.s = Math.min(st.s, v);
      st.items++;
    } else if (what === 'e') st.e = Math.max(st.e, v);
    else st.j = v;
  }
  const transitions = [];
  for (let k = 0; k + 1 < stages; k++) {
    const a = by[k];
    const b = by[k + 1];
    transitions.push({ total: b.s - a.e, join: a.j - a.e, startup: b.s - a.j });
  }
  return { stages: by, transitions };
}

// ------------------------------------------------------------------ variants

const local = { executor: 'local', concurrency: 2 };
const amqp = () => ({ executor: 'amqp', queue: QUEUE, broker: BROKER, store });
const sub = () => ({ queue: QUEUE, broker: BROKER, store });

/** Three jobs one after another, each the previous one's output as input: what a pipeline is measured against. */
async function threeJobs(input, runOne) {
  let value = input;
  for (let k = 0; k < 3; k++) value = await runOne(value);
  return value;
}

/**
 * Three jobs on ONE thread pool, started once and kept across them (fj's
 * internal startJob with an executor it does not dispose of): not an API,
 * the floor runPipeline would reach on local if it kept its pool from stage
 * to stage instead of starting threads for each stage's job.
 */
async function keptPool(input) {
  const ex = new LocalExecutor();
  ex.prepare(normalizeOptions(local));
  const kept = { map: (plan) => ex.map(plan), dispose: async () => {} };
  try {
    return await threeJobs(input, async (v) => (await startJob(Stage, { value: v }, local, kept)).output);
  } finally {
    await ex.dispose();
  }
}

const variants = {
  'local-pipeline': {
    part: 'l',
    label: 'local: runPipeline',
    run: (i) => runPipeline(bench3, i, local).then((r) => r.output),
  },
  'local-jobs': {
    part: 'l',
    label: 'local: 3 jobs, run() in turn',
    run: (i) => threeJobs(i, (v) => run(Stage, v, local)),
  },
  'local-kept': { part: 'l', label: 'local: 3 jobs on one kept pool (floor)', run: keptPool },
  'amqp-pipeline': {
    part: 'a',
    label: 'amqp: runPipeline',
    run: (i) => runPipeline(bench3, i, amqp()).then((r) => r.output),
  },
  'amqp-jobs': {
    part: 'a',
    label: 'amqp: 3 jobs, run() in turn',
    run: (i) => threeJobs(i, (v) => run(Stage, v, amqp())),
  },
  'submitted-pipeline': {
    part: 's',
    label: 'submitted: submitPipeline',
    run: async (i) => (await submitPipeline(bench3, i, sub())).result({ pollMs: POLL }),
  },
  'submitted-jobs': {
    part: 's',
    label: 'submitted: 3 jobs, submit() + result() in turn',
    run: (i) => threeJobs(i, async (v) => (await submit(Stage, v, sub())).result({ pollMs: POLL })),
  },
};

// ------------------------------------------------------------------ set-up

const figures = {
  command: `node bench/pipeline.mjs ${process.argv.slice(2).join(' ')}`.trim(),
  rounds: ROUNDS,
  plan: PLAN,
  galaxyPlan: GPLAN,
  pollMs: POLL,
  loadBefore: load(),
};
const brokerUp = await portAnswers({ host: new URL(BROKER).hostname, port: Number(new URL(BROKER).port || 5672) });
if (!brokerUp)
  console.log(
    `\npipeline: amqp, submitted and galaxy parts SKIPPED, RabbitMQ does not answer at ${new URL(BROKER).host} (set FJ_BROKER_URL)\n`,
  );
const want = (p) => opt.parts.includes(p) && (p === 'l' || brokerUp);
const celeryOk =
  want('g') &&
  (await portAnswers({ host: '127.0.0.1', port: 6379 })) &&
  spawnSync(PYTHON, ['-c', 'import celery, redis'], { env: pythonEnv() }).status === 0;
if (want('g') && !celeryOk)
  console.log('\npipeline: galaxy on Celery SKIPPED: Celery or Redis missing (bench/peers/setup.sh installs Celery)\n');

const live = [];
let interrupted = false;
const onSignal = () => {
  interrupted = true;
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);

try {
  if (want('a') || want('s') || want('g')) {
    live.push({
      kind: 'fj',
      w: await startWorker(['--broker', BROKER, '--queue', QUEUE, '--store', store, '-c', '2', '--tasks', STAGE_FILE]),
    });
  }
  if (celeryOk) {
    live.push({
      kind: 'celery',
      w: await startCeleryWorker({
        broker: celeryBroker(),
        backend: REDIS_URL,
        queue: CEL_Q,
        concurrency: 2,
        name: `bench-${id.slice(0, 8)}`,
      }),
    });
  }

  const active = Object.entries(variants).filter(([, v]) => want(v.part));
  if (want('g')) {
    active.push([
      'galaxy-fj',
      {
        part: 'g',
        label: `galaxy: fj submitPipeline`,
        galaxy: true,
        run: async (i) => (await submitPipeline(galaxy, i, sub())).result({ pollMs: POLL }),
      },
    ]);
    if (celeryOk)
      active.push([
        'galaxy-celery',
        {
          part: 'g',
          label: 'galaxy: Celery chain(setup | chord | metadata), link_error',
          galaxy: true,
          celery: true,
          run: celeryChain,
        },
      ]);
  }
  const res = Object.fromEntries(
    active.map(([k, v]) => [k, { label: v.label, wall: [], transitions: [], loads: [], parts: [] }]),
  );

  const once = async (key, v, plan, record) => {
    const stamps = stampFile();
    const input = { plan, stage: 0, stamps };
    const t0 = performance.now();
    const out = await v.run(input);
    const t1 = performance.now();
    let ms = t1 - t0;
    if (v.celery) ms = out.jobMs;
    else if (out.stage !== 3 || out.plan.length !== 3)
      throw new Error(`${key}: unexpected output ${JSON.stringify(out)}`);
    if (!record) return;
    const r = res[key];
    r.wall.push(ms);
    r.loads.push(loadavg()[0]);
    {
      // Celery's tasks append the same stamps as fj's stages (bench/peers/celery_app.py).
      const st = readStamps(stamps, 3);
      st.stages.forEach((s, k) => {
        if (s.items !== plan[k].n)
          throw new Error(`${key}: stage ${k + 1} ran ${s.items} items, expected ${plan[k].n}`);
      });
      r.transitions.push(...st.transitions);
      // Where the rest of the wall time went: before stage 1's first item, each stage's items (first start to last end), after the last join.
      // (Celery's time is client.py's own, on a clock of its own: its lead and tail are not known here.)
      const abs = (t) => performance.timeOrigin + t;
      r.parts.push({
        lead: v.celery ? undefined : st.stages[0].s - abs(t0),
        spans: st.stages.map((x) => x.e - x.s),
        tail: v.celery ? undefined : abs(t1) - st.stages[st.stages.length - 1].j,
      });
    }
    console.log(
      `  ${v.label}: ${fmt.ms(ms)}, transitions ${r.transitions
        .slice(-2)
        .map((t) => t.total.toFixed(1))
        .join(' / ')} ms`,
    );
  };

  const busyRounds = (figures.busyBeforeRounds = []);
  // Warm-up: connections, the task loaded in the worker, threads.
  console.log(`warm-up (load average ${load()})`);
  for (const [key, v] of active)
    await once(key, v, v.galaxy ? GPLAN.map((s) => ({ ...s, n: Math.min(s.n, 20) })) : plan3(4, 1), false);
  for (let r = 0; r < ROUNDS && !interrupted; r++) {
    const busy = await waitQuiet();
    busyRounds.push(busy);
    console.log(`round ${r + 1} (load average ${load()}; the machine ${(busy * 100).toFixed(0)} % busy before it)`);
    for (let i = 0; i < active.length && !interrupted; i++) {
      const [key, v] = active[(i + r) % active.length];
      await once(key, v, v.galaxy ? GPLAN : PLAN, true);
    }
  }
  figures.loadAfter = load();

  // ---------------------------------------------------------------- tables
  const summary = {};
  for (const [key] of active) {
    const r = res[key];
    const tr = r.transitions;
    summary[key] = {
      label: r.label,
      wallMs: +median(r.wall).toFixed(1),
      wallRounds: r.wall.map((x) => +x.toFixed(1)),
      loads: r.loads.map((x) => +x.toFixed(2)),
      ...(tr.length
        ? {
            transitionMs: +median(tr.map((t) => t.total)).toFixed(2),
            joinMs: +median(tr.map((t) => t.join)).toFixed(2),
            startupMs: +median(tr.map((t) => t.startup)).toFixed(2),
            transitionsMs: tr.map((t) => +t.total.toFixed(2)),
            leadMs: r.parts[0].lead === undefined ? undefined : +median(r.parts.map((p) => p.lead)).toFixed(1),
            stageSpansMs: [0, 1, 2].map((k) => +median(r.parts.map((p) => p.spans[k])).toFixed(1)),
            tailMs: r.parts[0].tail === undefined ? undefined : +median(r.parts.map((p) => p.tail)).toFixed(1),
          }
        : {}),
    };
  }
  figures.variants = summary;
  const ideal = (plan) => plan.reduce((a, s) => a + Math.ceil(s.n / 2) * s.ms, 0);
  table(
    `pipelines: ${PLAN.length} stages of ${PLAN[0].n} items x ${PLAN[0].ms} ms (sleep), 2 slots (ideal ${fmt.ms(ideal(PLAN))}); galaxy: 1 | ${GN} x ${GMS} ms | 1 (ideal ${fmt.ms(ideal(GPLAN))}); medians of ${ROUNDS} rounds`,
    [
      'variant',
      'wall (median)',
      'rounds',
      'transition (median)',
      'join part',
      'start-up part',
      'before 1st item',
      'stage spans',
      'after last join',
    ],
    active.map(([key]) => {
      const s = summary[key];
      const opt1 = (x) => (x === undefined ? '-' : `${x.toFixed(1)} ms`);
      return [
        s.label,
        fmt.ms(s.wallMs),
        s.wallRounds.map((x) => x.toFixed(0)).join(', '),
        opt1(s.transitionMs),
        opt1(s.joinMs),
        opt1(s.startupMs),
        opt1(s.leadMs),
        s.stageSpansMs ? s.stageSpansMs.map((x) => x.toFixed(0)).join(' / ') + ' ms' : '-',
        opt1(s.tailMs),
      ];
    }),
  );

  const goals = [];
  const ratio = (a, b) => summary[a] && summary[b] && summary[a].wallMs / summary[b].wallMs;
  if (summary['local-pipeline'])
    goals.push([
      'transition, local',
      `${summary['local-pipeline'].transitionMs.toFixed(1)} ms`,
      '≤ 50 ms',
      summary['local-pipeline'].transitionMs <= 50,
    ]);
  if (summary['amqp-pipeline'])
    goals.push([
      'transition, amqp (runPipeline)',
      `${summary['amqp-pipeline'].transitionMs.toFixed(1)} ms`,
      '≤ 150 ms',
      summary['amqp-pipeline'].transitionMs <= 150,
    ]);
  if (summary['submitted-pipeline'])
    goals.push([
      'transition, submitted (worker queues the next)',
      `${summary['submitted-pipeline'].transitionMs.toFixed(1)} ms`,
      '≤ 150 ms',
      summary['submitted-pipeline'].transitionMs <= 150,
    ]);
  goals.push(['streaming vs barrier', 'see node bench/pipeline-stream.mjs', '', null]);
  for (const [what, a, b] of [
    ['pipeline / 3 jobs, local', 'local-pipeline', 'local-jobs'],
    ['pipeline / 3 jobs, amqp', 'amqp-pipeline', 'amqp-jobs'],
    ['pipeline / 3 jobs, submitted', 'submitted-pipeline', 'submitted-jobs'],
  ]) {
    const x = ratio(a, b);
    if (x) goals.push([what, fmt.x(x), '≤ 1.05x', x <= 1.05]);
  }
  const g = ratio('galaxy-celery', 'galaxy-fj');
  if (g) goals.push(['galaxy chain: Celery / fj', fmt.x(g), '≥ 2x', g >= 2]);
  figures.goals = goals.map(([what, value, goal, met]) => ({ what, value, goal, met }));
  table(
    'goals',
    ['measure', 'value', 'goal', ''],
    goals.map(([w, v, gl, m]) => [w, v, gl, m === null ? '' : m ? 'met' : 'MISSED']),
  );
  console.log(
    `load average before ${figures.loadBefore}, after ${figures.loadAfter}; CPU busy before each round: ${busyRounds.map((b) => `${(b * 100).toFixed(0)} %`).join(', ')}`,
  );
  saveResult('pipeline', figures);
} finally {
  for (const { kind, w } of live) await (kind === 'fj' ? stopWorker(w) : stopTree(w)).catch(() => {});
  if (brokerUp) {
    await deleteQueues(BROKER, [...(await poolQueueNames(QUEUE, [Stage])), CEL_Q]).catch((err) =>
      console.error(`could not delete the bench queues: ${err.message}`),
    );
    await deleteExchange(CEL_Q).catch(() => {});
  }
  if (celeryOk) await dropCeleryKeys().catch(() => {});
  if (opt.store === 'redis')
    await deleteRedisKeys().catch((err) => console.error(`could not delete the bench's Redis keys: ${err.message}`));
  cleanup();
}

/** One Galaxy-shaped chain on Celery: client.py's own time, canvas to result. */
async function celeryChain(input) {
  const file = join(dir, `galaxy-${runNo}.json`);
  const out = join(dir, `galaxy-${runNo}.out.json`);
  const stdout = join(dir, `galaxy-${runNo}.stdout`);
  writeFileSync(file, JSON.stringify({ plan: input.plan, stamps: input.stamps }));
  await timeSpawn(PYTHON, [join(PEERS_DIR, 'client.py'), 'galaxy', file, out], {
    cwd: PEERS_DIR,
    stdoutFile: stdout,
    env: pythonEnv({ PEER_BROKER: celeryBroker(), PEER_BACKEND: REDIS_URL, PEER_QUEUE: CEL_Q }),
  });
  const { jobMs, items } = JSON.parse(readFileSync(stdout, 'utf8'));
  const result = JSON.parse(readFileSync(out, 'utf8'));
  if (items !== input.plan[1].n || result.items !== items) throw new Error(`Celery chain: ${JSON.stringify(result)}`);
  return { jobMs };
}

function celeryBroker() {
  const u = new URL(BROKER);
  return `amqp://${u.username || 'guest'}:${u.password || 'guest'}@${u.host}//`;
}

async function deleteExchange(name) {
  const amqplib = await import('amqplib');
  const conn = await amqplib.connect(BROKER);
  try {
    const ch = await conn.createChannel();
    ch.on('error', () => {});
    await ch.deleteExchange(name).catch(() => {});
  } finally {
    await conn.close().catch(() => {});
  }
}

/** Celery's result keys in Redis database 12, as bench/peers drops them (its chord counters expire by themselves after 15 minutes). */
async function dropCeleryKeys() {
  const { Redis } = await import('ioredis');
  const redis = new Redis(REDIS_URL);
  try {
    for (const pattern of ['celery-task-meta-*']) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 5000);
        cursor = next;
        if (keys.length) await redis.unlink(...keys);
      } while (cursor !== '0');
    }
  } finally {
    redis.disconnect();
  }
}
