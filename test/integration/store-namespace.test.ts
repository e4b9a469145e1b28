/**
 * Store namespaces (issue 24): `?prefix=NAME` on a redis:// store URL puts
 * every key the store writes or reads under `NAME:`, so two teams sharing
 * one Redis database never see each other's jobs, results, index or
 * workers; no prefix keeps the key names fj always used. On the real Redis
 * at FJ_TEST_REDIS_URL, in a database of this run's own (helpers/redis-db.ts),
 * and end to end with real `fj` processes and a real `fj worker`.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.js';
import { redactUrl } from '../../src/core/url.js';
import { openStore } from '../../src/store/open.js';
import { RedisStore } from '../../src/store/redis.js';
import type { IndexEntry } from '../../src/store/job-index.js';
import type { PayloadStore } from '../../src/store/store.js';
import { claimRedisDb } from '../helpers/redis-db.js';
import { redisAvailable, requireServices } from '../helpers/services.js';
import { BROKER_URL, brokerAvailable, deleteQueues, startWorkerProc, stopWorkerProc } from '../helpers/broker.js';
import { runFj } from '../helpers/cli.js';

const BASE = process.env.FJ_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const redisUp = await redisAvailable(BASE);
if (!redisUp && requireServices()) throw new Error(`Redis does not answer at ${redactUrl(BASE)}, and CI requires it`);
if (!redisUp) console.warn(`SKIPPING Redis namespace tests: nothing answers at ${redactUrl(BASE)}`);
const db = redisUp ? await claimRedisDb(BASE) : undefined;
const admin = db ? new Redis(db.url) : undefined;
afterAll(async () => {
  admin?.disconnect();
  await db?.release();
});

/** Every key in the test database but the claim, sorted. */
async function allKeys(): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await admin!.scan(cursor, 'MATCH', '*', 'COUNT', 1000);
    cursor = next;
    keys.push(...found);
  } while (cursor !== '0');
  return keys.filter((k) => k !== 'fj-test:claim').sort();
}

function entry(id: string): IndexEntry {
  const now = Date.now();
  return { id, task: 'wordcount', label: id, state: 'queued', submitted: now, expires: now + 3600_000 };
}

/** One job with a payload, a record, an index entry and a worker beacon: every kind of key the store writes. */
async function fill(store: PayloadStore, job: string): Promise<string> {
  const ref = await store.put(job, new TextEncoder().encode(`payload of ${job}`));
  await store.setMeta(job, 'manifest', new TextEncoder().encode(`manifest of ${job}`));
  await store.indexJob(entry(job));
  await store.putBeacon('workers', `w-${job}`, `beacon of ${job}`, 60_000);
  return ref;
}

describe.skipIf(!redisUp)('a Redis store prefix (?prefix=) is a namespace', () => {
  it('two prefixes on one database see nothing of each other; keys live under the prefix; no prefix keeps the old names', async () => {
    await db!.wipe();
    const a = await openStore(`${db!.url}?prefix=team-a`);
    const b = await openStore(`${db!.url}?prefix=team_b.2`);
    const bare = await openStore(db!.url);
    try {
      const refA = await fill(a, 'job-a');
      const refBare = await fill(bare, 'job-bare');

      // A's job, listed and read by A only.
      expect((await a.listJobs({ limit: 10 })).entries.map((e) => e.id)).toEqual(['job-a']);
      expect((await b.listJobs({ limit: 10 })).entries).toEqual([]);
      expect((await bare.listJobs({ limit: 10 })).entries.map((e) => e.id)).toEqual(['job-bare']);
      expect(new TextDecoder().decode(await a.get(refA))).toBe('payload of job-a');
      await expect(b.get(refA)).rejects.toThrow(/job-a/);
      await expect(bare.get(refA)).rejects.toThrow(/job-a/);
      await expect(a.get(refBare)).rejects.toThrow(/job-bare/);
      expect(await b.getMeta('job-a', 'manifest')).toBeUndefined();
      expect(await bare.getMeta('job-a', 'manifest')).toBeUndefined();
      expect(await b.indexEntry('job-a')).toBeUndefined();
      expect(await a.indexEntry('job-bare')).toBeUndefined();
      expect((await a.listBeacons('workers')).map((w) => w.name)).toEqual(['w-job-a']);
      expect(await b.listBeacons('workers')).toEqual([]);
      expect((await bare.listBeacons('workers')).map((w) => w.name)).toEqual(['w-job-bare']);

      // The keys themselves: A's all start with "team-a:"; the unprefixed store's are fj's names of old.
      expect(await allKeys()).toEqual(
        [
          'fj:beacon:workers:w-job-bare',
          'fj:index',
          'fj:job:job-bare',
          'team-a:fj:beacon:workers:w-job-a',
          'team-a:fj:index',
          'team-a:fj:job:job-a',
        ].sort(),
      );

      // A delete under B leaves A's job alone; under A it removes it and its index entry.
      await b.deleteJob('job-a');
      expect(await a.getMeta('job-a', 'manifest')).toBeDefined();
      await a.deleteJob('job-a');
      expect(await admin!.exists('team-a:fj:job:job-a')).toBe(0);
      expect(await admin!.zcard('team-a:fj:index')).toBe(0);
      expect(await admin!.zcard('fj:index')).toBe(1);
    } finally {
      await Promise.all([a.close(), b.close(), bare.close()]);
    }
  });

  it('the URL shown keeps the prefix and hides the password', async () => {
    const store = await openStore(`${db!.url}?prefix=team-a`);
    try {
      expect(store.url).toBe(`${db!.url}?prefix=team-a`);
    } finally {
      await store.close();
    }
    expect(redactUrl('redis://u:secret@h:6379/2?prefix=team-a')).toBe('redis://u:***@h:6379/2?prefix=team-a');
    expect(redactUrl('rediss://h:6380/0?password=secret&prefix=team-a')).toBe(
      'rediss://h:6380/0?password=***&prefix=team-a',
    );
  });
});

