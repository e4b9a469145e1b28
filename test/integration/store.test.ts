/**
 * One conformance suite for every PayloadStore (memory, file, Redis), then
 * what only one of them promises. Redis is the real server at
 * FJ_TEST_REDIS_URL (default redis://127.0.0.1:6379); see helpers/services.ts
 * for when its tests skip and when they must fail.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TransportError, UsageError } from '../../src/core/errors.js';
import { FileStore } from '../../src/store/file.js';
import { MemoryStore } from '../../src/store/memory.js';
import { DEFAULT_STORE_DIR, openStore, redactUrl } from '../../src/store/open.js';
import { DEFAULT_REDIS_TTL_SECONDS, RedisStore } from '../../src/store/redis.js';
import type { PayloadStore } from '../../src/store/store.js';
import { redisAvailable, requireServices } from '../helpers/services.js';

const BASE_REDIS_URL = process.env.FJ_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const SECRET = 'fj-test-s3cret';
// Put a password in the URL so every test checks it never leaks. Redis's
// `default` user accepts any password unless one is configured, in which
// case FJ_TEST_REDIS_URL carries the real one and that is the secret.
const REDIS_URL = new URL(BASE_REDIS_URL).password
  ? BASE_REDIS_URL
  : BASE_REDIS_URL.replace('://', `://default:${SECRET}@`);
const REDIS_SECRET = new URL(REDIS_URL).password;

const redisUp = await redisAvailable(REDIS_URL);
const skipRedis = !redisUp && !requireServices();
if (skipRedis) {
  console.warn(
    `SKIPPING Redis store tests: nothing answers at ${redactUrl(REDIS_URL)} (set FJ_TEST_REDIS_URL; under CI=true or FJ_REQUIRE_BROKER=1 they fail instead)`,
  );
}

const fileDir = await mkdtemp(join(tmpdir(), 'fj-store-test-'));
let redisAdmin: Redis | undefined;
afterAll(async () => {
  await rm(fileDir, { recursive: true, force: true });
  redisAdmin?.disconnect();
});

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

interface Case {
  name: string;
  url: string;
  skip: boolean;
  /** How many payloads the job holds, counted behind the store's back (temp files included). */
  count(store: PayloadStore, jobId: string): Promise<number>;
  /** Writes `bytes` under the job and hash behind the store's back, as someone with access to it could; absent where no one else can. */
  plant?(jobId: string, hash: string, bytes: Uint8Array): Promise<void>;
}

const cases: Case[] = [
  { name: 'memory', url: 'memory:', skip: false, count: async (s, job) => (s as MemoryStore).count(job) },
  {
    name: 'file',
    url: `file://${fileDir}`,
    skip: false,
    count: (_s, job) =>
      readdir(join(fileDir, job)).then(
        (names) => names.length,
        () => 0,
      ),
    plant: async (job, hash, bytes) => {
      await mkdir(join(fileDir, job), { recursive: true });
      await writeFile(join(fileDir, job, hash), bytes);
    },
  },
  {
    name: 'redis',
    url: REDIS_URL,
    skip: skipRedis,
    count: (_s, job) => (redisAdmin ??= new Redis(REDIS_URL)).hlen(`fj:job:${job}`),
    plant: async (job, hash, bytes) => {
      await (redisAdmin ??= new Redis(REDIS_URL)).hset(`fj:job:${job}`, hash, Buffer.from(bytes));
    },
  },
];

