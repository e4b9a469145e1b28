/**
 * The coordinating side of `fj worker`: takes detached jobs (`fj submit`)
 * from the pool's jobs queue and, tenant by tenant, from its tenants' jobs
 * queues (tenant-admission.ts), at most `maxJobs` at once, and coordinates
 * each to its end in this process (detached/coordinate.ts). Items still run
 * on the worker threads, through the work queue, like any job's: the
 * coordinator is the main thread's work.
 *
 * A job message taken to coordinate or watch is held here, in this
 * worker's held queue (job-holds.ts): the coordinator's lease, renewed
 * inside RabbitMQ's consumer_timeout, that the broker hands on to the jobs
 * queue when this worker dies (kill -9, host lost), where another worker
 * takes the job over from its records. It is acked once the job's end is
 * written; handed back when this worker stops (the job goes on elsewhere);
 * held and watched while another coordinator is attached (taken over once
 * none is); and a job whose task this worker does not serve goes to the others, then
 * fails, naming the task and the pool, once every worker on the pool lacks it;
 * one whose code no live worker runs any more (a rolling deploy) fails after
 * a grace naming the versions, or follows the new code when it allows that
 * (job-code.ts).
 *
 * On its own connection: a coordination never holds up the items.
 */
import type { ChannelModel, ConsumeMessage } from 'amqplib';
import { setTimeout as sleep } from 'node:timers/promises';
import { coordinateDetached, deleteResultsQueue, type Coordinated } from '../detached/coordinate.js';
import { writeEnding } from '../detached/entries.js';
import { TransportError, UnrecoverableError, WorkerRefusedError } from '../core/errors.js';
import { isJobId } from '../core/job-id.js';
import { clearRefusal, readManifest, readOutcome, type JobOutcome, type Manifest } from '../store/job-records.js';
import { continuePipeline } from '../pipeline/continue-pipeline.js';
import type { LogFormat, LogLevel } from '../core/log.js';
import type { TaskInfo } from '../task/registry.js';
import { emptyTally, tallyEnd } from '../broker/job-tally.js';
import { connect, jobsQueue, jobsQueueSpec, resultsQueueState } from '../broker/amqp.js';
import { JOB_MESSAGE } from '../broker/messages.js';
import { ResilientLink, type LinkSession } from '../broker/resilient-link.js';
import { DECLINED, liveDecliners, makeDecline, readDeclines, shownName, type Decline } from './job-declines.js';
import { decideCode, followCode } from './job-code.js';
import { countTakeover } from './job-takeovers.js';
import { SpareConnection } from './spare-connection.js';
import { distrust, refuseJobMessage } from './job-trust.js';
import { JobHolds, type Hold } from './job-holds.js';
import { TenantAdmission } from './tenant-admission.js';
import { HELD_BY } from '../broker/held-queue.js';
import type { PoolParts } from './worker-options.js';

/** How a worker that runs other code for a job's task says so in its decline (job-declines.ts). */
const OTHER_CODE = 'runs other code for it';

/** A watched job (attached to another coordinator) is looked at again after this long: soon at first (a coordinator handing it over as its worker stops), then less often. */
const WATCH_MS = [1000, 1000, 1000, 2000, 5000];

/** A message that cannot be taken on now (the store or broker failed) goes back to the jobs queue after this long. */
const RETRY_MS = 5000;

/**
 * A job message in this worker's hands: as delivered from the jobs queue,
 * or held here (job-holds.ts).
 */
interface InHand {
  readonly jobId: string;
  /** The message's body and headers. */
  readonly msg: ConsumeMessage;
  /** The session it came on (a held one: the link's session now). */
  readonly session: LinkSession;
  readonly held?: Hold;
  /** Taken from a tenant's queue (tenant-admission.ts): called once the job holds a slot here, or once it never will. */
  readonly settled?: () => void;
}

