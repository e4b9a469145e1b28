/**
 * The amqp executor (the coordinator side of distributed mode). Publishes a
 * job's items to a pool's work queue, collects results from the job's own
 * results queue, and hands them to `run()` for the join.
 *
 * - Fan-out by reference: params are stored once and named by ref in every
 *   message; an item larger than the inline limit is stored and sent as a ref.
 * - Backpressure: at most {@link MAX_IN_FLIGHT} messages await their results,
 *   and publishes wait for broker confirms beyond a bound, so `setup` is
 *   consumed lazily and the job is never buffered whole.
 * - Batching: small items share a message; sizes adapt to the time workers
 *   report, as in the local executor.
 * - Exactly-once effect: results are recorded once per item index (the
 *   ledger), whatever the number of deliveries.
 * - Job state lives in RabbitMQ and the store, not here: the job's manifest
 *   and status are records in the store, and result messages stay unacked in
 *   the durable results queue until the job ends, so after a crash of this
 *   process `fj resume` finds every result recorded so far.
 * - A lost connection (a broker restart) is survived: reconnect with backoff,
 *   declare the queues again, re-send what the broker had not confirmed.
 * - Cancellation and fail-fast broadcast a cancel to every worker, which
 *   aborts the job's items in hand and drops its queued ones.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { assertPlain, decode, encodeChecked } from '../codec.js';
import { CancelledError, FjError, TaskError, TransportError, UsageError, isRetryable } from '../errors.js';
import type { PayloadStore } from '../store/store.js';
import { openStore } from '../store/open.js';
import {
  assertControlExchange,
  assertResultsQueue,
  assertWorkQueue,
  connect,
  DEFAULT_QUEUE,
  H,
  PROTOCOL,
  publishCancel,
  Publisher,
  reconnect,
  resultsQueue,
  reconnectOnChannelError,
  withHeartbeat,
} from '../transport/amqp.js';
import { decodeBody, encodeBody, type ResultBody, type Slot } from '../transport/messages.js';
import { fromWire, type WireError } from '../worker/wire-error.js';
import { BatchSizer, COMBINED_TARGET_MS } from './batch-sizer.js';
import { Retries } from './ledger.js';
import type { Executor, JobPlan } from './executor.js';
import type { NormalizedOptions } from '../options.js';

/** Work messages awaiting results, at most. */
const MAX_IN_FLIGHT = 64;
/** A message should keep a worker busy about this long. */
const TARGET_BATCH_MS = 20;
const MAX_BATCH = 4096;
/** After losing the broker, keep trying to reconnect this long before failing the job (it stays resumable). */
export const RECONNECT_GIVE_UP_MS = 5 * 60_000;
/** The status record is rewritten at most this often. */
const STATUS_EVERY_MS = 1000;
/** Job ids name queues and store keys: keep them to safe characters. */
export const JOB_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$/;

/** The job's manifest record: what `fj resume` needs to re-attach. */
export interface Manifest {
  version: 1;
  task: { name: string; module: string | undefined; className: string; codeHash: string };
  /** The input: a file (checked by hash on resume), or stored bytes. */
  input: { file: string; sha256: string } | { ref: string };
  paramsRef: string;
  queue: string;
  options: { retries?: number; retryDelayMs: number; onFailure: string; maxFailures?: number | string; itemTimeoutMs?: number; inlineLimit: number };
  created: string;
}

/** The job's status record, rewritten as it runs (`fj status`). */
export interface JobStatus {
  state: 'running' | 'done' | 'failed' | 'cancelled';
  task: string;
  total: number | null;
  done: number;
  failed: number;
  retried: number;
  /** Work messages published and not yet answered. */
  inFlightMessages: number;
  coordinator: string;
  updated: string;
  error?: string;
}

/** Checks a job id; UsageError naming the rule. */
export function checkJobId(jobId: string): string {
  if (!JOB_ID.test(jobId) || jobId.includes('..')) throw new UsageError(`invalid job id '${jobId}': use 1-100 letters, digits, '.', '_' or '-' (not starting with '.', no '..')`);
  return jobId;
}

