/**
 * An in-memory transport for the dispatcher's tests: batches go nowhere
 * until a test (or the `auto` runner) answers them, so every rule of the
 * dispatcher — dedupe, partial answers, merged groups, lost batches,
 * retries, answers from an earlier run — can be driven exactly, with no
 * threads and no broker.
 */
import type { Answer, Batch, Transport, TransportEvents } from '../../src/dispatch/transport.js';
import type { JobPlan } from '../../src/dispatch/job-plan.js';
import { createLogger } from '../../src/core/log.js';
import { runBatch } from '../../src/runtime/run-batch.js';
import { TaskRuntime } from '../../src/runtime/task-runtime.js';

export interface FakeOptions {
  /** Batches in flight at most. Default 4. */
  window?: number;
  /** Items per batch. Default 8. */
  maxBatch?: number;
  /**
   * Answer every batch by itself, with the task's real `process`, in a
   * hostile order: each batch answered item by item, shuffled, some parts
   * delivered twice, some whole answers repeated after the batch settled.
   */
  auto?: { seed: number; duplicates?: number };
}

export class FakeTransport implements Transport {
  readonly batching;
  busy = false;
  events!: TransportEvents;
  /** Every batch sent, in order. */
  readonly sent: Batch[] = [];
  /** Batches the dispatcher has not marked done. */
  readonly inFlight = new Set<Batch>();
  /** Most batches in flight at once. */
  maxInFlight = 0;
  /** Set when the dispatcher closed the transport: `true`, or the error it closed with. */
  closed: unknown;
  private readonly window: number;
  private runtime: TaskRuntime | undefined;
  private rand: () => number = Math.random;

  constructor(
    private readonly plan: JobPlan,
    private readonly options: FakeOptions = {},
  ) {
    this.window = options.window ?? 4;
    this.batching = { targetMs: Infinity, max: options.maxBatch ?? 8 };
    if (options.auto) this.rand = mulberry32(options.auto.seed);
  }

  get hasRoom(): boolean {
    return this.inFlight.size < this.window;
  }

  async open(events: TransportEvents): Promise<void> {
    this.events = events;
    if (this.options.auto)
      this.runtime = new TaskRuntime(this.plan.task, this.plan.params, undefined, createLogger('fake', 'silent'));
  }

  send(batch: Batch): void {
    this.sent.push(batch);
    this.inFlight.add(batch);
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight.size);
    if (this.runtime) setImmediate(() => void this.runAuto(batch));
  }

  done(batch: Batch): void {
    this.inFlight.delete(batch);
  }

  async close(error?: unknown): Promise<void> {
    this.closed = error ?? true;
  }

  /** Answers every item of `batch` with `f(item)`. */
  answerAll(batch: Batch, f: (v: unknown) => unknown = (v) => v): void {
    this.events.answer({ batch, first: batch.first, values: batch.values.map(f) });
  }

  answer(a: Answer): void {
    this.events.answer(a);
  }

  private async runAuto(batch: Batch): Promise<void> {
    const runtime = this.runtime!;
    const out = await runBatch(runtime, batch.values, batch.first, this.plan.signal);
    const failed = new Map(out.failures?.map((f) => [f.i, f.error as Error]));
    const parts: Answer[] = [];
    if (out.merged) {
      parts.push({ batch, groups: [{ indices: out.merged.ok.map((i) => batch.first + i), value: out.merged.value }] });
      for (const [i, error] of failed) parts.push({ batch, failures: [{ index: batch.first + i, error }] });
    } else {
      for (let i = 0; i < batch.values.length; i++) {
        const index = batch.first + i;
        const error = failed.get(i);
        parts.push(error ? { batch, failures: [{ index, error }] } : { batch, first: index, values: [out.results[i]] });
      }
    }
    // shuffled, some parts twice, some again after the batch settled
    for (let i = parts.length - 1; i > 0; i--) {
      const j = Math.floor(this.rand() * (i + 1));
      [parts[i], parts[j]] = [parts[j], parts[i]];
    }
    const dup = this.options.auto?.duplicates ?? 0.2;
    for (const p of parts) {
      this.events.answer(p);
      if (this.rand() < dup) this.events.answer(p);
    }
    if (this.rand() < dup) setImmediate(() => parts.forEach((p) => this.events.answer(p)));
  }
}

/** A small seeded PRNG: the same seed, the same hostile order. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
