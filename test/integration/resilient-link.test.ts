/**
 * The resilient link (broker/resilient-link.ts) against the real RabbitMQ:
 * after a lost connection, a channel the broker closes, or a consumer the
 * broker cancels, it declares its topology again and consumes again;
 * `close()` while it reconnects leaves no connection open; with `giveUpMs`
 * it gives up with a resumable TransportError.
 *
 * Then an owner: `fj worker` through a cut connection declares its queues
 * again and serves the next job.
 *
 * The shared RabbitMQ is never stopped: the link reaches it through a TCP
 * proxy of the test's own (test/helpers/tcp-proxy.ts), which the test cuts.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import amqp, { type ChannelModel, type ConsumeMessage } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isResumable, TransportError } from '../../src/core/errors.js';
import { ResilientLink, type LinkOptions, type LinkSession } from '../../src/broker/resilient-link.js';
import { run } from '../../src/index.js';
import { BROKER_URL, brokerAvailable, deleteQueues, startWorkerProc, stopWorkerProc } from '../helpers/broker.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';

const available = await brokerAvailable();

describe.runIf(available)('a resilient link', () => {
  let proxy: TcpProxy;
  let direct: ChannelModel;
  const queues: string[] = [];
  const exchanges: string[] = [];
  const links: ResilientLink[] = [];

  beforeAll(async () => {
    const broker = new URL(BROKER_URL);
    proxy = await TcpProxy.start(broker.hostname, Number(broker.port || 5672));
    direct = await amqp.connect(BROKER_URL);
  });
  afterAll(async () => {
    for (const link of links) await link.close().catch(() => {});
    const ch = await direct.createChannel();
    for (const q of queues) await ch.deleteQueue(q).catch(() => {});
    for (const e of exchanges) await ch.deleteExchange(e).catch(() => {});
    await direct.close().catch(() => {});
    await proxy.close();
  });

  /** A link through the proxy to a queue and a fanout exchange of the test's own (a server-named queue bound to it), recording what it hears. */
  function makeLink(options: Partial<LinkOptions> = {}) {
    const queue = `fj.test.link.${randomUUID()}`;
    const exchange = `fj.test.link.${randomUUID()}`;
    queues.push(queue);
    exchanges.push(exchange);
    const seen = {
      queue: [] as string[],
      exchange: [] as string[],
      ups: [] as boolean[],
      downs: 0,
      closed: [] as string[],
      errors: [] as Error[],
    };
    const text = (m: ConsumeMessage) => m.content.toString('utf8');
    const link = new ResilientLink({
      name: 'resilient-link test',
      url: () => proxy.via(BROKER_URL),
      topology: {
        exchanges: [{ name: exchange, type: 'fanout', options: { durable: false } }],
        queues: [{ name: queue, options: { durable: false } }],
        prefetch: 10,
        consumers: [
          { queue, options: { noAck: false }, onMessage: (m, s) => (seen.queue.push(text(m)), s.ch.ack(m)) },
          {
            queue: { name: '', options: { exclusive: true, autoDelete: true }, bindTo: [exchange] },
            options: { noAck: true },
            onMessage: (m) => seen.exchange.push(text(m)),
          },
        ],
      },
      onUp: (_, reconnected) => void seen.ups.push(reconnected),
      onDown: () => void seen.downs++,
      onChannelClosed: (reason) => void seen.closed.push(reason),
      onGiveUp: (err) => void seen.errors.push(err),
      ...options,
    });
    links.push(link);
    return { link, queue, exchange, seen };
  }

  /** Publishes one message to the queue and one to the exchange, over a connection of the test's own (not through the proxy). */
  async function publish(queue: string, exchange: string, body: string): Promise<void> {
    const ch = await direct.createConfirmChannel();
    ch.sendToQueue(queue, Buffer.from(body));
    ch.publish(exchange, '', Buffer.from(body));
    await ch.waitForConfirms();
    await ch.close();
  }

  it('declares its topology and consumes again after the connection is cut', async () => {
    const { link, queue, exchange, seen } = makeLink();
    await link.start();
    expect(seen.ups).toEqual([false]);
    await publish(queue, exchange, 'before');
    await waitFor('the first messages', () => seen.queue.includes('before') && seen.exchange.includes('before'));

    proxy.cut();
    await waitFor('the link to see the cut', () => seen.downs === 1);
    expect(link.session).toBeUndefined();
    // Gone from the broker while the link is down: only declaring it again brings it back.
    const ch = await direct.createChannel();
    await ch.deleteQueue(queue);
    await ch.deleteExchange(exchange);
    await ch.close();
    proxy.restore();

    await waitFor('the link to come back', () => seen.ups.length === 2, 20_000);
    expect(seen.ups).toEqual([false, true]);
    expect(link.session?.open).toBe(true);
    await publish(queue, exchange, 'after');
    await waitFor(
      'the messages after the reconnect',
      () => seen.queue.includes('after') && seen.exchange.includes('after'),
    );
    await link.close();
    await waitFor('its connection to close', () => proxy.connections === 0);
  });

  it('reconnects when the broker closes its channel or cancels its consumer', async () => {
    const { link, queue, exchange, seen } = makeLink();
    await link.start();

    // Acking a delivery that does not exist: RabbitMQ closes the channel (PRECONDITION_FAILED), as its consumer_timeout would.
    link.session!.ch.ack({ fields: { deliveryTag: 999 } } as ConsumeMessage);
    await waitFor('a reconnect after the closed channel', () => seen.ups.length === 2, 20_000);
    expect(seen.closed[0]).toMatch(/PRECONDITION_FAILED/);

    // Deleting the queue it consumes: the broker cancels the consumer; the link declares the queue again.
    await (await direct.createChannel()).deleteQueue(queue);
    await waitFor('a reconnect after the cancelled consumer', () => seen.ups.length === 3, 20_000);
    expect(seen.closed[1]).toMatch(/cancelled the consumer of/);
    expect(seen.downs).toBe(2);
    await publish(queue, exchange, 'again');
    await waitFor('the message on the queue declared again', () => seen.queue.includes('again'));
    await link.close();
  });

  it('reconnects when the broker closes its publishing channel, and publishes again', async () => {
    const { link, queue, seen } = makeLink();
    await link.start();
    // A publish to an exchange that does not exist: RabbitMQ closes that channel (NOT_FOUND) and leaves the connection open.
    link.session!.publisher.channel.publish(`fj.test.gone.${randomUUID()}`, '', Buffer.from('lost'));
    await waitFor('a reconnect after the closed publishing channel', () => seen.ups.length === 2, 20_000);
    expect(seen.closed[0]).toMatch(/publishing channel closed \(.*NOT_FOUND/);
    expect(seen.downs).toBe(1);
    const { confirmed } = await link.session!.publisher.send(queue, Buffer.from('published again'), {});
    await confirmed;
    await waitFor('the message published on the new session', () => seen.queue.includes('published again'));
    await link.close();
  });

  it('close() while it reconnects stops it, and leaves no connection open', async () => {
    const { link, seen } = makeLink();
    await link.start();
    const refusedBefore = proxy.refused;
    proxy.cut();
    await waitFor('the link to see the cut', () => seen.downs === 1);
    await waitFor('a failed reconnect attempt', () => proxy.refused > refusedBefore);
    let last: LinkSession | undefined | 'not run' = 'not run';
    await link.close((s) => void (last = s));
    expect(last, 'close() ran its last step, with no session').toBeUndefined();
    const passed = proxy.passed;
    proxy.restore();
    await new Promise((r) => setTimeout(r, 2000)); // longer than the first backoffs: a loop still running would connect by now
    expect(proxy.passed, 'no connection after close()').toBe(passed);
    expect(proxy.connections).toBe(0);
    expect(seen.ups).toEqual([false]);
  });

  it('close() while a reconnect is setting up hands the new session to its last step, then closes it', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let reconnecting = false;
    const { link, seen } = makeLink({
      onUp: async (_, reconnected) => {
        if (!reconnected) return;
        reconnecting = true;
        await held;
      },
    });
    await link.start();
    proxy.cut();
    await waitFor('the link to see the cut', () => seen.downs === 1);
    proxy.restore();
    await waitFor('a reconnect under way', () => reconnecting, 20_000);
    let openAtLast: boolean | undefined;
    const closed = link.close((s) => void (openAtLast = s?.open));
    release();
    await closed;
    expect(openAtLast, 'the session that came up was handed to the last step, open').toBe(true);
    expect(link.session).toBeUndefined();
    await waitFor('its connection to close', () => proxy.connections === 0);
  });

  it('gives up after giveUpMs with a resumable TransportError', async () => {
    const giveUpMs = 1500;
    const { link, seen } = makeLink({ giveUpMs });
    await link.start();
    const refusedBefore = proxy.refused;
    const cutAt = Date.now();
    proxy.cut();
    try {
      const err = await waitFor('the link to give up', () => seen.errors[0], giveUpMs + 15_000);
      expect(Date.now() - cutAt).toBeGreaterThanOrEqual(giveUpMs);
      expect(err).toBeInstanceOf(TransportError);
      expect(isResumable(err)).toBe(true);
      expect(err.message).toMatch(/cannot connect to RabbitMQ at amqp:\/\/\S*@127\.0\.0\.1:/);
      expect(proxy.refused - refusedBefore, 'it kept trying until then').toBeGreaterThan(1);
      const refused = proxy.refused;
      await new Promise((r) => setTimeout(r, 1000));
      expect(proxy.refused, 'no attempt after giving up').toBe(refused);
      await link.close();
    } finally {
      proxy.restore();
    }
  });
});