export class AmqpExecutor implements Executor {
  /** The store and broker connection opened by `prepare`, while the job validates its input. */
  private early: { store: Promise<PayloadStore>; conn: Promise<ChannelModel> } | undefined;

  /**
   * Opens the store and connects to RabbitMQ now, so the handshakes overlap
   * validation and setup. Their errors surface from `map`, after the input's.
   */
  prepare(options: NormalizedOptions): void {
    let url: string;
    try {
      url = withHeartbeat(options.broker);
    } catch {
      return; // a bad URL: map() reports it
    }
    const store = openStore(options.store || undefined);
    const conn = connect(url, `coordinator ${options.jobId ?? ''}`.trim());
    store.catch(() => {});
    conn.catch(() => {});
    this.early = { store, conn };
  }

  async dispose(): Promise<void> {
    const early = this.early;
    this.early = undefined;
    await closeEarly(early);
  }

  async map(plan: JobPlan): Promise<void> {
    const { options, task } = plan;
    const early = this.early;
    this.early = undefined;
    let store: PayloadStore;
    let jobId: string;
    try {
      jobId = checkJobId(options.jobId ?? randomUUID());
      store = await (early?.store ?? openStore(options.store || undefined));
    } catch (err) {
      await closeEarly(early);
      throw err;
    }
    const queue = options.queue ?? task.queue ?? DEFAULT_QUEUE;
    let cleanUp = true;
    try {
      const job = new Job(plan, store, jobId, queue, early?.conn);
      try {
        await job.run();
      } catch (err) {
        // Lost the broker for good, or (a bug) items left without a result:
        // leave everything in place for `fj resume`.
        if (err instanceof TransportError || (err as FjError).code === 'FJ_INTERNAL') {
          cleanUp = false;
          plan.log.error(`job ${jobId} stopped; resume it with 'fj resume ${jobId}' once RabbitMQ is back`);
        }
        throw err;
      }
    } finally {
      if (cleanUp && !options.keep) await store.deleteJob(jobId).catch((err) => plan.log.warn(`could not delete job data: ${(err as Error).message}`));
      await store.close();
    }
  }
}

/** A published work message awaiting its result. */
interface Sent {
  first: number;
  slots: Slot[];
  body: Buffer;
  confirmed: boolean;
  /** 1 for each item answered. */
  answered: Uint8Array;
  /** Items not answered yet. */
  left: number;
}

/** One connection's channels. */
interface Link {
  conn: ChannelModel;
  ch: Channel;
  publisher: Publisher;
  open: boolean;
}

class Job {
  private link: Link | undefined;
  private paramsRef = '';
  private readonly resultsQ: string;
  /** Work messages awaiting results, by message id. */
  private readonly inFlight = new Map<string, Sent>();
  /** Items to publish again (retries whose backoff is over). */
  private readonly reruns: { first: number; slots: Slot[] }[] = [];
  /** Retries waiting out their backoff. */
  private readonly retries: Retries;
  private readonly pendingDecode = new Set<Promise<void>>();
  private readonly sizer: BatchSizer;
  /** Unique per coordinator run, so a resumed job's message ids never repeat the first run's. */
  private readonly runTag = randomBytes(3).toString('hex');
  private seq = 0;
  /** Result messages received; `fj resume` waits for those already queued before publishing. */
  private received = 0;
  private drained: (() => void) | undefined;
  private draining = false;
  /** Result messages queued when this coordinator first attached. */
  private backlog = -1;
  private pumping = false;
  private settled = false;
  private resolve!: () => void;
  private reject!: (e: unknown) => void;
  private statusTimer: NodeJS.Timeout | undefined;
  private statusWrite: Promise<void> = Promise.resolve();
  private readonly coordinator = `${hostname()}:${process.pid}`;

  constructor(
    private readonly plan: JobPlan,
    private readonly store: PayloadStore,
    private readonly jobId: string,
    private readonly queue: string,
    /** A connection opened early (`prepare`), else `run` connects. */
    private readonly earlyConn?: Promise<ChannelModel>,
  ) {
    this.resultsQ = resultsQueue(jobId);
    this.retries = new Retries(plan.ledger, plan.log);
    this.sizer = new BatchSizer(plan.task.combines ? COMBINED_TARGET_MS.amqp : TARGET_BATCH_MS, MAX_BATCH);
  }