describe.each(cases)('$name store', (c) => {
  describe.skipIf(c.skip)('conformance', () => {
    let store: PayloadStore;
    const jobs: string[] = [];
    const newJob = () => {
      const id = randomUUID();
      jobs.push(id);
      return id;
    };

    beforeAll(async () => {
      store = await openStore(c.url);
    });
    afterEach(async () => {
      await Promise.all(jobs.splice(0).map((id) => store.deleteJob(id)));
    });
    afterAll(async () => {
      await store?.close();
    });

    it('round-trips every byte value, and the ref is <jobId>/<sha256>', async () => {
      const job = newJob();
      const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
      const ref = await store.put(job, bytes);
      expect(ref).toBe(`${job}/${sha256(bytes)}`);
      expect(same(await store.get(ref), bytes)).toBe(true);
    });

    it('round-trips an empty payload and a 5 MB one', async () => {
      const job = newJob();
      const empty = new Uint8Array(0);
      const big = randomBytes(5 * 1024 * 1024);
      const [emptyRef, bigRef] = await Promise.all([store.put(job, empty), store.put(job, big)]);
      expect((await store.get(emptyRef)).byteLength).toBe(0);
      expect(same(await store.get(bigRef), big)).toBe(true);
    });

    it('stores the same bytes once, under the same ref', async () => {
      const job = newJob();
      const bytes = randomBytes(1000);
      const first = await store.put(job, bytes);
      expect(await store.put(job, Buffer.from(bytes))).toBe(first);
      expect(await c.count(store, job)).toBe(1);
      await store.put(job, randomBytes(1000));
      expect(await c.count(store, job)).toBe(2);
    });

    it('keeps what was put even if the caller reuses its buffer', async () => {
      const job = newJob();
      const bytes = Buffer.from('original');
      const ref = await store.put(job, bytes);
      bytes.fill(0);
      expect(Buffer.from(await store.get(ref)).toString()).toBe('original');
    });

    it('keeps jobs apart', async () => {
      const [a, b] = [newJob(), newJob()];
      const onlyInA = randomBytes(64);
      const shared = randomBytes(64);
      await store.put(a, onlyInA);
      const [refA, refB] = [await store.put(a, shared), await store.put(b, shared)];
      expect(refA).not.toBe(refB);
      await expect(store.get(`${b}/${sha256(onlyInA)}`)).rejects.toThrow(TransportError);
      await store.deleteJob(a);
      expect(same(await store.get(refB), shared)).toBe(true);
    });

    it('rejects a missing ref with a TransportError naming it', async () => {
      const ref = `${newJob()}/${sha256(randomBytes(8))}`;
      const err = await store.get(ref).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransportError);
      expect((err as Error).message).toContain(ref);
    });

    it('rejects malformed refs and unsafe job ids with a TransportError naming them', async () => {
      const hash = sha256(new Uint8Array(1));
      for (const ref of [
        'nohash',
        `job/xyz`,
        `../${hash}`,
        `job/../${hash}`,
        `job/${hash.toUpperCase()}`,
        `job/${hash}/x`,
        '/etc/passwd',
      ]) {
        await expect(store.get(ref), ref).rejects.toThrow(TransportError);
        await expect(store.get(ref), ref).rejects.toThrow(JSON.stringify(ref));
      }
      for (const job of ['', '.', '..', '../x', 'a/b', 'a..b', '.hidden', 'a b', 'x'.repeat(129)]) {
        await expect(store.put(job, new Uint8Array(1)), job).rejects.toThrow(TransportError);
        await expect(store.deleteJob(job), job).rejects.toThrow(JSON.stringify(job));
      }
    });

    it('deleteJob removes the data, and is fine on an unknown job', async () => {
      const job = newJob();
      const ref = await store.put(job, randomBytes(100));
      await store.deleteJob(job);
      expect(await c.count(store, job)).toBe(0);
      await expect(store.get(ref)).rejects.toThrow(TransportError);
      await store.deleteJob(job);
      await store.deleteJob(randomUUID());
    });

    it('survives concurrent puts of the same bytes', async () => {
      const job = newJob();
      const bytes = randomBytes(1024 * 1024);
      const refs = await Promise.all(Array.from({ length: 16 }, () => store.put(job, bytes)));
      expect(new Set(refs).size).toBe(1);
      expect(await c.count(store, job)).toBe(1);
      expect(same(await store.get(refs[0]), bytes)).toBe(true);
    });

    it.skipIf(!c.plant)(
      'refuses bytes planted under a hash name they do not have, and a put replaces them',
      async () => {
        const job = newJob();
        const genuine = Buffer.from('{"documents":["work hard"]}');
        const hash = sha256(genuine);
        const ref = `${job}/${hash}`;
        // Same length as the genuine bytes: a size check cannot tell them apart.
        await c.plant!(job, hash, Buffer.from('{"documents":["rk j rk j"]}'.slice(0, genuine.length)));
        const err = await store.get(ref).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(TransportError);
        expect((err as Error).message).toContain(ref);
        expect((err as Error).message).toMatch(/does not match/);
        expect((err as TransportError).resumable).toBe(false); // waiting will not make them match
        expect(await store.put(job, genuine)).toBe(ref);
        expect(same(await store.get(ref), genuine)).toBe(true);
      },
    );

    it('never shows the password in its url', () => {
      expect(store.url).toBe(redactUrl(c.url));
      if (c.name === 'redis') expect(store.url).not.toContain(REDIS_SECRET);
    });
  });
});

