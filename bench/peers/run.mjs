/**
 * fj against Celery on the same RabbitMQ (127.0.0.1:5672, guest/guest), the
 * same Redis (127.0.0.1:6379, database 12: fj's payload store, Celery's
 * result backend), the same inputs and the same number of worker slots (2).
 *
 *   npm run bench:peers                      (builds, then runs everything)
 *   node bench/peers/run.mjs [--parts wtsa] [--rounds 3] [--docs 40000]
 *       [--tiny 200000] [--celery-tiny 10000] [--straggle 1000]
 *       [--reference 1000000] [--edits 500] [--fj-pool 1x2|2x1]
 *       [--fj-ref HEAD] [--no-seed] [--no-bare]
 *
 * Parts: w word count, t tiny items, s stragglers, a shared context (align
 * input). Systems: fj amqp (`fj worker` child processes, by default one at
 * --concurrency 2), fj local (--concurrency 2, no broker), and Celery 5.2
 * from Debian (`celery worker --pool prefork --concurrency 2`; submitter
 * bench/peers/client.py), run with /usr/bin/python3; for word count also
 * bench/wordcount-bare.mjs and bench/wordcount-bare-amqp.mjs (`--no-bare`
 * leaves them out), the least a whole 2-thread Node process does, no fj, by
 * itself and through RabbitMQ (a consumer process with 2 threads, started
 * like the fj worker, and a client sending as many messages as fj's run):
 * the floors fj local and fj amqp are measured against. bench/peers/setup.sh
 * installs Celery first if it is missing (apt-get).
 *
 * Per part, two phases:
 * 1. Instrumented, one run per system: fresh workers connect to RabbitMQ
 *    and Redis through counting TCP proxies (the same byte count for both
 *    systems: every byte of every connection, both directions, framing
 *    included, from just before the submitter starts to 0.5 s after it
 *    exits); the submitter runs under /usr/bin/time (its peak RSS); the
 *    workers' peak memory is the sum of VmHWM over the worker's processes
 *    (fresh workers, so the peak is this job's) and the peak of their summed
 *    PSS sampled every 100 ms (PSS splits pages shared by Celery's forked
 *    children). Outputs are checked equal across systems.
 * 2. Timed, direct connections: one warm-up run per system on a small input,
 *    then `--rounds` rounds, each running every system once, the order
 *    rotating. Whole-process wall time (spawn to exit of `fj run` or
 *    client.py) and job time (fj --stats wallMs; client.py's own timer, from
 *    the parsed input to the result in hand). Medians.
 *
 * Writes bench/out/peers.json. Holds /tmp/fj-bench.lock (our PID) while it
 * runs. Queues fj.peers.<uuid> and celery.peers.<uuid> are deleted at the
 * end; workers are stopped by PID.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  CLI,
  ROOT,
  fmt,
  median,
  poolQueueNames,
  portAnswers,
  prng,
  saveResult,
  table,
  tempDir,
  timeSpawn,
  writeCorpus,
} from '../lib.mjs';
import {
  PEERS_DIR,
  PYTHON,
  countingProxy,
  memorySampler,
  pythonEnv,
  releaseLock,
  snapshotFj,
  startBareAmqpWorker,
  startCeleryWorker,
  startFjWorker,
  stopTree,
  takeLock,
  treeUsage,
} from './proc.mjs';

const { values: opt } = parseArgs({
  options: {
    parts: { type: 'string', default: 'wtsa' },
    rounds: { type: 'string', default: '3' },
    docs: { type: 'string', default: '40000' },
    tiny: { type: 'string', default: '200000' },
    'celery-tiny': { type: 'string', default: '10000' },
    straggle: { type: 'string', default: '1000' },
    reference: { type: 'string', default: '1000000' },
    edits: { type: 'string', default: '500' },
    'fj-pool': { type: 'string', default: '1x2' },
    'no-seed': { type: 'boolean', default: false },
    'no-bare': { type: 'boolean', default: false },
    'fj-ref': { type: 'string' },
  },
});
const ROUNDS = Number(opt.rounds);
const [FJ_WORKERS, FJ_CONC] = opt['fj-pool'].split('x').map(Number);
if (!(FJ_WORKERS * FJ_CONC === 2)) throw new Error(`--fj-pool must give 2 slots (1x2 or 2x1), got ${opt['fj-pool']}`);
const AMQP = { host: '127.0.0.1', port: 5672 };
const REDIS = { host: '127.0.0.1', port: 6379, db: 12 };
const SLOTS = 2;
const id = randomUUID();
const FJ_Q = `fj.peers.${id}`;
const CEL_Q = `celery.peers.${id}`;
const BARE_Q = `bare.peers.${id}`;
/** Documents per message fj's word count sends over amqp (its --stats `messages`: 40 for 40,000): the bare amqp program sends as many. */
const FJ_WORDCOUNT_BATCH = 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const urls = (amqpPort, redisPort) => ({
  fjBroker: `amqp://guest:guest@${AMQP.host}:${amqpPort}`,
  celBroker: `amqp://guest:guest@${AMQP.host}:${amqpPort}//`,
  redis: `redis://${REDIS.host}:${redisPort}/${REDIS.db}`,
});
const DIRECT = urls(AMQP.port, REDIS.port);

