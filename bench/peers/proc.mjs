/**
 * Helpers of bench/peers/run.mjs: a byte-counting TCP proxy, process trees
 * and their memory and CPU from /proc, Celery workers, and the lock file that
 * asks others not to restart the broker during a measurement.
 * Every process is stopped by its PID, never by name.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { BENCH_DIR, ROOT, whenReady } from '../lib.mjs';

export const PEERS_DIR = join(BENCH_DIR, 'peers');
export const PYTHON = '/usr/bin/python3';

/**
 * A TCP proxy to host:port that counts bytes in both directions over all its
 * connections: `up` = client to server (into the broker or store), `down` =
 * server to client. Resolves once listening on an ephemeral local port.
 */
export async function countingProxy(host, port) {
  const counts = { up: 0, down: 0, connections: 0 };
  const sockets = new Set();
  const server = createServer((client) => {
    counts.connections++;
    client.setNoDelay(true);
    const upstream = netConnect({ host, port });
    upstream.setNoDelay(true);
    sockets.add(client);
    sockets.add(upstream);
    client.on('data', (d) => {
      counts.up += d.length;
      if (!upstream.write(d)) client.pause();
    });
    upstream.on('drain', () => client.resume());
    upstream.on('data', (d) => {
      counts.down += d.length;
      if (!client.write(d)) upstream.pause();
    });
    client.on('drain', () => upstream.resume());
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', close);
    upstream.on('close', close);
    client.on('error', close);
    upstream.on('error', close);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    port: server.address().port,
    snapshot: () => ({ up: counts.up, down: counts.down }),
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The PID and all its descendants (from /proc/PID/task/TID/children). */
export function processTree(pid) {
  const out = [];
  const walk = (p) => {
    out.push(p);
    let tids = [];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const tid of tids) {
      let kids = '';
      try {
        kids = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const k of kids.trim().split(/\s+/).filter(Boolean)) walk(Number(k));
    }
  };
  walk(pid);
  return out;
}

function statusKb(pid, field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function pssKb(pid) {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

const TICK = (() => {
  // USER_HZ is 100 on Linux/x86-64 and arm64.
  return 100;
})();

/** CPU seconds (user + system) used by a live process so far. */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[11] = utime, fields[12] = stime (fields 14 and 15 of stat(5)).
    return (Number(fields[11]) + Number(fields[12])) / TICK;
  } catch {
    return 0;
  }
}

/** Peak and current memory, and CPU time, of the processes of `pid`'s tree. */
export function treeUsage(pid) {
  const pids = processTree(pid);
  let hwmKb = 0;
  let cpu = 0;
  for (const p of pids) {
    hwmKb += statusKb(p, 'VmHWM');
    cpu += cpuSeconds(p);
  }
  return { pids: pids.length, hwmBytes: hwmKb * 1024, cpuSeconds: cpu };
}

/**
 * Samples the summed PSS (proportional set size: shared pages split between
 * the processes sharing them) and RSS of the trees of `pids` every
 * `everyMs`; stop() returns the peaks.
 */
export function memorySampler(pids, everyMs = 100) {
  let peakPss = 0;
  let peakRss = 0;
  const sample = () => {
    let pss = 0;
    let rss = 0;
    for (const root of pids) {
      for (const p of processTree(root)) {
        pss += pssKb(p);
        rss += statusKb(p, 'VmRSS');
      }
    }
    peakPss = Math.max(peakPss, pss);
    peakRss = Math.max(peakRss, rss);
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return { peakPssBytes: peakPss * 1024, peakRssBytes: peakRss * 1024 };
    },
  };
}

/**
 * A private copy of fj under `dir`, so that a rebuild of the work tree during
 * a long measurement cannot mix two versions of fj: the built dist/ (with
 * schemas/, package.json), or with `ref`, that git commit's src/, tasks/ and
 * schemas/ (`git archive`, read-only for the work tree) compiled with the
 * project's tsc. The bench task fixtures come from the work tree; node_modules
 * is linked.
 */
export function snapshotFj(dir, ref) {
  const root = join(dir, 'fj');
  mkdirSync(join(root, 'bench'), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'));
  if (ref) {
    const tar = spawnSync(
      'sh',
      [
        '-c',
        `git -C "$1" archive --format=tar "$2" src tasks schemas package.json tsconfig.json | tar -x -C "$3"`,
        'sh',
        ROOT,
        ref,
        root,
      ],
      { stdio: 'inherit' },
    );
    if (tar.status !== 0) throw new Error(`could not export ${ref} from git`);
    const tsc = spawnSync(
      process.execPath,
      [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'],
      { cwd: root, stdio: 'inherit' },
    );
    if (tsc.status !== 0) throw new Error(`could not build ${ref}`);
  } else {
    cpSync(join(ROOT, 'dist'), join(root, 'dist'), { recursive: true });
    cpSync(join(ROOT, 'schemas'), join(root, 'schemas'), { recursive: true });
    copyFileSync(join(ROOT, 'package.json'), join(root, 'package.json'));
  }
  cpSync(join(BENCH_DIR, 'tasks'), join(root, 'bench', 'tasks'), { recursive: true });
  for (const f of ['wordcount-floor.mjs', 'wordcount-bare.mjs', 'wordcount-bare-amqp.mjs'])
    copyFileSync(join(BENCH_DIR, f), join(root, 'bench', f));
  return { root, cli: join(root, 'dist', 'src', 'cli', 'main.js'), tasks: join(root, 'bench', 'tasks') };
}

/** Starts `node CLI worker ARGS`; resolves once it logs that it is serving. */
export function startFjWorker(cli, args, { timeoutMs = 30_000 } = {}) {
  const child = spawn(process.execPath, [cli, 'worker', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  return whenReady(child, /serving /, 'fj worker', timeoutMs);
}

/** Starts bench/wordcount-bare-amqp.mjs's consumer (of `root`'s checkout) on `queue`; resolves once it consumes. */
export function startBareAmqpWorker(root, broker, queue, { timeoutMs = 30_000 } = {}) {
  const script = join(root, 'bench', 'wordcount-bare-amqp.mjs');
  const child = spawn(process.execPath, [script, 'consume', '--broker', broker, '--queue', queue], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return whenReady(child, /consuming/, 'bare amqp consumer', timeoutMs);
}

/** The environment of the Debian python: no pyenv, venv or user site paths. */
export function pythonEnv(extra) {
  const env = { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONNOUSERSITE: '1', PYTHONUNBUFFERED: '1', ...extra };
  for (const k of ['PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV', 'PYENV_VERSION']) delete env[k];
  return env;
}

/**
 * Starts `celery worker --concurrency N` (prefork) from bench/peers with the
 * Debian python; resolves once the app prints its ready line.
 */
export function startCeleryWorker({ broker, backend, queue, concurrency = 2, name, timeoutMs = 60_000 }) {
  const args = [
    '-m',
    'celery',
    '-A',
    'celery_app',
    'worker',
    '--pool',
    'prefork',
    '--concurrency',
    String(concurrency),
    '--queues',
    queue,
    '--hostname',
    `${name}@%h`,
    '--without-gossip',
    '--without-mingle',
    '--without-heartbeat',
    '--loglevel',
    'WARNING',
  ];
  const child = spawn(PYTHON, args, {
    cwd: PEERS_DIR,
    env: pythonEnv({ PEER_BROKER: broker, PEER_BACKEND: backend, PEER_QUEUE: queue }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return whenReady(child, /PEER WORKER READY/, 'celery worker', timeoutMs);
}

/**
 * Stops a process tree started by us: SIGTERM to the root PID (Celery's and
 * fj's warm shutdown), then SIGKILL to every PID of the tree still alive
 * after `graceMs`.
 */
export async function stopTree(w, graceMs = 15_000) {
  const pids = processTree(w.pid);
  const alive = (p) => existsSync(`/proc/${p}`) && !/^State:\s+Z/m.test(safeRead(`/proc/${p}/status`));
  if (w.child.exitCode === null && w.child.signalCode === null) process.kill(w.pid, 'SIGTERM');
  let timer;
  const killed = new Promise((resolve) => {
    timer = setTimeout(() => {
      for (const p of pids)
        if (alive(p))
          try {
            process.kill(p, 'SIGKILL');
          } catch {
            /* gone */
          }
      resolve('killed');
    }, graceMs);
  });
  const code = await Promise.race([w.exited, killed]);
  clearTimeout(timer);
  // Children (Celery's pool processes) leave with their parent; give them a moment.
  for (let i = 0; i < 50 && pids.slice(1).some(alive); i++) await new Promise((r) => setTimeout(r, 100));
  for (const p of pids.slice(1))
    if (alive(p))
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
  return code;
}

function safeRead(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** /tmp/fj-bench.lock holds our PID while we measure; others will not restart the broker meanwhile. */
export const LOCK = '/tmp/fj-bench.lock';
export function takeLock() {
  if (existsSync(LOCK)) {
    const other = safeRead(LOCK).trim();
    if (other && other !== String(process.pid) && existsSync(`/proc/${other}`)) {
      throw new Error(`${LOCK} is held by PID ${other}: another benchmark is running`);
    }
  }
  writeFileSync(LOCK, `${process.pid}\n`);
}
export function releaseLock() {
  if (safeRead(LOCK).trim() === String(process.pid)) {
    try {
      unlinkSync(LOCK);
    } catch {
      /* already gone */
    }
  }
}