describe('file store', () => {
  let store: FileStore;
  let job: string;
  beforeAll(async () => {
    store = await FileStore.open(join(fileDir, 'specifics', 'nested'));
  });
  afterEach(() => store.deleteJob(job));

  it('lays out DIR/<jobId>/<sha256> and leaves no temp files behind', async () => {
    job = randomUUID();
    const payloads = Array.from({ length: 8 }, () => randomBytes(256 * 1024));
    await Promise.all(payloads.flatMap((p) => [store.put(job, p), store.put(job, p)]));
    const names = await readdir(join(store.dir, job));
    expect(names.sort()).toEqual(payloads.map(sha256).sort());
  });

  it('does not rewrite a payload that is already there', async () => {
    job = randomUUID();
    const bytes = randomBytes(1000);
    const ref = await store.put(job, bytes);
    const before = await stat(join(store.dir, ref));
    await store.put(job, bytes);
    const after = await stat(join(store.dir, ref));
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
  });

  it('rewrites a payload file left short (a crash mid-write)', async () => {
    job = randomUUID();
    const bytes = randomBytes(1000);
    const ref = await store.put(job, bytes);
    await writeFile(join(store.dir, ref), bytes.subarray(0, 10));
    await store.put(job, bytes);
    expect(same(await store.get(ref), bytes)).toBe(true);
  });

  it('never lets a reader see a partial file', async () => {
    job = randomUUID();
    const bytes = randomBytes(5 * 1024 * 1024);
    const ref = `${job}/${sha256(bytes)}`;
    let done = false;
    const put = store.put(job, bytes).finally(() => (done = true));
    let misses = 0;
    while (!done) {
      const got = await store.get(ref).catch(() => undefined);
      if (got) expect(got.byteLength).toBe(bytes.byteLength);
      else misses++;
    }
    await put;
    expect(misses).toBeGreaterThan(0);
  });

  it('beacons and the job index carry on when their directories are removed under a live store', async () => {
    job = randomUUID();
    const own = await FileStore.open(join(fileDir, 'specifics', 'removed'));
    await own.putBeacon('workers', 'w1', 'one', 60_000);
    expect(await own.listBeacons('workers')).toEqual([{ name: 'w1', text: 'one' }]);
    await rm(join(own.dir, '.beacons'), { recursive: true });
    expect(await own.listBeacons('workers')).toEqual([]); // made again, empty
    await own.putBeacon('workers', 'w2', 'two', 60_000);
    await rm(join(own.dir, '.beacons'), { recursive: true });
    await own.putBeacon('workers', 'w3', 'three', 60_000); // written after the directories are made again
    expect(await own.listBeacons('workers')).toEqual([{ name: 'w3', text: 'three' }]);
    // A directory replaced by a file is still refused, not written through.
    await rm(join(own.dir, '.beacons'), { recursive: true });
    await writeFile(join(own.dir, '.beacons'), 'not a directory');
    await expect(own.putBeacon('workers', 'w4', 'four', 60_000)).rejects.toThrow(
      /\.beacons is not a directory: refused/,
    );
  });
});