// ---------------------------------------------------------------- set-up

if (!opt['fj-ref'] && !existsSync(CLI))
  throw new Error(`fj is not built (${CLI} is missing): run npm run build, or pass --fj-ref HEAD`);
for (const [name, svc] of [
  ['RabbitMQ', AMQP],
  ['Redis', REDIS],
]) {
  if (!(await portAnswers(svc))) {
    console.log(`\npeers: SKIPPED, ${name} does not answer at ${svc.host}:${svc.port}\n`);
    process.exit(0);
  }
}
const setup = spawnSync('sh', [join(PEERS_DIR, 'setup.sh')], {
  stdio: ['ignore', 'pipe', 'inherit'],
  encoding: 'utf8',
});
if (setup.status !== 0) throw new Error('bench/peers/setup.sh failed');
const celeryVersion = spawnSync(PYTHON, ['-c', 'import celery; print(celery.__version__)'], {
  env: pythonEnv(),
  encoding: 'utf8',
}).stdout.trim();
console.log(setup.stdout.trim());

takeLock();
const live = new Set(); // workers to stop on the way out
const { dir, cleanup } = tempDir('fj-peers-');
// fj as built now, copied: a rebuild of the work tree during the run cannot mix versions.
const FJ = snapshotFj(dir, opt['fj-ref']);
const gitOut = (args) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
const build = opt['fj-ref']
  ? {
      commit: gitOut(['rev-parse', '--short', opt['fj-ref']]),
      uncommittedSrcFiles: 0,
      built: 'from git by the benchmark',
    }
  : {
      commit: gitOut(['rev-parse', '--short', 'HEAD']),
      uncommittedSrcFiles: gitOut(['status', '--porcelain', '--', 'src']).split('\n').filter(Boolean).length,
      built: `work tree dist/ of ${statSync(CLI).mtime.toISOString()}`,
    };
console.log(
  `fj: ${build.commit}${build.uncommittedSrcFiles ? ` + ${build.uncommittedSrcFiles} uncommitted src/ files` : ''}, ${build.built} (copied to ${FJ.root})`,
);
let interrupted = false;
const onSignal = () => {
  interrupted = true;
  for (const w of live) if (w.child.exitCode === null) process.kill(w.pid, 'SIGTERM');
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);

const { Redis } = await import('ioredis');
const redis = new Redis({ host: REDIS.host, port: REDIS.port, db: REDIS.db, lazyConnect: false });

/** Celery's result keys in our database (the client's keys, deleted after each run, outside the timing). */
async function dropCeleryKeys() {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', 'celery-task-meta-*', 'COUNT', 5000);
    cursor = next;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== '0');
}

// ---------------------------------------------------------------- a quiet machine

/** Fraction of the machine's CPU time busy over `ms` (from /proc/stat). */
async function cpuBusy(ms) {
  const read = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return { idle: f[3] + f[4], total: f.slice(0, 8).reduce((a, b) => a + b, 0) };
  };
  const a = read();
  await sleep(ms);
  const b = read();
  return b.total > a.total ? 1 - (b.idle - a.idle) / (b.total - a.total) : 0;
}

/**
 * Before each run, with our own workers idle: waits (up to QUIET_WAIT_MS)
 * until the machine is at most QUIET_BUSY busy over a second, since other
 * work on 2 cores (tests, builds) would colour the figures. Returns the last
 * busy fraction seen; runs that started busier are counted as noisy.
 */
const QUIET_BUSY = 0.25;
const QUIET_WAIT_MS = 180_000;
const noise = { runs: 0, noisy: 0, waitedMs: 0 };
async function waitQuiet() {
  const t = performance.now();
  let busy = await cpuBusy(700);
  while (busy > QUIET_BUSY && performance.now() - t < QUIET_WAIT_MS && !interrupted) busy = await cpuBusy(1000);
  noise.runs++;
  noise.waitedMs += performance.now() - t;
  if (busy > QUIET_BUSY) {
    noise.noisy++;
    console.log(`  (the machine is ${pct(busy)} busy with other work; running anyway)`);
  }
  return busy;
}

// ---------------------------------------------------------------- workers

/** The bench tasks the fj workers serve (besides the built-in ones). */
const fjTasks = () => ['noop.mjs', 'straggle.mjs', 'place.mjs'].map((f) => join(FJ.tasks, f));

