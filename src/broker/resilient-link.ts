/**
 * One resilient link to RabbitMQ: a connection with two channels (one that
 * declares the topology and consumes, one for confirmed publishing), set up
 * the same way on every connect and reconnect. The coordinator's results
 * link, `fj worker`'s work consumer and its jobs consumer are each one of
 * these. The shape is node-rabbitmq-client's `Consumer`:
 *
 * - The topology is a description (exchanges, queues and their bindings,
 *   prefetch, consumers), declared on each new connection before anything
 *   is consumed: a queue deleted meanwhile, or a broker that restarted
 *   without its non-durable state, is declared again.
 * - A lost connection, a channel the broker closes, and a consumer the
 *   broker cancels (its queue deleted) all take one path: the connection is
 *   closed, the owner is told (`onDown`), and the link reconnects with
 *   backoff ({@link withBackoff}: 0.5 s doubling to 15 s, with jitter). A
 *   setup that fails is one more failed attempt. The usual cause of a
 *   closed channel is RabbitMQ's `consumer_timeout` (30 minutes by
 *   default): a delivery left unacknowledged longer than that closes its
 *   channel and leaves the connection open, so without this the consumer
 *   would be silently gone. Unacked deliveries go back to the queue and are
 *   delivered again on the new channel.
 * - The publishing side takes the same path: a publishing channel the
 *   broker closes (a publish to an exchange that is gone), or confirms
 *   that stop arriving for `FJ_CONFIRM_STALL_MS` (60 s) while some are
 *   outstanding and the broker has not blocked publishing. Either would
 *   otherwise leave an open connection that can no longer publish: a
 *   worker's replies, and so its items, stuck until someone restarts it.
 * - With `giveUpMs` the link stops after that long down and reports a
 *   resumable TransportError (`onGiveUp`: the coordinator's
 *   FJ_RECONNECT_GIVE_UP_MS); without it, it tries until closed (`fj worker`).
 * - The owner sees the session (the connection and its channels) only
 *   while it is up, and does its own reconnect work in `onUp` (the
 *   coordinator re-sends what the broker had not confirmed); each delivery
 *   comes with the session to ack it on.
 * - `close()` ends it: no reconnect after it, and a connection that comes up
 *   while it runs is handed to its last step, then closed.
 *
 * Where to connect is a function, read on each attempt: a broker URL or a
 * comma-separated list of RabbitMQ nodes. Rotating over the nodes is
 * `connect`'s (the one connection layer): a reconnect after a lost
 * connection tries the node after the lost one first.
 */
import type { Channel, ChannelModel, ConsumeMessage, Options } from 'amqplib';
import { TransportError } from '../core/errors.js';
import {
  closeConnection,
  confirmStallMs,
  connect,
  declareExchange,
  declareQueue,
  Publisher,
  withBackoff,
  within,
  type ExchangeSpec,
  type QueueSpec,
} from './amqp.js';

/** One connection of a link, with its channels. A delivery is acked or rejected on the session it came from, or not at all. */
export interface LinkSession {
  readonly conn: ChannelModel;
  /** The channel that declared the topology and consumes. */
  readonly ch: Channel;
  /** Confirmed publishing, on a channel of its own (a message the broker refuses closes that channel only). */
  readonly publisher: Publisher;
  /**
   * False once the connection has closed. An owner may set it false itself
   * to stop using the session at once (a warm shutdown giving its
   * deliveries back to the queue).
   */
  open: boolean;
  /** Consumer tags, by queue name (as the broker named it). */
  readonly consumers: ReadonlyMap<string, string>;
  /** What each queue the topology declared held when it was declared, by name. */
  readonly declared: ReadonlyMap<string, { messageCount: number; consumerCount: number }>;
  /**
   * Gives this session up as a lost connection, for `reason` (a publishing
   * side that can no longer publish, on a connection that stays open): the
   * session is marked closed at once, `onPublishingLost` is told, the
   * connection closed, and the link reconnects (the owner re-sends what was
   * unconfirmed). Once per session; nothing when the session is no longer
   * the link's current one.
   */
  abandon(reason: string): void;
}

