/**
 * RabbitMQ topology and channels (amqplib), shared by the coordinator (the
 * amqp executor) and `fj worker`.
 *
 * - Work queue per pool (`fj.default` unless named): durable, messages
 *   persistent; what a worker rejects goes to `<queue>.dead` through the
 *   default exchange (dead-letter queue, durable).
 * - One results queue per job, `fj.results.<jobId>`: durable so a result
 *   survives a broker restart, expiring after a day unused so an abandoned
 *   job leaves nothing behind; the coordinator deletes it when the job ends.
 * - Publishing goes through confirm channels: a message counts as sent only
 *   once the broker has confirmed it.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Channel, ChannelModel, ConfirmChannel, Options, Replies } from 'amqplib';
import { TransportError, UsageError } from '../core/errors.js';
import { SIGNATURE_HEADER, type Signer } from '../core/signing.js';
import { isRunTag } from './message-id.js';
import type { Env, QueueType } from '../core/location.js';
import { inequivalent, JOBS_DELIVERY_LIMIT, queueTypeArgs } from './queue-type.js';
import { connect } from './connect.js';

export { DEFAULT_QUEUE } from '../core/location.js';
export { brokerNode, connect, scrub, withHeartbeat } from './connect.js';
export { JOBS_DELIVERY_LIMIT, queueTypeArgs, WORK_DELIVERY_LIMIT } from './queue-type.js';

/** Version of the message layout below; a worker refuses other versions. */
export const PROTOCOL = 1;

/** Header names carried by every fj message. */
export const H = {
  protocol: 'fj-protocol',
  job: 'fj-job',
  task: 'fj-task',
  code: 'fj-code',
  params: 'fj-params',
  first: 'fj-first',
  count: 'fj-count',
  status: 'fj-status',
  worker: 'fj-worker',
  /** Item timeout of the job, ms (absent: none). */
  timeout: 'fj-timeout',
  /** On a cancel message to a coordinator: who cancelled (`cli`, `dashboard`, `api`; absent from an older fj's). */
  cancelBy: 'fj-cancel-by',
} as const;

/**
 * The fanout exchange every worker listens on for control messages
 * (`{ type: 'cancel', job, runs }`): one broadcast reaches every worker of every pool.
 */
export const CONTROL_EXCHANGE = 'fj.control';

/** Run tags a cancel may name, at most. */
const MAX_RUNS = 100;

/**
 * A control message. A cancel names the coordinator runs it ends (their
 * tags, as in every work message id `<job>:<run>:<seq>`), so workers drop
 * those runs' messages only, and the job id can be used again at once.
 * Without `runs` it ends every run of the job.
 */
export interface ControlMessage {
  type: 'cancel';
  job: string;
  runs?: string[];
}

/** An exchange to declare (see {@link declareExchange}). */
export interface ExchangeSpec {
  name: string;
  type: 'fanout' | 'direct' | 'topic' | 'headers';
  options?: Options.AssertExchange;
}

/**
 * A queue to declare (see {@link declareQueue}). An empty `name` asks the
 * broker to name it (a worker's own control queue); `bindTo` names the
 * exchanges it is bound to, with the empty routing key.
 */
export interface QueueSpec {
  name: string;
  options?: Options.AssertQueue;
  bindTo?: readonly string[];
}

/** Declares an exchange. */
export async function declareExchange(ch: Channel, spec: ExchangeSpec): Promise<void> {
  await ch.assertExchange(spec.name, spec.type, spec.options);
}

/**
 * Declares a queue and its bindings; the broker's reply names it (a
 * server-named queue) and says what it holds. A queue that exists with other
 * settings (another queue type, above all) is a UsageError naming the queue
 * and both values, not a bare channel error: retrying cannot fix it.
 */
export async function declareQueue(ch: Channel, spec: QueueSpec): Promise<Replies.AssertQueue> {
  let q: Replies.AssertQueue;
  try {
    q = await ch.assertQueue(spec.name, spec.options);
  } catch (err) {
    throw inequivalent(err, spec) ?? err;
  }
  for (const exchange of spec.bindTo ?? []) await ch.bindQueue(q.queue, exchange, '');
  return q;
}

