/**
 * A pool of worker threads running `process` for any number of (task,
 * params) pairs — the local executor's engine, and `fj worker`'s.
 *
 * Each thread loads a pair once (on first use) and keeps at most
 * {@link MAX_LOADED} of them. `run` sends a batch to the least-loaded thread
 * and resolves with the encoded results; load balancing across batches is the
 * caller's: it keeps about {@link PER_THREAD} batches per thread in flight.
 */
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { FjError } from '../errors.js';
import type { LogLevel } from '../log.js';
import { threadEntry } from '../paths.js';
import type { FromThread, ThreadData, ToThread } from './thread.js';
import { fromWire } from './wire-error.js';

/** Batches a thread should hold: one running, one waiting. */
const PER_THREAD = 2;
/** (task, params) pairs a thread keeps loaded. */
const MAX_LOADED = 16;

/** What a batch runs: a task module with its encoded params, under a unique key. */
export interface PoolJob {
  key: string;
  moduleUrl: string;
  /** The task class's name: picks the right export of a module with several. */
  className: string;
  paramsBytes: Uint8Array;
}

interface Thread {
  worker: Worker;
  id: string;
  inFlight: number;
  /** Loaded keys, least recently used first. */
  loaded: Map<string, true>;
  pending: Map<number, { resolve: (r: { bytes: Uint8Array; ms: number }) => void; reject: (e: unknown) => void }>;
}

export interface PoolOptions {
  /** Threads. */
  size: number;
  /** Services module built once per thread. */
  services: string | undefined;
  logLevel: LogLevel;
  /** Thread ids are `<prefix>.<n>`. */
  idPrefix: string;
}

export class ThreadPool {
  private nextId = 0;
  private closed = false;

  private constructor(private readonly threads: Thread[]) {
    for (const t of threads) {
      t.worker.on('message', (msg: FromThread) => this.onMessage(t, msg));
      t.worker.on('error', (err) => this.failThread(t, err));
      t.worker.on('exit', (code) => this.failThread(t, new FjError(`worker thread ${t.id} exited (code ${code}) with work in hand`, 'FJ_INTERNAL', 1)));
    }
  }

  /** Starts `size` threads and waits until each has built its services. */
  static async start(options: PoolOptions): Promise<ThreadPool> {
    if (!existsSync(threadEntry)) throw new FjError(`fj is not built: ${threadEntry} is missing (run npm run build)`, 'FJ_INTERNAL', 1);
    const started = await Promise.allSettled(
      Array.from({ length: options.size }, (_, n) => startThread({ services: options.services, logLevel: options.logLevel, workerId: `${options.idPrefix}.${n}` })),
    );
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) {
      await Promise.all(started.map((s) => (s.status === 'fulfilled' ? s.value.worker.terminate() : undefined)));
      throw (failed as PromiseRejectedResult).reason;
    }
    return new ThreadPool(started.map((s) => (s as PromiseFulfilledResult<Thread>).value));
  }

  /** Batches in flight across all threads. */
  get inFlight(): number {
    return this.threads.reduce((n, t) => n + t.inFlight, 0);
  }

  /** True while some thread holds fewer than {@link PER_THREAD} batches. */
  get hasRoom(): boolean {
    return this.threads.some((t) => t.inFlight < PER_THREAD);
  }

  /** Has every thread load `job` now, so the first batches find it ready. */
  preload(job: PoolJob): void {
    for (const t of this.threads) this.ensureLoaded(t, job);
  }

  /**
   * Runs a batch (msgpack array of items, first index `first`) on the
   * least-loaded thread. With `perItem`, items and results are arrays of
   * individually encoded values (see the thread's `batch` message).
   */
  run(job: PoolJob, first: number, bytes: Uint8Array, perItem = false): Promise<{ bytes: Uint8Array; ms: number }> {
    if (this.closed) return Promise.reject(new FjError('thread pool is closed', 'FJ_INTERNAL', 1));
    let t = this.threads[0];
    for (const c of this.threads) if (c.inFlight < t.inFlight) t = c;
    this.ensureLoaded(t, job);
    const id = this.nextId++;
    t.inFlight++;
    return new Promise((resolve, reject) => {
      t.pending.set(id, { resolve, reject });
      t.worker.postMessage({ type: 'batch', key: job.key, id, first, bytes, perItem } satisfies ToThread, [bytes.buffer as ArrayBuffer]);
    });
  }

  /** Sends `job` to a thread that lacks it (evicting its least recently used) and marks it most recent. */
  private ensureLoaded(t: Thread, job: PoolJob): void {
    if (t.loaded.has(job.key)) {
      t.loaded.delete(job.key);
    } else {
      t.worker.postMessage({ type: 'load', key: job.key, moduleUrl: job.moduleUrl, className: job.className, paramsBytes: job.paramsBytes } satisfies ToThread);
      if (t.loaded.size >= MAX_LOADED) {
        const oldest = t.loaded.keys().next().value!;
        t.loaded.delete(oldest);
        t.worker.postMessage({ type: 'unload', key: oldest } satisfies ToThread);
      }
    }
    t.loaded.set(job.key, true);
  }

  /** Aborts `ctx.signal` in every thread. */
  abort(): void {
    for (const t of this.threads) t.worker.postMessage({ type: 'abort' } satisfies ToThread);
  }

  /** Lets threads finish what they hold, close their services and exit (terminated after 5 s). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(
      this.threads.map(async (t) => {
        const exited = new Promise<void>((r) => t.worker.once('exit', () => r()));
        t.worker.postMessage({ type: 'close' } satisfies ToThread);
        const timer = setTimeout(() => void t.worker.terminate(), 5000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }

  /** Stops every thread now. */
  async terminate(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }

  private onMessage(t: Thread, msg: FromThread): void {
    if (msg.type !== 'done' && msg.type !== 'failed') return;
    const p = t.pending.get(msg.id);
    if (!p) return;
    t.pending.delete(msg.id);
    t.inFlight--;
    if (msg.type === 'done') p.resolve({ bytes: msg.bytes, ms: msg.ms });
    else p.reject(fromWire(msg.error));
  }

  private failThread(t: Thread, err: unknown): void {
    for (const p of t.pending.values()) p.reject(err);
    t.pending.clear();
    t.inFlight = 0;
  }
}

/** Starts one thread and waits until it is ready. */
function startThread(data: ThreadData): Promise<Thread> {
  const worker = new Worker(threadEntry, { workerData: data });
  return new Promise((resolve, reject) => {
    const onMessage = (msg: FromThread) => {
      worker.off('error', onError);
      worker.off('message', onMessage);
      if (msg.type === 'ready') resolve({ worker, id: data.workerId, inFlight: 0, loaded: new Map(), pending: new Map() });
      else if (msg.type === 'fatal') {
        void worker.terminate();
        reject(fromWire(msg.error));
      }
    };
    const onError = (err: Error) => reject(err);
    worker.on('message', onMessage);
    worker.once('error', onError);
  });
}
