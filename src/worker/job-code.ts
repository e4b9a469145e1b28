/**
 * A detached job whose code no live worker of its pool runs any more (a
 * rolling deploy replaced the last one): what the worker holding its
 * message does once every live worker has declined it, as an attached run's
 * coordinator does (executors/amqp/code-watch.ts). It waits
 * {@link NO_CODE_GRACE_MS} for a worker on the job's code to come back (one
 * consuming the job's code queue: the broker's count, not a heartbeat);
 * then, when the job allows it (`onCodeChange: 'follow'`, recorded in its
 * signed manifest) and the pool's workers run one other version of the
 * task, the worker running that version coordinates the job on it — the
 * manifest is rewritten to that code, the move recorded in it and logged;
 * otherwise the job fails, naming the versions the pool runs.
 */
import type { ChannelModel } from 'amqplib';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkerRefusedError } from '../core/errors.js';
import type { Signer } from '../core/signing.js';
import { codeQueue } from '../broker/amqp.js';
import { isQuiet, readBeacons } from '../broker/beacon.js';
import { NO_CODE_GRACE_MS, noCodeMessage } from '../executors/amqp/code-watch.js';
import { writeManifest, type Manifest } from '../store/job-records.js';
import type { PayloadStore } from '../store/store.js';
import type { TaskInfo } from '../task/registry.js';
import { workerCommand } from '../task/task-lookup.js';

/** How often the job's code queue is looked at during the grace. */
const LOOK_EVERY_MS = 500;

/** What to do with a job whose code no live worker runs: put it back (its code is back), coordinate it here on this worker's code, pass it on to a worker that runs the code it may follow, or fail it. */
export type CodeVerdict =
  | { do: 'back' }
  | { do: 'follow'; from: string; to: string }
  | { do: 'pass'; to: string }
  | { do: 'fail'; error: WorkerRefusedError };

/** The parts {@link decideCode} reads. */
export interface CodeCheck {
  store: PayloadStore;
  signer: Signer | undefined;
  /** A connection for the broker's counts. */
  conn: ChannelModel;
  queue: string;
  manifest: Manifest;
  /** This worker's version of the job's task, when it serves the task. */
  task: TaskInfo | undefined;
  /** Stops the wait (the worker stopping). */
  signal: AbortSignal;
}

/**
 * Waits out the grace, then decides (see the module comment). `back` as
 * soon as a worker consumes the job's code queue; resolves early (to
 * `back`) when `signal` aborts, the message then going back on close.
 */
export async function decideCode(c: CodeCheck): Promise<CodeVerdict> {
  const { manifest, queue } = c;
  const mine = manifest.task.codeHash;
  const own = codeQueue(queue, manifest.task.name, mine);
  for (const end = Date.now() + NO_CODE_GRACE_MS; Date.now() < end;) {
    if (c.signal.aborted || (await consumers(c.conn, own)) > 0) return { do: 'back' };
    await sleep(LOOK_EVERY_MS, undefined, { signal: c.signal }).catch(() => {});
  }
  if (c.signal.aborted || (await consumers(c.conn, own)) > 0) return { do: 'back' };
  const { running, lacking, total } = await versions(c.store, c.signer, queue, manifest.task.name);
  const others = [...running].filter(([hash]) => hash !== mine);
  if (manifest.options.onCodeChange === 'follow' && others.length === 1) {
    const [to] = others[0];
    return c.task?.codeHash === to ? { do: 'follow', from: mine, to } : { do: 'pass', to };
  }
  const start = `start one with '${workerCommand(queue, manifest.task.module)}'`;
  return {
    do: 'fail',
    error: new WorkerRefusedError(noCodeMessage(queue, manifest.task.name, mine, total, others, lacking, start)),
  };
}

/**
 * Moves detached job `jobId` onto code `to` for its task: its signed
 * manifest names that code from now on (so the next coordinator resumes it
 * on the same), and keeps the move (`codeChanges`).
 */
export async function followCode(
  store: PayloadStore,
  jobId: string,
  manifest: Manifest,
  verdict: { from: string; to: string },
  by: string,
  signer: Signer | undefined,
): Promise<Manifest> {
  const moved: Manifest = {
    ...manifest,
    task: { ...manifest.task, codeHash: verdict.to },
    codeChanges: [...(manifest.codeChanges ?? []), { from: verdict.from, to: verdict.to, at: Date.now(), by }],
  };
  await writeManifest(store, jobId, moved, signer);
  return moved;
}

/** Consumers of `queue` (0 when it does not exist); on a channel of its own, since a failed check closes it. */
async function consumers(conn: ChannelModel, queue: string): Promise<number> {
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  try {
    return (await ch.checkQueue(queue)).consumerCount;
  } catch {
    return 0;
  } finally {
    await ch.close().catch(() => {});
  }
}

/** The live workers of `pool` by the code they run for `task` (their heartbeats), those that lack it, and how many there are. */
async function versions(
  store: PayloadStore,
  signer: Signer | undefined,
  pool: string,
  task: string,
): Promise<{ running: Map<string, string[]>; lacking: string[]; total: number }> {
  const now = Date.now();
  const running = new Map<string, string[]>();
  const lacking: string[] = [];
  let total = 0;
  for (const b of (await readBeacons(store, signer, undefined, now)).beats) {
    if (b.pool !== pool || isQuiet(b, now)) continue;
    total++;
    const code = Object.hasOwn(b.tasks, task) ? b.tasks[task] : undefined;
    if (code === undefined) lacking.push(b.name);
    else running.set(code, [...(running.get(code) ?? []), b.name]);
  }
  return { running, lacking, total };
}
