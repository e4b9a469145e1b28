/**
 * The coordinating side of `fj worker`: takes detached jobs (`fj submit`)
 * from the pool's jobs queue, at most `maxJobs` at once, and coordinates
 * each to its end in this process (detached/coordinate.ts). Items still run
 * on the worker threads, through the work queue, like any job's: the
 * coordinator is the main thread's work.
 *
 * A job message stays unacknowledged while its job runs here, so the broker
 * itself hands it to another worker when this one dies (kill -9, host
 * lost): that worker resumes the job from its records. It is acked once the
 * job's end is written; put back when this worker stops (the job goes on
 * elsewhere) or when another coordinator is attached (looked at again a
 * little later, so a coordinator that lost its message is still watched);
 * and a job whose task this worker does not serve goes to the others, then
 * fails, naming the task and the pool, once every worker on the pool lacks it;
 * one whose code no live worker runs any more (a rolling deploy) fails after
 * a grace naming the versions, or follows the new code when it allows that
 * (job-code.ts).
 *
 * On its own connection: a coordination never holds up the items.
 */
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { setTimeout as sleep } from 'node:timers/promises';
import { coordinateDetached, deleteResultsQueue, type Coordinated } from '../detached/coordinate.js';
import { writeEnding } from '../detached/entries.js';
import { TransportError, UnrecoverableError, WorkerRefusedError } from '../core/errors.js';
import { isJobId } from '../core/job-id.js';
import {
  clearRefusal,
  readManifest,
  readOutcome,
  writeRefusal,
  type JobOutcome,
  type Manifest,
} from '../store/job-records.js';
import { continuePipeline } from '../pipeline/continue-pipeline.js';
import type { LogFormat, LogLevel } from '../core/log.js';
import { isSealed, SIGNATURE_HEADER } from '../core/signing.js';
import type { TaskInfo } from '../task/registry.js';
import { emptyTally, tallyEnd } from '../broker/job-tally.js';
import {
  connect,
  deadLetterQueue,
  deadLetterQueueSpec,
  declareQueue,
  jobsQueue,
  jobsQueueSpec,
  resultsQueueState,
} from '../broker/amqp.js';
import { JOB_MESSAGE } from '../broker/messages.js';
import { REFUSED_BY } from '../broker/dead-letters.js';
import { ResilientLink, type LinkSession } from '../broker/resilient-link.js';
import { DECLINED, liveDecliners, makeDecline, readDeclines, shownName, type Decline } from './job-declines.js';
import { decideCode, followCode } from './job-code.js';
import { countTakeover } from './job-takeovers.js';
import { SpareConnection } from './spare-connection.js';
import type { PoolParts } from './worker-options.js';

/** How a worker that runs other code for a job's task says so in its decline (job-declines.ts). */
const OTHER_CODE = 'runs other code for it';

/** A job attached to another coordinator is looked at again after this long. */
const ELSEWHERE_RECHECK_MS = 5000;

/** What the consumer is built from. */
export interface JobConsumerParts extends PoolParts {
  maxJobs: number;
  logLevel: LogLevel;
  /** The worker's log format: the jobs it coordinates log the same way. */
  logFormat: LogFormat;
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

  constructor(private readonly p: JobConsumerParts) {
    // The jobs coordinated here go on through a lost connection (their own connections); their messages are back in the queue, and whoever takes them sees them attached.
    this.link = new ResilientLink({
      name: `worker ${p.name} jobs`,
      url: () => p.url,
      topology: {
        queues: [jobsQueueSpec(p.queue, p.queueType)],
        prefetch: p.maxJobs,
        consumers: [
          {
            queue: jobsQueue(p.queue),
            options: { noAck: false },
            onMessage: (msg, session) => this.track(this.take(msg, session)),
          },
        ],
      },
      onChannelClosed: (reason) => p.log.warn(`RabbitMQ closed the jobs channel: ${reason}`),
    });
    this.spare = new SpareConnection(() => connect(p.url, `worker ${p.name} coordinator`));
  }