/** What the consumer is built from. */
export interface JobConsumerParts extends PoolParts {
  maxJobs: number;
  /** How often a held job message is renewed, ms (job-holds.ts: `FJ_LEASE_RENEW_MS`). */
  leaseRenewMs: number;
  logLevel: LogLevel;
  /** The worker's log format: the jobs it coordinates log the same way. */
  logFormat: LogFormat;
  /** Tenant -> weight (`fj worker --tenant-weight`): the order tenants' queued jobs are taken in. */
  tenantWeights: Record<string, number>;
}

export class JobConsumer {
  /** The jobs being coordinated here, by id. */
  readonly active = new Map<string, { task: string; started: number }>();
  /** The jobs this worker coordinated to their end (for its heartbeat). */
  readonly tally = emptyTally();
  private stopping = false;
  private readonly stopSignal = new AbortController();
  private readonly inHand = new Set<Promise<void>>();
  /** The jobs queue's connection: declared and consumed again after every reconnect, until stopped. */
  private readonly link: ResilientLink;
  /** The next coordinated job's own connection, opened ahead. */
  private readonly spare: SpareConnection;
  /** The job messages held here: the leases of the jobs coordinated here, and the jobs watched. */
  private readonly holds: JobHolds;
  /** Takes jobs from the tenants' jobs queues, tenant by tenant. */
  private readonly admission: TenantAdmission;

  constructor(private readonly p: JobConsumerParts) {
    this.holds = new JobHolds({
      name: p.name,
      log: p.log,
      queue: p.queue,
      queueType: p.queueType,
      renewMs: p.leaseRenewMs,
    });
    // The jobs coordinated here go on through a lost connection (their own connections); their held messages come back here, or go on to the jobs queue, where whoever takes them sees them attached.
    this.link = new ResilientLink({
      name: `worker ${p.name} jobs`,
      url: () => p.url,
      topology: {
        queues: [jobsQueueSpec(p.queue, p.queueType), this.holds.spec],
        // Jobs queue deliveries are looked at, then held or passed on: at most maxJobs at once.
        prefetch: p.maxJobs,
        consumers: [
          {
            queue: jobsQueue(p.queue),
            options: { noAck: false },
            onMessage: (msg, session) => this.track(this.take(msg, session)),
          },
          this.holds.consumer,
        ],
      },
      onChannelClosed: (reason) => p.log.warn(`RabbitMQ closed the jobs channel: ${reason}`),
    });
    this.spare = new SpareConnection(() => connect(p.url, `worker ${p.name} coordinator`));
    this.admission = new TenantAdmission({
      pool: p.queue,
      queueType: p.queueType,
      store: p.store,
      signer: p.signer,
      log: p.log,
      tenantWeights: p.tenantWeights,
      room: () => (this.stopping ? 0 : p.maxJobs - this.active.size - this.admission.admitting),
      session: () => this.link.session,
      take: (msg, session, settled) => this.track(this.take(msg, session, settled)),
      onChecked: () => this.consumeOwn(),
    });
  }

  /** Jobs coordinated here now. */
  get coordinating(): number {
    return this.active.size;
  }

  /** Declares the jobs queue on `conn` and starts taking jobs; on a lost connection, reconnects. */
  async start(conn: ChannelModel): Promise<void> {
    await this.link.start(conn);
    this.holds.start(() => this.link.session);
    this.admission.start();
  }

  /** Whether a job more can be taken on here. */
  private get room(): boolean {
    return !this.stopping && this.active.size < this.p.maxJobs;
  }

  /**
   * Takes jobs from the jobs queue while fewer than maxJobs are coordinated
   * here, else not (a job waits for a worker with room); and not while a
   * tenant has jobs queued: admission then takes the pool's own jobs in turn
   * with the tenants' (tenant-admission.ts). A slot that frees asks
   * admission first, which resumes the consumer once it has looked
   * ({@link consumeOwn}).
   */
  private gate(): void {
    const room = this.room;
    if (!room || this.admission.contended) void this.link.setConsuming(jobsQueue(this.p.queue), false);
    if (room) this.admission.poke();
  }

