/**
 * The inline transport (eager executor): every batch runs in this thread,
 * one at a time, its items started in order (up to `itemConcurrency` at
 * once, one by default). Items and results still make the codec
 * round trip, so a task that passes its eager tests does not break on the
 * wire. A hook's exception reaches the caller as a TaskError whose `cause`
 * is the original error, original stack included. An item timeout can only
 * abort `ctx.signal` here (a loop that never yields cannot be stopped in this
 * thread), so the attempt ends when the hook gives way.
 */
import { decode, encode } from '../../core/codec.js';
import type { Batch, Transport, TransportEvents } from '../transport.js';
import type { JobPlan } from '../job-plan.js';
import { jobLogStyle, taskLogger } from '../../core/log.js';
import { runBatch } from '../../runtime/run-batch.js';
import { loadServices, TaskRuntime, type Services } from '../../runtime/task-runtime.js';

export class InlineTransport implements Transport {
  readonly batching = { targetMs: Infinity, max: 64 };
  readonly busy = false;
  private events!: TransportEvents;
  private services: Services | undefined;
  private runtime!: TaskRuntime;
  /** Aborts the batch in hand when the job ends early (a fail-fast failure, a cancellation). */
  private readonly abort = new AbortController();
  private readonly signal: AbortSignal;
  /** The batch running now. */
  private current: Promise<void> | undefined;

  constructor(private readonly plan: JobPlan) {
    this.signal = AbortSignal.any([plan.signal, this.abort.signal]);
  }

  get hasRoom(): boolean {
    return this.current === undefined;
  }

  async open(events: TransportEvents): Promise<void> {
    this.events = events;
    ({ services: this.services, runtime: this.runtime } = await inProcessRuntime(this.plan));
  }

  send(batch: Batch): void {
    this.current = this.run(batch).finally(() => {
      this.current = undefined;
      this.events.room();
    });
  }

  private async run(batch: Batch): Promise<void> {
    const { task, options } = this.plan;
    const { first } = batch;
    const items = batch.values.map((item, i) =>
      decode(encode(item, { task: task.name, hook: 'setup', index: first + i })),
    );
    const roundTrip = (value: unknown, i: number) =>
      decode(encode(value, { task: task.name, hook: 'process', index: first + i }));
    let outcome;
    try {
      outcome = await runBatch(this.runtime, items, first, this.signal, {
        raceTimeoutMs: options.itemTimeoutMs,
        concurrency: options.itemConcurrency ?? task.concurrency,
        map: roundTrip,
        // told at once, so a failure that ends the job stops the batch here, as it would stop a loop
        onFailed: (i, error) => this.events.answer({ batch, failures: [{ index: first + i, error: asError(error) }] }),
      });
    } catch (err) {
      return this.events.failed(batch, first, items.length, err as Error);
    }
    const failures = outcome.failures?.map((f) => ({ index: first + f.i, error: asError(f.error) }));
    const { merged } = outcome;
    if (!merged) return this.events.answer({ batch, first, values: outcome.results, failures });
    let value: unknown;
    try {
      value = decode(
        encode(merged.value, {
          task: task.name,
          hook: task.folds ? 'fold' : merged.ok.length === 1 ? 'process' : 'combine',
          index: first + merged.ok[0],
        }),
      );
    } catch (err) {
      const all = [...(failures ?? []), ...merged.ok.map((i) => ({ index: first + i, error: asError(err) }))];
      return this.events.answer({ batch, failures: all });
    }
    this.events.answer({ batch, groups: [{ indices: merged.ok.map((i) => first + i), value }], failures });
  }

  /** Waits for the batch in hand (aborted when the job failed), then releases the services. */
  async close(error?: unknown): Promise<void> {
    if (error !== undefined) this.abort.abort(error);
    await this.current;
    await this.services?.close();
  }
}

/** What a hook threw, as an Error (the ledger takes errors; it never changes them, so items may share one). */
function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * The task as a job runs it in this process (the eager executor's inline and
 * grouping transports): its services built once, named `eager`, and a
 * runtime whose `ctx.log` follows the task-logger rule.
 */
export async function inProcessRuntime(plan: JobPlan): Promise<{ services: Services; runtime: TaskRuntime }> {
  const { task, options, params } = plan;
  const services = await loadServices(options.services, 'eager');
  const log = taskLogger(task.name, options.logLevel, jobLogStyle(options.logFormat));
  return { services, runtime: new TaskRuntime(task, params, services.value, log) };
}