  /** Jobs coordinated here now. */
  get coordinating(): number {
    return this.active.size;
  }

  /** Declares the jobs queue on `conn` and starts taking jobs; on a lost connection, reconnects. */
  start(conn: ChannelModel): Promise<void> {
    return this.link.start(conn);
  }

  private track(p: Promise<void>): void {
    this.inHand.add(p);
    void p.finally(() => this.inHand.delete(p));
  }

  private async take(msg: ConsumeMessage, session: LinkSession): Promise<void> {
    if (this.stopping) return; // delivered as the worker stops: left unacked, it goes back to the queue on close
    const { log, signer, store } = this.p;
    const { ch, conn } = session;
    const ack = () => ch.ack(msg);
    const putBack = () => ch.nack(msg, false, true);
    let jobId: unknown;
    try {
      jobId = (JSON.parse(msg.content.toString('utf8')) as { job?: unknown }).job;
    } catch {
      jobId = undefined;
    }
    if (!isJobId(jobId)) return void (log.warn('dropped a malformed job message'), ack());
    try {
      if (!session.open) return; // the channel is gone with its connection: the broker hands the message out again
      const untrusted = await this.untrusted(msg, jobId);
      if (untrusted) return void (await this.refuse(msg, ch, jobId, untrusted));
      if (this.active.has(jobId)) return void (await this.later(putBack));
      const manifest = await readManifest(store, jobId, signer).catch(() => undefined);
      if (!manifest?.detached) {
        // Its results queue is left alone: the job may be another store's, on a pool shared by mistake
        // (unused, the queue expires a day after it was last declared).
        log.warn(`job ${jobId} has no records in store ${store.url} (forgotten or expired): dropped its message`);
        return void ack();
      }
      // A job no coordinator ever attached to (no runs in its manifest) has nobody consuming its results: no need to ask.
      const state = manifest.runs?.length ? await resultsQueueState(conn, jobId) : undefined;
      if ((state?.coordinators ?? 0) > 0) return void (await this.later(putBack));
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
        if (ended) return void (await this.goOn(manifest, ended, jobId, conn), ack());
        return void (await this.decline(msg, session, jobId, manifest, why!));
      }
      await this.coordinate(jobId, task, manifest, session, ack, putBack);
    } catch (err) {
      // The store or broker failing under us: the job goes back for another try (here or elsewhere).
      const lost = !session.open ? ' (the connection was lost: the broker hands its message out again)' : '';
      log.error(`job ${String(jobId)}: could not coordinate it${lost}: ${(err as Error).message}`);
      if (!this.stopping && session.open) await this.later(putBack);
    }
  }

  /**
   * Coordinates a job this worker can run, to its end here or until it
   * stops here; counts the takeover first (job-takeovers.ts), and fails a
   * job whose coordinators died too often instead.
   */
  private async coordinate(
    jobId: string,
    task: TaskInfo,
    manifest: Manifest,
    session: LinkSession,
    ack: () => void,
    putBack: () => void,
  ): Promise<void> {
    const { log, signer, store } = this.p;
    const { conn } = session;
    let release: (() => Promise<void>) | undefined;
    try {
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
        return void this.settle(ack, jobId);
      }
      release = counted.release;
      const takenAt = Date.now();
      this.active.set(jobId, { task: task.name, started: takenAt });
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
        this.active.delete(jobId);
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
        this.settle(ack, jobId);
      } else if (done.how === 'elsewhere') {
        log.info(`job ${jobId} is coordinated by another worker now`);
        await this.later(putBack);
      } else if (!this.stopping) {
        log.warn(
          `job ${jobId} stopped here (${(done.error as Error)?.message}); it goes back to the queue for the next coordinator`,
        );
        if (session.open) this.settle(putBack, jobId);
      }
    } finally {
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
   * Why this worker must not act on a job message it cannot trust, if so: a
   * signature not made with the pool's key, or (a worker without a key) a
   * job whose records are signed. Undefined when the message is fine.
   */
  private async untrusted(msg: ConsumeMessage, jobId: string): Promise<string | undefined> {
    const { signer, store } = this.p;
    if (signer) {
      if (signer.verify(msg.properties.headers?.[SIGNATURE_HEADER], 'job', jobId)) return undefined;
      return "not signed with the pool's signing key (it was submitted with another key, or none)";
    }
    const raw = await store.getMeta(jobId, 'manifest');
    return raw && isSealed(raw)
      ? 'the job is signed (its records are sealed with a key) and this worker has no signing key'
      : undefined;
  }

  /**
   * A job message this worker cannot trust goes to the pool's dead-letter
   * queue (where `fj dead` shows it with `reason`, and `fj dead requeue`
   * sends it back to the jobs queue), never dropped silently; a job of this
   * store gets a note saying so, which ends its waits (see `writeRefusal`).
   */
  private async refuse(msg: ConsumeMessage, ch: Channel, jobId: string, reason: string): Promise<void> {
    const { queue, name, log, store } = this.p;
    const dead = deadLetterQueue(queue);
    await declareQueue(ch, deadLetterQueueSpec(queue, this.p.queueType));
    const headers = Object.fromEntries(
      Object.entries((msg.properties.headers ?? {}) as Record<string, unknown>).filter(([k]) => k !== DECLINED),
    );
    ch.sendToQueue(dead, msg.content, {
      persistent: true,
      messageId: msg.properties.messageId as string | undefined,
      type: JOB_MESSAGE,
      headers: { ...headers, [REFUSED_BY]: `${name}: ${reason}` },
    });
    ch.ack(msg);
    // Only for a job this store knows: a forged id must not make the store write anything.
    const known = await store.getMeta(jobId, 'manifest').catch(() => undefined);
    if (known) await writeRefusal(store, jobId, { by: name, reason, pool: queue, at: Date.now() }).catch(() => {});
    log.warn(`job ${jobId}: its message is ${reason}: dead-lettered to ${dead} unrun`);
  }

  /** Puts a message back after a moment (no spinning), unless the worker stops meanwhile (closing the connection puts it back). */
  private async later(putBack: () => void): Promise<void> {
    await sleep(ELSEWHERE_RECHECK_MS, undefined, { signal: this.stopSignal.signal }).catch(() => {});
    if (!this.stopping) {
      try {
        putBack();
      } catch {
        // the channel is gone: so is the delivery
      }
    }
  }

  /**
   * This worker cannot coordinate the job (`why`): the next worker gets the
   * message; once every worker on the pool has declined, the job fails.
   * Only declines that count (job-declines.ts: live workers of the pool
   * whose heartbeat says they lack the task's code, signed with a key) are
   * counted and passed on.
   */
  private async decline(
    msg: ConsumeMessage,
    session: LinkSession,
    jobId: string,
    manifest: Manifest,
    why: string,
  ): Promise<void> {
    const { queue, name, log, signer, store } = this.p;
    const { ch } = session;
    const { declines: given, dropped } = readDeclines(msg.properties.headers?.[DECLINED], jobId, signer);
    const live = await liveDecliners(store, queue, manifest.task.name, manifest.task.codeHash, this.p.signer);
    const seen = new Map([...given].filter(([by]) => by !== name && live.has(by)));
    seen.set(name, makeDecline(signer, jobId, name, why));
    const ignored = [...dropped, ...[...given.keys()].filter((by) => by !== name && !seen.has(by)).map(shownName)];
    if (ignored.length > 0)
      log.warn(
        `job ${jobId}: ignored declines in the name of ${ignored.slice(0, 5).join(', ')}${ignored.length > 5 ? ', …' : ''}: ${signer ? 'not signed with the pool key, or ' : ''}not live workers of ${queue} that lack its task`,
      );
    const { consumerCount } = await ch.checkQueue(jobsQueue(queue));
    // Every live worker runs other code for the task (a rolling deploy replaced the job's): as an attached run, after the grace, follow or fail naming the versions.
    if (seen.size >= consumerCount && [...seen.values()].some((d) => d.why.startsWith(OTHER_CODE)))
      return this.codeGone(msg, session, jobId, manifest, seen);
    if (seen.size >= consumerCount) {
      const error = new WorkerRefusedError(
        `no worker on pool ${queue} can coordinate task ${manifest.task.name} with the code it was submitted with (${manifest.task.codeHash}): ${[...seen.values()].map((d) => `${d.by} ${d.why}`).join('; ')}; start one with 'fj worker --queue ${queue} --tasks MODULE'`,
      );
      const o = await writeEnding(store, jobId, manifest, { state: 'failed', error }, name, signer);
      log.warn(`job ${jobId}: failed: ${error.message}`);
      await Promise.all([
        deleteResultsQueue(session.conn, this.p.broker, jobId), // declared when it was queued
        this.goOn(manifest, o, jobId, session.conn),
      ]);
      return void ch.ack(msg);
    }
    log.info(`job ${jobId}: this worker ${why}; passed on to the other workers of ${queue}`);
    await sleep(500);
    ch.sendToQueue(jobsQueue(queue), msg.content, {
      persistent: true,
      messageId: msg.properties.messageId as string | undefined,
      type: JOB_MESSAGE,
      headers: { ...msg.properties.headers, [DECLINED]: [...seen.values()] },
    });
    ch.ack(msg);
  }

  /**
   * No live worker of the pool runs the job's code (every one declined it,
   * some running other code for its task): once the grace is over, this
   * worker coordinates it on its own code (the job allows it and the pool
   * runs that one version), passes it on to a worker that runs the version
   * it may follow, puts it back (a worker on its code came back) or fails it
   * naming the versions (worker/job-code.ts).
   */
  private async codeGone(
    msg: ConsumeMessage,
    session: LinkSession,
    jobId: string,
    manifest: Manifest,
    seen: Map<string, Decline>,
  ): Promise<void> {
    const { queue, name, log, signer, store } = this.p;
    const { ch, conn } = session;
    const task = this.p.tasks.get(manifest.task.name);
    const verdict = await decideCode({
      store,
      signer,
      conn,
      queue,
      manifest,
      task,
      signal: this.stopSignal.signal,
    });
    if (this.stopping || !session.open) return; // the message goes back on close
    // A worker on the job's code is back: the job goes on there (after a moment: no spinning, should that worker not coordinate).
    if (verdict.do === 'back') return void (await this.later(() => ch.nack(msg, false, true)));
    if (verdict.do === 'fail') {
      await writeEnding(store, jobId, manifest, { state: 'failed', error: verdict.error }, name, signer);
      await deleteResultsQueue(conn, this.p.broker, jobId);
      log.warn(`job ${jobId}: failed: ${verdict.error.message}`);
      return void ch.ack(msg);
    }
    if (verdict.do === 'pass') {
      log.info(`job ${jobId}: may follow code ${verdict.to}, which this worker does not run; passed on`);
      ch.sendToQueue(jobsQueue(queue), msg.content, {
        persistent: true,
        messageId: msg.properties.messageId as string | undefined,
        type: JOB_MESSAGE,
        headers: { ...msg.properties.headers, [DECLINED]: [...seen.values()] },
      });
      return void ch.ack(msg);
    }
    const moved = await followCode(store, jobId, manifest, verdict, name, signer);
    log.warn(
      `job ${jobId}: no live worker of pool ${queue} runs task ${manifest.task.name}'s code ${verdict.from} any more: following the code this worker runs, ${verdict.to}, as onCodeChange 'follow' allows. Items answered before ran ${verdict.from}`,
    );
    await this.coordinate(
      jobId,
      task!,
      moved,
      session,
      () => ch.ack(msg),
      () => ch.nack(msg, false, true),
    );
  }

  /** Stops taking jobs; the jobs coordinated here stop and go back to the queue (another worker resumes them). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopSignal.abort(new TransportError('the worker coordinating it is shutting down', { resumable: true }));
    await Promise.all([
      this.link.close(() => Promise.allSettled([...this.inHand]).then(() => {})),
      this.spare.stop(), // beside it: each close is bounded, and the shutdown's time is theirs together
    ]);
  }
}
