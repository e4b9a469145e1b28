/**
 * `fj worker`: consumes a pool's work queue and runs `process` for every task
 * it knows. Small and separate from the CLI and from the coordinator.
 *
 * - Acks a work message only after its result is confirmed by the broker.
 * - Refuses (dead-letters, and tells the job) a message for a task it does
 *   not know or whose code differs from its own: never runs stale code.
 * - Dead-letters what it cannot decode or what exceeds the size limit, and
 *   keeps running.
 * - Fetches each job's params once per process and caches them by content
 *   hash (bounded), so shared data crosses the network once per worker.
 * - `stop()` is a warm shutdown: no new work, finish and ack what is in hand.
 */
import { availableParallelism, hostname } from 'node:os';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import pLimit from 'p-limit';
import { decode, detach, encodeChecked } from '../codec.js';
import { CancelledError, NotFoundError, TaskError, TransportError, UnrecoverableError, UsageError, WorkerRefusedError } from '../errors.js';
import { createLogger, type LogLevel } from '../log.js';
import { openStore } from '../store/open.js';
import type { PayloadStore } from '../store/store.js';
import { builtinTaskNames, loadAllTasks, type TaskInfo } from '../task/registry.js';
import type { Logger } from '../task/types.js';
import {
  assertControlExchange,
  assertWorkQueue,
  connect,
  CONTROL_EXCHANGE,
  deadLetterQueue,
  DEFAULT_QUEUE,
  H,
  parseControl,
  PROTOCOL,
  Publisher,
  reconnectDelay,
  reconnectOnChannelError,
  resultsQueue,
  withHeartbeat,
  type ResultStatus,
} from '../transport/amqp.js';
import { checkMsgpack, DEFAULT_MAX_DEPTH, inspectWork, show } from '../transport/inspect.js';
import { DEFAULT_BROKER } from '../options.js';
import { encodeBody, type ResultBody, type Slot, type WorkBody } from '../transport/messages.js';
import { BatchLost, ThreadPool, type PoolJob } from './pool.js';
import { toWire, type WireError } from './wire-error.js';

/** Options of {@link startWorker} (and `fj worker`). */
export interface WorkerOptions {
  /** Broker URL. Default `FJ_BROKER_URL`, else `amqp://guest:guest@127.0.0.1:5672`. */
  broker?: string;
  /** Payload store URL. Default `FJ_STORE_URL`, else the default file store. */
  store?: string;
  /** The pool's work queue. Default `FJ_QUEUE`, else `fj.default`. */
  queue?: string;
  /** Worker threads running `process`; two messages per thread are in flight (the prefetch). Default: available cores. */
  concurrency?: number;
  /** Task modules this worker serves besides the built-in tasks. */
  tasks?: string[];
  /** Services module: its default export builds `ctx.services` once per worker thread. */
  services?: string;
  /** Log level. Default `'info'`. */
  logLevel?: LogLevel;
  /** Messages larger than this are dead-lettered unread. Default 8 MiB. */
  maxMessageBytes?: number;
  /** Results larger than this go to the store by ref. Default 65536. */
  inlineLimit?: number;
  /** The worker's identity in logs and replies. Default `<host>.<queue>.<pid>`. */
  name?: string;
}

/** A running worker. */
export interface WorkerHandle {
  /** `<host>.<pool>.<n>`. */
  readonly name: string;
  /** Settles when the worker has stopped (after `stop()` or a lost connection). */
  readonly stopped: Promise<void>;
  /** Warm shutdown: stop consuming, finish and ack what is in hand, disconnect. */
  stop(): Promise<void>;
}

/** Bounded map with least-recently-used eviction. */
class Lru<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  delete(key: string): void {
    this.map.delete(key);
  }
  set(key: string, value: V): void {
    this.map.set(key, value);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
  }
}

/**
 * A readers-writer gate: any number of `shared` holders at once, or one
 * `exclusive` holder alone (it waits for the shared ones to leave, and new
 * ones wait for it). Each call resolves to its release function.
 */