async function startFjPool(u) {
  const pool = [];
  const tasks = fjTasks();
  for (let i = 0; i < FJ_WORKERS; i++) {
    const w = await startFjWorker(FJ.cli, [
      '--broker',
      u.fjBroker,
      '--store',
      u.redis,
      '--queue',
      FJ_Q,
      '--concurrency',
      String(FJ_CONC),
      '--tasks',
      ...tasks,
    ]);
    live.add(w);
    pool.push(w);
  }
  return pool;
}
async function startCeleryPool(u) {
  const w = await startCeleryWorker({
    broker: u.celBroker,
    backend: u.redis,
    queue: CEL_Q,
    concurrency: SLOTS,
    name: `peers-${id.slice(0, 8)}`,
  });
  live.add(w);
  return [w];
}
async function startBareAmqpPool(u) {
  const w = await startBareAmqpWorker(FJ.root, u.fjBroker, BARE_Q);
  live.add(w);
  return [w];
}
async function stopPool(pool) {
  for (const w of pool) {
    live.delete(w);
    await stopTree(w);
  }
}

// ---------------------------------------------------------------- one run

/**
 * Runs one job of `sys` on `input`: the whole `fj run` or client.py process.
 * With `timeFile`, under /usr/bin/time (peak RSS, CPU of the submitter).
 */
async function runJob(sys, input, u, { timed = false } = {}) {
  const statsFile = join(dir, 'stats.json');
  const outFile = join(dir, `out.${sys.id}.json`);
  const timeFile = join(dir, 'time.txt');
  let cmd;
  let args;
  let env;
  let cwd = ROOT;
  if (sys.system === 'fj') {
    cmd = process.execPath;
    args = [
      FJ.cli,
      'run',
      sys.task,
      input,
      '--executor',
      sys.executor,
      '--no-progress',
      '--stats',
      statsFile,
      '-o',
      outFile,
    ];
    if (sys.executor === 'amqp') args.push('--queue', FJ_Q, '--broker', u.fjBroker, '--store', u.redis);
    else args.push('--concurrency', String(SLOTS));
    env = process.env;
  } else if (sys.system === 'bare') {
    // bench/wordcount-bare.mjs: the least a 2-thread Node program does, no fj (whole process; no job time of its own)
    cmd = process.execPath;
    args = [join(FJ.root, 'bench', 'wordcount-bare.mjs'), input, '-o', outFile];
    env = process.env;
  } else if (sys.system === 'bare-amqp') {
    // bench/wordcount-bare-amqp.mjs publish: the client of the least a program does through RabbitMQ, no fj
    cmd = process.execPath;
    const messages = String(Math.ceil(sys.items / FJ_WORDCOUNT_BATCH));
    args = [join(FJ.root, 'bench', 'wordcount-bare-amqp.mjs'), 'publish', input, '--broker', u.fjBroker];
    args.push('--queue', BARE_Q, '--messages', messages, '-o', outFile);
    env = process.env;
  } else {
    cmd = PYTHON;
    args = [join(PEERS_DIR, 'client.py'), sys.workload, input, outFile];
    env = pythonEnv({ PEER_BROKER: u.celBroker, PEER_BACKEND: u.redis, PEER_QUEUE: CEL_Q });
    cwd = PEERS_DIR;
  }
  if (timed) {
    args = ['-f', '%M %e %U %S', '-o', timeFile, cmd, ...args];
    cmd = '/usr/bin/time';
  }
  const { ms } = await timeSpawn(cmd, args, {
    env,
    cwd,
    stdoutFile: sys.system === 'celery' ? statsFile : '/dev/null',
  });
  const bare = sys.system === 'bare' || sys.system === 'bare-amqp';
  const stats = bare ? { items: sys.items } : JSON.parse(readFileSync(statsFile, 'utf8'));
  const r = {
    ms,
    jobMs: sys.system === 'fj' ? stats.wallMs : bare ? ms : stats.jobMs,
    items: stats.items,
    stats,
    outFile,
  };
  if (timed) {
    const [maxKb, , user, sys_] = readFileSync(timeFile, 'utf8').trim().split('\n').pop().split(' ').map(Number);
    r.coordinatorPeakBytes = maxKb * 1024;
    r.coordinatorCpuSeconds = user + sys_;
  }
  if (sys.system === 'celery') await dropCeleryKeys();
  return r;
}

// ---------------------------------------------------------------- a part

/**
 * Runs one part: `systems` (each {id, label, system, executor|workload, task,
 * input, warmInput, items}), an instrumented run each, then the timed rounds.
 * `answer(sys, outputJson)` returns something to compare across systems.
 */
