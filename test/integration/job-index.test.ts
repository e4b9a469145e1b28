/**
 * The job index and beacons, one suite for every store (memory, file,
 * Redis): newest first, filters, pages that say when more match, expiry
 * (entries and their jobs' data gone, never listed), replacing an entry as a
 * job changes state, and beacons that live until their time. Then 10,000
 * finished jobs: listing stays well under 200 ms (the figure itself is
 * bench/jobs-index.mjs's; here it only has to be the right order of size).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { IndexEntry, JobState } from '../../src/store/job-index.js';
import { openStore, redactUrl } from '../../src/store/open.js';
import type { PayloadStore } from '../../src/store/store.js';
import { redisAvailable, requireServices } from '../helpers/services.js';
import { claimRedisDb } from '../helpers/redis-db.js';
import { waitFor } from '../helpers/wait.js';

// A database of its own, claimed for this run (the index is one key per Redis database): see helpers/redis-db.ts.
const REDIS_BASE = process.env.FJ_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const redisUp = await redisAvailable(REDIS_BASE);
if (!redisUp && !requireServices())
  console.warn(`SKIPPING Redis job-index tests: nothing answers at ${redactUrl(REDIS_BASE)}`);
const redisDb = redisUp ? await claimRedisDb(REDIS_BASE) : undefined;
afterAll(() => redisDb?.release());
const fileDir = await mkdtemp(join(tmpdir(), 'fj-index-test-'));
afterAll(() => rm(fileDir, { recursive: true, force: true }));

const cases = [
  { name: 'memory', url: () => 'memory:', skip: false },
  { name: 'file', url: () => `file://${join(fileDir, randomUUID())}`, skip: false },
  { name: 'redis', url: () => redisDb!.url, skip: !redisUp && !requireServices() },
];

const HOUR = 3600_000;

function entry(
  id: string,
  submitted: number,
  state: JobState = 'succeeded',
  task = 'wordcount',
  expires = Date.now() + HOUR,
): IndexEntry {
  return { id, state, task, label: `label of ${id}`, submitted, expires };
}

for (const c of cases) {
  describe.skipIf(c.skip)(`job index: ${c.name} store`, () => {
    let store: PayloadStore;
    const fresh = async () => {
      store = await openStore(c.url());
      if (c.name === 'redis') await redisDb!.wipe();
      return store;
    };
    afterAll(() => store?.close());

    it('lists newest first, filters by state and task, pages with a cursor, and says when more match', async () => {
      await fresh();
      const t0 = Date.now() - 10_000;
      for (let i = 0; i < 30; i++)
        await store.indexJob(
          entry(
            `job-${String(i).padStart(2, '0')}`,
            t0 + i * 10,
            i % 3 === 0 ? 'failed' : 'succeeded',
            i % 2 ? 'align' : 'wordcount',
          ),
        );
      const first = await store.listJobs({ limit: 10 });
      expect(first.entries.map((e) => e.id)).toEqual(Array.from({ length: 10 }, (_, k) => `job-${29 - k}`));
      expect(first.more).toBe(true);
      expect(first.entries[0]).toEqual(entry('job-29', t0 + 290, 'succeeded', 'align', first.entries[0].expires));
      const last = first.entries.at(-1)!;
      const second = await store.listJobs({ limit: 25, before: last });
      expect(second.entries.map((e) => e.id)).toEqual(
        Array.from({ length: 20 }, (_, k) => `job-${String(19 - k).padStart(2, '0')}`),
      );
      expect(second.more).toBe(false);
      const failed = await store.listJobs({ limit: 100, state: 'failed', task: 'align' });
      expect(failed.entries.map((e) => e.id)).toEqual(['job-27', 'job-21', 'job-15', 'job-09', 'job-03']);
      expect(failed.more).toBe(false);
    });

    it('replaces an entry as the job changes state, and the job entry is read back field by field', async () => {
      await fresh();
      const now = Date.now();
      await store.indexJob(entry('moving', now, 'queued'));
      await store.indexJob(entry('moving', now, 'running'));
      await store.indexJob(entry('moving', now, 'succeeded'));
      const all = await store.listJobs({ limit: 10 });
      expect(all.entries.map((e) => [e.id, e.state])).toEqual([['moving', 'succeeded']]);
      expect((await store.indexEntry('moving'))?.state).toBe('succeeded');
      expect(await store.listJobs({ limit: 10, state: 'running' })).toEqual({ entries: [], more: false });
    });

    it('removes an expired job with its data and records: never listed, never read back', async () => {
      await fresh();
      const now = Date.now();
      await store.put('short-lived', new Uint8Array([1, 2, 3]));
      await store.setMeta('short-lived', 'status', new Uint8Array([4]));
      await store.indexJob(entry('short-lived', now, 'succeeded', 'wordcount', now + 300));
      // writes after the entry do not keep the job past its entry's expiry
      await store.setMeta('short-lived', 'cancel', new Uint8Array([5]));
      await store.put('short-lived', new Uint8Array([6]));
      await store.indexJob(entry('long-lived', now - 1, 'succeeded', 'wordcount', now + HOUR));
      expect((await store.listJobs({ limit: 10 })).entries.map((e) => e.id)).toEqual(['short-lived', 'long-lived']);
      await waitFor(
        'the short-lived job to expire',
        async () => (await store.indexEntry('short-lived')) === undefined,
        5000,
        50,
      );
      expect((await store.listJobs({ limit: 10 })).entries.map((e) => e.id)).toEqual(['long-lived']);
      expect(await store.getMeta('short-lived', 'status')).toBeUndefined();
      expect(await store.getMeta('short-lived', 'cancel')).toBeUndefined();
      if (c.name === 'file') expect(await readdir(new URL(store.url).pathname)).not.toContain('short-lived');
    });

    it('deleteJob (fj forget) removes the entry too', async () => {
      await fresh();
      await store.indexJob(entry('forget-me', Date.now()));
      await store.deleteJob('forget-me');
      expect(await store.indexEntry('forget-me')).toBeUndefined();
      expect((await store.listJobs({ limit: 10 })).entries).toEqual([]);
    });

    it('keeps a beacon until its time, then drops it', async () => {
      await fresh();
      await store.putBeacon('workers', 'host.pool.1', '{"a":1}', 400);
      await store.putBeacon('workers', 'host.pool.2', '{"b":2}', HOUR);
      expect((await store.listBeacons('workers')).sort((a, b) => (a.name < b.name ? -1 : 1))).toEqual([
        { name: 'host.pool.1', text: '{"a":1}' },
        { name: 'host.pool.2', text: '{"b":2}' },
      ]);
      await waitFor(
        'the first beacon to expire',
        async () => (await store.listBeacons('workers')).length === 1,
        5000,
        50,
      );
      expect(await store.listBeacons('workers')).toEqual([{ name: 'host.pool.2', text: '{"b":2}' }]);
      await expect(store.putBeacon('workers', '../escape', '', 1000)).rejects.toThrow(/bad beacon name/);
    });

    it('lists the newest of 10,000 finished jobs, and a rare state among them, quickly', async () => {
      await fresh();
      const now = Date.now();
      const batch: Promise<void>[] = [];
      for (let i = 0; i < 10_000; i++) {
        batch.push(store.indexJob(entry(`many-${i}`, now - 10_000 + i, i % 1000 === 7 ? 'failed' : 'succeeded')));
        if (batch.length === 200) await Promise.all(batch.splice(0));
      }
      await Promise.all(batch);
      const times: number[] = [];
      let newest: IndexEntry[] = [];
      let rare: IndexEntry[] = [];
      for (let k = 0; k < 5; k++) {
        const t = performance.now();
        newest = (await store.listJobs({ limit: 20 })).entries;
        rare = (await store.listJobs({ limit: 20, state: 'failed' })).entries;
        times.push(performance.now() - t);
      }
      expect(newest.map((e) => e.id)).toEqual(Array.from({ length: 20 }, (_, k) => `many-${9999 - k}`));
      expect(rare.map((e) => e.id)).toEqual(Array.from({ length: 10 }, (_, k) => `many-${9007 - k * 1000}`));
      // Both listings together; the median of five (a shared, noisy machine: bench/jobs-index.mjs has the figures).
      expect(times.sort((a, b) => a - b)[2]).toBeLessThan(400);
    }, 120_000);
  });
}

describe.skipIf(!redisUp)('a Redis database per test run (helpers/redis-db.ts)', () => {
  it('two runs at once claim two databases, and a wipe of one leaves the other', async () => {
    const [a, b] = await Promise.all([claimRedisDb(REDIS_BASE), claimRedisDb(REDIS_BASE)]);
    const { Redis } = await import('ioredis');
    const ca = new Redis(a.url);
    const cb = new Redis(b.url);
    try {
      expect(a.url).not.toBe(b.url);
      expect(a.url).not.toBe(redisDb!.url);
      await cb.set('kept', '1');
      await ca.set('wiped', '1');
      await a.wipe();
      expect(await ca.get('wiped')).toBeNull();
      expect(await cb.get('kept')).toBe('1');
    } finally {
      ca.disconnect();
      cb.disconnect();
      await a.release();
      await b.release();
    }
    // released: wiped, and free for the next run
    const again = new Redis(b.url);
    expect(await again.dbsize()).toBe(0);
    again.disconnect();
  });
});
