/**
 * Entry of a worker thread (local executor, and `fj worker`'s pool). Holds
 * one runtime per loaded (task, params) pair, then runs batches: decode the
 * items, `process` each, encode the results, post them back (copied,
 * never transferred: see the 'done' post). Nothing here knows about the CLI or the broker.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { decode, decodeSequence, detach, encodeChecked } from '../core/codec.js';
import { CancelledError, InternalError } from '../core/errors.js';
import { taskLogger, type LogLevel, type LogStyle } from '../core/log.js';
import { loadModule } from '../task/registry.js';
import { importModule } from '../task/module-loader.js';
import { loadServices, TaskRuntime, type Services } from './task-runtime.js';
import { runBatch } from './run-batch.js';
import { ThreadSlot } from './thread-slot.js';
import { toWire, type WireError } from '../core/wire-error.js';
import type { EarlyData } from './early-thread.js';

/** What the pool hands a new thread. */
export interface ThreadData {
  services: string | undefined;
  logLevel: LogLevel;
  logStyle: LogStyle;
  workerId: string;
  /**
   * Shared with the pool (see thread-slot.ts), a Float64Array: when the item
   * now running started (ms since the epoch; 0 when idle), its index, its
   * batch id and the batch's item timeout (ms; 0 for none). The pool reads it
   * to stop an item over its timeout and to name the item a dead thread was
   * running, without a message per item.
   */
  slot: SharedArrayBuffer;
}

/** An item of a batch that failed, by position in the batch. */
export interface BatchFailure {
  i: number;
  error: WireError;
}

/** Messages from the pool to a thread. */
export type ToThread =
  | { type: 'load'; key: string; moduleUrl: string; className: string; paramsBytes: Uint8Array }
  | { type: 'unload'; key: string }
  /**
   * Imports task modules ahead of their `load` (the local executor: while the
   * job's input is still being read; `fj worker`: at start, and in a thread
   * that replaces a dead one). Errors wait for the `load`; with `ack`, the
   * thread answers `warmed` (with the same `ack`) once every import has settled.
   */
  | { type: 'warm'; moduleUrls: string[]; ack?: number }
  /**
   * `items` is the items themselves (structured clone: see
   * `ThreadPool.run`), or a msgpack array of items; with `perItem`, the
   * items individually encoded and laid end to end (a msgpack sequence, as
   * an `fj worker` received them), and the results come back as an array of
   * individually encoded values (so an `fj worker` forwards them to the
   * broker without decoding them). A task with `combine` (or a fold) answers
   * one merged result either way (see `combined` in 'done').
   */
  | {
      type: 'batch';
      key: string;
      id: number;
      first: number;
      items: Uint8Array | readonly unknown[];
      perItem: boolean;
      timeoutMs: number;
      concurrency: number;
    }
  | { type: 'close' }
  /**
   * Aborts `ctx.signal` of one batch (by id), or of every batch; with `ack`,
   * the thread answers `aborted` once the signal's listeners have run (the
   * pool is about to stop the thread, and waits for an item's program to
   * be killed first).
   */
  | { type: 'abort'; id?: number; ack?: boolean };
/** Messages from a thread to the pool. */
export type FromThread =
  | { type: 'ready' }
  | { type: 'fatal'; error: WireError }
  /**
   * Results in item order (`null` where an item failed), and the failures.
   * With `combined` (a task with `combine` or a fold), `bytes` is the one
   * merged result of the items that did not fail (zero bytes: none), and
   * `merged` their positions, ascending.
   */
  | {
      type: 'done';
      id: number;
      bytes: Uint8Array;
      ms: number;
      failures?: BatchFailure[];
      combined?: boolean;
      merged?: number[];
    }
  /** The whole batch failed (its task could not be loaded, or it was cancelled). */
  | { type: 'failed'; id: number; error: WireError }
  /** Answers an `abort` with `ack`: every listener of the aborted signals has run. */
  | { type: 'aborted' }
  /** Answers a `warm` with `ack`: every module imported, but those in `failed` (URL and why). */
  | { type: 'warmed'; ack: number; failed?: { moduleUrl: string; error: string }[] };