async function runPart(name, systems, answer) {
  console.log(
    `\n=== ${name} (load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')})`,
  );
  const res = Object.fromEntries(systems.map((s) => [s.id, { label: s.label, rounds: [], jobRounds: [] }]));

  // Phase 1: instrumented.
  let reference;
  for (const sys of systems) {
    if (interrupted) return res;
    const bp = await countingProxy(AMQP.host, AMQP.port);
    const rp = await countingProxy(REDIS.host, REDIS.port);
    const u = urls(bp.port, rp.port);
    let pool = [];
    try {
      if (sys.system === 'fj' && sys.executor === 'amqp') pool = await startFjPool(u);
      if (sys.system === 'celery') pool = await startCeleryPool(u);
      if (sys.system === 'bare-amqp') pool = await startBareAmqpPool(u);
      await sleep(500);
      await waitQuiet();
      const cpu0 = pool.reduce((a, w) => a + treeUsage(w.pid).cpuSeconds, 0);
      const b0 = bp.snapshot();
      const r0 = rp.snapshot();
      const sampler = memorySampler(pool.map((w) => w.pid));
      const run = await runJob(sys, sys.input, u, { timed: true });
      await sleep(500);
      const b1 = bp.snapshot();
      const r1 = rp.snapshot();
      const mem = sampler.stop();
      const usage = pool.map((w) => treeUsage(w.pid));
      if (run.items !== sys.items) throw new Error(`${sys.label}: expected ${sys.items} items, got ${run.items}`);
      const out = JSON.parse(readFileSync(run.outFile, 'utf8'));
      const a = JSON.stringify(answer(sys, out));
      if (sys.compare !== false) {
        if (reference === undefined) reference = { a, label: sys.label };
        else if (a !== reference.a)
          throw new Error(`${name}: the output of ${sys.label} differs from that of ${reference.label}`);
      }
      Object.assign(res[sys.id], {
        instrumented: {
          processMs: run.ms,
          jobMs: run.jobMs,
          brokerIn: b1.up - b0.up,
          brokerOut: b1.down - b0.down,
          storeIn: r1.up - r0.up,
          storeOut: r1.down - r0.down,
          coordinatorPeakBytes: run.coordinatorPeakBytes,
          coordinatorCpuSeconds: run.coordinatorCpuSeconds,
          workerProcesses: usage.reduce((x, u) => x + u.pids, 0),
          workersHwmBytes: pool.length ? usage.reduce((x, u) => x + u.hwmBytes, 0) : null,
          workersPeakPssBytes: pool.length ? mem.peakPssBytes : null,
          workersCpuSeconds: pool.length ? usage.reduce((x, u) => x + u.cpuSeconds, 0) - cpu0 : null,
          fjStats: sys.system === 'fj' ? run.stats : undefined,
        },
      });
      console.log(`  instrumented ${sys.label}: ${fmt.ms(run.ms)} (job ${fmt.ms(run.jobMs)})`);
    } finally {
      await stopPool(pool);
      await bp.close();
      await rp.close();
    }
  }

  // Phase 2: timed, direct connections, warm workers.
  const needFj = systems.some((s) => s.system === 'fj' && s.executor === 'amqp');
  const needCelery = systems.some((s) => s.system === 'celery');
  const pools = [];
  try {
    if (needFj) pools.push(...(await startFjPool(DIRECT)));
    if (needCelery) pools.push(...(await startCeleryPool(DIRECT)));
    if (systems.some((s) => s.system === 'bare-amqp')) pools.push(...(await startBareAmqpPool(DIRECT)));
    for (const sys of systems) if (!interrupted) await runJob(sys, sys.warmInput, DIRECT);
    for (let r = 0; r < ROUNDS && !interrupted; r++) {
      const order = systems.map((_, i) => systems[(i + r) % systems.length]);
      for (const sys of order) {
        if (interrupted) break;
        await waitQuiet();
        const run = await runJob(sys, sys.input, DIRECT);
        if (run.items !== sys.items) throw new Error(`${sys.label}: expected ${sys.items} items, got ${run.items}`);
        res[sys.id].rounds.push(run.ms);
        res[sys.id].jobRounds.push(run.jobMs);
        console.log(`  round ${r + 1} ${sys.label}: ${fmt.ms(run.ms)} (job ${fmt.ms(run.jobMs)})`);
      }
    }
  } finally {
    await stopPool(pools);
  }
  for (const s of systems) {
    res[s.id].processMs = median(res[s.id].rounds);
    res[s.id].jobMs = median(res[s.id].jobRounds);
    res[s.id].items = s.items;
  }
  return res;
}

// ---------------------------------------------------------------- tables

const mb = (b) => (b == null ? '-' : fmt.mb(b));
const pct = (x) => `${(x * 100).toFixed(0)}%`;

function timingTable(title, systems, res, base, extra = []) {
  const headers = [
    '',
    ...Array.from({ length: ROUNDS }, (_, i) => `round ${i + 1}`),
    'median',
    'job (median)',
    `/${res[base].label}`,
    `job /${res[base].label}`,
    ...extra.map((e) => e.header),
  ];
  const rows = systems.map((s) => {
    const r = res[s.id];
    return [
      r.label,
      ...r.rounds.map((ms) => fmt.s(ms)),
      fmt.s(r.processMs),
      fmt.s(r.jobMs),
      fmt.x(r.processMs / res[base].processMs),
      fmt.x(r.jobMs / res[base].jobMs),
      ...extra.map((e) => e.cell(s, r)),
    ];
  });
  table(title, headers, rows);
}

