/**
 * The local executor: a pool of worker threads, one per core by default.
 *
 * - Dynamic load balancing: each thread holds at most two batches (one
 *   running, one queued), so a slow item never leaves other threads idle.
 * - Automatic batching: batch sizes adapt so a batch takes a few
 *   milliseconds; tiny items travel by the thousand, 5 ms items one by one.
 * - Backpressure: items are pulled from `setup` only when a thread has room,
 *   so a generator is consumed lazily and a job never holds all its items.
 * Items and results cross threads msgpack-encoded, buffers transferred.
 */
import { Worker } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { assertPlain, decode, detach, encodeChecked } from '../codec.js';
import { FjError } from '../errors.js';
import { threadEntry } from '../paths.js';
import type { FromThread, ThreadData, ToThread } from '../worker/thread.js';
import { fromWire } from '../worker/wire-error.js';
import type { Executor, JobPlan } from './executor.js';

/** A batch should take about this long in a thread. */
const TARGET_BATCH_MS = 4;
/** Never more items than this in one batch. */
const MAX_BATCH = 4096;
/** Batches a thread may hold: one running, one waiting. */
const PER_THREAD = 2;

interface Slot {
  worker: Worker;
  id: string;
  inFlight: number;
}

interface Pending {
  first: number;
  count: number;
  slot: Slot;
}

export class LocalExecutor implements Executor {
  async map(plan: JobPlan): Promise<unknown[]> {
    const { task, options } = plan;
    if (!task.moduleUrl) {
      throw new FjError(
        `task ${task.name}: the local executor imports the task in worker threads and needs its module; ` +
          'load it by name or path, or add `static module = import.meta.url` to the class',
        'FJ_USAGE',
        2,
      );
    }
    if (!existsSync(threadEntry)) throw new FjError(`fj is not built: ${threadEntry} is missing (run npm run build)`, 'FJ_INTERNAL', 1);
    const slots = await Promise.all(
      Array.from({ length: options.concurrency }, (_, n) =>
        startThread({ moduleUrl: task.moduleUrl!, paramsBytes: plan.paramsBytes, services: options.services, logLevel: options.logLevel, workerId: `thread.${n}` }),
      ),
    );
    let ok = false;
    try {
      const results = await new Dispatch(plan, slots).run();
      ok = true;
      return results;
    } finally {
      // After a failure nothing in hand is worth waiting for: terminate at once.
      await Promise.all(slots.map((s) => (ok ? stopThread(s) : s.worker.terminate())));
    }
  }
}

/** Starts one thread and waits until it has loaded the task. */
function startThread(data: ThreadData): Promise<Slot> {
  const worker = new Worker(threadEntry, { workerData: data });
  return new Promise((resolve, reject) => {
    const onMessage = (msg: FromThread) => {
      worker.off('error', onError);
      worker.off('message', onMessage);
      if (msg.type === 'ready') resolve({ worker, id: data.workerId, inFlight: 0 });
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

/** Asks a thread to close its services and exit; terminates it if it does not within 5 s. */
async function stopThread(slot: Slot): Promise<void> {
  const exited = new Promise<void>((resolve) => slot.worker.once('exit', () => resolve()));
  slot.worker.postMessage({ type: 'close' } satisfies ToThread);
  const timer = setTimeout(() => void slot.worker.terminate(), 5000);
  await exited;
  clearTimeout(timer);
}

/** One job's dispatch loop over a set of ready threads. */
class Dispatch {
  private readonly pending = new Map<number, Pending>();
  private readonly chunks: { first: number; values: unknown[] }[] = [];
  private nextId = 0;
  private batchSize = 1;
  private msPerItem = -1;
  private pulling = false;
  private failed = false;
  private resolve!: (results: unknown[]) => void;
  private reject!: (err: unknown) => void;

  constructor(
    private readonly plan: JobPlan,
    private readonly slots: Slot[],
  ) {}

  run(): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      for (const slot of this.slots) {
        slot.worker.on('message', (msg: FromThread) => this.onMessage(slot, msg));
        slot.worker.on('error', (err) => this.fail(err));
        slot.worker.on('exit', (code) => {
          if (!this.failed && this.pending.size > 0 && [...this.pending.values()].some((p) => p.slot === slot)) {
            this.fail(new FjError(`worker ${slot.id} exited (code ${code}) with work in hand`, 'FJ_INTERNAL', 1));
          }
        });
      }
      const onAbort = () => this.fail(this.plan.signal.reason ?? new Error('job cancelled'));
      if (this.plan.signal.aborted) return onAbort();
      this.plan.signal.addEventListener('abort', onAbort, { once: true });
      void this.pump();
    });
  }

  /** Fills every thread with room, pulling items from setup as needed. */
  private async pump(): Promise<void> {
    if (this.pulling || this.failed) return;
    this.pulling = true;
    try {
      const { items, task, counters } = this.plan;
      for (;;) {
        const slot = this.freest();
        if (!slot || items.done) break;
        const first = items.index;
        const maybe = items.take(this.batchSize);
        const batch = maybe instanceof Promise ? await maybe : maybe;
        if (this.failed) return;
        if (batch.length === 0) break;
        for (let i = 0; i < batch.length; i++) assertPlain(batch[i], { task: task.name, hook: 'setup', index: first + i });
        const bytes = detach(encodeChecked(batch));
        const id = this.nextId++;
        this.pending.set(id, { first, count: batch.length, slot });
        slot.inFlight++;
        counters.messages++;
        counters.bytesPublished += bytes.length;
        slot.worker.postMessage({ type: 'batch', id, first, bytes } satisfies ToThread, [bytes.buffer as ArrayBuffer]);
      }
    } catch (err) {
      this.fail(err);
      return;
    } finally {
      this.pulling = false;
    }
    this.finishIfDone();
  }

  private freest(): Slot | undefined {
    let best: Slot | undefined;
    for (const s of this.slots) if (s.inFlight < PER_THREAD && (!best || s.inFlight < best.inFlight)) best = s;
    return best;
  }

  private onMessage(slot: Slot, msg: FromThread): void {
    if (this.failed) return;
    if (msg.type === 'failed') return this.fail(fromWire(msg.error));
    if (msg.type !== 'done') return;
    const p = this.pending.get(msg.id)!;
    this.pending.delete(msg.id);
    slot.inFlight--;
    this.plan.counters.bytesPublished += msg.bytes.length;
    this.plan.counters.messages++;
    this.chunks.push({ first: p.first, values: decode<unknown[]>(msg.bytes) });
    this.plan.counters.items += p.count;
    this.adapt(msg.ms / p.count);
    this.plan.progress(p.count);
    void this.pump();
  }

  /** Sizes the next batches so one takes about TARGET_BATCH_MS in a thread. */
  private adapt(ms: number): void {
    this.msPerItem = this.msPerItem < 0 ? ms : 0.7 * this.msPerItem + 0.3 * ms;
    const ideal = this.msPerItem > 0 ? Math.floor(TARGET_BATCH_MS / this.msPerItem) : MAX_BATCH;
    this.batchSize = Math.max(1, Math.min(MAX_BATCH, ideal, this.batchSize * 4));
  }

  private finishIfDone(): void {
    if (this.failed || !this.plan.items.done || this.pending.size > 0) return;
    this.chunks.sort((a, b) => a.first - b.first);
    const out: unknown[] = [];
    for (const c of this.chunks) for (const v of c.values) out.push(v);
    this.resolve(out);
  }

  private fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    for (const s of this.slots) s.worker.postMessage({ type: 'abort' } satisfies ToThread);
    void this.plan.items.close();
    this.reject(err);
  }
}