const port = parentPort!;
const early = workerData as Partial<EarlyData> | null;
/** An early thread (early-thread.ts) imports what it was asked to warm, and is told its data once a pool adopts it. */
const data: ThreadData =
  early?.early === true
    ? await new Promise<ThreadData>((resolve) => {
        void warm(early.warm ?? [], undefined);
        port.once('message', (m: { type: 'init'; data: ThreadData }) => resolve(m.data));
      })
    : (workerData as ThreadData);
const slot = new Float64Array(data.slot);
/**
 * Aborted by an abort without id: the running batch's own signal is aborted
 * with it, and every later batch fails as it starts. (Not chained into each
 * batch's signal with `AbortSignal.any`: that cost a thread 18-31 µs per
 * batch, in weak references and their collection: `bench/thread-hop.mjs`.)
 */
const abortAll = new AbortController();
/** Batches aborted before they started. */
const cancelled = new Set<number>();
let running: { id: number; controller: AbortController } | undefined;
const runtimes = new Map<string, Promise<TaskRuntime>>();
let services: Services;

function post(msg: FromThread): void {
  port.postMessage(msg);
}

async function load(moduleUrl: string, className: string, paramsBytes: Uint8Array): Promise<TaskRuntime> {
  const task = await loadModule(moduleUrl, className);
  return new TaskRuntime(
    task,
    decode<object>(paramsBytes),
    services.value,
    taskLogger(`${task.name} ${data.workerId}`, data.logLevel, data.logStyle),
  );
}

async function runThreadBatch(
  msg: Extract<ToThread, { type: 'batch' }>,
  loaded: Promise<TaskRuntime> | undefined,
): Promise<void> {
  const { id, first, perItem } = msg;
  if (cancelled.delete(id) || abortAll.signal.aborted)
    return post({ type: 'failed', id, error: toWire(abortAll.signal.reason ?? new CancelledError()) });
  const controller = new AbortController();
  const { signal } = controller;
  running = { id, controller };
  try {
    if (!loaded) throw new InternalError(`batch ${id}: its task was never loaded in this thread`);
    const runtime = await loaded;
    const start = performance.now();
    const items = !(msg.items instanceof Uint8Array)
      ? msg.items
      : perItem
        ? decodeSequence(msg.items)
        : decode<unknown[]>(msg.items);
    slot[ThreadSlot.Batch] = id;
    const lanes = msg.concurrency > 1 && items.length > 1 ? new InFlight(first) : undefined;
    // Several items at once: each times out here (the others go on); the pool's watchdog, later, only for a blocked thread.
    slot[ThreadSlot.TimeoutMs] = lanes && msg.timeoutMs ? msg.timeoutMs + Math.max(1000, msg.timeoutMs) : msg.timeoutMs;
    const outcome = await runBatch(runtime, items, first, signal, {
      concurrency: lanes ? msg.concurrency : 1,
      raceTimeoutMs: lanes ? msg.timeoutMs || undefined : undefined,
      onItem: (i) => {
        slot[ThreadSlot.Last] = first + i;
        if (lanes) return lanes.start(i);
        slot[ThreadSlot.Index] = first + i;
        slot[ThreadSlot.StartedAt] = Date.now();
      },
      onItemEnd: (i) => lanes?.end(i),
      // The item timeout covers `process` only: encoding the results and `combine` run unwatched.
      onItemsDone: () => (slot[ThreadSlot.StartedAt] = 0),
      map: perItem ? (value) => encodeChecked(value) : undefined,
    });
    const failures = outcome.failures?.map((f) => ({ i: f.i, error: toWire(f.error) }));
    let out: Uint8Array;
    if (runtime.combines) {
      const { merged } = outcome;
      out = merged ? detach(encodeChecked(merged.value)) : new Uint8Array(0);
    } else {
      if (failures) for (const f of failures) outcome.results[f.i] = null;
      out = detach(encodeChecked(outcome.results));
    }
    // Copied, not transferred: transferring detaches the buffer here, and the first detached
    // ArrayBuffer makes V8 check for detachment in every typed array access of this thread's
    // optimized code for good (align's Smith-Waterman loops ran ~25% slower).
    post({
      type: 'done',
      id,
      bytes: out,
      ms: performance.now() - start,
      failures,
      combined: runtime.combines,
      merged: runtime.combines ? (outcome.merged?.ok ?? []) : undefined,
    });
  } catch (err) {
    slot[ThreadSlot.StartedAt] = 0;
    post({ type: 'failed', id, error: toWire(err) });
  } finally {
    running = undefined;
  }
}