  /** Admission has asked the tenants' queues: consumes the jobs queue when there is room and no tenant waits. */
  private consumeOwn(): void {
    void this.link.setConsuming(jobsQueue(this.p.queue), this.room && !this.admission.contended);
  }

  private track(p: Promise<void>): void {
    this.inHand.add(p);
    void p.finally(() => this.inHand.delete(p));
  }

  /** A job message delivered from the pool's jobs queue, or taken from a tenant's (`settled`: see {@link InHand}). */
  private async take(msg: ConsumeMessage, session: LinkSession, settled?: () => void): Promise<void> {
    try {
      await this.takeOn(msg, session, settled);
    } finally {
      settled?.();
    }
  }

  private async takeOn(msg: ConsumeMessage, session: LinkSession, settled?: () => void): Promise<void> {
    if (this.stopping) return; // delivered as the worker stops: left unacked, it goes back to the queue on close
    const { log } = this.p;
    let jobId: unknown;
    try {
      jobId = (JSON.parse(msg.content.toString('utf8')) as { job?: unknown }).job;
    } catch {
      jobId = undefined;
    }
    if (!isJobId(jobId)) return void (log.warn('dropped a malformed job message'), session.ch.ack(msg));
    log.debug(`job ${jobId}: taken from the jobs queue${msg.fields.redelivered ? ' (delivered before)' : ''}`);
    const h: InHand = { jobId, msg, session, settled };
    try {
      if (!session.open) return; // the channel is gone with its connection: the broker hands the message out again
      const untrusted = await distrust(this.p, msg, jobId);
      if (untrusted) return void (await refuseJobMessage(this.p, msg, session.ch, jobId, untrusted));
      // A job coordinated or watched here, its held copy lost with a connection and back through the jobs queue (or a
      // second copy): held again, with the hold it has.
      if (this.active.has(jobId) || this.holds.has(jobId)) return void (await this.holds.hold(jobId, msg, session));
      await this.decide(h);
    } catch (err) {
      await this.failed(h, err);
    }
  }

  /**
   * What this worker does with a job message it trusts: drops it (no such
   * job here), watches the job (attached elsewhere), passes it on (it
   * cannot run the job's task or code), hands it back (no room here), or
   * coordinates the job.
   */
  private async decide(h: InHand): Promise<void> {
    const { log, signer, store } = this.p;
    const { jobId } = h;
    const manifest = await readManifest(store, jobId, signer).catch(() => undefined);
    if (!manifest?.detached) {
      // Its results queue is left alone: the job may be another store's, on a pool shared by mistake
      // (unused, the queue expires a day after it was last declared).
      log.warn(`job ${jobId} has no records in store ${store.url} (forgotten or expired): dropped its message`);
      return this.ack(h);
    }
    // A job no coordinator ever attached to (no runs in its manifest) has nobody consuming its results: no need to ask.
    const state = manifest.runs?.length ? await resultsQueueState(h.session.conn, jobId) : undefined;
    if ((state?.coordinators ?? 0) > 0) return this.watch(h);
    const task = this.p.tasks.get(manifest.task.name);
    // Never stale code: a worker with other code for the task passes the job on, as one without the task does.
    const why = !task
      ? 'lacks the task'
      : task.codeHash !== manifest.task.codeHash
        ? `${OTHER_CODE} (${task.codeHash})`
        : undefined;
    if (!task || why) {
      // A job that has ended needs nobody: its message is dropped, whoever takes it (a pipeline's stage: once the pipeline went on).
      const ended = await readOutcome(store, jobId, signer).catch(() => undefined);
      if (ended) return void (await this.goOn(manifest, ended, jobId, h.session.conn), this.ack(h));
      return this.decline(h, manifest, why!);
    }
    await this.coordinate(h, task, manifest);
  }

