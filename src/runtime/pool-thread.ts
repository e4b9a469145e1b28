/**
 * One thread of a {@link ThreadPool} (thread-pool.ts) through its life:
 * started and ready, kept warm (task modules imported ahead of their jobs),
 * stopped.
 */
import { Worker } from 'node:worker_threads';
import { PLAIN, type LogLevel, type LogStyle } from '../core/log.js';
import { threadEntry } from '../core/paths.js';
import { SLOT_SIZE } from './thread-slot.js';
import { fromWire } from '../core/wire-error.js';
import { InternalError } from '../core/errors.js';
import type { BatchFailure, FromThread, ThreadData, ToThread } from './thread-entry.js';

/**
 * How long a thread being stopped gets to run its items' abort listeners
 * (a `CommandTask` kills its program there) before it is terminated anyway.
 */
const STOP_GRACE_MS = 500;
/** A finished batch: encoded results (`null` for failed items) and which items failed. */
export interface BatchDone {
  bytes: Uint8Array;
  ms: number;
  failures?: BatchFailure[];
  /** `bytes` is the one merged result (`combine`, or a fold) of the items that did not fail; zero bytes when none did. */
  combined?: boolean;
  /** With `combined`: the positions (in the batch, ascending) of the items merged into `bytes`. */
  merged?: number[];
}

/** A pool's thread, as the pool keeps it. */
export interface Thread {
  worker: Worker;
  id: string;
  inFlight: number;
  /** Loaded keys, least recently used first. */
  loaded: Map<string, true>;
  pending: Map<number, { resolve: (r: BatchDone) => void; reject: (e: unknown) => void }>;
  slot: Float64Array;
  /** Set once the thread is dying: it takes no more batches. */
  dead?: string;
  /** Set once its worker thread has exited: there is nothing left to abort. */
  exited?: boolean;
  /** Set while a replacement thread imports the kept-warm modules: it takes no batches yet. */
  warming?: boolean;
}

/** A task module a thread could not import while warming (its jobs' batches fail with the same error). */
export interface WarmFailure {
  moduleUrl: string;
  error: string;
}

/** What a pool's `n`th thread is handed (see `PoolOptions`). */
export function threadData(
  options: { services: string | undefined; logLevel: LogLevel; logStyle?: LogStyle; idPrefix: string },
  n: number,
): ThreadData {
  return {
    services: options.services,
    logLevel: options.logLevel,
    logStyle: options.logStyle ?? PLAIN,
    workerId: `${options.idPrefix}.${n}`,
    slot: new SharedArrayBuffer(SLOT_SIZE * 8),
  };
}

/**
 * Stops a thread: aborts the `ctx.signal` of every item it holds and waits
 * (up to {@link STOP_GRACE_MS}) for the abort listeners to have run, then
 * terminates it. Terminating alone would leave a program an item started
 * running, orphaned; a thread stuck in a loop never answers, and is
 * terminated when the grace ends.
 */
export async function stopThread(t: Thread): Promise<void> {
  if (t.exited) return;
  let onMessage: ((msg: FromThread) => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  const aborted = new Promise<void>((resolve) => {
    onMessage = (msg) => void (msg.type === 'aborted' && resolve());
    t.worker.on('message', onMessage);
    t.worker.once('exit', () => resolve());
    timer = setTimeout(resolve, STOP_GRACE_MS);
  });
  t.worker.postMessage({ type: 'abort', ack: true } satisfies ToThread);
  await aborted;
  clearTimeout(timer);
  t.worker.off('message', onMessage!);
  await t.worker.terminate();
}

/** Numbers each {@link warmThread}'s request, so its answer is told from another's. */
let warmAcks = 0;

/**
 * Has a thread import `moduleUrls` and resolves once it has, with the
 * modules it could not import; at once (nothing failed) if it exits first.
 */
export function warmThread(t: Thread, moduleUrls: string[]): Promise<WarmFailure[]> {
  if (t.exited) return Promise.resolve([]);
  const ack = ++warmAcks;
  return new Promise((resolve) => {
    const onMessage = (msg: FromThread) => {
      if (msg.type !== 'warmed' || msg.ack !== ack) return;
      done();
      resolve(msg.failed ?? []);
    };
    const onExit = () => (done(), resolve([]));
    const done = () => {
      t.worker.off('message', onMessage);
      t.worker.off('exit', onExit);
    };
    t.worker.on('message', onMessage);
    t.worker.once('exit', onExit);
    t.worker.postMessage({ type: 'warm', moduleUrls, ack } satisfies ToThread);
  });
}

/** A thread being started: its worker now (to terminate it before it is ready), the thread once it is. */
export interface Starting {
  worker: Worker;
  ready: Promise<Thread>;
}

/**
 * Starts one thread, or, given an `early` one (early-thread.ts, already
 * booting), hands it its data; `ready` resolves once it has built its
 * services, or rejects with why it could not.
 */
export function startThread(data: ThreadData, early?: Worker): Starting {
  const worker = early ?? new Worker(threadEntry, { workerData: data });
  if (early) early.postMessage({ type: 'init', data });
  return { worker, ready: threadReady(worker, data) };
}

function threadReady(worker: Worker, data: ThreadData): Promise<Thread> {
  return new Promise((resolve, reject) => {
    const off = () => {
      worker.off('error', onError);
      worker.off('message', onMessage);
      worker.off('exit', onExit);
    };
    const onMessage = (msg: FromThread) => {
      off();
      if (msg.type === 'ready')
        resolve({
          worker,
          id: data.workerId,
          inFlight: 0,
          loaded: new Map(),
          pending: new Map(),
          slot: new Float64Array(data.slot),
        });
      else if (msg.type === 'fatal') {
        void worker.terminate();
        reject(fromWire(msg.error));
      }
    };
    const onError = (err: Error) => (off(), reject(err));
    const onExit = (code: number) => (
      off(),
      reject(new InternalError(`worker thread ${data.workerId} exited (code ${code}) before it was ready`))
    );
    worker.on('message', onMessage);
    worker.once('error', onError);
    worker.once('exit', onExit);
  });
}
