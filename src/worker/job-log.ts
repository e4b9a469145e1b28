/**
 * A worker's log of the jobs it serves: a start line when a job's first
 * message arrives here, and an end line (task, items, messages, failures,
 * duration) once none of its messages has been in hand for a while: a
 * worker is never told that a job is over, only that its queue went quiet
 * for it. A cancel is logged only for a job this worker has seen; every
 * worker hears every cancel of its pool.
 */
import type { Logger } from '../task/types.js';
import { Lru } from './lru.js';

/** After this long with no message of a job in hand, its end line is written. */
export const JOB_IDLE_MS = 5_000;
/** Jobs remembered after their end line (to log their cancels). */
const REMEMBERED = 256;

interface Served {
  task: string;
  startedAt: number;
  lastAt: number;
  items: number;
  messages: number;
  failed: number;
  inHand: number;
  idle?: NodeJS.Timeout;
}

export class JobLog {
  private readonly active = new Map<string, Served>();
  private readonly ended = new Lru<true>(REMEMBERED);

  constructor(
    private readonly log: Logger,
    private readonly idleMs = JOB_IDLE_MS,
  ) {}

  /** A message of `job` is about to run here. */
  start(job: string, task: string): void {
    let s = this.active.get(job);
    if (!s) {
      const now = Date.now();
      this.active.set(job, (s = { task, startedAt: now, lastAt: now, items: 0, messages: 0, failed: 0, inHand: 0 }));
      this.log.info(`job ${job} (task ${task}): started here`);
    }
    clearTimeout(s.idle);
    s.inHand++;
  }

  /** A message of `job` with `items` items, `failed` of which failed, is done. */
  done(job: string, items: number, failed: number): void {
    const s = this.active.get(job);
    if (!s) return;
    s.inHand--;
    s.items += items;
    s.failed += failed;
    s.messages++;
    s.lastAt = Date.now();
    if (s.inHand === 0) {
      s.idle = setTimeout(() => this.end(job), this.idleMs);
      s.idle.unref();
    }
  }

  /** Whether `job` ran here (now, or not long ago). */
  seen(job: string): boolean {
    return this.active.has(job) || this.ended.get(job) !== undefined;
  }

  /** `job` was cancelled: logged if it ran here, with its end line. */
  cancelled(job: string, detail: string): void {
    if (!this.seen(job)) return this.log.debug(`job ${job} cancelled (no message of it ran here)`);
    this.log.info(`job ${job} cancelled${detail}`);
    if (this.active.get(job)?.inHand === 0) this.end(job);
  }

  /** Writes the end lines of every job still open (the worker is stopping). */
  close(): void {
    for (const job of [...this.active.keys()]) this.end(job);
  }

  private end(job: string): void {
    const s = this.active.get(job);
    if (!s) return;
    clearTimeout(s.idle);
    this.active.delete(job);
    this.ended.set(job, true);
    const secs = ((s.lastAt - s.startedAt) / 1000).toFixed(1);
    this.log.info(
      `job ${job} (task ${s.task}): done here: ${s.items} items in ${s.messages} messages, ${s.failed} failed, ${secs} s from its first message to its last result`,
    );
  }
}