  /** Taking a job on failed (the store or broker failing under us): its message goes back for another try (here or elsewhere). */
  private async failed(h: InHand, err: unknown): Promise<void> {
    const lost = !h.session.open ? ' (the connection was lost: the broker hands its message out again)' : '';
    this.p.log.error(`job ${h.jobId}: could not coordinate it${lost}: ${(err as Error).message}`);
    if (this.stopping || (!h.held && !h.session.open)) return; // handed back as the worker stops, or with the connection
    await sleep(RETRY_MS, undefined, { signal: this.stopSignal.signal }).catch(() => {});
    if (!this.stopping) this.putBack(h);
  }

  /** Acknowledges a message in hand: the job needs it no more. */
  private ack(h: InHand): void {
    if (h.held) return h.held.ack();
    this.settle(() => h.session.ch.ack(h.msg), h.jobId);
  }

  /** Puts a message in hand back in the jobs queue (a held one: at its tail, no redelivery counted). */
  private putBack(h: InHand): void {
    if (h.held) return h.held.release();
    this.settle(() => h.session.ch.nack(h.msg, false, true), h.jobId);
  }

  /** The message in hand, held here (it is, or is moved into this worker's held queue). */
  private async holding(h: InHand): Promise<InHand & { held: Hold }> {
    h.settled?.(); // held (watched, or waiting out a grace) it takes no slot; coordinated, it has one already
    const held = h.held ?? (await this.holds.hold(h.jobId, h.msg, h.session));
    return { ...h, held };
  }

  /**
   * Another coordinator is attached to the job (another worker's, or an
   * `fj resume` in a terminal): its message is held here, not put back,
   * and the job looked at again, every few seconds, until it ends or has no
   * coordinator (then this worker decides again, and takes it over).
   */
  private async watch(given: InHand): Promise<void> {
    const { log } = this.p;
    const h = await this.holding(given);
    log.debug(`job ${h.jobId}: attached to another coordinator; watched from here`);
    try {
      await this.watchHeld(h);
    } catch (err) {
      await this.failed(h, err); // the held message, not the delivery it was moved from
    }
  }

  /** {@link watch}'s loop, over a message held here. */
  private async watchHeld(h: InHand & { held: Hold }): Promise<void> {
    const { signer, store } = this.p;
    let lost = 0;
    for (let i = 0; !this.stopping && !h.held.ended; i++) {
      await sleep(WATCH_MS[Math.min(i, WATCH_MS.length - 1)], undefined, { signal: this.stopSignal.signal }).catch(
        () => {},
      );
      // Given back with a connection and not found again: it went on to the jobs queue, and whoever takes it watches.
      lost = h.held.live ? 0 : lost + 1;
      if (lost > 2) return h.held.release();
      const session = this.link.session;
      if (this.stopping || h.held.ended || !session) continue;
      const ended = await readOutcome(store, h.jobId, signer).catch(() => undefined);
      // Seen without a coordinator twice, a second apart: not the moment a coordinator's results channel reconnects.
      const none = async () => ((await resultsQueueState(session.conn, h.jobId))?.coordinators ?? 0) === 0;
      if (ended || ((await none()) && (await sleep(1000).then(none)))) {
        const now: InHand = { ...h, msg: h.held.msg, session };
        try {
          return await this.decide(now);
        } catch (err) {
          return await this.failed(now, err);
        }
      }
    }
  }

