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
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import amqp, { type Channel, type ChannelModel, type ConfirmChannel, type Options } from 'amqplib';
import { TransportError, UsageError } from '../errors.js';
import { SIGNATURE_HEADER, type Signer } from '../signing.js';
import { redactUrl } from '../store/url.js';
import { coalesceWrites } from './coalesce.js';
import { isRunTag } from './message-id.js';

/** The pool used when no queue is named. */
export const DEFAULT_QUEUE = 'fj.default';
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

/** Declares the control exchange. */
export async function assertControlExchange(ch: Channel): Promise<void> {
  await ch.assertExchange(CONTROL_EXCHANGE, 'fanout', { durable: true });
}

/** Tells every worker that runs `runs` of `job` (all of its runs, when none are named) are cancelled: they abort their items in hand and drop their queued ones. */
export function publishCancel(ch: Channel, job: string, runs?: readonly string[], signer?: Signer): void {
  const msg: ControlMessage = runs?.length ? { type: 'cancel', job, runs: [...runs] } : { type: 'cancel', job };
  const body = Buffer.from(JSON.stringify(msg));
  const headers = signer ? { [SIGNATURE_HEADER]: signer.sign('control', body) } : undefined;
  ch.publish(CONTROL_EXCHANGE, '', body, { contentType: 'application/json', type: 'fj.control', headers });
}