class Gate {
  private shared_ = 0;
  private exclusive_: Promise<void> | undefined;
  private drained: (() => void) | undefined;

  async shared(): Promise<() => void> {
    while (this.exclusive_) await this.exclusive_;
    this.shared_++;
    return () => {
      if (--this.shared_ === 0) this.drained?.();
    };
  }

  async exclusive(): Promise<() => void> {
    while (this.exclusive_) await this.exclusive_;
    let release!: () => void;
    this.exclusive_ = new Promise((r) => (release = r));
    while (this.shared_ > 0) await new Promise<void>((r) => (this.drained = r));
    this.drained = undefined;
    return () => {
      this.exclusive_ = undefined;
      release();
    };
  }
}

/** Connects, declares the pool's queues and starts consuming. */
export async function startWorker(options: WorkerOptions = {}): Promise<WorkerHandle> {
  const queue = options.queue ?? process.env.FJ_QUEUE ?? DEFAULT_QUEUE;
  const name = options.name ?? `${hostname()}.${queue}.${process.pid}`;
  const log = createLogger(name, options.logLevel ?? 'info');
  const concurrency = options.concurrency ?? availableParallelism();
  const tasks = new Map<string, TaskInfo>();
  for (const spec of [...builtinTaskNames(), ...(options.tasks ?? [])]) {
    for (const info of await loadAllTasks(spec)) tasks.set(info.name, info);
  }
  const url = withHeartbeat(options.broker ?? process.env.FJ_BROKER_URL ?? DEFAULT_BROKER);
  const conn = await connect(url, `worker ${name}`); // the first connection fails fast: a wrong URL is a usage problem
  let pool: ThreadPool | undefined;
  let store: PayloadStore | undefined;
  try {
    pool = await ThreadPool.start({ size: concurrency, services: options.services, logLevel: options.logLevel ?? 'info', idPrefix: name });
    store = await openStore(options.store ?? process.env.FJ_STORE_URL);
    const worker = new Worker({ name, log, tasks, pool, store, url, concurrency, queue, maxMessageBytes: options.maxMessageBytes ?? 8 * 1024 * 1024, inlineLimit: options.inlineLimit ?? 65536 });
    await worker.start(conn);
    log.info(`serving ${[...tasks.keys()].join(', ')} from ${queue} (concurrency ${concurrency}, store ${store.url})`);
    return worker;
  } catch (err) {
    await conn.close().catch(() => {});
    await pool?.terminate();
    await store?.close();
    throw err;
  }
}

interface Parts {
  name: string;
  log: Logger;
  tasks: Map<string, TaskInfo>;
  pool: ThreadPool;
  store: PayloadStore;
  url: string;
  concurrency: number;
  queue: string;
  maxMessageBytes: number;
  inlineLimit: number;
}

/** One connection's channels. A message is acked on the link it came from, or not at all. */
interface Link {
  conn: ChannelModel;
  ch: Channel;
  publisher: Publisher;
  consumerTag: string;
  open: boolean;
}

/** Header of a single-item message split from a redelivered one: its starts are counted. */
const ISOLATED = 'fj-isolated';
/** Starts of an isolated item whose worker process died, after which it fails for good. */
export const MAX_CRASHES = 2;

/** How long a worker remembers a cancelled job (its queued messages are dropped meanwhile). */
const CANCEL_MEMORY_MS = 6 * 3600 * 1000;

class Worker implements WorkerHandle {
  readonly name: string;
  readonly stopped: Promise<void>;
  private markStopped!: () => void;
  private link: Link | undefined;
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly inHand = new Set<Promise<void>>();
  private readonly params = new Lru<Promise<Uint8Array>>(16);
  /** Jobs cancelled (by `fj cancel`, Ctrl-C or a fail-fast failure), with when we heard. */
  private readonly cancelled = new Map<string, number>();
  /** Abort controllers of the messages in hand, by job. */
  private readonly running = new Map<string, Set<AbortController>>();
  private stopping: Promise<void> | undefined;
  /** Suspect messages (their last worker died) run alone in this process. */
  private readonly gate = new Gate();