  /**
   * Coordinates a job this worker can run, to its end here or until it
   * stops here; counts the takeover first (job-takeovers.ts), and fails a
   * job whose coordinators died too often instead.
   */
  private async coordinate(given: InHand, task: TaskInfo, manifest: Manifest): Promise<void> {
    const { log, signer, store } = this.p;
    const { jobId } = given;
    // No room here (a job taken as the last slot filled): back to the jobs queue, for a worker with room.
    if (this.active.size >= this.p.maxJobs) return this.putBack(given);
    // The slot is this job's from here: the jobs queue is not consumed while every slot is taken.
    this.active.set(jobId, { task: task.name, started: Date.now() });
    given.settled?.();
    this.gate();
    let freed = false;
    const free = () => {
      if (freed) return;
      freed = true;
      this.active.delete(jobId);
      this.gate();
    };
    let release: (() => Promise<void>) | undefined;
    let h: (InHand & { held: Hold }) | undefined;
    try {
      h = await this.holding(given);
      const { conn } = h.session;
      const [counted] = await Promise.all([
        countTakeover(store, jobId, this.p.name, signer),
        clearRefusal(store, jobId).catch(() => {}),
      ]);
      if ('poisoned' in counted) {
        const error = new UnrecoverableError(`job ${jobId} failed: ${counted.poisoned}`);
        const o = await writeEnding(store, jobId, manifest, { state: 'failed', error }, this.p.name, signer);
        if (o.coordinator === this.p.name) tallyEnd(this.tally, o, manifest.task.name); // this worker wrote its end
        await deleteResultsQueue(conn, this.p.broker, jobId);
        log.warn(`job ${jobId}: ${o.error?.message ?? o.state}`);
        await this.goOn(manifest, o, jobId, conn);
        return this.ack(h);
      }
      release = counted.release;
      const takenAt = Date.now();
      log.info(`job ${jobId} (${manifest.task.name}, "${manifest.detached?.label ?? ''}"): coordinating`);
      let done: Coordinated;
      try {
        done = await coordinateDetached(jobId, task, {
          store,
          storeUrl: this.p.storeUrl,
          broker: this.p.broker,
          signingKey: this.p.signingKey,
          logLevel: this.p.logLevel === 'debug' ? 'debug' : 'warn',
          logFormat: this.p.logFormat,
          conn,
          jobConn: () => this.spare.take(),
          signal: this.stopSignal.signal,
          coordinator: this.p.name,
        });
      } finally {
        free();
      }
      if (done.how === 'ended') {
        release = undefined; // ended: nothing to take back
        const o = done.outcome;
        // Counted once, by the coordinator that wrote the end (not for a job found ended already).
        if (o.coordinator === this.p.name && o.finished >= takenAt) tallyEnd(this.tally, o, manifest.task.name);
        log.info(
          `job ${jobId}: ${o.state} in ${o.finished - (o.started ?? o.finished)} ms${o.stats ? ` (${o.stats.items} item(s), ${o.stats.failed} failed)` : ''}${o.error ? `: ${o.error.message}` : ''}`,
        );
        // The results queue goes while the pipeline (if any) goes on; the message is acked after both.
        await Promise.all([done.cleanup, this.goOn(manifest, o, jobId, conn)]);
        this.ack(h);
      } else if (done.how === 'elsewhere') {
        log.info(`job ${jobId} is coordinated by another worker now; watched from here`);
        await this.watch(h);
      } else if (!this.stopping) {
        log.warn(
          `job ${jobId} stopped here (${(done.error as Error)?.message}); it goes back to the queue for the next coordinator`,
        );
        this.putBack(h);
      }
    } catch (err) {
      if (!h) throw err; // not moved: the delivery is the caller's to put back
      await this.failed(h, err); // the held message, not the delivery it was moved from
    } finally {
      free(); // not coordinated after all (the broker or store failed, or the job failed as poison)
      // A coordination that stopped without the job's end (shutdown, broker or store lost, another coordinator): not a death.
      await release?.().catch((err: Error) => log.warn(`job ${jobId}: takeover count not taken back: ${err.message}`));
    }
  }