describe('file store: who can write it', () => {
  it('refuses a job directory that is a symlink, and writes nothing through it', async () => {
    const root = await mkdtemp(join(fileDir, 'links-'));
    const store = await FileStore.open(root);
    const elsewhere = await mkdtemp(join(fileDir, 'elsewhere-'));
    const job = randomUUID();
    await symlink(elsewhere, join(root, job));
    const put = await store.put(job, randomBytes(10)).catch((e: unknown) => e);
    expect(put).toBeInstanceOf(TransportError);
    expect((put as Error).message).toMatch(/symbolic link/);
    expect((put as Error).message).toContain(join(root, job));
    await writeFile(join(elsewhere, sha256(Buffer.from('x'))), 'x');
    await expect(store.get(`${job}/${sha256(Buffer.from('x'))}`)).rejects.toThrow(/symbolic link/);
    await expect(store.setMeta(job, 'status', Buffer.from('{}'))).rejects.toThrow(/symbolic link/);
    await expect(store.getMeta(job, 'status')).rejects.toThrow(/symbolic link/);
    expect(await readdir(elsewhere)).toEqual([sha256(Buffer.from('x'))]);
  });

  it('refuses a payload file that is a symlink', async () => {
    const root = await mkdtemp(join(fileDir, 'links-'));
    const store = await FileStore.open(root);
    const job = randomUUID();
    const bytes = Buffer.from('linked');
    const target = join(fileDir, `target-${randomUUID()}`);
    await writeFile(target, bytes);
    await mkdir(join(root, job), { mode: 0o700 });
    await symlink(target, join(root, job, sha256(bytes)));
    await expect(store.get(`${job}/${sha256(bytes)}`)).rejects.toThrow(TransportError);
  });

  it('refuses a store directory others can write to, naming it and its mode', async () => {
    for (const mode of [0o777, 0o775]) {
      const root = await mkdtemp(join(fileDir, 'open-'));
      await chmod(root, mode);
      const err = await FileStore.open(root).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransportError);
      expect((err as Error).message).toContain(root);
      expect((err as Error).message).toContain(`writable by others (mode 0${mode.toString(8)}`);
      expect((err as TransportError).resumable).toBe(false);
    }
  });

  it('refuses a store directory under a directory others can write to', async () => {
    const open = await mkdtemp(join(fileDir, 'open-parent-'));
    await chmod(open, 0o777);
    const err = await FileStore.open(join(open, 'store')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as Error).message).toContain(open);
  });

  it('accepts a sticky shared directory of ours (like /tmp), and keeps each job private', async () => {
    const root = await mkdtemp(join(fileDir, 'sticky-'));
    await chmod(root, 0o1777);
    const store = await FileStore.open(root);
    const job = randomUUID();
    await store.put(job, randomBytes(10));
    expect((await stat(join(root, job))).mode & 0o777).toBe(0o700);
  });

  it('creates new directories private (0700)', async () => {
    const root = join(await mkdtemp(join(fileDir, 'new-')), 'a', 'b');
    const store = await FileStore.open(root);
    expect((await stat(root)).mode & 0o777).toBe(0o700);
    expect((await stat(join(root, '..'))).mode & 0o777).toBe(0o700);
    const job = randomUUID();
    await store.put(job, randomBytes(10));
    await store.setMeta(randomUUID(), 'status', Buffer.from('{}'));
    expect((await stat(join(root, job))).mode & 0o777).toBe(0o700);
  });

  it('refuses a job directory another user could write to', async () => {
    const root = await mkdtemp(join(fileDir, 'jobdir-'));
    const store = await FileStore.open(root);
    const job = randomUUID();
    await mkdir(join(root, job));
    await chmod(join(root, job), 0o777);
    await expect(store.put(job, randomBytes(10))).rejects.toThrow(/writable by others/);
  });
});

