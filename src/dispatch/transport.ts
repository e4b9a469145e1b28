/**
 * The transport seam: where the batches of one job run. The dispatcher
 * decides what to send and what an answer means (see dispatcher.ts); a
 * transport only carries batches there and answers back:
 *
 * | transport | file                             | a batch runs                                                  |
 * |-----------|----------------------------------|---------------------------------------------------------------|
 * | inline    | dispatch/transports/inline.ts    | in this thread, one batch at a time (eager)                   |
 * | grouping  | dispatch/transports/grouping.ts  | in this thread, answered in chosen groups (eager `checkLaws`) |
 * | threads   | dispatch/transports/threads.ts   | on a pool of worker threads (local)                           |
 * | amqp      | executors/amqp/amqp-transport.ts | on `fj worker` processes, through RabbitMQ (amqp)             |
 *
 * and an in-memory fake for the dispatcher's tests (test/helpers/fake-transport.ts).
 *
 * A transport never touches the ledger: it reports answers, and the
 * dispatcher records each item once, whatever the number of answers.
 */

/** A batch of a job's items, as the dispatcher sent it. */
export interface Batch {
  /** Index of `values[0]`; the items are `first .. first + values.length - 1`. */
  readonly first: number;
  /** The items, as `setup` yielded them. */
  readonly values: readonly unknown[];
}

/** One result standing for several items: `combine` merged them. */
export interface Group {
  /** Item indices (absolute, ascending). */
  readonly indices: readonly number[];
  readonly value: unknown;
}

/** An attempt of one item that failed. */
export interface ItemFailed {
  readonly index: number;
  readonly error: Error;
}

/**
 * What came back for some of a batch's items (a transport may answer a batch
 * in parts: `fj worker` splits a redelivered message item by item).
 */
export interface Answer {
  /**
   * The batch answered; undefined for an answer to a message of an earlier
   * coordinator of the same job (`fj resume`): its results count, once; its
   * failures do not (the item was sent again, and that attempt answers).
   */
  readonly batch: Batch | undefined;
  /** Results one per item: `values[k]` is item `first + k`'s. Items in `failures` have none. */
  readonly first?: number;
  readonly values?: readonly unknown[];
  /** Results that stand for several items each (`combine`). */
  readonly groups?: readonly Group[];
  readonly failures?: readonly ItemFailed[];
  /** Time the items took where they ran, ms, and how many items that covers: sizes the next batches. */
  readonly ms?: number;
  readonly ran?: number;
}

/** What a transport tells the dispatcher. Each call may come at any time after `open`. */
export interface TransportEvents {
  /** Results and failures for items of a batch. */
  answer(answer: Answer): void;
  /**
   * Items `first .. first + count - 1` of `batch` failed as a whole (their
   * task could not be loaded, their params fetched, or they were
   * cancelled): an error that retrying cannot mend ends the job.
   */
  failed(batch: Batch | undefined, first: number, count: number, error: Error): void;
  /**
   * The batch was lost with what ran it (a thread died or timed out).
   * `culprit` is the item it was running, charged an attempt; the others run
   * again, uncharged. With `suspects` (several items were in flight, item
   * concurrency), no item is charged: those in `from`..`to` run again each
   * alone, so a crash that repeats names its item.
   */
  lost(batch: Batch, culprit: number | undefined, reason: string, suspects?: { from: number; to: number }): void;
  /** There may be room for more batches now (a thread came back, a reconnect finished). */
  room(): void;
  /** The job cannot go on (a refused message, a broker lost for good). */
  fatal(error: Error): void;
}

/** How a transport wants its batches sized. */
export interface Batching {
  /** A batch should take about this long where it runs, ms (Infinity: always `max` items). */
  readonly targetMs: number;
  /** Never more items than this in one batch. */
  readonly max: number;
  /** Batches that run at once (threads, worker slots), when known: caps a batch at a share of a known item count (BatchSizer.next). */
  readonly slots?: number;
  /**
   * Batches in flight while the sizes still ramp up (BatchSizer.ramping),
   * when the transport knows better than `slots`; read at each send (an amqp
   * pool's capacity becomes known once its workers' heartbeats are read).
   */
  readonly rampSlots?: number;
}

/** Carries one job's batches to where they run, and their answers back. */
export interface Transport {
  readonly batching: Batching;
  /**
   * Whether another batch may be sent now (threads with room, an in-flight
   * window with room). Read only when the dispatcher has a batch to send: a
   * transport may take a `false` as a sign that the job could use more room.
   */
  readonly hasRoom: boolean;
  /** Answers received but not yet reported (stored results being fetched): the job is not finished while true. */
  readonly busy: boolean;
  /** Starts the transport (connects, attaches); events flow from now on until `close`. */
  open(events: TransportEvents): Promise<void>;
  /** Sends a batch; resolves once it is on its way (a transport may store large items first). */
  send(batch: Batch): void | Promise<void>;
  /** Optional: every item of `batch` has been answered; the transport may forget it. */
  done?(batch: Batch): void;
  /**
   * Optional: the part of a rate limit of `limit` items a second this job
   * may use now, when the limit is shared with other jobs (amqp: the jobs
   * of the task on its pool). Read as the job waits for the rate; without
   * it, the job has the whole limit.
   */
  rateShare?(limit: number): number;
  /**
   * Ends the job's use of the transport. With `error`, the job failed or was
   * cancelled: what is still running for it is aborted.
   */
  close(error?: unknown): Promise<void>;
}
