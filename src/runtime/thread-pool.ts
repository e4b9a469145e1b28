/**
 * A pool of worker threads running `process` for any number of (task,
 * params) pairs — the local executor's engine, and `fj worker`'s.
 *
 * Each thread loads a pair once (on first use) and keeps at most
 * {@link MAX_LOADED} of them. `run` sends a batch to the least-loaded thread
 * and resolves with the encoded results; load balancing across batches is the
 * caller's: it keeps about {@link PER_THREAD} batches per thread in flight.
 *
 * A thread that dies (its task code exited it, ran it out of memory, or
 * crashed it), runs an item past its timeout, or holds a cancelled batch
 * that does not give way within {@link ABORT_GRACE_MS} (an item deaf to
 * `ctx.signal`) is replaced by a fresh one. A thread whose item has run
 * longer than {@link STALL_MS} gets new batches only when the others are
 * fuller: an item that never returns does not hold up the batches after it.
 * Its batches reject with {@link BatchLost} (lost-batch.ts) naming the item it was running
 * (read from memory shared with the thread), so the caller can charge that
 * item an attempt and run the others again for free.
 *
 * A pool can keep task modules warm ({@link ThreadPool.keepWarm}, `fj
 * worker`'s): every thread imports them, and a replacement thread imports
 * them before it takes a batch, so no job's first batch pays the import.
 */
import { EventEmitter } from 'node:events';
import type { Worker } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { InternalError } from '../core/errors.js';
import type { LogLevel, LogStyle } from '../core/log.js';
import { threadEntry } from '../core/paths.js';
import { BatchLost } from './lost-batch.js';
import { takeEarlyThread } from './early-thread.js';
import { ThreadSlot } from './thread-slot.js';
import type { FromThread, ToThread } from './thread-entry.js';
import { fromWire } from '../core/wire-error.js';
import {
  startThread,
  stopThread,
  threadData,
  warmThread,
  type BatchDone,
  type Starting,
  type Thread,
  type WarmFailure,
} from './pool-thread.js';

export type { BatchDone, WarmFailure };

/** Batches a thread should hold: one running, one waiting. */
const PER_THREAD = 2;
/** (task, params) pairs a thread keeps loaded. */
const MAX_LOADED = 16;
/** A cancelled batch still running this long after its abort has its thread replaced. */
export const ABORT_GRACE_MS = 2000;
/** A thread whose item has run this long counts as full for new batches (see {@link ThreadPool.run}). */
const STALL_MS = 1000;

/** What a batch runs: a task module with its encoded params, under a unique key. */
export interface PoolJob {
  key: string;
  moduleUrl: string;
  /** The task class's name: picks the right export of a module with several. */
  className: string;
  paramsBytes: Uint8Array;
}

/** Options of one batch. */
export interface BatchOptions {
  /** Items individually encoded, laid end to end; results an array of individually encoded values (see the thread's `batch`). */
  perItem?: boolean;
  /** An item running longer than this (ms) is stopped: its thread is replaced. */
  timeoutMs?: number;
  /** Aborts the batch's `ctx.signal`; a batch not yet started is dropped. */
  signal?: AbortSignal;
  /** Items of the batch in flight at once in its thread (default 1; see run-batch.ts). */
  concurrency?: number;
}

export interface PoolOptions {
  /** Threads. */
  size: number;
  /**
   * Start one thread, and another each time a batch finds every thread
   * busy, up to `size` (the local executor: a one-item job starts one
   * thread, not one per core, and waits for none but the first). Default:
   * start all `size` at once and resolve `start` once each is ready (`fj
   * worker`: it is ready only when its threads are).
   */
  lazy?: boolean;
  /** Services module built once per thread. */
  services: string | undefined;
  logLevel: LogLevel;
  /** How the threads' task loggers write (default: plain text). */
  logStyle?: LogStyle;
  /** Thread ids are `<prefix>.<n>`. */
  idPrefix: string;
}

/** What a pool tells the jobs using it. */
export interface PoolEvents {
  /**
   * A thread has room again (a batch finished, or a replacement thread is
   * ready, the kept-warm modules imported): every job waiting for room sends
   * again, not only the one whose batch finished.
   */
  room: [];
  /** A thread died or could not start, with why (for logs), and whether a new one takes its place. */
  threadLost: [why: string, replaced: boolean];
}

/**
 * Serves any number of jobs, one after another or at once, until closed:
 * threads stay up between jobs and keep the last few tasks loaded.
 */
