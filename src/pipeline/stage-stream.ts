/**
 * Between a pipeline stage and the next one that streams from it (`pipe(B,
 * { stream: true })`): the first stage's per-item results become the next
 * stage's items as they arrive, in the first stage's item order, with no
 * barrier. Backpressure: the first stage takes items from its source only
 * while fewer than `buffer` of them are ahead of what the next stage has
 * taken (in flight, or done and waiting), so a fast first stage never fills
 * memory with results the next has not taken; a result is let go from the
 * first stage's ledger as the next stage takes it. Neither side waits in the
 * middle of a take (./dispatch/item-stream.ts GatedItemStream): what it has
 * taken goes on at once.
 */
import type { ItemGate } from '../dispatch/item-stream.js';
import type { Ledger } from '../dispatch/ledger.js';

/** Items a stage may run ahead of the stage streaming from it, unless its `buffer` setting says otherwise. */
export const DEFAULT_STREAM_BUFFER = 10_000;

/** The link between a stage (upstream) and the stage that takes its results as items (downstream). */
export class StageStream {
  private ledger: Ledger | undefined;
  /** The next upstream index to hand downstream (every one before it is taken or skipped). */
  private cursor = 0;
  /** Set once the upstream job has ended: its item count, or its error. */
  private end: { total: number } | { error: unknown } | undefined;
  private stopped = false;
  /** Who waits for a change (either side), woken by any. */
  private waiting: (() => void)[] = [];

  constructor(private readonly buffer: number = DEFAULT_STREAM_BUFFER) {}

  /** The upstream job's ledger, as it is made (JobSource.onLedger). */
  readonly onLedger = (ledger: Ledger): void => {
    this.ledger = ledger;
  };

  /** Upstream results may have arrived (its progress). */
  readonly poke = (): void => this.changed();

  /** The upstream job ended: with its item count, or with the error that ended it. */
  close(end: { total: number } | { error: unknown }): void {
    this.end ??= end;
    this.changed();
  }

  /** The pipeline stops (a stage failed or it was cancelled): neither side takes more. */
  stop(): void {
    this.stopped = true;
    this.changed();
  }

  /** Upstream's gate: room while fewer than `buffer` of its items are ahead of the cursor. */
  readonly upstream: ItemGate = gate(
    (taken) => this.buffer - (taken - this.cursor),
    () => this.changes(),
    () => this.stopped,
  );

  /** Downstream's gate: room for the results upstream has settled and downstream has not taken; none to wait for once upstream ended. */
  readonly downstream: ItemGate = gate(
    () => (this.end ? Number.MAX_SAFE_INTEGER : (this.ledger?.settled ?? 0) - this.cursor),
    () => this.changes(),
    () => this.stopped,
  );

  /** Downstream's items: upstream's results in upstream's item order, failed items skipped (JobSource.items). */
  items(): AsyncIterable<unknown> {
    const self = this; // eslint-disable-line @typescript-eslint/no-this-alias -- the generator below has a `this` of its own
    return {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          if (self.stopped) return;
          const got = self.ledger?.handOn(self.cursor);
          if (got !== undefined) {
            self.cursor++;
            self.changed();
            if (got !== 'failed') yield got.value;
            continue;
          }
          const end = self.end;
          if (end && 'error' in end) throw end.error;
          if (end && self.cursor >= end.total) return;
          await self.changes();
        }
      },
    };
  }

  private changes(): Promise<void> {
    return new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private changed(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const wake of waiting) wake();
  }
}

function gate(room: ItemGate['room'], wait: ItemGate['wait'], stopped: () => boolean): ItemGate {
  return {
    room,
    wait,
    get stopped() {
      return stopped();
    },
  };
}