/**
 * The items of a batch in flight at once (item concurrency). The slot names
 * the oldest of them (the first to reach its timeout) and, in `Last`, the
 * newest started: when the thread dies with several in flight, which one
 * killed it cannot be known, so the pool reports them all as suspects
 * (`BatchLost.suspects`), none is charged, and each runs again alone, where
 * a crash names it exactly.
 */
class InFlight {
  private readonly started = new Map<number, number>();
  constructor(private readonly first: number) {}

  start(i: number): void {
    this.started.set(i, Date.now());
    if (this.started.size === 1) this.show();
  }

  end(i: number): void {
    const oldest = this.started.keys().next().value === i;
    this.started.delete(i);
    if (oldest) this.show();
  }

  private show(): void {
    const next = this.started.entries().next();
    if (next.done) return void (slot[ThreadSlot.StartedAt] = 0);
    slot[ThreadSlot.Index] = this.first + next.value[0];
    slot[ThreadSlot.StartedAt] = next.value[1];
  }
}

/** Imports `moduleUrls` (a module's own errors wait for its `load`); with `ack`, answers `warmed`. */
async function warm(moduleUrls: string[], ack: number | undefined): Promise<void> {
  const settled = await Promise.allSettled(moduleUrls.map((url) => importModule(url)));
  if (ack === undefined) return;
  const failed = settled.flatMap((s, i) =>
    s.status === 'rejected'
      ? [{ moduleUrl: moduleUrls[i], error: (s.reason as Error)?.message ?? String(s.reason) }]
      : [],
  );
  post({ type: 'warmed', ack, ...(failed.length ? { failed } : {}) });
}

async function main(): Promise<void> {
  try {
    services = await loadServices(data.services, data.workerId);
  } catch (err) {
    post({ type: 'fatal', error: toWire(err) });
    return;
  }
  // Batches run one after another: the pool keeps a second one queued so
  // this thread never waits for the next between batches.
  let chain = Promise.resolve();
  port.on('message', (msg: ToThread) => {
    switch (msg.type) {
      case 'load': {
        const loading = load(msg.moduleUrl, msg.className, msg.paramsBytes);
        loading.catch(() => {}); // reported by the batches that need it
        runtimes.set(msg.key, loading);
        break;
      }
      case 'warm':
        void warm(msg.moduleUrls, msg.ack);
        break;
      case 'unload':
        runtimes.delete(msg.key);
        break;
      case 'batch': {
        // The task is looked up as the batch arrives: an `unload` (the pool evicting this job's
        // task for a newer job's) may come before the batch's turn, and must not strand it.
        const loaded = runtimes.get(msg.key);
        chain = chain.then(() => runThreadBatch(msg, loaded));
        break;
      }
      case 'abort':
        if (msg.id === undefined) {
          abortAll.abort(new CancelledError());
          running?.controller.abort(abortAll.signal.reason);
        } else if (running?.id === msg.id) running.controller.abort(new CancelledError());
        else cancelled.add(msg.id);
        if (msg.ack) post({ type: 'aborted' });
        break;
      case 'close':
        chain = chain.then(async () => {
          await services.close();
          port.close();
        });
    }
  });
  post({ type: 'ready' });
}

void main();