describe('a bad store URL query is a usage error naming the parameter, before any connection', () => {
  // Port 1: nothing listens there, so a URL that got as far as connecting would fail with a TransportError instead.
  it.each([
    ['redis://127.0.0.1:1/0?prefix=', /prefix.*empty/i],
    ['redis://127.0.0.1:1/0?prefix=team:a', /prefix.*team:a.*A-Z a-z 0-9/],
    ['redis://127.0.0.1:1/0?prefix=team*', /prefix.*team\*/],
    ['redis://127.0.0.1:1/0?prefix=a%20b', /prefix/],
    [`redis://127.0.0.1:1/0?prefix=${'x'.repeat(65)}`, /prefix.*64/],
    ['redis://127.0.0.1:1/0?prefix=a&prefix=b', /prefix.*once/],
    ['redis://127.0.0.1:1/0?prefx=team-a', /prefx.*prefix/],
    ['redis://127.0.0.1:1/0?keyPrefix=team-a', /keyPrefix/],
    ['rediss://127.0.0.1:1/0?namespace=team-a', /namespace/],
  ])('%s', async (url, message) => {
    const err = await openStore(url).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(message);
    const direct = await RedisStore.open(url).catch((e: unknown) => e);
    expect(direct).toBeInstanceOf(UsageError);
  });

  it('hides the password in that error too', async () => {
    const err = await openStore('redis://u:hunter2@127.0.0.1:1/0?prefx=a').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).not.toContain('hunter2');
  });

  it('a file:// URL with a query is refused: its directory is its namespace', async () => {
    const err = await openStore('file:///tmp/fj-ns-test?prefix=team-a').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(/directory/);
  });
});

const brokerUp = await brokerAvailable();

describe.skipIf(!redisUp || !brokerUp)('fj with FJ_STORE_URL prefixes, end to end', () => {
  const queue = `fj.test.store-ns.${randomUUID()}`;
  afterAll(async () => {
    for (const q of [queue, `${queue}.jobs`]) await deleteQueues(q).catch(() => {});
  });

  it('a job run and one submitted under prefix A are listed with A, not with B or no prefix; B cannot fetch its result', async () => {
    await db!.wipe();
    const A = `${db!.url}?prefix=team-a`;
    const B = `${db!.url}?prefix=team-b`;
    const file = join(import.meta.dirname, '..', '..', 'examples', 'wordcount.json');
    const envA = { FJ_BROKER_URL: BROKER_URL, FJ_STORE_URL: A };
    const envB = { FJ_BROKER_URL: BROKER_URL, FJ_STORE_URL: B };
    const worker = await startWorkerProc(['--queue', queue, '-c', '1', '--max-jobs', '2'], envA);
    try {
      expect(worker.log()).toContain('prefix=team-a');
      const sub = await runFj(['submit', 'wordcount', file, '--queue', queue, '--wait'], {
        env: envA,
        timeoutMs: 60_000,
      });
      expect(sub.code, sub.stderr).toBe(0);
      const ran = await runFj(['run', 'wordcount', file, '--executor', 'amqp', '--queue', queue], {
        env: envA,
        timeoutMs: 60_000,
      });
      expect(ran.code, ran.stderr).toBe(0);
      expect(sub.stdout).toBe(ran.stdout);

      const listA = await runFj(['jobs', '--json'], { env: envA });
      expect(listA.code, listA.stderr).toBe(0);
      const jobsA = (JSON.parse(listA.stdout) as { jobs: { id: string; state: string; attached?: boolean }[] }).jobs;
      expect(jobsA.map((j) => j.state)).toEqual(['succeeded', 'succeeded']);

      for (const env of [envB, { ...envA, FJ_STORE_URL: db!.url }]) {
        const list = await runFj(['jobs', '--json'], { env });
        expect(list.code, list.stderr).toBe(0);
        expect((JSON.parse(list.stdout) as { jobs: unknown[] }).jobs).toEqual([]);
        const workers = await runFj(['workers', '--json'], { env });
        expect(workers.code, workers.stderr).toBe(0);
        expect(workers.stdout).not.toContain(queue);
      }
      const workersA = await runFj(['workers', '--json'], { env: envA });
      expect(workersA.stdout).toContain(queue);

      const submitted = jobsA.find((j) => !j.attached)!.id;
      const resB = await runFj(['result', submitted], { env: envB });
      expect(resB.code).toBe(2);
      expect(resB.stderr).toContain('prefix=team-b');

      // Every key the job, the run, the index and the worker wrote is under team-a:.
      const keys = await allKeys();
      expect(keys.length).toBeGreaterThan(0);
      expect(keys.filter((k) => !k.startsWith('team-a:'))).toEqual([]);
    } finally {
      await stopWorkerProc(worker);
    }
  }, 120_000);
});