  constructor(private readonly p: Parts) {
    this.name = p.name;
    // Two messages per thread: one running, one queued, as in the local executor.
    this.limit = pLimit(p.concurrency * 2);
    this.stopped = new Promise((r) => (this.markStopped = r));
    p.pool.on('threadLost', (why) => p.log.warn(`lost a worker thread: ${why}; a new one takes its place`));
  }

  /** Declares the topology on `conn` and starts consuming; on a lost connection, reconnects. */
  async start(conn: ChannelModel): Promise<void> {
    const { queue, concurrency } = this.p;
    const ch = await conn.createChannel();
    reconnectOnChannelError(conn, ch, (reason, consumerTimeout) =>
      this.p.log.error(
        consumerTimeout
          ? `RabbitMQ closed the work channel: a message stayed unacknowledged past its consumer_timeout (an item ran longer than that): ${reason}. ` +
              'Its items go back to the queue and will run again. Raise consumer_timeout in rabbitmq.conf above your longest item, or stop such items with --item-timeout.'
          : `RabbitMQ closed the work channel: ${reason}`,
      ),
    );
    await assertWorkQueue(ch, queue);
    await assertControlExchange(ch);
    const control = await ch.assertQueue('', { exclusive: true, autoDelete: true });
    await ch.bindQueue(control.queue, CONTROL_EXCHANGE, '');
    await ch.consume(control.queue, (m) => m && this.onControl(m.content), { noAck: true });
    await ch.prefetch(concurrency * 2);
    const publisher = new Publisher(await conn.createConfirmChannel());
    publisher.channel.on('error', () => {});
    const link: Link = { conn, ch, publisher, consumerTag: '', open: true };
    this.link = link;
    conn.on('close', () => this.onClose(link));
    const { consumerTag } = await ch.consume(queue, (msg) => msg && this.track(this.limit(() => this.handle(msg, link))), { noAck: false });
    link.consumerTag = consumerTag;
  }

  /** The broker went away: what is in hand will be redelivered; reconnect with backoff until stopped. */
  private onClose(link: Link): void {
    link.open = false;
    if (this.stopping || this.link !== link) return;
    this.link = undefined;
    this.p.log.error('lost the connection to RabbitMQ; unacked messages go back to the queue; reconnecting');
    for (const set of this.running.values()) for (const c of set) c.abort(new TransportError('connection lost'));
    void (async () => {
      for (let n = 1; !this.stopping; n++) {
        try {
          const conn = await connect(this.p.url, `worker ${this.name}`);
          if (this.stopping) return void (await conn.close().catch(() => {}));
          await this.start(conn);
          this.p.log.info('reconnected to RabbitMQ');
          return;
        } catch (err) {
          const wait = reconnectDelay(n);
          if (n === 1 || n % 10 === 0) this.p.log.warn(`reconnect attempt ${n} failed (${(err as Error).message}); next in ${wait} ms`);
          await new Promise((r) => setTimeout(r, wait));
        }
      }
    })();
  }

  private onControl(content: Buffer): void {
    const msg = parseControl(content);
    if (!msg) return;
    const now = Date.now();
    for (const [job, at] of this.cancelled) if (now - at > CANCEL_MEMORY_MS) this.cancelled.delete(job);
    this.cancelled.set(msg.job, now);
    const inHand = this.running.get(msg.job);
    this.p.log.info(`job ${msg.job} cancelled${inHand?.size ? `: aborting ${inHand.size} message(s) in hand` : ''}`);
    for (const c of inHand ?? []) c.abort(new CancelledError(`job ${msg.job} cancelled`));
  }

