/**
 * Queue names fj derives from a pool's name stay within RabbitMQ's 255
 * bytes, for any pool name fj accepts (at most 250 bytes), and stay
 * distinct for distinct inputs.
 */
import { describe, expect, it } from 'vitest';
import { codeQueue } from '../../src/broker/amqp.js';
import { heldQueue } from '../../src/broker/held-queue.js';
import { tenantJobsQueue } from '../../src/broker/tenant-queues.js';
import { MAX_QUEUE_BYTES } from '../../src/core/address.js';

const bytes = (s: string) => Buffer.byteLength(s);

describe('queue names derived from a pool', () => {
  const short = 'fj.default';
  const long = `p${'é'.repeat((MAX_QUEUE_BYTES - 1) / 2)}`; // 249 bytes: within what fj accepts for a pool
  const hash = 'a'.repeat(16);

  it('a code queue: readable when it fits, hashed down when not, never past 255 bytes', () => {
    expect(codeQueue(short, 'wordcount', hash)).toBe(`fj.default.code.wordcount.${hash}`);
    for (const pool of [short, long, 'x'.repeat(200)])
      for (const task of ['t', 'x'.repeat(100)]) expect(bytes(codeQueue(pool, task, hash))).toBeLessThanOrEqual(255);
    expect(codeQueue(long, 'a', hash)).not.toBe(codeQueue(long, 'b', hash));
    expect(codeQueue(long, 'a', hash)).not.toBe(codeQueue(`${long.slice(0, -1)}q`, 'a', hash));
  });

  it("a tenant's jobs queue: readable when it fits, hashed down when not, never past 255 bytes", () => {
    expect(tenantJobsQueue(short, 'team-a')).toBe('fj.default.jobs.tenant.team-a');
    for (const pool of [short, long, 'x'.repeat(200)])
      for (const tenant of ['t', 'x'.repeat(100)])
        expect(bytes(tenantJobsQueue(pool, tenant))).toBeLessThanOrEqual(255);
    expect(tenantJobsQueue(long, 'a')).not.toBe(tenantJobsQueue(long, 'b'));
    expect(tenantJobsQueue(long, 'a')).not.toBe(tenantJobsQueue(`${long.slice(0, -1)}q`, 'a'));
  });

  it("a worker's held queue: readable when it fits, hashed down when not, never past 255 bytes", () => {
    expect(heldQueue(short, 'w1', 'abcd1234')).toBe('fj.default.jobs.held.w1.abcd1234');
    for (const pool of [short, long])
      for (const worker of ['w1', 'x'.repeat(100)])
        expect(bytes(heldQueue(pool, worker, 'abcd1234'))).toBeLessThanOrEqual(255);
    expect(heldQueue(long, 'w1', 'abcd1234')).not.toBe(heldQueue(long, 'w2', 'abcd1234'));
    expect(heldQueue(long, 'w1', 'abcd1234')).not.toBe(heldQueue(long, 'w1', 'abcd1235'));
  });
});
