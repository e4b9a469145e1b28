/**
 * Shared by the reliability scenarios: a pool of real `fj worker` processes
 * that can be killed and replaced, the chaos task's expected output, jobs run
 * through the real CLI, and a record of each scenario's figures (items, lost,
 * duplicated, recovered, time to recover) in test/.tmp/reliability/, from
 * which docs/reliability.md's tables are written. What the chaos task's
 * items did (its runLog) is read by ../helpers/run-log.ts.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, onTestFinished } from 'vitest';
import { runJob } from '../../src/index.js';
import Chaos, { type ChaosInput, type ChaosOutput } from '../fixtures/chaos.js';
import { codeQueue } from '../../src/broker/amqp.js';
import { loadAllTasks } from '../../src/task/registry.js';
import {
  BROKER_URL,
  CLI,
  deleteQueue,
  deleteQueues,
  startWorkerProc,
  stopWorkerProc,
  type WorkerProc,
} from '../helpers/broker.js';

export const ROOT = join(import.meta.dirname, '..', '..');
export const CHAOS = join(ROOT, 'test', 'fixtures', 'chaos.ts');
/** The same task with `combine` (task `chaos-combined`). */
export const CHAOS_COMBINED = join(ROOT, 'test', 'fixtures', 'chaos-combined.ts');
/** The same task as a FoldTask (task `chaos-folded`). */
export const CHAOS_FOLDED = join(ROOT, 'test', 'fixtures', 'chaos-folded.ts');
const TMP = join(ROOT, 'test', '.tmp');
const RECORDS = join(TMP, 'reliability');

/**
 * The source of a task module in version `factor` (a deploy writes version 3 where version 2 was): each
 * item gives value × factor after `ms`. Written into a {@link scratch} directory, three levels below the
 * repository (it imports fj from there).
 */
export function versionedTaskSource(taskName: string, className: string, factor: number): string {
  return `import { ForkJoinTask } from '../../../src/index.js';

/** Version ${factor} of task ${taskName}: items give value x ${factor}. */
export default class ${className} extends ForkJoinTask<{ values: number[]; ms: number }, number, number, number[], { ms: number }> {
  static override taskName = '${taskName}';
  static override schema = {
    type: 'object',
    properties: { values: { type: 'array', items: { type: 'number' } }, ms: { type: 'integer', minimum: 0 } },
    required: ['values', 'ms'],
  };
  static override params = ['ms'];
  static override module = import.meta.url;
  setup(input: { values: number[] }): number[] {
    return input.values;
  }
  async process(value: number, { ms }: { ms: number }): Promise<number> {
    await new Promise((r) => setTimeout(r, ms));
    return value * ${factor};
  }
  join(results: number[]): number[] {
    return results;
  }
}
`;
}

/** A scratch directory and a file store of the test's own. */
export function scratch(name: string): { dir: string; store: string } {
  const dir = join(TMP, `${name}-${randomUUID().slice(0, 8)}`);
  mkdirSync(dir, { recursive: true });
  return { dir, store: `file://${join(dir, 'store')}` };
}

/** The chaos task's output computed in this thread: what every run must reproduce. */
export async function expected(input: ChaosInput): Promise<ChaosOutput> {
  const { joinLog: _, runLog: __, ...rest } = input;
  return (await runJob(Chaos, rest, { executor: 'eager' })).output as ChaosOutput;
}

/**
 * The code queue of `task` (a task file, the chaos task by default) on pool
 * `pool`: where a job's work messages wait for a worker that runs its code
 * (broker/amqp.ts `codeQueue`). The pool's own queue holds none of them.
 */
export async function codeQueueOf(pool: string, task: string = CHAOS): Promise<string> {
  const [t] = await loadAllTasks(task);
  return codeQueue(pool, t.name, t.codeHash);
}

/** Workers on one queue that a test can kill (SIGKILL) and replace. */
export class WorkerPool {
  readonly queue = `fj.reliability.${randomUUID()}`;
  readonly workers: WorkerProc[] = [];
  /** Every worker process started, those that died before they were ready (logged `serving`) included. */
  readonly spawned: WorkerProc[] = [];
  kills = 0;
  /** PIDs killed by {@link killOne}, in order. */
  readonly killed: number[] = [];

  constructor(
    readonly store: string,
    private readonly args: string[] = ['-c', '1'],
  ) {}

  async start(n: number): Promise<void> {
    await Promise.all(Array.from({ length: n }, () => this.add()));
  }

