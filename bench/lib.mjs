/**
 * Shared helpers of the benchmarks: timing, medians, tables, child processes,
 * the word-count corpus, `fj worker` processes and result files.
 * Plain Node ESM, no dependencies beyond fj's own.
 */
import { spawn } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import {
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  readFileSync,
  rmSync,
  writeFileSync,
  createWriteStream,
} from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { mulberry32 } from '../scripts/prng.mjs';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT = dirname(BENCH_DIR);
export const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
export const OUT_DIR = join(BENCH_DIR, 'out');

/** Median of numbers (mean of the two middle ones for an even count). */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Milliseconds taken by an async function, and its value. */
export async function timed(fn) {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

/** CPU ms (user + system) and RSS bytes of a process, from /proc; undefined once it is gone. */
export function procStat(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
    return { cpuMs: (Number(f[11]) + Number(f[12])) * 10, rss };
  } catch {
    return undefined;
  }
}

/** CPU ms (user + system) of a process's main thread alone (its other threads left out), from /proc; undefined once it is gone. */
export function mainThreadCpuMs(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return undefined;
  }
}

/** Prints a titled table; rows are arrays of cells (already formatted). */
export function table(title, headers, rows) {
  const cells = [headers, ...rows].map((r) => r.map(String));
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r) =>
    '| ' + r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ') + ' |';
  console.log(`\n${title}\n`);
  console.log(line(cells[0]));
  console.log(
    '|' + widths.map((w, i) => (i === 0 ? ':' + '-'.repeat(w + 1) : '-'.repeat(w + 1) + ':')).join('|') + '|',
  );
  for (const r of cells.slice(1)) console.log(line(r));
  console.log('');
}

/** Number formatting. */
export const fmt = {
  ms: (x) => `${x.toFixed(0)} ms`,
  s: (x) => `${(x / 1000).toFixed(2)} s`,
  us: (x) => `${x.toFixed(2)} µs`,
  x: (x) => `${x.toFixed(2)}x`,
  mb: (bytes) => `${(bytes / 1e6).toFixed(1)} MB`,
  int: (x) => Math.round(x).toLocaleString('en-US'),
};

