/**
 * The pool's scheduler, inside every `fj worker`: releases the delayed jobs
 * that are due (detached/delay.ts) and submits each schedule's tick
 * (detached/schedules.ts). Celery beat's job, without a beat process to lose.
 *
 * **One active scheduler per pool, by a lease the broker keeps.** Every
 * worker consumes the pool's scheduler queue (`<pool>.scheduler`), declared
 * with `x-single-active-consumer`: RabbitMQ delivers to one consumer only,
 * and when its connection goes (kill -9 included) makes the next one active.
 * The queue holds a token message; the worker that holds it unacked is the
 * active scheduler and ticks, the others wait. A worker that finds the
 * queue empty as it connects publishes a token (the active one may hold it:
 * then it receives the new one, keeps the newest and acks the other), so a
 * token is never missing for long. The active one sends itself a fresh
 * token every few minutes, so no delivery stays unacked past RabbitMQ's
 * consumer_timeout.
 *
 * **Exactly one run per tick.** A tick's job has a deterministic id
 * (`<schedule>.<tick>`): a scheduler submits it only when no job has that
 * id, then records the tick as the schedule's last run. Two schedulers at
 * once (for the moment the lease moves) submit the same id and the second
 * finds it there. One that died between the job's records and its message
 * leaves the job `queued` without a run record: the next one sends the
 * message again (the job consumer runs a job once whatever the number of
 * its messages).
 *
 * **Missed ticks.** With no worker of the pool up, nothing ticks; the first
 * scheduler up runs the latest missed tick once (late, and logs so), not
 * every missed one.
 */
import type { ConsumeMessage } from 'amqplib';
import { setTimeout as sleep } from 'node:timers/promises';
import { InputError, UsageError } from '../core/errors.js';
import { readManifest, readStatus } from '../store/job-records.js';
import type { PoolParts } from './worker-options.js';
import { ResilientLink, type LinkSession } from '../broker/resilient-link.js';
import type { QueueSpec } from '../broker/amqp.js';
import { queueTypeArgs } from '../broker/queue-type.js';
import type { QueueType } from '../core/location.js';
import { LATE_MS } from '../detached/delay.js';
import { releaseDue } from './release-due.js';
import { jobTarget, publishJob } from '../detached/queue-job.js';
import {
  dueTick,
  readRuns,
  readSchedules,
  tickJobId,
  writeRun,
  type DueTick,
  type ScheduleRecord,
} from '../detached/schedules.js';
import { submitJob } from '../detached/submit.js';

/** How often the active scheduler looks for due work, ms. */
const POLL_MS = 500;
/** How often the active scheduler renews its token (well under RabbitMQ's 30-minute consumer_timeout), ms. */
const RENEW_MS = 5 * 60 * 1000;

/** A pool's scheduler queue goes this long after its last consumer left, ms. */
const SCHEDULER_QUEUE_EXPIRES_MS = 3600_000;

/** A pool's scheduler queue: its single active consumer is the pool's scheduler. */
export function schedulerQueue(queue: string): string {
  return `${queue}.scheduler`;
}

/**
 * A pool's scheduler queue: a single active consumer, gone an hour after the
 * pool's last worker, of the pool's queue type (on a cluster, a quorum
 * queue survives the loss of the node it was declared on, and the lease with
 * it).
 */
export function schedulerQueueSpec(queue: string, type: QueueType): QueueSpec {
  return {
    name: schedulerQueue(queue),
    options: {
      durable: true,
      arguments: {
        'x-single-active-consumer': true,
        'x-expires': SCHEDULER_QUEUE_EXPIRES_MS,
        ...queueTypeArgs(type),
      },
    },
  };
}

export class Scheduler {
  /** The token held (unacked) while this worker is the pool's scheduler, and the session it came on. */
  private held: { msg: ConsumeMessage; session: LinkSession } | undefined;
  private readonly link: ResilientLink;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private renewed = 0;
  /** Problems already logged, so a failing tick says so once, not every poll. */
  private readonly said = new Set<string>();

  constructor(private readonly p: PoolParts) {
    const q = schedulerQueue(p.queue);
    this.link = new ResilientLink({
      name: `worker ${p.name} scheduler`,
      url: () => p.url,
      topology: {
        // The queue holds nothing but the token: unused for an hour (no worker of the pool up), the broker deletes it, and
        // the next worker declares it again with a new token.
        queues: [schedulerQueueSpec(p.queue, p.queueType)],
        prefetch: 4,
        consumers: [{ queue: q, options: { noAck: false }, onMessage: (msg, s) => this.onToken(msg, s) }],
      },
      onUp: (session) => {
        if (session.declared.get(q)?.messageCount === 0) this.sendToken(session);
      },
      onDown: () => this.lose('its connection was lost'),
      onChannelClosed: (reason) => p.log.warn(`RabbitMQ closed the scheduler channel: ${reason}`),
    });
  }

  /** Whether this worker is the pool's scheduler now. */
  get active(): boolean {
    return Boolean(this.held?.session.open);
  }

  /** Joins the pool's scheduler queue (on a connection of its own) and starts the tick loop. */
  async start(): Promise<void> {
    await this.link.start();
    this.loop = this.run();
  }

