/**
 * A Publisher's confirm watch: confirms that stop arriving while some are
 * outstanding are reported once (its link then gives the connection up),
 * or again later when the link declines one (the broker blocked publishing);
 * confirms that keep arriving, or nothing outstanding, never are. The
 * channel is a stand-in that holds each confirm callback until the test
 * releases it; the link's reaction is tested against RabbitMQ in
 * test/integration/resilient-link.test.ts.
 */
import { EventEmitter } from 'node:events';
import type { ConfirmChannel } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { confirmStallMs, Publisher } from '../../src/broker/amqp.js';
import { UsageError } from '../../src/core/errors.js';

/** A confirm channel whose confirms come only when `confirmOne` is called. */
function holdingChannel() {
  const held: ((err: unknown) => void)[] = [];
  const ch = Object.assign(new EventEmitter(), {
    sendToQueue: (_q: string, _b: Buffer, _o: unknown, cb: (err: unknown) => void) => (held.push(cb), true),
  });
  return { channel: ch as unknown as ConfirmChannel, held, confirmOne: () => held.shift()?.(null) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a publisher whose confirms stop', () => {
  it('reports the stall once, with what is outstanding', async () => {
    const { channel } = holdingChannel();
    const stalls: [number, number][] = [];
    const p = new Publisher(channel, 256, { stallMs: 100, onStall: (n, ms) => void stalls.push([n, ms]) });
    await p.send('q', Buffer.from('a'), {});
    await p.send('q', Buffer.from('b'), {});
    expect(p.pending).toBe(2);
    await sleep(400);
    expect(stalls).toHaveLength(1);
    expect(stalls[0][0]).toBe(2);
    expect(stalls[0][1]).toBeGreaterThanOrEqual(100);
    channel.emit('close');
  });

  it('a stall its owner does not act on (the broker blocked publishing) is watched again, and reported again', async () => {
    const { channel } = holdingChannel();
    const calls: number[] = [];
    const p = new Publisher(channel, 256, {
      stallMs: 100,
      onStall: () => (calls.push(Date.now()), calls.length > 1), // false the first time: "blocked, not now"
    });
    await p.send('q', Buffer.from('a'), {});
    await sleep(500);
    expect(calls).toHaveLength(2); // once declined, once taken; then no more
    expect(calls[1] - calls[0]).toBeGreaterThanOrEqual(100);
    channel.emit('close');
  });

  it('reports nothing while confirms keep coming, or when nothing is outstanding', async () => {
    const { channel, confirmOne } = holdingChannel();
    const stalls: number[] = [];
    const p = new Publisher(channel, 256, { stallMs: 150, onStall: (n) => void stalls.push(n) });
    for (let i = 0; i < 8; i++) await p.send('q', Buffer.from(String(i)), {});
    // One confirm every 50 ms: the oldest outstanding message is older than 150 ms, but confirms are arriving.
    for (let i = 0; i < 8; i++) {
      await sleep(50);
      confirmOne();
    }
    expect(p.pending).toBe(0);
    await sleep(300); // nothing outstanding: no stall however long
    expect(stalls).toEqual([]);
    channel.emit('close');
  });

  it('FJ_CONFIRM_STALL_MS: 60 s by default, 0 for never, a usage error naming it when bad', () => {
    expect(confirmStallMs({})).toBe(60_000);
    expect(confirmStallMs({ FJ_CONFIRM_STALL_MS: '0' })).toBe(0);
    expect(confirmStallMs({ FJ_CONFIRM_STALL_MS: '2500' })).toBe(2500);
    expect(() => confirmStallMs({ FJ_CONFIRM_STALL_MS: 'soon' })).toThrow(UsageError);
    expect(() => confirmStallMs({ FJ_CONFIRM_STALL_MS: '-1' })).toThrow(/FJ_CONFIRM_STALL_MS must be a whole number/);
  });
});
