/**
 * The cleanup of what a test run leaves on the broker (test/helpers/test-queues.ts,
 * run by global setup's teardown): which queues it picks, and its listing of
 * a real broker's queues with their consumers.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { brokerAvailable, deleteQueue, startWorkerProc, stopWorkerProc } from '../helpers/broker.js';
import { leftBehind, listQueues } from '../helpers/test-queues.js';

const available = await brokerAvailable();

describe('leftBehind', () => {
  it('picks the queues new since the first listing, named like a test pool, with no consumer', () => {
    const before = new Map([
      ['fj.test.old', 0],
      ['orders', 0],
    ]);
    const after = new Map([
      ['fj.test.old', 0], // there before the run: kept
      ['orders', 0],
      ['payments', 0], // not a test's name: kept
      ['fj.results.5a1c', 0], // a job's results: kept (it may be a live job's)
      ['fj.test.p.jobs', 0],
      ['fj.reliability.q.code.wordcount.0c57', 0],
      ['fj.test.p.jobs.held.vm.1', 1], // consumed: reported, not deleted
    ]);
    expect(leftBehind(before, after)).toEqual({
      idle: ['fj.test.p.jobs', 'fj.reliability.q.code.wordcount.0c57'],
      consumed: ['fj.test.p.jobs.held.vm.1'],
    });
  });
});

describe.skipIf(!available)('listQueues on the real broker', () => {
  it('lists a worker’s queues with their consumers; once it stops, they are what the teardown deletes', async () => {
    const queue = `fj.test.listing.${randomUUID()}`;
    const before = await listQueues();
    // on a broker on another host, or without rabbitmqctl, the listing says why instead (never under CI)
    if (typeof before === 'string') {
      expect(process.env.CI).not.toBe('true');
      return;
    }
    const w = await startWorkerProc(['--queue', queue, '--concurrency', '1']);
    let during: Awaited<ReturnType<typeof listQueues>>;
    try {
      during = await listQueues();
    } finally {
      await stopWorkerProc(w);
    }
    if (typeof during === 'string') throw new Error(during);
    const mine = (m: ReadonlyMap<string, number>) => [...m].filter(([n]) => n.startsWith(`${queue}.`) || n === queue);
    // the worker consumes its work queue's code queues; its jobs queue is there, durable
    expect(during.has(`${queue}.jobs`)).toBe(true);
    expect(mine(during).find(([n]) => n.includes('.code.wordcount.'))?.[1]).toBe(1);
    const after = await listQueues();
    if (typeof after === 'string') throw new Error(after);
    const { idle, consumed } = leftBehind(before, after);
    const names = mine(after).map(([n]) => n);
    expect(names.length).toBeGreaterThanOrEqual(3);
    // stopped, its queues have no consumer: every one is picked for deletion, none reported as consumed
    expect(idle).toEqual(expect.arrayContaining(names));
    expect(consumed.filter((n) => n.startsWith(queue))).toEqual([]);
    // deleted here one by one (the teardown's sweep would also take a file's beside this one)
    for (const n of names) await deleteQueue(n);
    const gone = await listQueues();
    if (typeof gone === 'string') throw new Error(gone);
    expect(mine(gone)).toEqual([]);
  });
});
