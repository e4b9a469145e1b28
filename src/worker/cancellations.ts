/**
 * What `fj worker` knows of cancelled runs, and the messages in hand it can
 * abort. A cancel (from `fj cancel`, Ctrl-C on the submitting side, or a
 * fail-fast failure) names a job and, usually, the coordinator runs it ends
 * (`<job>:<run>`): messages of those runs in hand are aborted, and queued
 * ones are dropped as they arrive, for {@link CANCEL_MEMORY_MS}. A cancel
 * without runs ends every run of the job.
 */
import type { ControlMessage } from '../broker/amqp.js';

/** How long a worker remembers a cancelled job (its queued messages are dropped meanwhile). */
export const CANCEL_MEMORY_MS = 6 * 3600 * 1000;

export class Cancellations {
  /** Runs cancelled, as `<job>:<run>` (or `<job>` for every run of it), with when the cancel came. */
  private readonly cancelled = new Map<string, number>();
  /** Abort controllers of the messages in hand, by job, with the run each belongs to. */
  private readonly running = new Map<string, Map<AbortController, string | undefined>>();

  /** Records a cancel and aborts the messages in hand it names; returns how many. */
  heard(msg: ControlMessage, reason: Error): number {
    const now = Date.now();
    for (const [key, at] of this.cancelled) if (now - at > CANCEL_MEMORY_MS) this.cancelled.delete(key);
    const runs = msg.runs ? new Set(msg.runs) : undefined;
    if (runs) for (const run of runs) this.cancelled.set(`${msg.job}:${run}`, now);
    else this.cancelled.set(msg.job, now);
    const inHand = [...(this.running.get(msg.job) ?? [])].filter(
      ([, run]) => !runs || (run !== undefined && runs.has(run)),
    );
    for (const [c] of inHand) c.abort(reason);
    return inHand.length;
  }

  /** Whether a message of `job` and `run` belongs to a cancelled run (it is dropped). */
  isCancelled(job: string, run: string | undefined): boolean {
    return this.cancelled.has(job) || (run !== undefined && this.cancelled.has(`${job}:${run}`));
  }

  /** A controller for a message of `job` and `run` taken in hand; `release` it when the message is done. */
  take(job: string, run: string | undefined): AbortController {
    const controller = new AbortController();
    let set = this.running.get(job);
    if (!set) this.running.set(job, (set = new Map<AbortController, string | undefined>()));
    set.set(controller, run);
    return controller;
  }

  /** The message `controller` was taken for is done. */
  release(job: string, controller: AbortController): void {
    const set = this.running.get(job);
    if (!set) return;
    set.delete(controller);
    if (set.size === 0) this.running.delete(job);
  }

  /** Aborts every message in hand (the connection lost, a shutdown past its timeout). */
  abortAll(reason: Error): void {
    for (const set of this.running.values()) for (const c of set.keys()) c.abort(reason);
  }
}
