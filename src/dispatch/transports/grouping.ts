/**
 * The grouping transport (the eager executor's `checkLaws`): runs a job's
 * items in this thread, as the inline transport does, but answers each
 * batch in groups a {@link Grouping} chooses — any partition of its items,
 * runs or scattered, each group folded (or processed and combined) in index
 * order into one merged result, as fj merges a batch, or a batch less the
 * items taken out of it to be retried alone. A task whose `join` output
 * depends on the grouping shows it here, whatever its data.
 *
 * Not for failures: a hook that throws ends the job with its error.
 */
import { decode, encode } from '../../core/codec.js';
import type { Batch, Group, Transport, TransportEvents } from '../transport.js';
import type { JobPlan } from '../job-plan.js';
import type { TaskRuntime, Services } from '../../runtime/task-runtime.js';
import { inProcessRuntime } from './inline.js';

/** Splits the positions `0 .. count - 1` of a batch into groups (each ascending). */
export type Grouping = (count: number) => number[][];

/** The most items in one batch: a test's whole job, so groups can span all of it. */
const MAX_BATCH = 100_000;

export class GroupingTransport implements Transport {
  readonly batching = { targetMs: Infinity, max: MAX_BATCH };
  readonly busy = false;
  private events!: TransportEvents;
  private services: Services | undefined;
  private runtime!: TaskRuntime;
  private current: Promise<void> | undefined;
  /** Every group answered, as absolute indices (what `describe` reports). */
  readonly groups: number[][] = [];

  constructor(
    private readonly plan: JobPlan,
    private readonly grouping: Grouping,
  ) {}

  get hasRoom(): boolean {
    return this.current === undefined;
  }

  async open(events: TransportEvents): Promise<void> {
    this.events = events;
    ({ services: this.services, runtime: this.runtime } = await inProcessRuntime(this.plan));
  }

  send(batch: Batch): void {
    this.current = this.run(batch)
      .catch((err: Error) => this.events.fatal(err))
      .finally(() => {
        this.current = undefined;
        this.events.room();
      });
  }

  private async run(batch: Batch): Promise<void> {
    const { task } = this.plan;
    const { first } = batch;
    const items = batch.values.map((item, i) =>
      decode(encode(item, { task: task.name, hook: 'setup', index: first + i })),
    );
    const groups: Group[] = [];
    for (const positions of this.grouping(items.length)) {
      if (positions.length === 0) continue;
      const indices = positions.map((p) => first + p);
      const value = await this.merged(items, positions, first);
      const hook = task.folds ? 'fold' : positions.length === 1 ? 'process' : 'combine';
      groups.push({ indices, value: decode(encode(value, { task: task.name, hook, index: indices[0] })) });
      this.groups.push(indices);
    }
    this.events.answer({ batch, groups });
  }

  /** One group's merged result: its items folded into one seed, or processed and combined. */
  private async merged(items: unknown[], positions: number[], first: number): Promise<unknown> {
    const { runtime } = this;
    const signal = this.plan.signal;
    if (runtime.folds) {
      let acc = runtime.seed(first + positions[0], signal);
      for (const p of positions) acc = await runtime.foldItem(acc, items[p], first + p, signal);
      return runtime.checkedAcc(acc, first + positions[0]);
    }
    const partials: unknown[] = [];
    for (const p of positions) partials.push(await runtime.processItem(items[p], first + p, signal));
    return positions.length === 1
      ? runtime.checked(partials[0], first + positions[0])
      : runtime.combine(partials, first + positions[0], signal);
  }

  async close(): Promise<void> {
    await this.current;
    await this.services?.close();
  }
}