function resourceTable(title, systems, res, inputBytes, inputLabel) {
  const rows = systems.map((s) => {
    const i = res[s.id].instrumented;
    if (!i) return [res[s.id].label, '-', '-', '-', '-', '-', '-', '-', '-', '-', '-'];
    const into = i.brokerIn + i.storeIn;
    const all = into + i.brokerOut + i.storeOut;
    return [
      res[s.id].label,
      mb(i.brokerIn),
      mb(i.brokerOut),
      mb(i.storeIn),
      mb(i.storeOut),
      inputBytes ? fmt.x(into / inputBytes) : '-',
      inputBytes ? fmt.x(all / inputBytes) : '-',
      mb(i.coordinatorPeakBytes),
      i.workersHwmBytes == null ? '-' : `${mb(i.workersHwmBytes)} (${i.workerProcesses})`,
      mb(i.workersPeakPssBytes),
      i.workersCpuSeconds == null ? '-' : `${i.workersCpuSeconds.toFixed(1)} s`,
    ];
  });
  table(
    title,
    [
      '',
      'into broker',
      'out of broker',
      'into Redis',
      'out of Redis',
      `in/${inputLabel}`,
      `in+out/${inputLabel}`,
      'submitter peak RSS',
      'workers ΣVmHWM (procs)',
      'workers peak ΣPSS',
      'workers CPU',
    ],
    rows,
  );
}

// ---------------------------------------------------------------- parts

const figures = {
  celery: celeryVersion,
  slots: SLOTS,
  fjPool: `${FJ_WORKERS} worker(s) x --concurrency ${FJ_CONC}`,
  celeryPool: `1 worker, --pool prefork --concurrency ${SLOTS}`,
  broker: `${AMQP.host}:${AMQP.port}`,
  redis: `${REDIS.host}:${REDIS.port}/${REDIS.db}`,
  rounds: ROUNDS,
  fj: build,
  command: `node bench/peers/run.mjs ${process.argv.slice(2).join(' ')}`.trim(),
  parts: {},
};
const goals = [];
const fjAmqpLabel = `fj amqp (${FJ_WORKERS}x -c ${FJ_CONC})`;
const fjSystems = (task, input, warmInput, items) => [
  { id: 'fj-amqp', label: fjAmqpLabel, system: 'fj', executor: 'amqp', task, input, warmInput, items },
  { id: 'fj-local', label: 'fj local (-c 2)', system: 'fj', executor: 'local', task, input, warmInput, items },
];
const t0 = performance.now();