export class ThreadPool extends EventEmitter<PoolEvents> {
  private nextId = 0;
  private closed = false;
  private watchdog: NodeJS.Timeout | undefined;
  /** Modules every thread imports, a replacement thread too (see {@link keepWarm}). */
  private readonly kept = new Set<string>();
  /** Modules {@link warm} asked for: a thread that joins later imports them too. */
  private readonly warmed = new Set<string>();
  /** Threads started and not ready yet (`lazy`): terminated if the pool closes first. */
  private readonly starting = new Set<Worker>();

  private constructor(
    private readonly threads: Thread[],
    private readonly options: PoolOptions,
  ) {
    super();
    this.setMaxListeners(0);
    for (const t of threads) this.attach(t);
  }

  /**
   * Starts `size` threads (the first one the early thread, when `fj run`
   * started one: early-thread.ts) and waits until each has built its
   * services; with `lazy`, starts the first only and waits for it (see
   * {@link PoolOptions.lazy}). Rejects with a thread's error.
   */
  static async start(options: PoolOptions): Promise<ThreadPool> {
    if (!existsSync(threadEntry))
      throw new InternalError(`fj is not built: ${threadEntry} is missing (run npm run build)`);
    const started = Array.from({ length: options.lazy ? 1 : options.size }, (_, n) =>
      startThread(threadData(options, n), n === 0 ? takeEarlyThread() : undefined),
    );
    const ready = await Promise.allSettled(started.map((s) => s.ready));
    const failed = ready.find((s) => s.status === 'rejected');
    if (failed) {
      await Promise.all(started.map((s) => s.worker.terminate()));
      throw failed.reason;
    }
    return new ThreadPool(
      ready.map((s) => (s as PromiseFulfilledResult<Thread>).value),
      options,
    );
  }

  /** `lazy`: a batch found every thread busy: one more thread starts, while the pool has fewer than its size. */
  private grow(): void {
    const n = this.threads.length + this.starting.size;
    if (n < this.options.size) this.join(startThread(threadData(this.options, n)));
  }

  /** A thread still starting joins the pool once it is ready (imports what the pool was asked to warm), or is dropped with why. */
  private join(s: Starting): void {
    this.starting.add(s.worker);
    s.ready.then(
      (t) => {
        this.starting.delete(s.worker);
        if (this.closed) return void t.worker.terminate();
        this.threads.push(t);
        this.attach(t);
        if (this.warmed.size > 0)
          t.worker.postMessage({ type: 'warm', moduleUrls: [...this.warmed] } satisfies ToThread);
        this.emit('room');
      },
      (err: Error) => {
        this.starting.delete(s.worker);
        if (!this.closed) this.emit('threadLost', `a worker thread could not start: ${err.message}`, false);
      },
    );
  }

  private attach(t: Thread): void {
    t.worker.on('message', (msg: FromThread) => this.onMessage(t, msg));
    t.worker.on('error', (err) => this.lose(t, `${err.name}: ${err.message}`));
    t.worker.on('exit', (code) => {
      t.exited = true;
      this.lose(t, `its worker thread exited (code ${code})`);
    });
  }

  /** Threads in the pool (live, being replaced, or still starting). */
  get size(): number {
    return this.options.size;
  }

  /** Batches in flight across all threads. */
  get inFlight(): number {
    return this.threads.reduce((n, t) => n + t.inFlight, 0);
  }

  /** True while some live thread holds fewer than {@link PER_THREAD} batches. */
  get hasRoom(): boolean {
    return this.threads.some((t) => !t.dead && !t.warming && t.inFlight < PER_THREAD);
  }

  /**
   * Has every thread import a task module now (before its job's params are
   * known), so its `load` finds it imported. Fire and forget: the local
   * executor calls it while the job's input is still being read.
   */
  warm(moduleUrl: string): void {
    this.warmed.add(moduleUrl);
    for (const t of this.threads)
      if (!t.dead) t.worker.postMessage({ type: 'warm', moduleUrls: [moduleUrl] } satisfies ToThread);
  }

  /**
   * Keeps task modules warm (`fj worker` calls it at start with every module
   * it serves): every thread imports `moduleUrls` now, and the promise
   * resolves once each has (a thread that dies meanwhile is not waited for:
   * its replacement imports them too). The pool remembers them: a thread
   * that replaces a dead one imports them before it takes a batch, so a
   * job's first batch on it runs as fast as its tenth. A module that fails
   * to import is reported in the answer, not thrown: the batches of its
   * jobs fail with the same error, as they would have.
   */
  async keepWarm(moduleUrls: string[]): Promise<WarmFailure[]> {
    for (const url of moduleUrls) this.kept.add(url);
    const answers = await Promise.all(this.threads.filter((t) => !t.dead).map((t) => warmThread(t, moduleUrls)));
    const seen = new Map<string, WarmFailure>();
    for (const f of answers.flat()) seen.set(f.moduleUrl, f);
    return [...seen.values()];
  }

