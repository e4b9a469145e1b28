/**
 * The rules behind a job message's declines (worker/job-declines.ts) and a
 * job's takeover count (worker/job-takeovers.ts), on a memory store: which
 * declines count, and when a job whose coordinators died is failed.
 */
import { describe, expect, it } from 'vitest';
import { sealRecord, Signer } from '../../src/core/signing.js';
import { MemoryStore } from '../../src/store/memory.js';
import { liveDecliners, makeDecline, readDeclines } from '../../src/worker/job-declines.js';
import { countTakeover, MAX_JOB_DEATHS } from '../../src/worker/job-takeovers.js';

const KEY = 'k'.repeat(32);
const signer = new Signer(KEY);

describe('declines of a job message', () => {
  it('with a key, only tables signed by the decliner for this job count; strings and forgeries are dropped by name', () => {
    const header = [
      'ghost-1 lacks the task',
      { by: 'ghost-2', why: 'lacks the task' },
      { by: 'w1', why: 'lacks the task', sig: 'ab'.repeat(32) },
      makeDecline(signer, 'job-b', 'w2', 'lacks the task'), // signed for another job
      makeDecline(signer, 'job-a', 'w3', 'lacks the task'),
      { by: 7, why: 'x' },
      null,
    ];
    const { declines, dropped } = readDeclines(header, 'job-a', signer);
    expect([...declines.keys()]).toEqual(['w3']);
    expect(dropped).toEqual(['ghost-1', 'ghost-2', 'w1', 'w2', '?', '?']);
    // The why is signed too: another reason under a good signature does not count.
    const w3 = makeDecline(signer, 'job-a', 'w3', 'lacks the task');
    expect(readDeclines([{ ...w3, why: 'runs other code' }], 'job-a', signer).declines.size).toBe(0);
  });

  it('without a key, well-formed tables are read (the heartbeat check is what holds)', () => {
    const { declines, dropped } = readDeclines(
      [{ by: 'w1', why: 'lacks the task' }, 'w2 lacks the task', { by: 'x'.repeat(301), why: '' }],
      'job-a',
      undefined,
    );
    expect([...declines.keys()]).toEqual(['w1']);
    expect(dropped).toHaveLength(2);
    expect(readDeclines('not an array', 'job-a', undefined).declines.size).toBe(0);
  });

  it('a decliner counts only while its heartbeat is live, on the pool, and lacks the task’s code', async () => {
    const store = new MemoryStore();
    const now = Date.now();
    const beat = (name: string, pool: string, sent: number, tasks: Record<string, string>) =>
      store.putBeacon(
        'workers',
        name,
        JSON.stringify({
          name,
          host: 'h',
          pid: 1,
          pool,
          concurrency: 1,
          busy: 0,
          itemsDone: 0,
          coordinating: [],
          maxJobs: 1,
          tasks,
          version: '0.1.0',
          started: sent,
          sent,
        }),
        60_000,
      );
    await beat('lacks', 'p', now, { other: 'h0' });
    await beat('old-code', 'p', now, { chaos: 'h0' });
    await beat('serves', 'p', now, { chaos: 'h1' });
    await beat('quiet', 'p', now - 60_000, {});
    await beat('future', 'p', now + 3_600_000, {});
    await beat('elsewhere', 'q', now, {});
    await store.putBeacon('workers', 'garbage', '{not json', 60_000);
    await store.putBeacon(
      'workers',
      'nulls',
      JSON.stringify({ name: 'nulls', pool: 'p', sent: now, tasks: null }),
      60_000,
    );
    const { decliners, coordinators } = await liveDecliners(store, 'p', 'chaos', 'h1', undefined, now);
    expect([...decliners].sort()).toEqual(['lacks', 'old-code']);
    expect(coordinators).toBe(3); // lacks, old-code and serves: live, of pool p, each coordinating up to 1 job
  });
});

describe('takeovers of a job', () => {
  it(`fails the job once ${MAX_JOB_DEATHS} coordinators died holding it; clean stops take their count back`, async () => {
    const store = new MemoryStore();
    for (let i = 0; i < 5; i++) {
      const t = await countTakeover(store, 'job', `clean-${i}`, signer);
      if (!('release' in t)) throw new Error('a clean stop counted as a death');
      await t.release();
    }
    for (let i = 1; i <= MAX_JOB_DEATHS; i++)
      expect('release' in (await countTakeover(store, 'job', `w${i}`, signer))).toBe(true); // each dies: no release
    const verdict = await countTakeover(store, 'job', 'next', signer);
    expect('poisoned' in verdict && verdict.poisoned).toMatch(
      new RegExp(`died ${MAX_JOB_DEATHS} times while coordinating it \\(last on worker w${MAX_JOB_DEATHS}\\)`),
    );
  });

  it('with a key, a record not signed with it counts for nothing (a store writer cannot fail the job)', async () => {
    const store = new MemoryStore();
    await store.setMeta('job', 'takeovers', Buffer.from(JSON.stringify({ deaths: 99, last: 'forged' })));
    expect('release' in (await countTakeover(store, 'job', 'w', signer))).toBe(true);
    await store.setMeta(
      'job',
      'takeovers',
      sealRecord(new Signer('o'.repeat(32)), 'takeovers', 'job', '{"deaths":99}'),
    );
    expect('release' in (await countTakeover(store, 'job', 'w', signer))).toBe(true);
  });
});