try {
  // w: word count.
  if (opt.parts.includes('w') && !interrupted) {
    const docs = Number(opt.docs);
    const corpus = join(dir, 'corpus.json');
    const warm = join(dir, 'corpus-warm.json');
    const inputBytes = await writeCorpus(corpus, { docs, words: 100, vocab: 5000, seed: 42 });
    await writeCorpus(warm, { docs: Math.min(docs, 2000), words: 100, vocab: 5000, seed: 43 });
    const systems = [
      ...fjSystems('wordcount', corpus, warm, docs),
      {
        id: 'celery-careful',
        label: 'Celery careful chord',
        system: 'celery',
        workload: 'wc-careful',
        input: corpus,
        warmInput: warm,
        items: docs,
      },
      // The floor with every cost a 2-thread Node process pays (start-up, threads, hand-off), no fj: bench/wordcount-bare.mjs
      ...(opt['no-bare']
        ? []
        : [
            {
              id: 'bare',
              label: 'bare Node program, 2 threads (no fj)',
              system: 'bare',
              input: corpus,
              warmInput: warm,
              items: docs,
            },
            {
              id: 'bare-amqp',
              label: 'bare amqp program, 1 consumer x 2 threads (no fj)',
              system: 'bare-amqp',
              input: corpus,
              warmInput: warm,
              items: docs,
            },
          ]),
      ...(opt['no-seed']
        ? []
        : [
            {
              id: 'celery-seed',
              label: "Celery seed's chord",
              system: 'celery',
              workload: 'wc-seed',
              input: corpus,
              warmInput: warm,
              items: docs,
            },
          ]),
    ];
    const res = await runPart(
      `word count: ${fmt.int(docs)} documents x 100 words (${fmt.mb(inputBytes)})`,
      systems,
      (_, out) => out.word_count,
    );
    timingTable(
      `word count, ${fmt.int(docs)} documents x 100 words, Zipf over 5,000 words (${fmt.mb(inputBytes)} JSON): whole process, ${ROUNDS} rounds`,
      systems,
      res,
      'celery-careful',
    );
    resourceTable(
      `word count: bytes through RabbitMQ and Redis (both directions, on the wire), memory, CPU (one instrumented run each)`,
      systems,
      res,
      inputBytes,
      'input',
    );
    figures.parts.wordcount = { documents: docs, inputBytes, results: res };
    // The floor: the wordcount task's own hooks with no fj at all (one
    // thread; bound2 = what 2 perfectly parallel slots could reach).
    const floors = [];
    for (let r = 0; r < ROUNDS && !interrupted; r++) {
      await waitQuiet();
      const out = join(dir, 'floor.json');
      await timeSpawn(process.execPath, [join(FJ.root, 'bench', 'wordcount-floor.mjs'), corpus, '--two-threads'], {
        stdoutFile: out,
      });
      floors.push(JSON.parse(readFileSync(out, 'utf8')));
    }
    const measured = floors.filter((f) => f.measured2 !== undefined);
    const floor = floors.length
      ? {
          bound2Ms: median(floors.map((f) => f.bound2)),
          processMs: median(floors.map((f) => f.processMs)),
          combineMs: median(floors.map((f) => f.combineMs)),
          readMs: median(floors.map((f) => f.readMs)),
          ...(measured.length
            ? { fold2Ms: median(measured.map((f) => f.fold2Ms)), measured2Ms: median(measured.map((f) => f.measured2)) }
            : {}),
          rounds: floors,
        }
      : undefined;
    figures.parts.wordcount.floor = floor;
    if (floor) {
      console.log(
        `\nfloor (the wordcount task's hooks alone, no fj, bench/wordcount-floor.mjs, median of ${floors.length}): process ${fmt.ms(floor.processMs)} + combine ${fmt.ms(floor.combineMs)} in one thread, read+parse ${fmt.ms(floor.readMs)}; ` +
          `2 perfect slots: ${fmt.s(floor.bound2Ms)} = ${fmt.x(floor.bound2Ms / res['celery-careful'].processMs)} of the careful chord (the goal asks ≤ 0.50x)` +
          (floor.measured2Ms === undefined
            ? ''
            : `; two bare threads folding at once took ${fmt.ms(floor.fold2Ms)} (${fmt.x(floor.processMs / floor.fold2Ms)} of one), so this machine's 2-slot floor is ${fmt.s(floor.measured2Ms)} = ${fmt.x(floor.measured2Ms / res['celery-careful'].processMs)} of the careful chord`),
      );
    }
    for (const s of ['fj-amqp', 'fj-local']) {
      const ratio = res[s].processMs / res['celery-careful'].processMs;
      const floorOf = res[s === 'fj-amqp' ? 'bare-amqp' : 'bare'];
      const vsBare = floorOf?.processMs
        ? `, ${fmt.x(res[s].processMs / floorOf.processMs)} of the ${floorOf.label} ${fmt.s(floorOf.processMs)} (${fmt.x(floorOf.processMs / res['celery-careful'].processMs)} of the chord)`
        : '';
      const vsFloor =
        (floor
          ? `; ${fmt.x(res[s].processMs / floor.bound2Ms)} of the 2-slot floor ${fmt.s(floor.bound2Ms)}${floor.measured2Ms === undefined ? '' : `, ${fmt.x(res[s].processMs / floor.measured2Ms)} of the measured one ${fmt.s(floor.measured2Ms)}`}`
          : '') + vsBare;
      goals.push({
        part: 'word count',
        what: `${res[s].label} time / Celery careful chord${vsFloor}`,
        value: fmt.x(ratio),
        goal: s === 'fj-amqp' ? '≤ 0.60x' : '≤ 0.50x',
        met: ratio <= (s === 'fj-amqp' ? 0.6 : 0.5),
      });
      if (floorOf?.processMs) {
        const limit = s === 'fj-amqp' ? 1.3 : 1.1;
        goals.push({
          part: 'word count',
          what: `${res[s].label} time / ${floorOf.label}, same run`,
          value: fmt.x(res[s].processMs / floorOf.processMs),
          goal: `≤ ${limit.toFixed(1)}x`,
          met: res[s].processMs / floorOf.processMs <= limit,
        });
      }
    }
    const i = res['fj-amqp'].instrumented;
    if (i) {
      const ratio = (i.brokerIn + i.storeIn) / inputBytes;
      const st = i.fjStats;
      goals.push({
        part: 'word count',
        what: `fj amqp bytes into broker + Redis / input (fj --stats: ${fmt.x((st.bytesPublished + st.bytesStored) / inputBytes)})`,
        value: fmt.x(ratio),
        goal: '≤ 2x',
        met: ratio <= 2,
      });
    }
  }

  // t: tiny items.
  if (opt.parts.includes('t') && !interrupted) {
    const n = Number(opt.tiny);
    const nc = Number(opt['celery-tiny']);
    const write = (name, k) => {
      const p = join(dir, name);
      writeFileSync(p, JSON.stringify({ n: k }));
      return p;
    };
    const fjIn = write('tiny.json', n);
    const fjWarm = write('tiny-warm.json', Math.min(n, 10_000));
    const celIn = write('tiny-celery.json', nc);
    const celWarm = write('tiny-celery-warm.json', Math.min(nc, 1000));
    const noop = join(FJ.tasks, 'noop.mjs');
    const systems = [
      ...fjSystems(noop, fjIn, fjWarm, n).map((s) => ({ ...s, compare: false })),
      {
        id: 'celery',
        label: `Celery chord`,
        system: 'celery',
        workload: 'tiny',
        input: celIn,
        warmInput: celWarm,
        items: nc,
        compare: false,
      },
    ];
    const res = await runPart(
      `tiny items: fj ${fmt.int(n)}, Celery ${fmt.int(nc)} no-op items`,
      systems,
      (_, out) => out,
    );
    const perSec = (r) => (r.items * 1000) / r.processMs;
    const jobPerSec = (r) => (r.items * 1000) / r.jobMs;
    const rows = systems.map((s) => {
      const r = res[s.id];
      return [
        r.label,
        fmt.int(r.items),
        ...r.rounds.map((ms) => fmt.s(ms)),
        fmt.s(r.processMs),
        fmt.int(perSec(r)),
        fmt.s(r.jobMs),
        fmt.int(jobPerSec(r)),
        fmt.x(perSec(r) / perSec(res.celery)),
      ];
    });
    table(
      `tiny items: no-op items end to end (fj ${fmt.int(n)}, Celery ${fmt.int(nc)}: a chord of ${fmt.int(nc)} no-op tasks), ${ROUNDS} rounds`,
      [
        '',
        'items',
        ...Array.from({ length: ROUNDS }, (_, i) => `round ${i + 1}`),
        'median',
        'items/s',
        'job (median)',
        'items/s (job)',
        'items/s / Celery',
      ],
      rows,
    );
    const tinyBytes = (s) =>
      `${fmt.int((res[s].instrumented.brokerIn + res[s].instrumented.brokerOut + res[s].instrumented.storeIn + res[s].instrumented.storeOut) / res[s].items)} B/item`;
    resourceTable(
      `tiny items: bytes (wire, both directions), memory, CPU; per item: fj amqp ${tinyBytes('fj-amqp')}, Celery ${tinyBytes('celery')}`,
      systems,
      res,
      null,
      'input',
    );
    figures.parts.tiny = { fjItems: n, celeryItems: nc, results: res };
    goals.push({
      part: 'tiny items',
      what: `${res['fj-amqp'].label} items/s (job: ${fmt.int(jobPerSec(res['fj-amqp']))})`,
      value: fmt.int(perSec(res['fj-amqp'])),
      goal: '≥ 20,000/s',
      met: perSec(res['fj-amqp']) >= 20_000,
    });
    goals.push({
      part: 'tiny items',
      what: `fj local items/s (job: ${fmt.int(jobPerSec(res['fj-local']))})`,
      value: fmt.int(perSec(res['fj-local'])),
      goal: '≥ 200,000/s',
      met: perSec(res['fj-local']) >= 200_000,
    });
  }

  // s: stragglers.
  if (opt.parts.includes('s') && !interrupted) {
    const n = Number(opt.straggle);
    const random = prng(2026);
    const sigma = 0.5;
    const mu = Math.log(10) - (sigma * sigma) / 2; // mean 10 ms
    const gauss = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    const durations = Array.from({ length: n }, () => Math.exp(mu + sigma * gauss()));
    const stragglers = Math.max(1, Math.round(n / 100));
    const picked = new Set();
    while (picked.size < stragglers) picked.add(Math.floor(random() * n));
    for (const i of picked) durations[i] *= 20;
    const ds = durations.map((d) => Math.round(d * 1000) / 1000);
    const input = join(dir, 'straggle.json');
    const warm = join(dir, 'straggle-warm.json');
    writeFileSync(input, JSON.stringify({ durations: ds }));
    writeFileSync(warm, JSON.stringify({ durations: ds.slice(0, 50) }));
    const total = ds.reduce((a, b) => a + b, 0);
    const longest = Math.max(...ds);
    const bound = Math.max(total / SLOTS, longest);
    const straggle = join(FJ.tasks, 'straggle.mjs');
    const systems = [
      ...fjSystems(straggle, input, warm, n),
      { id: 'celery', label: 'Celery chord', system: 'celery', workload: 'straggle', input, warmInput: warm, items: n },
    ];
    const res = await runPart(
      `stragglers: ${fmt.int(n)} sleeping items, ${stragglers} of them 20x`,
      systems,
      (_, out) => out.items,
    );
    timingTable(
      `stragglers: ${fmt.int(n)} items sleeping log-normal durations (mean 10 ms, σ 0.5; ${stragglers} items x20; total ${fmt.s(total)}, longest ${fmt.ms(longest)}); lower bound max(total/${SLOTS}, longest) = ${fmt.s(bound)}; ${ROUNDS} rounds`,
      systems,
      res,
      'celery',
      [
        { header: 'process / bound', cell: (_, r) => fmt.x(r.processMs / bound) },
        { header: 'job / bound', cell: (_, r) => fmt.x(r.jobMs / bound) },
      ],
    );
    figures.parts.stragglers = {
      items: n,
      stragglers,
      totalMs: total,
      longestMs: longest,
      boundMs: bound,
      results: res,
    };
    for (const s of ['fj-amqp', 'fj-local']) {
      const r = res[s];
      goals.push({
        part: 'stragglers',
        what: `${r.label} job / lower bound (whole process: ${fmt.x(r.processMs / bound)})`,
        value: fmt.x(r.jobMs / bound),
        goal: '≤ 1.10x',
        met: r.jobMs / bound <= 1.1,
      });
    }
  }

  // a: shared context (align input, light per-item computation).
  if (opt.parts.includes('a') && !interrupted) {
    const input = join(dir, 'align.json');
    const warm = join(dir, 'align-warm.json');
    const gen = (edits, seed, file) =>
      timeSpawn(
        process.execPath,
        [
          join(ROOT, 'scripts', 'gen-align.mjs'),
          '--reference-length',
          opt.reference,
          '--edits',
          String(edits),
          '--edit-length',
          '200',
          '--seed',
          String(seed),
        ],
        { env: process.env, stdoutFile: file },
      );
    await gen(Number(opt.edits), 7, input);
    await gen(Math.min(50, Number(opt.edits)), 8, warm);
    const inputBytes = statSync(input).size;
    const refBytes = Number(opt.reference);
    const n = Number(opt.edits);
    const place = join(FJ.tasks, 'place.mjs');
    const systems = [
      ...fjSystems(place, input, warm, n),
      {
        id: 'celery-one',
        label: 'Celery, a task per edit',
        system: 'celery',
        workload: 'place-one',
        input,
        warmInput: warm,
        items: n,
      },
      {
        id: 'celery-chunks',
        label: 'Celery, 32 tasks',
        system: 'celery',
        workload: 'place-chunks',
        input,
        warmInput: warm,
        items: n,
      },
    ];
    const res = await runPart(
      `shared context: ${fmt.int(n)} edits on a ${fmt.int(refBytes)}-base reference`,
      systems,
      (_, out) => out.placements,
    );
    timingTable(
      `shared context: ${fmt.int(n)} edits x 200 bases placed on a ${fmt.int(refBytes)}-base reference (16-mer votes), whole process, ${ROUNDS} rounds`,
      systems,
      res,
      'celery-one',
    );
    resourceTable(
      `shared context: bytes (wire, both directions) in references (${fmt.mb(refBytes)}) moved, memory, CPU`,
      systems,
      res,
      refBytes,
      'reference',
    );
    figures.parts.shared = { edits: n, referenceBytes: refBytes, inputBytes, results: res };
    const i = res['fj-amqp'].instrumented;
    if (i) {
      const moved = (i.brokerIn + i.brokerOut + i.storeIn + i.storeOut) / refBytes;
      const fetched = i.storeOut / refBytes;
      goals.push({
        part: 'shared context',
        what: `fj amqp: reference fetched from Redis ${fetched.toFixed(2)}x for ${FJ_WORKERS} worker process(es); all bytes = ${moved.toFixed(2)} references (Celery a task per edit: ${((res['celery-one'].instrumented.brokerIn + res['celery-one'].instrumented.brokerOut) / refBytes).toFixed(0)})`,
        value: `${fetched.toFixed(2)} per ${FJ_WORKERS} process(es)`,
        goal: 'once per worker process',
        met: fetched < FJ_WORKERS + 0.5 && moved < 2 * (FJ_WORKERS + 1) + 1,
      });
    }
  }

  if (goals.length) {
    table(
      'goals (fj, same run)',
      ['part', 'measure', 'value', 'goal', ''],
      goals.map((g) => [g.part, g.what, g.value, g.goal, g.met ? 'met' : 'MISSED']),
    );
  }
  figures.goals = goals;
  figures.noise = { ...noise, quietBusy: QUIET_BUSY };
  console.log(
    `runs: ${noise.runs}, of which ${noise.noisy} started with the machine over ${pct(QUIET_BUSY)} busy with other work; waited ${fmt.s(noise.waitedMs)} for quiet in all`,
  );
  figures.totalSeconds = (performance.now() - t0) / 1000;
  saveResult('peers', figures);
  console.log(`peers: done in ${figures.totalSeconds.toFixed(0)} s; figures in bench/out/peers.json`);
} finally {
  for (const w of [...live]) await stopTree(w).catch(() => {});
  await cleanupBroker().catch((err) => console.error(`could not delete the bench queues: ${err.message}`));
  await dropCeleryKeys().catch(() => {});
  redis.disconnect();
  cleanup();
  releaseLock();
}

async function cleanupBroker() {
  const amqp = await import('amqplib');
  // every queue the fj workers declared (jobs, scheduler, a code queue per task), named by the fj build that ran
  const fjQueues = await poolQueueNames(FJ_Q, fjTasks(), FJ.root).catch(() => [FJ_Q, `${FJ_Q}.dead`]);
  const conn = await amqp.connect(DIRECT.fjBroker);
  try {
    for (const [kind, name] of [
      ...fjQueues.map((q) => ['queue', q]),
      ['queue', CEL_Q],
      ['queue', BARE_Q],
      ['exchange', CEL_Q],
    ]) {
      const ch = await conn.createChannel();
      ch.on('error', () => {});
      await (kind === 'queue' ? ch.deleteQueue(name) : ch.deleteExchange(name)).catch(() => {});
      await ch.close().catch(() => {});
    }
  } finally {
    await conn.close().catch(() => {});
  }
}