describe('openStore', () => {
  it('creates the directory of a file:// URL, and defaults to DEFAULT_STORE_DIR', async () => {
    const dir = join(fileDir, 'made', 'by', 'open');
    const store = await openStore(`file://${dir}`);
    expect(store).toBeInstanceOf(FileStore);
    expect((await stat(dir)).isDirectory()).toBe(true);
    for (const url of [undefined, '', '  '])
      expect((await openStore(url)) as FileStore).toMatchObject({ dir: DEFAULT_STORE_DIR });
  });

  it('opens memory: as a MemoryStore', async () => {
    expect(await openStore('memory:')).toBeInstanceOf(MemoryStore);
  });

  it('refuses other schemes with a UsageError naming the URL without its password', async () => {
    const err = await openStore('ftp://bob:hunter22@example.com/x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toContain('ftp://bob:***@example.com/x');
    expect((err as Error).message).not.toContain('hunter22');
    expect((err as Error).message).toMatch(/memory:.*file:\/\/.*redis:\/\/.*rediss:\/\//);
  });

  it('redactUrl hides passwords and leaves other URLs alone', () => {
    expect(redactUrl('amqp://guest:guest@127.0.0.1:5672')).toBe('amqp://guest:***@127.0.0.1:5672');
    expect(redactUrl('redis://:pw@h:6379/2')).toBe('redis://:***@h:6379/2');
    expect(redactUrl('rediss://h:6380?password=pw')).toBe('rediss://h:6380?password=***');
    expect(redactUrl('redis://h:6379')).toBe('redis://h:6379');
    expect(redactUrl('not a url //u:pw@h')).not.toContain('pw');
  });
});

describe.skipIf(skipRedis)('redis store', () => {
  it('fails fast, with a TransportError and no password, when Redis is unreachable', async () => {
    const started = Date.now();
    const err = await openStore(`redis://default:${SECRET}@127.0.0.1:1`).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as Error).message).toContain('redis://default:***@127.0.0.1:1');
    expect((err as Error).message).toContain('ECONNREFUSED');
    expect(String((err as Error).stack) + String((err as Error).cause)).not.toContain(SECRET);
  });

  it('turns bad credentials into a TransportError without the password', async () => {
    const url = new URL(REDIS_URL);
    url.username = `fj-no-such-user-${randomUUID()}`;
    const err = await RedisStore.open(url.href).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as Error).message).toMatch(/WRONGPASS|NOAUTH|invalid/i);
    expect((err as Error).message).not.toContain(REDIS_SECRET);
  });

  it('every kind of write leaves an expiry: a record, an index entry (job and index), a beacon', async () => {
    const store = await RedisStore.open(REDIS_URL);
    const admin = (redisAdmin ??= new Redis(REDIS_URL));
    const job = `ttl-${randomUUID()}`;
    const beacon = `ttl-${randomUUID()}`;
    try {
      // a record alone, before any payload or entry
      await store.setMeta(job, 'status', Buffer.from('{}'));
      const ttl = await admin.ttl(`fj:job:${job}`);
      expect(ttl).toBeGreaterThan(DEFAULT_REDIS_TTL_SECONDS - 60);
      expect(ttl).toBeLessThanOrEqual(DEFAULT_REDIS_TTL_SECONDS);
      // an entry sets the job's expiry to its own (here, past the leak guard) and the index lives at least as long
      const expires = Date.now() + 30 * 24 * 3600_000;
      await store.indexJob({ id: job, state: 'running', task: 't', label: '', submitted: Date.now(), expires });
      expect(Number(await admin.call('PEXPIRETIME', `fj:job:${job}`))).toBe(expires);
      expect(Number(await admin.call('PEXPIRETIME', 'fj:index'))).toBeGreaterThanOrEqual(expires);
      // a beacon lives its ttl
      await store.putBeacon('workers', beacon, 'x', 5000);
      const pttl = await admin.pttl(`fj:beacon:workers:${beacon}`);
      expect(pttl).toBeGreaterThan(0);
      expect(pttl).toBeLessThanOrEqual(5000);
    } finally {
      await store.deleteJob(job);
      await admin.del(`fj:beacon:workers:${beacon}`);
      await store.close();
    }
  });

  it('a finished job keeps its retention: a later write does not extend it to the leak guard', async () => {
    const store = await RedisStore.open(REDIS_URL);
    const admin = (redisAdmin ??= new Redis(REDIS_URL));
    const job = `ttl-${randomUUID()}`;
    try {
      const expires = Date.now() + 3600_000;
      await store.indexJob({ id: job, state: 'succeeded', task: 't', label: '', submitted: Date.now(), expires });
      await store.setMeta(job, 'status', Buffer.from('{}'));
      await store.put(job, randomBytes(10));
      expect(Number(await admin.call('PEXPIRETIME', `fj:job:${job}`))).toBe(expires);
    } finally {
      await store.deleteJob(job);
      await store.close();
    }
  });

  it('puts an expiry on job data as a leak guard', async () => {
    const store = await RedisStore.open(REDIS_URL);
    const job = randomUUID();
    try {
      await store.put(job, randomBytes(10));
      const ttl = await (redisAdmin ??= new Redis(REDIS_URL)).ttl(`fj:job:${job}`);
      expect(ttl).toBeGreaterThan(DEFAULT_REDIS_TTL_SECONDS - 60);
      expect(ttl).toBeLessThanOrEqual(DEFAULT_REDIS_TTL_SECONDS);
    } finally {
      await store.deleteJob(job);
      await store.close();
    }
  });
});