  /**
   * A pipeline's stage ended: its next step (pipeline/continue-pipeline.ts), before the stage's message is
   * acknowledged; when that fails (store, broker) the message goes back and its next taker goes on.
   */
  private async goOn(manifest: Manifest, outcome: JobOutcome, jobId: string, conn: ChannelModel): Promise<void> {
    if (!manifest.pipeline) return;
    // Test-only, off unless set: dies as kill -9 would between a stage's end and the pipeline's next step (test/reliability/pipeline-crash.test.ts).
    if (process.env.FJ_TEST_KILL_BEFORE_GO_ON === '1') process.kill(process.pid, 'SIGKILL');
    const { store, signer, log } = this.p;
    await continuePipeline({ store, conn, signer, coordinator: this.p.name }, manifest, outcome, jobId);
    log.info(`job ${jobId}: pipeline ${manifest.pipeline.id} went on`);
  }

  /** Acknowledges or puts back a message; on a channel that closed meanwhile the broker has put it back already, and its next taker sees where the job is. */
  private settle(fn: () => void, jobId: string): void {
    try {
      fn();
    } catch (err) {
      this.p.log.info(
        `job ${jobId}: its message goes back to the queue (${(err as Error).message}): the worker that takes it next finds the job where it is`,
      );
    }
  }

  /**
   * This worker cannot coordinate the job (`why`): the next worker gets the
   * message; once every worker on the pool has declined, the job fails.
   * Only declines that count (job-declines.ts: live workers of the pool
   * whose heartbeat says they lack the task's code, signed with a key) are
   * counted and passed on.
   */
  private async decline(h: InHand, manifest: Manifest, why: string): Promise<void> {
    const { queue, name, log, signer, store } = this.p;
    const { jobId, msg, session } = h;
    const { declines: given, dropped } = readDeclines(msg.properties.headers?.[DECLINED], jobId, signer);
    const live = await liveDecliners(store, queue, manifest.task.name, manifest.task.codeHash, this.p.signer);
    const seen = new Map([...given].filter(([by]) => by !== name && live.decliners.has(by)));
    seen.set(name, makeDecline(signer, jobId, name, why));
    const ignored = [...dropped, ...[...given.keys()].filter((by) => by !== name && !seen.has(by)).map(shownName)];
    if (ignored.length > 0)
      log.warn(
        `job ${jobId}: ignored declines in the name of ${ignored.slice(0, 5).join(', ')}${ignored.length > 5 ? ', …' : ''}: ${signer ? 'not signed with the pool key, or ' : ''}not live workers of ${queue} that lack its task`,
      );
    // The pool's coordinating workers: the jobs queue's consumers, and those whose every slot is taken (not consuming it now).
    const workers = Math.max((await session.ch.checkQueue(jobsQueue(queue))).consumerCount, live.coordinators);
    // Every live worker runs other code for the task (a rolling deploy replaced the job's): as an attached run, after the grace, follow or fail naming the versions.
    if (seen.size >= workers && [...seen.values()].some((d) => d.why.startsWith(OTHER_CODE)))
      return this.codeGone(h, manifest, seen);
    if (seen.size >= workers) {
      const error = new WorkerRefusedError(
        `no worker on pool ${queue} can coordinate task ${manifest.task.name} with the code it was submitted with (${manifest.task.codeHash}): ${[...seen.values()].map((d) => `${d.by} ${d.why}`).join('; ')}; start one with 'fj worker --queue ${queue} --tasks MODULE'`,
      );
      const o = await writeEnding(store, jobId, manifest, { state: 'failed', error }, name, signer);
      log.warn(`job ${jobId}: failed: ${error.message}`);
      await Promise.all([
        deleteResultsQueue(session.conn, this.p.broker, jobId), // declared when it was queued
        this.goOn(manifest, o, jobId, session.conn),
      ]);
      return this.ack(h);
    }
    log.info(`job ${jobId}: this worker ${why}; passed on to the other workers of ${queue}`);
    await sleep(500);
    this.passOn(h, seen);
  }