  /** Stops ticking and leaves the queue: the token goes back, and another worker of the pool becomes the scheduler. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
    this.held = undefined;
    await this.link.close();
  }

  private sendToken(session: LinkSession): void {
    session.publisher
      .send(schedulerQueue(this.p.queue), Buffer.from('{}'), { type: 'fj.scheduler-token' })
      .catch((err: Error) => this.p.log.warn(`scheduler token not sent: ${err.message}`));
  }

  /** A token: this worker is (still) the active consumer. The newest is kept, an older one acked. */
  private onToken(msg: ConsumeMessage, session: LinkSession): void {
    const old = this.held;
    this.held = { msg, session };
    this.renewed = Date.now();
    if (old?.session.open) old.session.ch.ack(old.msg);
    if (!old)
      this.p.log.info(`scheduler: this worker runs pool ${this.p.queue}'s delayed and periodic jobs from now on`);
  }

  private lose(why: string): void {
    if (!this.held) return;
    this.held = undefined;
    this.p.log.info(`scheduler: no longer this worker's (${why}); another worker of the pool takes over`);
  }

  private async run(): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      const held = this.held;
      if (held?.session.open) {
        if (Date.now() - this.renewed > RENEW_MS) {
          this.renewed = Date.now();
          this.sendToken(held.session);
        }
        await this.tick(held.session).catch((err: Error) => this.once(err.message, `scheduler: ${err.message}`));
      }
      await sleep(POLL_MS, undefined, { signal }).catch(() => {});
    }
  }

  /** One look: delayed jobs due, then each schedule of the pool with a tick due. */
  private async tick(session: LinkSession): Promise<void> {
    const { store, signer, queue, log } = this.p;
    await releaseDue({ store, conn: session.conn, signer, queue, log });
    const now = Date.now();
    const [schedules, runs] = await Promise.all([
      readSchedules(store, signer, (name, why) => this.once(`bad ${name}`, `schedule ${name} not run: ${why}`)),
      readRuns(store, signer),
    ]);
    for (const r of schedules) {
      if (r.queue !== queue || !this.active) continue;
      const last = runs.get(r.name);
      let due: DueTick | undefined;
      try {
        due = dueTick(r, last, now);
      } catch (err) {
        this.once(`cron ${r.name}`, `schedule ${r.name} not run: ${(err as Error).message}`);
      }
      if (due) await this.fire(r, due, session);
    }
  }

  /** Submits a schedule's tick as its job (unless it was already), and records the run. */
  private async fire(r: ScheduleRecord, due: DueTick, session: LinkSession): Promise<void> {
    const { store, signer, log } = this.p;
    const jobId = tickJobId(r.name, due.tick);
    const tick = due.tick.toISOString();
    let error: string | undefined;
    try {
      if (await store.getMeta(jobId, 'manifest')) {
        // Submitted by a scheduler that died before recording the run: its message may not have gone out.
        const s = await readStatus(store, jobId, signer).catch(() => undefined);
        const manifest = s?.state === 'queued' ? await readManifest(store, jobId, signer) : undefined;
        if (manifest) await publishJob(session.conn, r.queue, jobId, signer, jobTarget(store, manifest));
      } else {
        await this.submit(r, jobId);
      }
    } catch (err) {
      // A tick that can never run (its input no longer valid, its task unknown here) is recorded with why; others are tried again.
      if (!(err instanceof InputError || err instanceof UsageError) || /is in use/.test((err as Error).message))
        return this.once(
          `fire ${jobId}`,
          `schedule ${r.name}: tick ${tick} not submitted yet: ${(err as Error).message}`,
        );
      error = (err as Error).message;
      log.warn(`schedule ${r.name}: tick ${tick} not run: ${error}`);
    }
    await writeRun(
      store,
      r.name,
      { tick, job: error ? '' : jobId, at: Date.now(), by: this.p.name, ...(error ? { error } : {}) },
      signer,
    );
    if (error) return;
    const late = Date.now() - due.tick.getTime();
    const missed = due.missed
      ? `; ${due.missed} earlier tick(s) missed too, not run (only the latest missed tick runs)`
      : '';
    if (late >= LATE_MS || missed)
      log.warn(
        `schedule ${r.name}: tick ${tick} submitted ${(late / 1000).toFixed(1)} s late as job ${jobId} (no worker of pool ${r.queue} was up to run it then)${missed}`,
      );
    else log.info(`schedule ${r.name}: tick ${tick} submitted as job ${jobId}`);
  }

  private async submit(r: ScheduleRecord, jobId: string): Promise<void> {
    const p = this.p;
    await submitJob(p.tasks.get(r.task)?.cls ?? r.task, r.input, {
      ...r.job,
      label: r.job.label ?? `${r.task} (schedule ${r.name})`,
      queue: r.queue,
      queueType: p.queueType,
      jobId,
      store: p.storeUrl,
      broker: p.broker,
      signingKey: p.signingKey,
      source: `schedule ${r.name}'s input`,
    });
  }

  private once(key: string, message: string): void {
    if (this.said.has(key)) return;
    if (this.said.size > 1000) this.said.clear();
    this.said.add(key);
    this.p.log.warn(message);
  }
}