/** Parses a control message; undefined when it is not one, or (with a signer) not signed with the key. */
export function parseControl(content: Buffer, headers?: Record<string, unknown>, signer?: Signer): ControlMessage | undefined {
  if (signer && !signer.verify(headers?.[SIGNATURE_HEADER], 'control', content)) return undefined;
  try {
    const m = JSON.parse(content.toString('utf8')) as Partial<ControlMessage>;
    if (!m || m.type !== 'cancel' || typeof m.job !== 'string') return undefined;
    if (m.runs === undefined) return { type: 'cancel', job: m.job };
    if (!Array.isArray(m.runs) || m.runs.length === 0 || m.runs.length > MAX_RUNS || !m.runs.every(isRunTag)) return undefined;
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

/** How {@link reconnect} keeps trying. */
export interface ReconnectOptions {
  /** Give up after this long (then the last error). Default: never. */
  giveUpMs?: number;
  /** Stop trying (rejects with the signal's reason). */
  signal?: AbortSignal;
  /** Called after each failed attempt, with the wait before the next. */
  onAttempt?: (n: number, err: Error, waitMs: number) => void;
}

/**
 * Connects, retrying with backoff (see {@link reconnectDelay}): the one
 * reconnect loop of the coordinator and of `fj worker`, for after the broker
 * went away (a restart takes seconds to a minute). Giving up rejects with
 * the last error as a resumable TransportError.
 */
export async function reconnect(url: string, name: string, options: ReconnectOptions = {}): Promise<ChannelModel> {
  const deadline = Date.now() + (options.giveUpMs ?? Infinity);
  for (let n = 1; ; n++) {
    options.signal?.throwIfAborted();
    try {
      return await connect(url, name);
    } catch (err) {
      // The connection was lost after the job started: what it left on the broker waits for `fj resume`.
      if (Date.now() >= deadline) throw new TransportError((err as Error).message, { resumable: true });
      const wait = Math.min(reconnectDelay(n), Math.max(0, deadline - Date.now()));
      options.onAttempt?.(n, err as Error, wait);
      await sleep(wait, undefined, { signal: options.signal });
    }
  }
}

/**
 * Status of a result message: `ok` and `failed` answer the items; `refused`
 * says no worker will run them (other code, dead-lettered), which ends the
 * job; `declined` says this worker does not serve the task and has put the
 * message back for another worker.
 */
export type ResultStatus = 'ok' | 'failed' | 'refused' | 'declined';

/**
 * A consuming channel the broker closes on its own leaves the connection
 * open and the consumer silently gone: a worker would stop taking work, a
 * coordinator would wait for results forever. The usual cause is RabbitMQ's
 * `consumer_timeout` (30 minutes by default): a delivery left unacknowledged
 * longer than that closes its channel (checked about once a minute). This
 * reports the broker's reason through `log` and closes the connection, so
 * the owner's reconnect logic takes over: unacked deliveries go back to the
 * queue and are delivered again on the new channel.
 */
export function reconnectOnChannelError(conn: ChannelModel, ch: Channel, log: (reason: string, consumerTimeout: boolean) => void): void {
  ch.on('error', (err: Error) => {
    log(err.message, /acknowledgement .*timed out/i.test(err.message));
    conn.close().catch(() => {});
  });
}

/** The dead-letter queue of a work queue. */
export function deadLetterQueue(queue: string): string {
  return `${queue}.dead`;
}

/** A pool's jobs queue: detached jobs (`fj submit`) waiting for a worker to coordinate them. */
export function jobsQueue(queue: string): string {
  return `${queue}.jobs`;
}

/** Declares a pool's jobs queue (durable: queued jobs survive a broker restart). */
export async function assertJobsQueue(ch: Channel, queue: string): Promise<void> {
  await ch.assertQueue(jobsQueue(queue), { durable: true });
}

/** The results queue of a job. */
export function resultsQueue(jobId: string): string {
  return `fj.results.${jobId}`;
}

/**
 * Opens a connection; errors name the broker without its password, and are
 * not resumable (see TransportErrorOptions.resumable): nothing was started.
 */
export async function connect(url: string, name: string): Promise<ChannelModel> {
  try {
    const conn = await amqp.connect(url, {
      timeout: 10_000,
      // Without TCP_NODELAY a message of a few kB waits ~40 ms for the broker's delayed ACK (Nagle): every publish and confirm would.
      noDelay: true,
      clientProperties: { connection_name: `fj ${name} on ${hostname()}` },
    });
    // Without a listener an 'error' event would crash the process; the
    // 'close' that follows is what callers act on.
    conn.on('error', () => {});
    coalesceWrites(conn);
    return conn;
  } catch (err) {
    // No `cause`: the client's error object may carry the URL; the scrubbed message says what happened.
    // Not resumable as such: a first connection refused (wrong password, not an AMQP server) started nothing; reconnect() says otherwise for a lost one.
    throw new TransportError(`cannot connect to RabbitMQ at ${redactUrl(url)}: ${scrub((err as Error).message, url)}`, { resumable: false });
  }
}

/** Adds the heartbeat default (30 s) to a broker URL that sets none. */
export function withHeartbeat(url: string): string {
  const u = new URL(url);
  if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', '30');
  return u.toString();
}

/** Removes a URL's password from a message. */
export function scrub(message: string, url: string): string {
  try {
    const pw = new URL(url).password;
    return pw ? message.split(pw).join('***').split(decodeURIComponent(pw)).join('***') : message;
  } catch {
    return message;
  }
}

/** Declares a pool's work queue and its dead-letter queue. */
export async function assertWorkQueue(ch: Channel, queue: string): Promise<void> {
  await ch.assertQueue(deadLetterQueue(queue), { durable: true });
  await ch.assertQueue(queue, {
    durable: true,
    arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': deadLetterQueue(queue) },
  });
}

/**
 * A job's results queue as the broker sees it: results waiting, and
 * consumers (its coordinator, when attached). Undefined when the queue does
 * not exist. On a channel of its own: a failed check closes its channel.
 */
export async function resultsQueueState(conn: ChannelModel, jobId: string): Promise<{ messages: number; coordinators: number } | undefined> {
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
export function reconnectGiveUpMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.FJ_RECONNECT_GIVE_UP_MS;
  if (raw === undefined || raw === '') return 5 * 60_000;
  const ms = Number(raw);
  if (!Number.isSafeInteger(ms) || ms < 0) throw new UsageError(`FJ_RECONNECT_GIVE_UP_MS must be a whole number of milliseconds from 0 up, got ${JSON.stringify(raw)}`);
  return ms;
}

/** Declares a job's results queue. */
export async function assertResultsQueue(ch: Channel, jobId: string): Promise<string> {
  const q = resultsQueue(jobId);
  await ch.assertQueue(q, { durable: true, arguments: { 'x-expires': 24 * 3600 * 1000 } });
  return q;
}

/**
 * A confirm channel with a bound on unconfirmed publishes: `publish`
 * resolves once the message is in the broker's buffer and fewer than `limit`
 * messages await their confirm, so a fast producer never buffers a whole job.
 */
export class Publisher {
  private unconfirmed = 0;
  private waiters: (() => void)[] = [];
  private failure: Error | undefined;

  constructor(
    readonly channel: ConfirmChannel,
    private readonly limit = 256,
  ) {
    channel.on('drain', () => this.wake());
    channel.on('close', () => {
      this.failure ??= new TransportError('RabbitMQ channel closed');
      this.wake();
    });
  }

  /**
   * Publishes to `queue` (default exchange). Resolves when the broker has
   * accepted it into the window; `confirmed` settles when it is confirmed.
   */
  async send(queue: string, body: Buffer, options: Options.Publish): Promise<{ confirmed: Promise<void> }> {
    while (this.unconfirmed >= this.limit && !this.failure) await new Promise<void>((r) => this.waiters.push(r));
    if (this.failure) throw this.failure;
    this.unconfirmed++;
    let settle!: (err?: unknown) => void;
    const confirmed = new Promise<void>((resolve, reject) => {
      settle = (err) => (err ? reject(err) : resolve());
    });
    confirmed.catch(() => {}); // callers that only care about order may ignore it
    const ok = this.channel.sendToQueue(queue, body, { persistent: true, ...options }, (err) => {
      this.unconfirmed--;
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