  /** Sends the job's message on to the pool's other workers, with the declines so far, and lets go of this one. */
  private passOn(h: InHand, seen: Map<string, Decline>): void {
    const { msg, session } = h;
    const headers = Object.fromEntries(
      Object.entries((msg.properties.headers ?? {}) as Record<string, unknown>).filter(([k]) => k !== HELD_BY),
    );
    session.ch.sendToQueue(jobsQueue(this.p.queue), msg.content, {
      persistent: true,
      messageId: msg.properties.messageId as string | undefined,
      type: JOB_MESSAGE,
      headers: { ...headers, [DECLINED]: [...seen.values()] },
    });
    this.ack(h);
  }

  /**
   * No live worker of the pool runs the job's code (every one declined it,
   * some running other code for its task): once the grace is over, this
   * worker coordinates it on its own code (the job allows it and the pool
   * runs that one version), passes it on to a worker that runs the version
   * it may follow, puts it back (a worker on its code came back) or fails it
   * naming the versions (worker/job-code.ts).
   */
  private async codeGone(h: InHand, manifest: Manifest, seen: Map<string, Decline>): Promise<void> {
    const task = this.p.tasks.get(manifest.task.name);
    // Held while the grace runs: a delivery waiting that long must not meet the broker's consumer_timeout.
    const held = await this.holding(h);
    try {
      await this.afterGrace(held, manifest, seen, task);
    } catch (err) {
      await this.failed(held, err); // the held message, not the delivery it was moved from
    }
  }

  /** {@link codeGone} once the message is held: waits out the grace, then acts on the verdict. */
  private async afterGrace(
    held: InHand & { held: Hold },
    manifest: Manifest,
    seen: Map<string, Decline>,
    task: TaskInfo | undefined,
  ): Promise<void> {
    const { queue, name, log, signer, store } = this.p;
    const { jobId, session } = held;
    const { conn } = session;
    const verdict = await decideCode({
      store,
      signer,
      conn,
      queue,
      manifest,
      task,
      signal: this.stopSignal.signal,
    });
    if (this.stopping) return; // the worker hands back what it holds as it stops
    // A worker on the job's code is back: the job goes on there (after a moment: no spinning, should that worker not coordinate).
    if (verdict.do === 'back') {
      await sleep(RETRY_MS, undefined, { signal: this.stopSignal.signal }).catch(() => {});
      return this.stopping ? undefined : this.putBack(held);
    }
    if (verdict.do === 'fail') {
      await writeEnding(store, jobId, manifest, { state: 'failed', error: verdict.error }, name, signer);
      await deleteResultsQueue(conn, this.p.broker, jobId);
      log.warn(`job ${jobId}: failed: ${verdict.error.message}`);
      return this.ack(held);
    }
    if (verdict.do === 'pass') {
      log.info(`job ${jobId}: may follow code ${verdict.to}, which this worker does not run; passed on`);
      return this.passOn(held, seen);
    }
    const moved = await followCode(store, jobId, manifest, verdict, name, signer);
    log.warn(
      `job ${jobId}: no live worker of pool ${queue} runs task ${manifest.task.name}'s code ${verdict.from} any more: following the code this worker runs, ${verdict.to}, as onCodeChange 'follow' allows. Items answered before ran ${verdict.from}`,
    );
    await this.coordinate(held, task!, moved);
  }

  /** Stops taking jobs; the jobs coordinated here stop and go back to the queue (another worker resumes them). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.admission.stop();
    this.stopSignal.abort(new TransportError('the worker coordinating it is shutting down', { resumable: true }));
    await Promise.all([
      // The held messages go back to the jobs queue once the coordinations here have stopped (each job's own connection closed).
      this.link.close(async () => {
        await Promise.allSettled([...this.inHand]);
        this.holds.releaseAll();
      }),
      this.spare.stop(), // beside it: each close is bounded, and the shutdown's time is theirs together
    ]);
  }
}