  async run(): Promise<void> {
    const { plan, store, jobId } = this;
    const { counters, log, options } = plan;
    const url = withHeartbeat(options.broker);
    const conn = await (this.earlyConn ?? connect(url, `job ${jobId}`));
    try {
      if (plan.resume) await this.checkResumable(conn);
      this.paramsRef = await store.put(jobId, plan.paramsBytes);
      counters.bytesStored += plan.resume ? 0 : plan.paramsBytes.length;
      if (!plan.resume) await this.writeManifest();
      this.draining = !!plan.resume; // until drain() is over, an arriving result must not start publishing: the items with results are not all known yet
      await this.attach(conn);
    } catch (err) {
      await conn.close().catch(() => {});
      throw err;
    }
    const { consumerCount } = await this.link!.ch.checkQueue(this.queue);
    if (consumerCount === 0) log.warn(`no worker is consuming ${this.queue} yet: start one with 'fj worker --queue ${this.queue}'`);
    log.info(`job ${jobId}: queue ${this.queue}, store ${store.url}`);
    if (plan.resume) await this.drain();

    let outcome: JobStatus['state'] = 'failed';
    let error: unknown;
    try {
      await new Promise<void>((resolve, reject) => {
        this.resolve = resolve;
        this.reject = reject;
        const onAbort = () => this.fail(plan.signal.reason instanceof Error ? plan.signal.reason : new CancelledError());
        if (plan.signal.aborted) return onAbort();
        plan.signal.addEventListener('abort', onAbort, { once: true });
        this.statusTimer = setInterval(() => this.writeStatus('running'), STATUS_EVERY_MS);
        this.statusTimer.unref();
        void this.pump();
      });
      outcome = 'done';
    } catch (err) {
      error = err;
      outcome = err instanceof CancelledError ? 'cancelled' : 'failed';
      throw err;
    } finally {
      clearInterval(this.statusTimer);
      this.retries.clear();
      const link = this.link;
      const resumable = error instanceof TransportError;
      if (link?.open && !resumable) {
        if (outcome !== 'done') publishCancel(link.ch, jobId); // workers drop what is left of the job
        await link.ch.deleteQueue(this.resultsQ).catch(() => {});
      }
      this.writeStatus(outcome, error);
      await this.statusWrite;
      this.link = undefined;
      await link?.conn.close().catch(() => {});
    }
  }

  /** `fj resume`: the results queue must exist and have no coordinator consuming it. */
  private async checkResumable(conn: ChannelModel): Promise<void> {
    const ch = await conn.createChannel();
    ch.on('error', () => {});
    try {
      const { consumerCount } = await ch.checkQueue(this.resultsQ);
      if (consumerCount > 0) throw new UsageError(`job ${this.jobId} is still attached to a running coordinator ('fj status ${this.jobId}' names it)`);
    } catch (err) {
      if (err instanceof FjError) throw err;
      throw new UsageError(`job ${this.jobId} has no results queue on the broker: it finished, was cancelled, or expired (results queues live a day)`);
    } finally {
      await ch.close().catch(() => {});
    }
  }

  /**
   * `fj resume`: records the results already in the queue before publishing
   * anything, so only items without one are sent again. (A coordinator that
   * died leaves its results unacked: the broker has put them back.)
   */
  private async drain(): Promise<void> {
    const target = this.backlog;
    const deadline = Date.now() + 30_000;
    while (this.received < target && Date.now() < deadline && this.link?.open) {
      await new Promise<void>((r) => {
        this.drained = r;
        setTimeout(r, 200);
      });
    }
    this.drained = undefined;
    this.draining = false;
    this.plan.log.info(`resumed job ${this.jobId}: ${this.plan.ledger.recorded} item(s) already have results`);
  }