/** A consumer of a link's topology. */
export interface ConsumerSpec {
  /** A queue of the topology's `queues`, by name, or one declared just before consuming (a server-named queue, say). */
  queue: string | QueueSpec;
  options?: Options.Consume;
  /** Unacked deliveries for this consumer (`basic.qos`; 0: no limit). Default: the topology's `prefetch`. */
  prefetch?: number;
  /** A delivery, and the session to ack it on. */
  onMessage(msg: ConsumeMessage, session: LinkSession): void;
}

/** What a link declares, in this order, on every connection. */
export interface Topology {
  exchanges?: readonly ExchangeSpec[];
  queues?: readonly QueueSpec[];
  /** Unacked deliveries per consumer (`basic.qos`), set before the consumers start. */
  prefetch?: number;
  consumers: readonly ConsumerSpec[];
}

/** How a link is set up, and what its owner hears. */
export interface LinkOptions {
  /** The connection's name in the broker's list (`fj <name> on <host>`). */
  name: string;
  /** The broker URL (or comma-separated list of node URLs, see `connect`) to connect to, read on each attempt. */
  url: () => string;
  topology: Topology;
  /** Give up after this long down (then `onGiveUp`). Default: never. */
  giveUpMs?: number;
  /** Whether a failed setup is worth another attempt; one that is not ends the link (`onGiveUp` with its error). Default: every one is. */
  retryable?: (err: unknown) => boolean;
  /**
   * The session is set up and consuming (`reconnected`: not the first
   * one), and `session` gives it out already. Awaited: a throw, or the
   * connection closing meanwhile, fails the setup (on a reconnect, one more
   * failed attempt). Work done before its first `await` comes before
   * anything else can use the new session.
   */
  onUp?: (session: LinkSession, reconnected: boolean) => void | Promise<void>;
  /** The connection was lost (not by `close()`): the link reconnects. */
  onDown?: () => void;
  /** A reconnect attempt failed, and the next comes after `waitMs`. */
  onAttempt?: (n: number, err: Error, waitMs: number) => void;
  /**
   * The broker closed the consuming channel, or cancelled one of its
   * consumers (`reason` says which; `consumerTimeout`: a delivery stayed
   * unacked past RabbitMQ's consumer_timeout). The connection is closed
   * next, so `onDown` follows.
   */
  onChannelClosed?: (reason: string, consumerTimeout: boolean) => void;
  /**
   * The link gave up a connection that stays open but can no longer publish
   * (`reason`: confirms that stopped, a publishing channel the broker
   * closed, an owner's {@link LinkSession.abandon}); `onDown` follows, then
   * the reconnect. Absent, `onChannelClosed` is told instead.
   */
  onPublishingLost?: (reason: string) => void;
  /** The link stopped reconnecting: a resumable TransportError after `giveUpMs`, or a setup error `retryable` refused. */
  onGiveUp?: (err: Error) => void;
  /**
   * `close()` resolves once its last step ran, and the connection closes
   * behind it ({@link ResilientLink.connectionClosed} settles when it has):
   * a job's `join` and end need not wait for the broker's close handshake.
   * The owner must await `connectionClosed` before it reports itself done.
   */
  closeBehind?: boolean;
}

/** A connection to RabbitMQ that declares its topology and consumes again after every reconnect (see the module's header). */
export class ResilientLink {
  private current: LinkSession | undefined;
  private closing = false;
  private closed: Promise<void> | undefined;
  private connClosed: Promise<void> = Promise.resolve();
  /** The first setup or the reconnect loop, while one runs (never rejects). */
  private pending: Promise<void> | undefined;
  private readonly stop = new AbortController();
  /** Queues whose consumer is stopped ({@link setConsuming}). */
  private readonly paused = new Set<string>();
  /** The last {@link setConsuming} call (they run in turn; never rejects). */
  private consuming: Promise<void> = Promise.resolve();
  /** How long confirms may stop arriving before the connection is taken for dead (FJ_CONFIRM_STALL_MS). */
  private readonly stallMs = confirmStallMs();

  constructor(private readonly o: LinkOptions) {}

  /** The session, while the link is up. */
  get session(): LinkSession | undefined {
    return this.current?.open ? this.current : undefined;
  }

