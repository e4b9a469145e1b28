/**
 * The memory a worker thread shares with its pool: a Float64Array saying
 * which item the thread is running, since when, and under what timeout. The
 * pool reads it to stop an item over its timeout and to name the item a dead
 * thread was running, at no cost per item beyond five stores.
 * (Its own module: importing thread-entry.ts would run the thread's entry code.)
 */

/** Float64 entries in a slot. */
export const SLOT_SIZE = 5;

/** Where each entry is. */
export const ThreadSlot = {
  /** When the item now running started, ms since the epoch; 0 when idle. */
  StartedAt: 0,
  /** Its index. */
  Index: 1,
  /** Its batch's id. */
  Batch: 2,
  /** Its batch's item timeout, ms; 0 for none. */
  TimeoutMs: 3,
  /**
   * The highest index started so far in the batch now running. Items start
   * in index order, so with item concurrency the items from `Index` (the
   * oldest in flight) to this one are the ones that may be in flight.
   */
  Last: 4,
} as const;