/** The control exchange. */
export const CONTROL_EXCHANGE_SPEC: ExchangeSpec = {
  name: CONTROL_EXCHANGE,
  type: 'fanout',
  options: { durable: true },
};

/** A worker's own control queue: named by the broker, gone with its connection, bound to the control exchange. */
export const CONTROL_QUEUE_SPEC: QueueSpec = {
  name: '',
  options: { exclusive: true, autoDelete: true },
  bindTo: [CONTROL_EXCHANGE],
};

/** Declares the control exchange. */
export async function assertControlExchange(ch: Channel): Promise<void> {
  await declareExchange(ch, CONTROL_EXCHANGE_SPEC);
}

/** Tells every worker that runs `runs` of `job` (all of its runs, when none are named) are cancelled: they abort their items in hand and drop their queued ones. */
export function publishCancel(ch: Channel, job: string, runs?: readonly string[], signer?: Signer): void {
  const msg: ControlMessage = runs?.length ? { type: 'cancel', job, runs: [...runs] } : { type: 'cancel', job };
  const body = Buffer.from(JSON.stringify(msg));
  const headers = signer ? { [SIGNATURE_HEADER]: signer.sign('control', body) } : undefined;
  ch.publish(CONTROL_EXCHANGE, '', body, { contentType: 'application/json', type: 'fj.control', headers });
}

/** Parses a control message; undefined when it is not one, or (with a signer) not signed with the key. */
export function parseControl(
  content: Buffer,
  headers?: Record<string, unknown>,
  signer?: Signer,
): ControlMessage | undefined {
  if (signer && !signer.verify(headers?.[SIGNATURE_HEADER], 'control', content)) return undefined;
  try {
    const m = JSON.parse(content.toString('utf8')) as Partial<ControlMessage>;
    if (!m || m.type !== 'cancel' || typeof m.job !== 'string') return undefined;
    if (m.runs === undefined) return { type: 'cancel', job: m.job };
    if (!Array.isArray(m.runs) || m.runs.length === 0 || m.runs.length > MAX_RUNS || !m.runs.every(isRunTag))
      return undefined;
    return { type: 'cancel', job: m.job, runs: m.runs };
  } catch {
    return undefined;
  }
}

/** Delay before reconnect attempt `n` (from 1): 0.5 s doubling to 15 s, with jitter. */
export function reconnectDelay(n: number): number {
  const cap = Math.min(15_000, 500 * 2 ** (n - 1));
  return Math.round(cap / 2 + (Math.random() * cap) / 2);
}

/** How {@link withBackoff} (and {@link reconnect}) keep trying. */
export interface ReconnectOptions {
  /** Give up after this long (then the last error). Default: never. */
  giveUpMs?: number;
  /** Stop trying (rejects with the signal's reason). */
  signal?: AbortSignal;
  /** Called after each failed attempt, with the wait before the next. */
  onAttempt?: (n: number, err: Error, waitMs: number) => void;
  /** Whether a failed attempt is worth another; one that is not rejects at once with its own error. Default: every one is. */
  retryable?: (err: unknown) => boolean;
}

/**
 * Runs `attempt` until it succeeds, waiting {@link reconnectDelay} between
 * tries: the one retry loop of the coordinator and of `fj worker`, for after
 * the broker went away (a restart takes seconds to a minute). Giving up
 * rejects with the last error as a resumable TransportError.
 */
export async function withBackoff<T>(attempt: () => Promise<T>, options: ReconnectOptions = {}): Promise<T> {
  const deadline = Date.now() + (options.giveUpMs ?? Infinity);
  for (let n = 1; ; n++) {
    options.signal?.throwIfAborted();
    try {
      return await attempt();
    } catch (err) {
      if (options.retryable && !options.retryable(err)) throw err;
      // A usage error (a queue declared with another type) is not cured by waiting.
      if (err instanceof UsageError) throw err;
      // The connection was lost after the job started: what it left on the broker waits for `fj resume`.
      if (Date.now() >= deadline) throw new TransportError((err as Error).message, { resumable: true });
      const wait = Math.min(reconnectDelay(n), Math.max(0, deadline - Date.now()));
      options.onAttempt?.(n, err as Error, wait);
      await sleep(wait, undefined, { signal: options.signal });
    }
  }
}