  /**
   * Sets the link up on `conn` (else on a connection of its own), once:
   * rejects with the setup's error, after closing the connection. Only a
   * connection lost later is reconnected.
   */
  start(conn?: ChannelModel): Promise<void> {
    const run = (async () => this.setUp(conn ?? (await connect(this.o.url(), this.o.name)), false))();
    this.pending = run.catch(() => {});
    return run;
  }

  /**
   * Ends the link: stops reconnecting at once, waits for a setup under way,
   * then runs `last` (once) with the session when one is up (else with
   * none), and closes the connection. Later calls return the first one's
   * promise.
   */
  close(last?: (session: LinkSession | undefined) => void | Promise<void>): Promise<void> {
    this.closed ??= (async () => {
      this.closing = true;
      this.stop.abort(new TransportError('the link is closed'));
      // A setup under way on a broker that stopped answering never ends by itself: it is left behind (it closes what it opens, seeing `closing`).
      if (this.pending) await within(this.pending);
      const session = this.current;
      this.current = undefined;
      try {
        await last?.(session?.open ? session : undefined);
      } finally {
        if (session) {
          session.open = false;
          this.connClosed = closeConnection(session.conn);
          if (!this.o.closeBehind) await this.connClosed;
        }
      }
    })();
    return this.closed;
  }

  /** Settles once the connection `close()` closed is closed (at once when close() waited for it, or was not called). */
  get connectionClosed(): Promise<void> {
    return this.connClosed;
  }

  /** Declares the topology on `conn`, consumes, and hands the session out; on failure closes `conn` and rejects. */
  private async setUp(conn: ChannelModel, reconnected: boolean): Promise<void> {
    if (this.closing) return void (await closeConnection(conn)); // a reconnect that came through as the link closed
    const { topology, onChannelClosed } = this.o;
    let session: LinkSession | undefined;
    let consuming = false;
    let connClosed = false;
    /** Set up, the owner's onUp done: from here a lost connection is the link's to reconnect (before, the setup fails). */
    let up = false;
    /** Why the publishing side failed while this session was being set up (then the setup fails). */
    let publishingLost: string | undefined;
    /** The broker blocked publishing (a memory or disk alarm): confirms stop for a cause it will lift itself. */
    let blocked = false;
    conn.on('blocked', () => (blocked = true));
    conn.on('unblocked', () => (blocked = false));
    // The publishing side failed while the connection stays open: one path with a lost connection (reconnect, re-send).
    let givenUp = false;
    const giveUp = (reason: string) => {
      if (this.closing || connClosed || givenUp || !session?.open) return;
      if (!up) return void (publishingLost ??= reason);
      if (this.current !== session) return;
      givenUp = true; // once: the connection's close is on its way
      session.open = false; // nothing more is acked or sent on it (amqplib throws on a closing connection)
      if (this.o.onPublishingLost) this.o.onPublishingLost(reason);
      else onChannelClosed?.(reason, false);
      conn.close().catch(() => {});
    };
    conn.on('close', () => {
      connClosed = true;
      if (!session) return;
      session.open = false;
      if (up && this.current === session) this.lost();
    });
    try {
      // Both channels open at once (one round trip, not two).
      const [ch, confirmCh] = await Promise.all([conn.createChannel(), conn.createConfirmChannel()]);
      ch.on('error', (err: Error) => {
        // Refused while setting up: that setup fails with the error.
        if (consuming && !this.closing)
          onChannelClosed?.(err.message, /acknowledgement .*timed out/i.test(err.message));
        conn.close().catch(() => {});
      });
      const publisher = new Publisher(confirmCh, undefined, {
        stallMs: this.stallMs,
        onStall: (pending, waitedMs) => {
          if (blocked) return false; // the broker blocked publishing (an alarm it lifts itself): watched again from now
          giveUp(`no publish confirm for ${Math.round(waitedMs / 1000)} s with ${pending} outstanding; reconnecting`);
        },
      });
      // A channel-level error (a publish to an exchange that is gone) closes the publishing channel only:
      // every later publish would fail, so the session is given up as a whole.
      let publishError = 'no error given';
      confirmCh.on('error', (err: Error) => (publishError = err.message));
      // Deferred: when the connection itself closes, its channels close first, and that is `lost`'s to handle.
      confirmCh.on('close', () =>
        setImmediate(() => giveUp(`its publishing channel closed (${publishError}); reconnecting`)),
      );
      const consumers = new Map<string, string>();
      const declared = new Map<string, { messageCount: number; consumerCount: number }>();
      const s: LinkSession = (session = {
        conn,
        ch,
        publisher,
        open: !connClosed,
        consumers,
        declared,
        abandon: giveUp,
      });
      const declare = async (spec: QueueSpec) => {
        const q = await declareQueue(ch, spec);
        declared.set(q.queue, { messageCount: q.messageCount, consumerCount: q.consumerCount });
        return q.queue;
      };
      for (const spec of topology.exchanges ?? []) await declareExchange(ch, spec);
      for (const spec of topology.queues ?? []) await declare(spec);
      for (const c of topology.consumers) {
        const queue = typeof c.queue === 'string' ? c.queue : await declare(c.queue);
        if (!this.paused.has(queue)) await this.consume(s, c, queue);
      }
      consuming = true;
      this.current = s;
      // A link closed meanwhile is handed to close()'s last step as it is, without the owner's reconnect work.
      if (!this.closing) await this.o.onUp?.(s, reconnected);
      if (!s.open) throw new TransportError('the connection closed while it was being set up');
      if (publishingLost) throw new TransportError(`the publishing side failed while being set up: ${publishingLost}`);
      up = true;
    } catch (err) {
      if (this.current === session) this.current = undefined;
      if (session) session.open = false;
      await closeConnection(conn);
      throw err;
    }
  }

