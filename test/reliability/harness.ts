/**
 * Shared by the reliability scenarios: a pool of real `fj worker` processes
 * that can be killed and replaced, the chaos task's expected output, jobs run
 * through the real CLI, and a record of each scenario's figures (items, lost,
 * duplicated, recovered, time to recover) in test/.tmp/reliability/, from
 * which docs/reliability.md's tables are written.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { runJob } from '../../src/index.js';
import Chaos, { type ChaosInput, type ChaosOutput } from '../fixtures/chaos.js';
import { BROKER_URL, CLI, deleteQueues, startWorkerProc, stopWorkerProc, type WorkerProc } from '../helpers/broker.js';

export const ROOT = join(import.meta.dirname, '..', '..');
export const CHAOS = join(ROOT, 'test', 'fixtures', 'chaos.ts');
/** The same task with `combine` (task `chaos-combined`). */
export const CHAOS_COMBINED = join(ROOT, 'test', 'fixtures', 'chaos-combined.ts');
const TMP = join(ROOT, 'test', '.tmp');
const RECORDS = join(TMP, 'reliability');

/** A scratch directory and a file store of the test's own. */
export function scratch(name: string): { dir: string; store: string } {
  const dir = join(TMP, `${name}-${randomUUID().slice(0, 8)}`);
  mkdirSync(dir, { recursive: true });
  return { dir, store: `file://${join(dir, 'store')}` };
}

/** The chaos task's output computed in this thread: what every run must reproduce. */
export async function expected(input: ChaosInput): Promise<ChaosOutput> {
  const { joinLog: _, ...rest } = input;
  return (await runJob(Chaos, rest, { executor: 'eager' })).output as ChaosOutput;
}

/** Workers on one queue that a test can kill (SIGKILL) and replace. */
export class WorkerPool {
  readonly queue = `fj.reliability.${randomUUID()}`;
  readonly workers: WorkerProc[] = [];
  kills = 0;

  constructor(
    readonly store: string,
    private readonly args: string[] = ['-c', '1'],
  ) {}

  async start(n: number): Promise<void> {
    await Promise.all(Array.from({ length: n }, () => this.add()));
  }

  async add(): Promise<WorkerProc> {
    const w = await startWorkerProc(['--queue', this.queue, '--store', this.store, '--tasks', CHAOS, CHAOS_COMBINED, ...this.args], { FJ_BROKER_URL: BROKER_URL });
    this.workers.push(w);
    return w;
  }

  /** Live workers. */
  get alive(): WorkerProc[] {
    return this.workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
  }

  /** kill -9 of one live worker (by PID), chosen at random; waits until at least `spare` + 1 are alive. */
  async killOne(spare = 1): Promise<void> {
    while (this.alive.length < spare + 1) await new Promise((r) => setTimeout(r, 50));
    const live = this.alive;
    const w = live[Math.floor(Math.random() * live.length)];
    process.kill(w.child.pid!, 'SIGKILL');
    this.kills++;
  }

  /** Keeps `n` workers alive (replacing dead ones) until the returned stop is called. */
  supervise(n: number): () => Promise<void> {
    let on = true;
    const loop = (async () => {
      while (on) {
        const missing = n - this.alive.length;
        for (let i = 0; i < missing; i++) await this.add().catch(() => {});
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    return async () => {
      on = false;
      await loop;
    };
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => (w.child.exitCode === null && w.child.signalCode === null ? stopWorkerProc(w) : undefined)));
    await deleteQueues(this.queue).catch(() => {});
  }

  /** Everything the workers logged. */
  logs(): string {
    return this.workers.map((w) => w.log()).join('\n');
  }
}

/**
 * A scenario's scratch directory, file store and worker pool, torn down after
 * the file's tests (`before` runs first in the teardown: e.g. restart the broker).
 */
export function scenario(name: string, before?: () => Promise<void>): { dir: string; store: string; pool: WorkerPool } {
  const { dir, store } = scratch(name);
  const pool = new WorkerPool(store);
  afterAll(async () => {
    await before?.();
    await pool.stop();
    clean(dir);
  });
  return { dir, store, pool };
}

/** A `fj` CLI child process with its output collected. */
export interface CliProc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

export function fj(args: string[], env: NodeJS.ProcessEnv = {}): CliProc {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...process.env, FJ_BROKER_URL: BROKER_URL, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** One row of a scenario's table in docs/reliability.md. */
export interface Record_ {
  scenario: string;
  items: number;
  lost: number;
  duplicated: number;
  /** Items run more than once (redelivered, retried or re-published) and still counted once. */
  recovered: number | string;
  /** Extra wall time over a fault-free run of the same job, ms. */
  recoverMs: number | string;
  faults: string;
  command: string;
}

export function record(r: Record_): void {
  mkdirSync(RECORDS, { recursive: true });
  writeFileSync(join(RECORDS, `${r.scenario.replace(/[^a-z0-9]+/gi, '-')}.json`), `${JSON.stringify(r, null, 2)}\n`);
}

/** Removes a scratch directory (best effort). */
export function clean(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Lines in a file (0 when missing). */
export function lineCount(text: string): number {
  return text.split('\n').filter(Boolean).length;
}

export { readdirSync };