  private async writeManifest(): Promise<void> {
    const { plan } = this;
    const { options, task } = plan;
    let input: Manifest['input'];
    if (plan.inputFile) input = plan.inputFile;
    else {
      const bytes = encodeChecked(plan.input);
      input = { ref: await this.store.put(this.jobId, bytes) };
      plan.counters.bytesStored += bytes.length;
    }
    const manifest: Manifest = {
      version: 1,
      task: { name: task.name, module: task.moduleUrl, className: task.cls.name, codeHash: task.codeHash },
      input,
      paramsRef: this.paramsRef,
      queue: this.queue,
      options: {
        retries: options.retries,
        retryDelayMs: options.retryDelayMs,
        onFailure: options.onFailure,
        maxFailures: options.maxFailuresSpec,
        itemTimeoutMs: options.itemTimeoutMs,
        inlineLimit: options.inlineLimit,
      },
      created: new Date().toISOString(),
    };
    await this.store.setMeta(this.jobId, 'manifest', Buffer.from(JSON.stringify(manifest)));
  }

  /** Rewrites the status record (writes never overlap; a failed write is only logged). */
  private writeStatus(state: JobStatus['state'], error?: unknown): void {
    const { ledger, items, task } = this.plan;
    const status: JobStatus = {
      state,
      task: task.name,
      total: items.total ?? (items.done ? items.index : null),
      done: ledger.recorded,
      failed: ledger.failures.length,
      retried: ledger.retried,
      inFlightMessages: this.inFlight.size,
      coordinator: this.coordinator,
      updated: new Date().toISOString(),
      ...(error ? { error: (error as Error).message } : {}),
    };
    if (state !== 'running' && !this.plan.options.keep && state !== 'failed') return; // the job's data is about to go
    this.statusWrite = this.statusWrite.then(() =>
      this.store.setMeta(this.jobId, 'status', Buffer.from(JSON.stringify(status))).catch((err) => this.plan.log.debug(`status not written: ${(err as Error).message}`)),
    );
  }

  /** Opens channels on `conn`, declares the queues and consumes the results queue. */
  private async attach(conn: ChannelModel): Promise<void> {
    const ch = await conn.createChannel();
    reconnectOnChannelError(conn, ch, (reason, consumerTimeout) =>
      this.plan.log.warn(
        consumerTimeout
          ? `RabbitMQ closed the results channel after its consumer_timeout (the job holds its results unacknowledged until it ends): ${reason}. ` +
              'Reconnecting; the results are delivered again and counted once. For jobs this long, raise consumer_timeout in rabbitmq.conf.'
          : `RabbitMQ closed the results channel: ${reason}; reconnecting`,
      ),
    );
    const publisher = new Publisher(await conn.createConfirmChannel());
    publisher.channel.on('error', () => {});
    await assertWorkQueue(ch, this.queue);
    await assertControlExchange(ch);
    await assertResultsQueue(ch, this.jobId);
    if (this.backlog < 0) this.backlog = (await ch.checkQueue(this.resultsQ)).messageCount;
    const link: Link = { conn, ch, publisher, open: true };
    conn.on('close', () => this.onClose(link));
    this.link = link;
    // Results stay unacked until the job ends (they are its durable record),
    // so no prefetch limit: the window of work messages bounds them.
    await ch.consume(this.resultsQ, (msg) => msg && this.onResult(msg), { noAck: false });
  }

  private onClose(link: Link): void {
    link.open = false;
    if (this.settled || this.link !== link) return;
    this.link = undefined;
    const { log, options } = this.plan;
    log.warn('lost the connection to RabbitMQ; reconnecting');
    void (async () => {
      try {
        const conn = await reconnect(withHeartbeat(options.broker), `job ${this.jobId}`, RECONNECT_GIVE_UP_MS, (n, err) => log.info(`reconnect attempt ${n}: ${err.message}`));
        if (this.settled) return void (await conn.close().catch(() => {}));
        await this.attach(conn);
        // What the broker had not confirmed may be lost: send it again (duplicates are harmless).
        let resent = 0;
        for (const [id, sent] of this.inFlight) {
          if (sent.confirmed) continue;
          this.sendBody(id, sent);
          resent++;
        }
        log.warn(`reconnected to RabbitMQ; re-sent ${resent} unconfirmed message(s)`);
        void this.pump();
      } catch (err) {
        this.fail(err instanceof TransportError ? err : new TransportError(`lost RabbitMQ and could not reconnect: ${(err as Error).message}`));
      }
    })();
  }