  /** Has every thread load `job` now, so the first batches find it ready. */
  preload(job: PoolJob): void {
    for (const t of this.threads) this.ensureLoaded(t, job);
  }

  /**
   * Runs a batch (first index `first`) on the least-loaded live thread:
   * `items` is a msgpack array of items (copied to the thread, so give it a
   * buffer of its own: `detach`), or the items themselves, posted by
   * structured clone (only values that arrive
   * exactly as the msgpack round trip would give them: see `clonesExactly`).
   * Rejects with {@link BatchLost} if the thread dies or times out with it.
   */
  run(
    job: PoolJob,
    first: number,
    items: Uint8Array | readonly unknown[],
    options: BatchOptions = {},
  ): Promise<BatchDone> {
    if (this.closed) return Promise.reject(new InternalError('thread pool is closed'));
    const t = this.pick();
    if (!t) return Promise.reject(new BatchLost(undefined, 'no live worker thread'));
    const thread = t;
    this.ensureLoaded(thread, job);
    const id = this.nextId++;
    // The least-loaded thread was busy already: every thread is.
    if (this.options.lazy && thread.inFlight > 0) this.grow();
    thread.inFlight++;
    if (options.timeoutMs) this.startWatchdog(options.timeoutMs);
    return new Promise<BatchDone>((resolve, reject) => {
      const { signal } = options;
      let grace: NodeJS.Timeout | undefined;
      const onAbort = () => {
        thread.worker.postMessage({ type: 'abort', id } satisfies ToThread);
        // An item deaf to ctx.signal (or a thread stuck in a loop) would keep the thread forever: replace it.
        grace = setTimeout(() => {
          if (thread.pending.has(id))
            this.lose(thread, `an item did not stop within ${formatMs(ABORT_GRACE_MS)} of being cancelled`);
        }, ABORT_GRACE_MS);
        grace.unref();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const off = () => {
        clearTimeout(grace);
        signal?.removeEventListener('abort', onAbort);
      };
      thread.pending.set(id, {
        resolve: (r) => (off(), resolve(r)),
        reject: (e) => (off(), reject(e)),
      });
      const msg: ToThread = {
        type: 'batch',
        key: job.key,
        id,
        first,
        items,
        perItem: options.perItem ?? false,
        timeoutMs: options.timeoutMs ?? 0,
        concurrency: options.concurrency ?? 1,
      };
      // Copied, not transferred (see the thread's 'done'): a detached buffer would slow every typed array access of this thread's code, msgpack's included.
      thread.worker.postMessage(msg);
    });
  }

  /**
   * The live thread with the fewest batches, where a thread whose item has
   * run longer than {@link STALL_MS} counts {@link PER_THREAD} batches
   * fuller (on a tie, a thread that is not stalled wins): batches queue
   * behind an item that may never return only when every thread is busy.
   */
  private pick(): Thread | undefined {
    const now = Date.now();
    let best: Thread | undefined;
    let bestLoad = Infinity;
    let bestStalled = true;
    for (const c of this.threads) {
      if (c.dead || c.warming) continue;
      const startedAt = c.slot[ThreadSlot.StartedAt];
      const stalled = startedAt > 0 && now - startedAt > STALL_MS;
      const load = c.inFlight + (stalled ? PER_THREAD : 0);
      if (load < bestLoad || (load === bestLoad && bestStalled && !stalled))
        [best, bestLoad, bestStalled] = [c, load, stalled];
    }
    return best;
  }

  /** Sends `job` to a thread that lacks it (evicting its least recently used) and marks it most recent. */
  private ensureLoaded(t: Thread, job: PoolJob): void {
    if (t.loaded.has(job.key)) {
      t.loaded.delete(job.key);
    } else {
      t.worker.postMessage({
        type: 'load',
        key: job.key,
        moduleUrl: job.moduleUrl,
        className: job.className,
        paramsBytes: job.paramsBytes,
      } satisfies ToThread);
      if (t.loaded.size >= MAX_LOADED) {
        const oldest = t.loaded.keys().next().value!;
        t.loaded.delete(oldest);
        t.worker.postMessage({ type: 'unload', key: oldest } satisfies ToThread);
      }
    }
    t.loaded.set(job.key, true);
  }

  /** Drops a job's task and params from every thread that loaded them (the job is over). */
  unload(key: string): void {
    for (const t of this.threads) {
      if (t.dead || !t.loaded.delete(key)) continue;
      t.worker.postMessage({ type: 'unload', key } satisfies ToThread);
    }
  }

  /** Lets threads finish what they hold, close their services and exit (terminated after 5 s). */
  async close(): Promise<void> {
    this.closed = true;
    this.stopWatchdog();
    await this.stopStarting();
    await Promise.all(
      this.threads.map(async (t) => {
        if (t.dead) return; // already gone (its replacement, if it comes, is terminated on arrival)
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
    this.stopWatchdog();
    await Promise.all([this.stopStarting(), ...this.threads.map((t) => stopThread(t))]);
  }

  /** Terminates the threads still starting: nothing of theirs ran. */
  private async stopStarting(): Promise<void> {
    await Promise.all([...this.starting].map((w) => w.terminate()));
    this.starting.clear();
  }

  private onMessage(t: Thread, msg: FromThread): void {
    if (msg.type !== 'done' && msg.type !== 'failed') return;
    const p = t.pending.get(msg.id);
    if (!p) return;
    t.pending.delete(msg.id);
    t.inFlight--;
    if (msg.type === 'done')
      p.resolve({ bytes: msg.bytes, ms: msg.ms, failures: msg.failures, combined: msg.combined, merged: msg.merged });
    else p.reject(fromWire(msg.error));
    if (this.listenerCount('room') > 1) this.emit('room'); // with one job, its own answer wakes it
  }

  /** A thread died or must die: its batches are lost (see {@link BatchLost}); a fresh thread takes its place. */
  private lose(t: Thread, why: string): void {
    if (t.dead) return;
    t.dead = why;
    const { slot } = t;
    const running =
      slot[ThreadSlot.StartedAt] > 0
        ? { batch: slot[ThreadSlot.Batch], index: slot[ThreadSlot.Index], last: slot[ThreadSlot.Last] }
        : undefined;
    for (const [id, p] of t.pending) {
      if (running?.batch !== id) p.reject(new BatchLost(undefined, why));
      else if (running.last > running.index)
        p.reject(new BatchLost(undefined, why, { from: running.index, to: running.last }));
      else p.reject(new BatchLost(running.index, why));
    }
    t.pending.clear();
    t.inFlight = 0;
    void stopThread(t);
    if (this.closed) return;
    this.emit('threadLost', `${t.id}: ${why}`, true);
    const at = this.threads.indexOf(t);
    startThread({ ...threadData(this.options, at), workerId: `${t.id}'` }).ready.then(
      async (fresh) => {
        if (this.closed) return void fresh.worker.terminate();
        this.threads[at] = fresh;
        this.attach(fresh);
        if (this.kept.size > 0) {
          // Batches go to the other threads until this one has imported what the pool keeps warm.
          fresh.warming = true;
          await warmThread(fresh, [...this.kept]); // a module that fails to import fails its batches, as at start
          fresh.warming = false;
          if (fresh.dead) return;
        }
        this.emit('room');
      },
      (err) =>
        this.emit('threadLost', `${t.id}: could not start a replacement thread: ${(err as Error).message}`, false),
    );
  }

  /** Checks every 100 ms (at most a tenth of the timeout) for items past their timeout. */
  private startWatchdog(timeoutMs: number): void {
    if (this.watchdog) return;
    this.watchdog = setInterval(
      () => {
        const now = Date.now();
        for (const t of this.threads) {
          const { slot } = t;
          if (t.dead || slot[ThreadSlot.StartedAt] === 0 || slot[ThreadSlot.TimeoutMs] === 0) continue;
          if (now - slot[ThreadSlot.StartedAt] > slot[ThreadSlot.TimeoutMs])
            this.lose(t, `timed out after ${formatMs(slot[ThreadSlot.TimeoutMs])}`);
        }
      },
      Math.min(100, Math.max(10, timeoutMs / 10)),
    );
    this.watchdog.unref();
  }

  private stopWatchdog(): void {
    clearInterval(this.watchdog);
    this.watchdog = undefined;
  }
}

/** The log line for a `threadLost` event. */
export function lostThread(why: string, replaced: boolean): string {
  return `lost a worker thread: ${why}${replaced ? '; a new one takes its place' : '; the pool goes on with one thread fewer'}`;
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