/** Connects, retrying with backoff (see {@link withBackoff}). */
export function reconnect(url: string, name: string, options: ReconnectOptions = {}): Promise<ChannelModel> {
  return withBackoff(() => connect(url, name), options);
}

/**
 * Status of a result message: `ok` and `failed` answer the items; `refused`
 * says no worker will run them (other code, dead-lettered), which ends the
 * job; `declined` says this worker does not serve the task and has put the
 * message back for another worker.
 */
export type ResultStatus = 'ok' | 'failed' | 'refused' | 'declined';

/** The dead-letter queue of a work queue. */
export function deadLetterQueue(queue: string): string {
  return `${queue}.dead`;
}

/** A pool's jobs queue: detached jobs (`fj submit`) waiting for a worker to coordinate them. */
export function jobsQueue(queue: string): string {
  return `${queue}.jobs`;
}

/**
 * A pool's jobs queue, durable: queued jobs survive a broker restart. As a
 * quorum queue it dead-letters to the pool's dead-letter queue only past
 * {@link JOBS_DELIVERY_LIMIT}, which no job reaches.
 */
export function jobsQueueSpec(queue: string, type: QueueType = 'classic'): QueueSpec {
  const dlx =
    type === 'quorum' ? { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': deadLetterQueue(queue) } : {};
  return {
    name: jobsQueue(queue),
    options: {
      durable: true,
      arguments: { ...dlx, ...queueTypeArgs(type, deadLetterQueue(queue), JOBS_DELIVERY_LIMIT) },
    },
  };
}

/** Declares a pool's jobs queue. */
export async function assertJobsQueue(ch: Channel, queue: string, type: QueueType = 'classic'): Promise<void> {
  await declareQueue(ch, jobsQueueSpec(queue, type));
}

/** The results queue of a job. */
export function resultsQueue(jobId: string): string {
  return `fj.results.${jobId}`;
}

/**
 * How long closing a connection may wait for the broker's answer before its
 * socket is dropped: a broker that stopped answering (a frozen host, a dark
 * network path) never sends Close-Ok, and amqplib would wait for it until
 * the heartbeat gives up (twice the heartbeat, a minute by default).
 */
export const CLOSE_WITHIN_MS = 2000;

/**
 * Closes `conn` politely if the broker answers within `withinMs`, else drops
 * its socket (the broker then sees a lost connection: what it held unacked
 * goes back to the queue, as after a close). Never rejects, never waits
 * longer than `withinMs`.
 */
export async function closeConnection(conn: ChannelModel, withinMs = CLOSE_WITHIN_MS): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const polite = conn.close().then(
    () => true,
    () => true,
  );
  const late = new Promise<false>((r) => (timer = setTimeout(() => r(false), withinMs)));
  const closed = await Promise.race([polite, late]);
  clearTimeout(timer);
  if (!closed) dropSocket(conn);
}

/**
 * Destroys `conn`'s socket (amqplib's `connection.stream`, when this amqplib
 * version has it) with an error: amqplib hears it as a lost socket and stops
 * the connection's heartbeat timers, which would otherwise keep the process
 * alive.
 */
function dropSocket(conn: ChannelModel): void {
  type Stream = { destroy?: (err?: Error) => void };
  const stream = (conn as unknown as { connection?: { stream?: Stream } }).connection?.stream;
  if (typeof stream?.destroy === 'function') stream.destroy(new Error('the broker did not answer a close'));
}

/**
 * `op` (a broker round trip) if the broker answers within `withinMs`; else
 * `undefined`. For steps of a shutdown, which must not wait on a broker that
 * stopped answering.
 */