  /** Starts consumer `c` on `queue` in session `s`, with its prefetch. */
  private async consume(s: LinkSession, c: ConsumerSpec, queue: string): Promise<void> {
    const prefetch = c.prefetch ?? this.o.topology.prefetch;
    if (prefetch !== undefined) await s.ch.prefetch(prefetch); // per consumer: applies to the consumers started after it
    // amqplib delivers null when the broker cancels the consumer.
    const { consumerTag } = await s.ch.consume(
      queue,
      (msg) => (msg ? c.onMessage(msg, s) : this.cancelled(s, queue)),
      c.options,
    );
    (s.consumers as Map<string, string>).set(queue, consumerTag);
  }

  /**
   * Stops (`on` false) or starts again the topology's consumer of `queue`
   * (named as given), in this session and every later one: a paused
   * consumer is not started on a reconnect. Deliveries already received
   * stay with their owner. Calls run one after another.
   */
  setConsuming(queue: string, on: boolean): Promise<void> {
    const next = this.consuming.then(async () => {
      if (on ? !this.paused.delete(queue) : this.paused.has(queue)) return;
      if (!on) this.paused.add(queue);
      const s = this.session;
      if (!s) return; // the next session starts as the paused set says
      const tag = s.consumers.get(queue);
      if (!on && tag !== undefined) {
        (s.consumers as Map<string, string>).delete(queue);
        await s.ch.cancel(tag);
      } else if (on && tag === undefined) {
        const c = this.o.topology.consumers.find(
          (c) => (typeof c.queue === 'string' ? c.queue : c.queue.name) === queue,
        );
        if (c) await this.consume(s, c, queue);
      }
    });
    // A session lost meanwhile: the next one starts as the paused set says.
    this.consuming = next.catch(() => {});
    return this.consuming;
  }

  /** The broker cancelled a consumer (its queue was deleted): reconnecting declares the queue again and consumes it. */
  private cancelled(session: LinkSession, queue: string): void {
    if (this.closing || !session.open) return;
    this.o.onChannelClosed?.(`it cancelled the consumer of ${queue}`, false);
    session.conn.close().catch(() => {});
  }

  /** The current session's connection closed: reconnect, unless the link is closing. */
  private lost(): void {
    this.current = undefined;
    if (this.closing) return;
    this.o.onDown?.();
    this.pending = this.reconnect();
  }

  private async reconnect(): Promise<void> {
    const { name, giveUpMs, onAttempt, retryable } = this.o;
    try {
      await withBackoff(async () => this.setUp(await connect(this.o.url(), name), true), {
        giveUpMs,
        retryable,
        signal: this.stop.signal,
        onAttempt: (n, err, waitMs) => {
          if (!this.closing) onAttempt?.(n, err, waitMs);
        },
      });
    } catch (err) {
      if (!this.closing) this.o.onGiveUp?.(err as Error);
    }
  }
}