  /** Publishes batches while the in-flight window has room: retries first, then new items. */
  private async pump(): Promise<void> {
    if (this.pumping || this.settled || this.draining) return;
    this.pumping = true;
    const { items, task, ledger } = this.plan;
    try {
      while (!this.settled && this.link?.open && this.inFlight.size < MAX_IN_FLIGHT && (this.reruns.length > 0 || !items.done)) {
        const rerun = this.reruns.shift();
        if (rerun) {
          this.publish(rerun.first, rerun.slots);
          continue;
        }
        const first = items.index;
        const maybe = items.take(this.sizer.size);
        const batch = maybe instanceof Promise ? await maybe : maybe;
        if (batch.length === 0) break;
        // A resumed job publishes only the items with no recorded result, as contiguous runs.
        let run: Slot[] = [];
        let runFirst = first;
        for (let i = 0; i < batch.length; i++) {
          const index = first + i;
          if (ledger.has(index)) {
            if (run.length) this.publish(runFirst, run);
            run = [];
            runFirst = index + 1;
            continue;
          }
          assertPlain(batch[i], { task: task.name, hook: 'setup', index });
          run.push(await this.slot(encodeChecked(batch[i])));
        }
        if (run.length) this.publish(runFirst, run);
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.pumping = false;
    }
    this.finishIfDone();
  }

  /** Inline bytes, or a store ref when over the inline limit. */
  private async slot(bytes: Uint8Array): Promise<Slot> {
    if (bytes.length <= this.plan.options.inlineLimit) return bytes;
    this.plan.counters.bytesStored += bytes.length;
    return this.store.put(this.jobId, bytes);
  }

  private publish(first: number, slots: Slot[]): void {
    const body = encodeBody({ first, items: slots });
    const id = `${this.jobId}:${this.runTag}:${this.seq++}`;
    const sent: Sent = { first, slots, body, confirmed: false, answered: new Uint8Array(slots.length), left: slots.length };
    this.inFlight.set(id, sent);
    this.sendBody(id, sent);
  }

  private sendBody(id: string, sent: Sent): void {
    const { counters, task, options } = this.plan;
    const link = this.link!;
    counters.messages++;
    counters.bytesPublished += sent.body.length;
    const headers: Record<string, unknown> = {
      [H.protocol]: PROTOCOL,
      [H.job]: this.jobId,
      [H.task]: task.name,
      [H.code]: task.codeHash,
      [H.params]: this.paramsRef,
      [H.first]: sent.first,
      [H.count]: sent.slots.length,
    };
    if (options.itemTimeoutMs) headers[H.timeout] = options.itemTimeoutMs;
    link.publisher
      .send(this.queue, sent.body, { messageId: id, replyTo: this.resultsQ, contentType: 'application/x-msgpack', type: 'fj.work', headers })
      .then(({ confirmed }) => confirmed)
      .then(
        () => (sent.confirmed = true),
        (err) => {
          if (link.open && !this.settled) this.fail(err); // refused by a live broker; a lost one is handled by onClose
        },
      );
  }

  private onResult(msg: ConsumeMessage): void {
    if (this.settled) return;
    if (msg.properties.type === 'fj.cancel') return this.fail(new CancelledError(`job ${this.jobId} cancelled by 'fj cancel'`));
    const { counters, log } = this.plan;
    const headers = msg.properties.headers ?? {};
    const status = headers[H.status];
    const worker = String(headers[H.worker] ?? 'unknown worker');
    let body: ResultBody;
    try {
      body = decodeBody<ResultBody>(msg.content);
      if (!Number.isSafeInteger(body.first) || body.first < 0) throw new Error('no first index');
    } catch (err) {
      log.warn(`ignored an undecodable result message from ${worker}: ${(err as Error).message}`);
      return;
    }
    const id = typeof msg.properties.correlationId === 'string' ? msg.properties.correlationId : '';
    const sent = this.inFlight.get(id);
    counters.messages++;
    counters.bytesPublished += msg.content.length;
    if (status === 'refused') {
      const why = body.error?.message ?? 'refused';
      return this.fail(new FjError(`worker ${worker} refused the job's items: ${why}`, 'FJ_WORKER_REFUSED', 1));
    }
    this.received++;
    this.drained?.();
    // An answer to a message not in flight is a duplicate delivery, or from
    // a run before `fj resume`: its results count (once), its failures do
    // not: the item was published again and that attempt will answer.
    // A worker may answer a message in parts (it splits a redelivered one):
    // each item of a sent message is answered once; the message is done when
    // all are.
    const count = body.results?.length ?? body.count ?? 0;
    if (status !== 'ok' || !body.results) {
      const fresh = sent ? this.answer(id, sent, body.first - sent.first, range(count)) : undefined;
      if (!sent || !fresh) return;
      // The whole message failed (its params could not be fetched, its task not loaded).
      const err = body.error ? fromWire(body.error) : new FjError(`worker ${worker} failed`, 'FJ_INTERNAL', 1);
      if (!isRetryable(err) || err instanceof TransportError) return this.fail(err);
      const off = body.first - sent.first;
      for (let i = 0; i < count; i++) if (fresh[i]) this.itemFailed(body.first + i, sent.slots[off + i], new TaskError({ task: this.plan.task.name, hook: 'process', index: body.first + i }, err));
      return void this.pump();
    }
    counters.bytesStored += body.stored ?? 0;
    if (body.ms !== undefined && body.results.length) this.sizer.observe(body.ms, body.results.length);
    const off = sent ? body.first - sent.first : 0;
    if (sent && (off < 0 || off + count > sent.slots.length)) return; // not this message's items
    // Each failure is answered alone; a merged result (`combine`) answers its
    // group all at once, or not at all when some of its items were answered
    // already (the rest will be answered by the messages they were split into).
    const { groups, failed } = groupsOf(body.results, body.failures);
    const fresh = sent ? this.answer(id, sent, off, failed) : undefined;
    if (sent && fresh) {
      const errors = new Map(body.failures?.map((f) => [f.i, f.error]));
      const orphan: WireError = { code: 'FJ_INTERNAL', message: `worker ${worker} answered without a result` };
      for (let k = 0; k < failed.length; k++) if (fresh[k]) this.itemFailed(body.first + failed[k], sent.slots[off + failed[k]], fromWire(errors.get(failed[k]) ?? orphan));
    }
    const kept = sent ? groups.filter((g) => this.answer(id, sent, off, g)?.every(Boolean)) : groups;
    if (kept.length === 0) return void this.pump();
    const decoded = this.decodeResults(kept.map((g) => body.results![g[0]] as Slot));
    if (decoded instanceof Promise) {
      const p = decoded.then(
        (values) => this.record(body.first, kept, values, sent, off),
        (err) => this.fail(err),
      );
      this.pendingDecode.add(p);
      void p.finally(() => {
        this.pendingDecode.delete(p);
        this.finishIfDone();
      });
    } else this.record(body.first, kept, decoded, sent, off);
    void this.pump();
  }

  /**
   * Marks the items at `offsets` (positions in a sent message, where
   * `offsets` are relative to `off`) answered. Returns which were answered
   * for the first time — or, when only some of them were (a merged group
   * overlapping earlier answers), marks none and returns all false.
   * Undefined when `offsets` is empty.
   */
  private answer(id: string, sent: Sent, off: number, offsets: readonly number[]): boolean[] | undefined {
    if (offsets.length === 0) return undefined;
    const fresh = offsets.map((i) => sent.answered[off + i] === 0);
    if (offsets.length > 1 && fresh.some((f) => f !== fresh[0])) return fresh.map(() => false);
    for (let k = 0; k < offsets.length; k++) {
      if (!fresh[k]) continue;
      sent.answered[off + offsets[k]] = 1;
      sent.left--;
    }
    if (sent.left === 0) this.inFlight.delete(id);
    return fresh;
  }

  /**
   * Records each group's result (a lone item's, or a merged one for all its
   * items). A merged result overlapping items that already have one (from an
   * answer to a message of the run before `fj resume`) cannot be split: it is
   * dropped, and its items still without a result run again, uncharged.
   */
  private record(first: number, groups: number[][], values: unknown[], sent: Sent | undefined, off: number): void {
    const { ledger } = this.plan;
    let n = 0;
    let again = false;
    for (let k = 0; k < groups.length; k++) {
      const indices = groups[k].map((i) => first + i);
      if (ledger.recordGroup(indices, values[k])) {
        n += indices.length;
        continue;
      }
      // Not in flight (a message of an earlier run): its items were published again when the job resumed.
      if (!sent) continue;
      for (const i of groups[k]) {
        if (ledger.has(first + i)) continue;
        this.reruns.push({ first: first + i, slots: [sent.slots[off + i]] });
        again = true;
      }
    }
    if (n) this.plan.progress(n);
    if (again) void this.pump();
  }

  /** Decodes inline results; fetches stored ones (async only when some are refs). */
  private decodeResults(slots: Slot[]): unknown[] | Promise<unknown[]> {
    if (slots.every((s) => typeof s !== 'string')) return slots.map((s) => decode(s as Uint8Array));
    return Promise.all(slots.map(async (s) => decode(typeof s === 'string' ? await this.store.get(s) : s)));
  }

  /** Applies the failure policy to a failed attempt; schedules the retry. */
  private itemFailed(index: number, slot: Slot, err: Error): void {
    try {
      this.retries.failed(index, err, this.plan.items.total, () => {
        this.reruns.push({ first: index, slots: [slot] });
        void this.pump();
      });
    } catch (fatal) {
      this.fail(fatal);
    }
  }

  private finishIfDone(): void {
    if (this.settled || this.pumping || !this.plan.items.done) return;
    if (this.inFlight.size > 0 || this.reruns.length > 0 || this.retries.pending > 0 || this.pendingDecode.size > 0) return;
    const total = this.plan.items.total ?? 0;
    const missing = total - this.plan.ledger.settled;
    // A backstop: nothing is left to wait for, yet items have no result (a bug).
    if (missing > 0) return this.fail(new FjError(`internal: ${missing} of ${total} items have no result and nothing more will answer; the job's data is kept: fj resume ${this.jobId}`, 'FJ_INTERNAL', 1));
    this.settled = true;
    this.resolve();
  }

  private fail(err: unknown): void {
    if (this.settled) return;
    this.settled = true;
    void this.plan.items.close();
    this.reject(err instanceof Error ? err : new TransportError(String(err)));
  }
}

/**
 * Splits a result message's items into the failed ones and the groups that
 * share one result: a lone item, or the items a merged result (`combine`)
 * covers — the item holding it and the covered ones (zero bytes) after it.
 * Positions are within the message.
 */
export function groupsOf(results: readonly (Slot | null)[], failures: ResultBody['failures']): { groups: number[][]; failed: number[] } {
  const failedSet = new Set(failures?.map((f) => f.i));
  const groups: number[][] = [];
  const failed: number[] = [];
  let open: number[] | undefined;
  for (let i = 0; i < results.length; i++) {
    const s = results[i];
    if (failedSet.has(i) || s === null) {
      failed.push(i); // a null without a failure (a broken answer) fails too, so the item is not left unanswered
      continue;
    }
    if (typeof s !== 'string' && s.length === 0) {
      if (open) open.push(i); // covered by the group before it
      else failed.push(i); // covered by nothing (a broken answer): a failed attempt, so the item is not left unanswered
      continue;
    }
    open = [i];
    groups.push(open);
  }
  return { groups, failed };
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

async function closeEarly(early: { store: Promise<PayloadStore>; conn: Promise<ChannelModel> } | undefined): Promise<void> {
  if (!early) return;
  await Promise.all([early.conn.then((c) => c.close()).catch(() => {}), early.store.then((s) => s.close()).catch(() => {})]);
}

/** sha256 of a file's bytes, for the manifest's input check. */
export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}