export async function within<T>(op: Promise<T>, withinMs = CLOSE_WITHIN_MS): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), withinMs)));
  try {
    return await Promise.race([op.catch(() => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The queue of a pool's work for one version of one task: `<pool>.code.<task>.<code hash>`
 * (hashed down when that would pass RabbitMQ's 255 bytes). A job publishes
 * its items here and only workers that run that code consume it, so a
 * rolling deploy (workers on two versions) never hands an item to the wrong
 * code: nothing is refused, dead-lettered or put back.
 */
export function codeQueue(pool: string, task: string, codeHash: string): string {
  const name = `${pool}.code.${task}.${codeHash}`;
  if (Buffer.byteLength(name) <= 255) return name;
  const hashed = `${pool}.code.${createHash('sha256').update(`${task}\0${codeHash}`).digest('hex').slice(0, 32)}`;
  if (Buffer.byteLength(hashed) <= 255) return hashed;
  // A pool name near its 250 bytes: the whole name hashed.
  return `fj.code.${createHash('sha256').update(`${pool}\0${task}\0${codeHash}`).digest('hex').slice(0, 48)}`;
}

/** How long a code queue no one consumes or declares stays on the broker (RabbitMQ's `x-expires`): a week. */
export const CODE_QUEUE_EXPIRES_MS = 7 * 24 * 3600_000;

/**
 * A code queue's spec: durable, dead-lettering to the pool's dead-letter
 * queue as the pool's work queue does, and removed by the broker once no
 * worker and no job has used it for {@link CODE_QUEUE_EXPIRES_MS} (a version
 * nobody runs any more).
 */
export function codeQueueSpec(pool: string, task: string, codeHash: string, type: QueueType = 'classic'): QueueSpec {
  return {
    name: codeQueue(pool, task, codeHash),
    options: {
      durable: true,
      arguments: {
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': deadLetterQueue(pool),
        'x-expires': CODE_QUEUE_EXPIRES_MS,
        ...queueTypeArgs(type, deadLetterQueue(pool)),
      },
    },
  };
}

/** A pool's dead-letter queue (see {@link QueueType}). */
export function deadLetterQueueSpec(queue: string, type: QueueType = 'classic'): QueueSpec {
  return { name: deadLetterQueue(queue), options: { durable: true, arguments: queueTypeArgs(type) } };
}

/** A pool's dead-letter queue and its work queue, in the order they are declared. */
export function workQueueSpecs(queue: string, type: QueueType = 'classic'): QueueSpec[] {
  return [
    deadLetterQueueSpec(queue, type),
    {
      name: queue,
      options: {
        durable: true,
        arguments: {
          'x-dead-letter-exchange': '',
          'x-dead-letter-routing-key': deadLetterQueue(queue),
          ...queueTypeArgs(type, deadLetterQueue(queue)),
        },
      },
    },
  ];
}

/**
 * A job's results queue as the broker sees it: results waiting, and
 * consumers (its coordinator, when attached). Undefined when the queue does
 * not exist. On a channel of its own: a failed check closes its channel.
 */
export async function resultsQueueState(
  conn: ChannelModel,
  jobId: string,
): Promise<{ messages: number; coordinators: number } | undefined> {
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  try {
    const q = await ch.checkQueue(resultsQueue(jobId));
    return { messages: q.messageCount, coordinators: q.consumerCount };
  } catch {
    return undefined;
  } finally {
    await ch.close().catch(() => {});
  }
}

/** How long a coordinator keeps reconnecting: `FJ_RECONNECT_GIVE_UP_MS`, else 5 minutes; a bad value is a usage error naming it. */
export function reconnectGiveUpMs(env: Env = process.env): number {
  return envMs(env, 'FJ_RECONNECT_GIVE_UP_MS', 5 * 60_000);
}

/**
 * How long a link's publisher may wait with confirms outstanding and none
 * arriving before the link takes its connection for dead and reconnects
 * (re-sending what was unconfirmed): `FJ_CONFIRM_STALL_MS`, else 60 s; 0
 * never. A bad value is a usage error naming it.
 */
export function confirmStallMs(env: Env = process.env): number {
  return envMs(env, 'FJ_CONFIRM_STALL_MS', 60_000);
}

/** A whole number of milliseconds from 0 up in `env[name]`, else `fallback`; anything else is a usage error naming it. */
function envMs(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const ms = Number(raw);
  if (!Number.isSafeInteger(ms) || ms < 0)
    throw new UsageError(`${name} must be a whole number of milliseconds from 0 up, got ${JSON.stringify(raw)}`);
  return ms;
}

/**
 * A job's results queue: durable, expiring after a day unused; of the
 * pool's queue type, so that on a quorum pool a job's results survive the
 * loss of the node its queue leader was on (see docs/scaling.md: a Raft
 * group per job, measured).
 */
export function resultsQueueSpec(jobId: string, type: QueueType = 'classic'): QueueSpec {
  return {
    name: resultsQueue(jobId),
    options: { durable: true, arguments: { 'x-expires': 24 * 3600 * 1000, ...queueTypeArgs(type) } },
  };
}

/** Declares a job's results queue. */
export async function assertResultsQueue(ch: Channel, jobId: string, type: QueueType = 'classic'): Promise<string> {
  return (await declareQueue(ch, resultsQueueSpec(jobId, type))).queue;
}

/** What a {@link Publisher} does when confirms stop coming. */
export interface ConfirmWatch {
  /** Confirms outstanding and none arriving for this long (ms) is a stall; 0: never. */
  stallMs: number;
  /**
   * Called at a stall: `pending` confirms outstanding, none for `waitedMs`.
   * Once, unless it returns false (not a stall it acts on: the broker said
   * it blocked publishing), then the wait counts again from now.
   */
  onStall(pending: number, waitedMs: number): boolean | void;
}

/**
 * A confirm channel with a bound on unconfirmed publishes: `publish`
 * resolves once the message is in the broker's buffer and fewer than `limit`
 * messages await their confirm, so a fast producer never buffers a whole job.
 * With a `watch`, confirms that stop arriving while some are outstanding
 * (a broker that went quiet without closing the connection) are reported
 * once, so the owner can give the connection up.
 */
export class Publisher {
  private unconfirmed = 0;
  private waiters: (() => void)[] = [];
  private failure: Error | undefined;
  /** When the last confirm came, or the first of the outstanding messages went out. */
  private progressAt = Date.now();
  private stalled = false;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(
    readonly channel: ConfirmChannel,
    private readonly limit = 256,
    watch?: ConfirmWatch,
  ) {
    channel.on('drain', () => this.wake());
    channel.on('close', () => {
      this.failure ??= new TransportError('RabbitMQ channel closed');
      clearInterval(this.timer);
      this.wake();
    });
    if (watch && watch.stallMs > 0) {
      this.timer = setInterval(
        () => {
          const waited = Date.now() - this.progressAt;
          if (this.unconfirmed === 0 || this.stalled || waited < watch.stallMs) return;
          if (watch.onStall(this.unconfirmed, waited) === false) return void (this.progressAt = Date.now());
          this.stalled = true;
          clearInterval(this.timer);
        },
        Math.max(10, Math.min(5000, watch.stallMs / 4)),
      );
      this.timer.unref();
    }
  }

  /** Messages sent and not yet confirmed. */
  get pending(): number {
    return this.unconfirmed;
  }

  /** False once its channel has closed (what it had not confirmed is the reconnect's to send again). */
  get open(): boolean {
    return this.failure === undefined;
  }

  /**
   * Publishes to `queue` (default exchange). Resolves when the broker has
   * accepted it into the window; `confirmed` settles when it is confirmed.
   */
  async send(queue: string, body: Buffer, options: Options.Publish): Promise<{ confirmed: Promise<void> }> {
    while (this.unconfirmed >= this.limit && !this.failure) await new Promise<void>((r) => this.waiters.push(r));
    if (this.failure) throw this.failure;
    if (this.unconfirmed++ === 0) this.progressAt = Date.now();
    let settle!: (err?: Error) => void;
    const confirmed = new Promise<void>((resolve, reject) => {
      settle = (err) => (err ? reject(err) : resolve());
    });
    confirmed.catch(() => {}); // callers that only care about order may ignore it
    const ok = this.channel.sendToQueue(queue, body, { persistent: true, ...options }, (err) => {
      this.unconfirmed--;
      this.progressAt = Date.now();
      this.wake();
      settle(err ? new TransportError(`RabbitMQ refused a message for ${queue}`, { cause: err }) : undefined);
    });
    if (!ok) await new Promise<void>((r) => this.waiters.push(r));
    return { confirmed };
  }

  /** Waits for every outstanding confirm. */
  async flush(): Promise<void> {
    await this.channel.waitForConfirms();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