  async add(): Promise<WorkerProc> {
    const w = await startWorkerProc(
      ['--queue', this.queue, '--store', this.store, '--tasks', CHAOS, CHAOS_COMBINED, CHAOS_FOLDED, ...this.args],
      { FJ_BROKER_URL: BROKER_URL },
      (proc) => this.spawned.push(proc),
    );
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
    this.killed.push(w.child.pid!);
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

  /** SIGTERM to every live worker (warm shutdown: each finishes and answers what it holds); the queue stays. */
  async stopWorkers(): Promise<void> {
    await Promise.all(
      this.workers
        .filter((w) => w.child.exitCode === null && w.child.signalCode === null)
        .map((w) => stopWorkerProc(w)),
    );
  }

  /**
   * Stops the workers and deletes the queue and the chaos tasks' code queues; fails naming the
   * worker if one had to fall back on its last-resort exit.
   */
  async stop(): Promise<void> {
    const t = Date.now();
    await this.stopWorkers();
    await deleteQueues(this.queue).catch(() => {});
    for (const task of [CHAOS, CHAOS_COMBINED, CHAOS_FOLDED])
      await deleteQueue(await codeQueueOf(this.queue, task)).catch(() => {});
    const hung = this.workers.find((w) => /did not end within/.test(w.log()));
    if (hung)
      throw new Error(`a worker's shutdown hung (${Date.now() - t} ms to stop the pool); its log:\n${hung.log()}`);
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
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, FJ_BROKER_URL: BROKER_URL, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** One row of a scenario's table in docs/reliability.md: every figure measured by the run that wrote it. */
export interface Record_ {
  scenario: string;
  items: number;
  lost: number | string;
  duplicated: number | string;
  /** Items run more than once (redelivered, retried or re-published) and still counted once, or what was done instead. */
  recovered: number | string;
  /** Extra wall time over a fault-free run of the same job, ms. */
  recoverMs: number | string;
  faults: string;
  command: string;
}

/** What a scenario writes: its figures so far, whether the test passed, and the run it belongs to. */
export interface Written extends Partial<Record_> {
  scenario: string;
  command: string;
  status: 'passed' | 'failed';
  runId: string;
}

/**
 * Starts the record of this test's scenario: the test fills in the returned
 * figures as it measures them, and they are written when the test ends,
 * passed or failed (a failed scenario shows as failed, with what was measured
 * before it failed). Call inside the test. The file carries the run's id
 * (set by global-setup, which clears the directory), so
 * scripts/reliability-table.mjs prints this run's rows only.
 */
export function recording(scenario: string, command: string): Partial<Record_> {
  const figures: Partial<Record_> = {};
  onTestFinished(({ task }) => {
    const runId = process.env.FJ_TEST_RUN_ID;
    if (!runId) throw new Error('FJ_TEST_RUN_ID is not set: run the scenarios through vitest (test/global-setup.ts)');
    const row: Written = {
      ...figures,
      scenario,
      command,
      status: task.result?.state === 'pass' ? 'passed' : 'failed',
      runId,
    };
    mkdirSync(RECORDS, { recursive: true });
    writeFileSync(join(RECORDS, `${scenario.replace(/[^a-z0-9]+/gi, '-')}.json`), `${JSON.stringify(row, null, 2)}\n`);
  });
  return figures;
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

/**
 * Waits for a process to exit, at most `ms`; one still running then is killed
 * (by its PID) and reported with the end of its log, so a hang fails the test.
 */
export async function exitWithin(
  p: { child: ChildProcess; exited: Promise<number | null> },
  ms: number,
  what = 'fj run',
  log: () => string = () => (p as Partial<CliProc>).stderr?.() ?? '',
): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), ms)));
  const code = await Promise.race([p.exited, late]);
  clearTimeout(timer);
  if (code === 'late') {
    p.child.kill('SIGKILL');
    throw new Error(`${what} was still running after ${ms / 1000} s:\n${log().slice(-3000)}`);
  }
  return code;
}

/**
 * Has RabbitMQ refuse (`basic.nack`) every message published to `queue`, with
 * `rabbitmqctl` (`ctl`): a policy named `policy` capping the queue at 0
 * messages with `overflow: reject-publish`, as a quorum queue electing a
 * leader or a full queue refuses them. {@link acceptPublishes} clears it.
 */
export async function refusePublishes(ctl: string, policy: string, queue: string): Promise<void> {
  const pattern = `^${queue.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
  await promisify(execFile)(
    ctl,
    [
      'set_policy',
      '--apply-to',
      'queues',
      '--priority',
      '100',
      policy,
      pattern,
      '{"max-length":0,"overflow":"reject-publish"}',
    ],
    { timeout: 60_000 },
  );
}

/** Clears {@link refusePublishes}'s policy (none: nothing to do). */
export async function acceptPublishes(ctl: string, policy: string): Promise<void> {
  await promisify(execFile)(ctl, ['clear_policy', policy], { timeout: 60_000 }).catch(() => {});
}