describe.runIf(available)('fj worker through a cut connection', () => {
  it('reconnects, declares its queues again, and serves the next job', { timeout: 120_000 }, async () => {
    const broker = new URL(BROKER_URL);
    const proxy = await TcpProxy.start(broker.hostname, Number(broker.port || 5672));
    const dir = mkdtempSync(join(tmpdir(), 'fj-link-worker-'));
    const store = pathToFileURL(join(dir, 'store')).href;
    const queue = `fj.test.link-worker.${randomUUID()}`;
    const sleepy = join(import.meta.dirname, '..', 'fixtures', 'sleepy.ts');
    const worker = await startWorkerProc(
      ['--queue', queue, '--store', store, '--tasks', sleepy, '--concurrency', '2'],
      { FJ_BROKER_URL: proxy.via(BROKER_URL) },
    );
    try {
      proxy.cut();
      await waitFor('the worker to see the cut', () =>
        worker.log().includes('lost the connection to RabbitMQ; unacked messages go back to the queue; reconnecting'),
      );
      await deleteQueues(queue); // gone while the worker is away: only declaring it again brings its consumer back
      proxy.restore();
      await waitFor('the worker to reconnect', () => /reconnected to RabbitMQ/.test(worker.log()), 30_000);
      const values = [1, 2, 3, 4, 5];
      expect(await run(sleepy, { values, ms: 10 }, { executor: 'amqp', queue, store, broker: BROKER_URL })).toEqual(
        values.map((v) => v * 2),
      );
      expect(worker.child.exitCode, 'still serving').toBe(null);
    } finally {
      await stopWorkerProc(worker);
      for (const q of [queue, `${queue}.jobs`]) await deleteQueues(q).catch(() => {});
      await proxy.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