  private track(p: Promise<void>): void {
    this.inHand.add(p);
    void p.finally(() => this.inHand.delete(p));
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const { log, pool, store } = this.p;
      const link = this.link;
      log.info(`stopping: finishing ${this.inHand.size} message(s) in hand`);
      if (link) await link.ch.cancel(link.consumerTag).catch(() => {});
      while (this.inHand.size) await Promise.allSettled([...this.inHand]);
      if (link) {
        await link.publisher.flush().catch(() => {});
        await link.conn.close().catch(() => {});
      }
      await pool.close();
      await store.close();
      log.info('stopped');
      this.markStopped();
    })();
    return this.stopping;
  }

  /** Rejects a message to the dead-letter queue, saying why. */
  private deadLetter(link: Link, msg: ConsumeMessage, why: string): void {
    this.p.log.warn(`dead-lettered message ${show(msg.properties.messageId ?? '(no id)')} to ${deadLetterQueue(this.p.queue)}: ${why}`);
    if (link.open) link.ch.nack(msg, false, false);
  }

  /** Publishes a result to the job's own results queue (never to a queue the message names) and waits for the confirm. */
  private async reply(link: Link, job: string, msg: ConsumeMessage, status: ResultStatus, body: ResultBody): Promise<void> {
    const { confirmed } = await link.publisher.send(resultsQueue(job), encodeBody(body), {
      correlationId: typeof msg.properties.messageId === 'string' ? msg.properties.messageId : undefined,
      contentType: 'application/x-msgpack',
      type: 'fj.result',
      headers: { [H.protocol]: PROTOCOL, [H.job]: job, [H.status]: status, [H.worker]: this.name },
    });
    await confirmed;
  }

  private async handle(msg: ConsumeMessage, link: Link): Promise<void> {
    if (!link.open) return; // its delivery died with the connection: the broker redelivers it
    const { log, tasks, store } = this.p;
    const checked = inspectWork(msg.content, msg.properties.headers, { maxMessageBytes: this.p.maxMessageBytes, maxDepth: DEFAULT_MAX_DEPTH });
    if (!checked.ok) return this.deadLetter(link, msg, checked.reason);
    const { job, body, paramsRef } = checked;
    if (this.cancelled.has(job)) return link.ch.ack(msg); // dropped: its job is cancelled
    // The job must exist (its params in the store) before anything is said
    // about it: a hostile message for a made-up job gets no reply anywhere.
    let paramsBytes: Uint8Array;
    try {
      paramsBytes = await this.paramsOf(paramsRef);
    } catch (err) {
      if (err instanceof NotFoundError) return this.deadLetter(link, msg, `unknown job ${job}: its params are not in ${store.url} (finished, cancelled or never started, or this worker uses another --store)`);
      log.warn(`job ${job}: cannot fetch its params (${(err as Error).message}); the message goes back to the queue`);
      await new Promise((r) => setTimeout(r, 1000)); // the store is failing: do not spin on redeliveries
      if (link.open) link.ch.nack(msg, false, true);
      return;
    }
    const task = tasks.get(checked.task);
    const refuse = async (why: string) => {
      log.error(`refused job ${job} items from ${body.first}: ${why}`);
      await this.reply(link, job, msg, 'refused', { first: body.first, count: body.items.length, error: toWire(new WorkerRefusedError(why)) }).catch(() => {});
      if (link.open) link.ch.nack(msg, false, false);
    };
    if (!task) return refuse(`unknown task '${show(checked.task)}' (this worker serves ${[...tasks.keys()].join(', ')}; start it with --tasks MODULE)`);
    if (checked.code !== task.codeHash) {
      return refuse(`task ${task.name}: this worker runs different code (${task.codeHash}) than the job (${checked.code}); restart the worker with the current code`);
    }
    const suspect = msg.fields.redelivered || msg.properties.headers?.[ISOLATED] === 1;
    // Its last holder may have died running it (kill -9, a native crash):
    // run its items one per message, each alone in this process, and count
    // its starts, so a death is charged to the item that caused it only.
    if (suspect && body.items.length > 1) return this.split(link, msg, body);
    const release = await (suspect ? this.gate.exclusive() : this.gate.shared());
    try {
      if (suspect) {
        const verdict = await this.countStart(job, body.first);
        if (verdict) {
          log.error(`job ${job}: item ${body.first} ${verdict}; failing it`);
          const error = toWire(new TaskError({ task: task.name, hook: 'process', index: body.first }, new UnrecoverableError(verdict)));
          await this.reply(link, job, msg, 'ok', { first: body.first, results: [null], failures: [{ i: 0, error }] }).catch(() => {});
          if (link.open) link.ch.ack(msg);
          return;
        }
      }
      await this.runMessage(link, msg, task, job, body, paramsRef, paramsBytes);
    } finally {
      release();
    }
  }

  private async runMessage(link: Link, msg: ConsumeMessage, task: TaskInfo, job: string, body: WorkBody, paramsRef: string, paramsBytes: Uint8Array): Promise<void> {
    const { log } = this.p;
    const hash = paramsRef.slice(paramsRef.lastIndexOf('/') + 1);
    const poolJob: PoolJob = { key: `${task.name}:${task.codeHash}:${hash}`, moduleUrl: task.moduleUrl!, className: task.cls.name, paramsBytes };
    const timeout = msg.properties.headers?.[H.timeout];
    const timeoutMs = typeof timeout === 'number' && Number.isSafeInteger(timeout) && timeout > 0 ? timeout : 0;
    const controller = new AbortController();
    let set = this.running.get(job);
    if (!set) this.running.set(job, (set = new Set()));
    set.add(controller);
    let out: ResultBody;
    let status: ResultStatus = 'ok';
    try {
      out = await this.runItems(task, poolJob, job, body, timeoutMs, controller.signal);
    } catch (err) {
      status = 'failed';
      const error: WireError = toWire(err);
      if (!controller.signal.aborted) log.warn(`job ${job}: ${error.message}`);
      out = { first: body.first, count: body.items.length, error };
    } finally {
      set.delete(controller);
      if (set.size === 0) this.running.delete(job);
    }
    if (!link.open) return; // the broker redelivers it; the result would be a duplicate
    if (this.cancelled.has(job)) return link.ch.ack(msg);
    try {
      await this.reply(link, job, msg, status, out);
      if (link.open) link.ch.ack(msg);
    } catch (err) {
      log.error(`could not publish the result of ${show(msg.properties.messageId)}: ${(err as Error).message}; it will be redelivered`);
    }
  }

  /**
   * Re-publishes each item of a redelivered message as a message of its own
   * (same id: the coordinator counts answers per item), then acks it. A
   * message that killed its worker then costs one item, not the batch, and
   * the innocent items are not charged an attempt.
   */
  private async split(link: Link, msg: ConsumeMessage, body: WorkBody): Promise<void> {
    const headers = msg.properties.headers ?? {};
    const sends = body.items.map(async (item, i) => {
      const { confirmed } = await link.publisher.send(this.p.queue, encodeBody({ first: body.first + i, items: [item] }), {
        messageId: msg.properties.messageId as string | undefined,
        contentType: 'application/x-msgpack',
        type: 'fj.work',
        headers: { ...headers, [H.first]: body.first + i, [H.count]: 1, [ISOLATED]: 1 },
      });
      await confirmed;
    });
    try {
      await Promise.all(sends);
      if (link.open) link.ch.ack(msg);
      this.p.log.info(`split redelivered message ${show(msg.properties.messageId)} into ${body.items.length} single-item messages`);
    } catch (err) {
      this.p.log.warn(`could not split ${show(msg.properties.messageId)}: ${(err as Error).message}; it goes back to the queue`);
      if (link.open) link.ch.nack(msg, false, true);
    }
  }

  /**
   * Counts a start of an item that may have crashed a worker before (a record
   * in the store, per job and item); returns why to fail it instead once it
   * has been started {@link MAX_CRASHES} times without an answer.
   */
  private async countStart(job: string, index: number): Promise<string | undefined> {
    const name = `crash-${index}`;
    const { store } = this.p;
    const before = Number(Buffer.from((await store.getMeta(job, name).catch(() => undefined)) ?? '0').toString()) || 0;
    if (before >= MAX_CRASHES) {
      return `was started ${before} times and never answered: its worker process died each time (or RabbitMQ took its message back, as it does when an item runs past consumer_timeout)`;
    }
    await store.setMeta(job, name, Buffer.from(String(before + 1))).catch(() => {});
    return undefined;
  }

  /**
   * Runs a message's items in the thread pool, still encoded. An item that
   * fails is reported in `failures`; when a thread dies or times out, the item
   * it was running is reported failed and the others run again.
   */
  private async runItems(task: TaskInfo, poolJob: PoolJob, job: string, body: WorkBody, timeoutMs: number, signal: AbortSignal): Promise<ResultBody> {
    const { pool, store, inlineLimit } = this.p;
    const items = await Promise.all(
      body.items.map(async (s, i) => {
        if (typeof s !== 'string') return s;
        const bytes = await store.get(s);
        const bad = checkMsgpack(bytes, DEFAULT_MAX_DEPTH);
        if (bad) throw new UsageError(`item ${body.first + i} (stored as ${s}): ${bad}`);
        return bytes;
      }),
    );
    const results = new Array<Slot | null>(items.length).fill(null);
    const failures: NonNullable<ResultBody['failures']> = [];
    let ms = 0;
    let stored = 0;
    const parts = [{ at: 0, items }];
    while (parts.length) {
      signal.throwIfAborted();
      const part = parts.shift()!;
      const first = body.first + part.at;
      let done;
      try {
        done = await pool.run(poolJob, first, detach(encodeChecked(part.items)), { perItem: true, timeoutMs, signal });
      } catch (err) {
        if (!(err instanceof BatchLost)) throw err;
        const c = err.culprit === undefined ? -1 : err.culprit - first;
        if (c < 0) {
          parts.push(part);
          await new Promise((r) => setTimeout(r, 50)); // the thread is being replaced
          continue;
        }
        if (c > 0) parts.push({ at: part.at, items: part.items.slice(0, c) });
        failures.push({ i: part.at + c, error: toWire(new TaskError({ task: task.name, hook: 'process', index: err.culprit }, new Error(err.reason))) });
        if (c + 1 < part.items.length) parts.push({ at: part.at + c + 1, items: part.items.slice(c + 1) });
        continue;
      }
      ms += done.ms;
      const out = decode<(Uint8Array | null)[]>(done.bytes);
      const failed = new Map(done.failures?.map((f) => [f.i, f.error]));
      for (let i = 0; i < out.length; i++) {
        const error = failed.get(i);
        if (error) {
          failures.push({ i: part.at + i, error });
          continue;
        }
        const bytes = out[i]!;
        if (bytes.length > inlineLimit) {
          results[part.at + i] = await store.put(job, bytes);
          stored += bytes.length;
        } else results[part.at + i] = bytes;
      }
    }
    return { first: body.first, results, failures: failures.length ? failures : undefined, ms, stored }; // ms: time in process, for batch sizing
  }

  /**
   * A job's params, fetched once per process and cached by ref (job and
   * content hash: a message naming another job's params hash under its own
   * job id must still find them in the store under its own job).
   */
  private async paramsOf(ref: string): Promise<Uint8Array> {
    let params = this.params.get(ref);
    if (!params) {
      params = this.p.store.get(ref).then((bytes) => {
        this.p.log.info(`fetched params ${ref.slice(0, 60)} (${bytes.length} bytes)`);
        return bytes;
      });
      params.catch(() => this.params.delete(ref)); // a failed fetch is retried next time
      this.params.set(ref, params);
    }
    return params;
  }
}