/** A fresh temporary directory, removed by the returned cleanup. */
export function tempDir(prefix = 'fj-bench-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Runs a command to completion, stdout to a file (or /dev/null), stderr kept.
 * Resolves to its wall time (spawn to exit), exit code and stderr; rejects on
 * a non-zero exit.
 */
export function timeSpawn(cmd, args, { stdoutFile = '/dev/null', env = process.env, cwd = ROOT } = {}) {
  return new Promise((resolve, reject) => {
    const out = openSync(stdoutFile, 'w');
    const t0 = performance.now();
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', out, 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
      if (stderr.length > 20_000) stderr = stderr.slice(-10_000);
    });
    child.on('error', (err) => {
      closeSync(out);
      reject(err);
    });
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      closeSync(out);
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${stderr}`));
      else resolve({ ms, code, stderr });
    });
  });
}

/** The machine, for the record. */
export function machine() {
  const model = (() => {
    try {
      return /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model;
    } catch {
      return cpus()[0]?.model;
    }
  })();
  return { nproc: cpus().length, node: process.version, cpu: model, date: new Date().toISOString() };
}

/** Saves a benchmark's figures as bench/out/<name>.json (git-ignored). */
export function saveResult(name, figures) {
  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(join(OUT_DIR, `${name}.json`), JSON.stringify({ ...machine(), ...figures }, null, 2) + '\n');
}

/** mulberry32 (scripts/prng.mjs): a small deterministic PRNG returning floats in [0, 1). */
export const prng = mulberry32;

/**
 * Writes a word-count input `{"documents": [...]}` to `path`: `docs`
 * documents of `words` words each, drawn from a vocabulary of `vocab` random
 * lower-case words (2-10 letters) with Zipf (s = 1) frequencies, as in real
 * text. Deterministic for a given seed. Returns the file's size in bytes.
 */
export async function writeCorpus(path, { docs = 40_000, words = 100, vocab = 5000, seed = 42 } = {}) {
  const random = prng(seed);
  const seen = new Set();
  const vocabulary = [];
  while (vocabulary.length < vocab) {
    const len = 2 + Math.floor(random() * 9);
    let w = '';
    for (let i = 0; i < len; i++) w += String.fromCharCode(97 + Math.floor(random() * 26));
    if (!seen.has(w)) {
      seen.add(w);
      vocabulary.push(w);
    }
  }
  const cdf = new Float64Array(vocab);
  let acc = 0;
  for (let r = 0; r < vocab; r++) cdf[r] = acc += 1 / (r + 1);
  for (let r = 0; r < vocab; r++) cdf[r] /= acc;
  const pick = () => {
    const u = random();
    let lo = 0;
    let hi = vocab - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return vocabulary[lo];
  };
  const out = createWriteStream(path);
  let bytes = 0;
  const write = (s) => {
    bytes += Buffer.byteLength(s);
    return out.write(s) ? undefined : new Promise((r) => out.once('drain', r));
  };
  await write('{"documents": [\n');
  const doc = new Array(words);
  for (let d = 0; d < docs; d++) {
    for (let i = 0; i < words; i++) doc[i] = pick();
    const p = write(`  ${JSON.stringify(doc.join(' '))}${d < docs - 1 ? ',' : ''}\n`);
    if (p) await p;
  }
  await write(']}\n');
  await new Promise((resolve, reject) => out.end((err) => (err ? reject(err) : resolve())));
  return bytes;
}

/**
 * Starts `fj worker` as a child process; resolves once it logs that it is
 * serving. Stop it with {@link stopWorker} (SIGTERM by PID).
 */
export function startWorker(args, { timeoutMs = 30_000 } = {}) {
  // FJ_BENCH_WORKER_NODE_ARGS: Node or V8 flags for the workers, for experiments (e.g. "--no-memory-reducer").
  const nodeArgs = (process.env.FJ_BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, CLI, 'worker', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return whenReady(child, /serving /, 'fj worker', timeoutMs);
}

/**
 * Resolves with `{child, pid, exited, log}` once the child's output matches
 * `pattern`; rejects if it exits first or takes longer than `timeoutMs`.
 */
export function whenReady(child, pattern, what, timeoutMs) {
  let log = '';
  const keep = (d) => {
    log += d;
    if (log.length > 20_000) log = log.slice(-10_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((r) => child.once('exit', (code, signal) => r(code ?? signal)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${what} did not start within ${timeoutMs} ms:\n${log}`)),
      timeoutMs,
    );
    const check = () => {
      if (pattern.test(log)) {
        clearTimeout(timer);
        child.stdout.off('data', check);
        child.stderr.off('data', check);
        resolve({ child, pid: child.pid, exited, log: () => log });
      }
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}) before it was ready:\n${log}`));
    });
  });
}

/** Whether something accepts TCP connections at host:port (2 s timeout). */
export function portAnswers({ host, port }) {
  return new Promise((resolve) => {
    const s = netConnect({ host, port });
    const done = (ok) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(2000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Stops a worker started by {@link startWorker}: SIGTERM to its PID, then waits (SIGKILL after 10 s). */
export async function stopWorker(w) {
  if (w.child.exitCode === null && w.child.signalCode === null) process.kill(w.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (w.child.exitCode === null && w.child.signalCode === null) process.kill(w.pid, 'SIGKILL');
  }, 10_000);
  const code = await w.exited;
  clearTimeout(timer);
  return code;
}

/**
 * Every queue an `fj worker` declares for pool `pool` when it serves the
 * built-in tasks and those of `taskModules` (paths): the work queue, its
 * dead-letter queue, the jobs and scheduler queues, and a code queue per
 * task (named by the code hashes of the checkout at `root`, this one by
 * default: the worker's). For {@link deleteQueues} at a benchmark's end, so
 * no run leaves queues on the broker.
 */
export async function poolQueueNames(pool, taskModules = [], root = ROOT) {
  const dist = (path) => pathToFileURL(join(root, 'dist', 'src', path)).href;
  const { builtinTaskNames, resolveTask } = await import(dist('index.js'));
  const { codeQueue, jobsQueue } = await import(dist('broker/amqp.js'));
  const { schedulerQueue } = await import(dist('worker/scheduler.js'));
  const tasks = await Promise.all(
    [...builtinTaskNames(), ...taskModules].map((t) => resolveTask(t).catch(() => undefined)),
  );
  return [
    pool,
    `${pool}.dead`,
    jobsQueue(pool),
    schedulerQueue(pool),
    ...tasks.filter(Boolean).map((t) => codeQueue(pool, t.name, t.codeHash)),
  ];
}

/** Deletes RabbitMQ queues (missing ones are fine). */
export async function deleteQueues(brokerUrl, names) {
  const amqp = await import('amqplib');
  const conn = await amqp.connect(brokerUrl);
  try {
    for (const q of names) {
      const ch = await conn.createChannel();
      ch.on('error', () => {});
      await ch.deleteQueue(q).catch(() => {});
      await ch.close().catch(() => {});
    }
  } finally {
    await conn.close().catch(() => {});
  }
}

/** Whether this file is the entry point (run directly rather than imported). */
export function isMain(url) {
  return process.argv[1] && fileURLToPath(url) === process.argv[1];
}
