/**
 * A Redis database of a test file's own, for tests that need an empty job
 * index (the index is one key per database and store prefix, and most
 * tests use no prefix). A run claims a free database (`SET fj-test:claim <token> NX`,
 * atomic: two runs at once never hold the same one), keeps the claim alive
 * while it runs, and wipes only the database it holds; a claim left by a
 * killed run expires after a few minutes. Database 0 (where users and the
 * other store tests write) is never claimed; nor are 7 and 8, which older
 * checkouts of these tests still flush without a claim.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';

const CLAIM_KEY = 'fj-test:claim';
const CLAIM_MS = 5 * 60_000;
const DATABASES = [15, 14, 13, 12, 11, 10, 9, 6, 5, 4, 3, 2, 1];

// Empties the database, keeping the claim, only while the claim is ours (one atomic step).
const WIPE = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('FLUSHDB')
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('FLUSHDB')
return 1`;

/** A claimed database: its URL, a wipe (keeps the claim) and a release (wipes it and frees it). */
export interface RedisDb {
  url: string;
  /** Removes every key of the database but the claim; throws if the claim was lost. */
  wipe(): Promise<void>;
  /** Wipes the database and frees it. */
  release(): Promise<void>;
}

/** Claims a free database on the Redis at `base` (any database in it is ignored), emptied for this run; throws when none is free. */
export async function claimRedisDb(base: string): Promise<RedisDb> {
  const token = randomUUID();
  const u = new URL(base);
  u.pathname = '';
  const root = u.href.replace(/\/+$/, '');
  for (const db of DATABASES) {
    const url = `${root}/${db}`;
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
    if ((await client.set(CLAIM_KEY, token, 'PX', CLAIM_MS, 'NX')) !== 'OK') {
      client.disconnect();
      continue;
    }
    const wipe = async () => {
      if ((await client.eval(WIPE, 1, CLAIM_KEY, token, CLAIM_MS)) !== 1)
        throw new Error(`lost the claim on Redis database ${db}`);
    };
    await wipe(); // what a killed run left behind
    const renew = setInterval(() => void client.eval(RENEW, 1, CLAIM_KEY, token, CLAIM_MS).catch(() => {}), 60_000);
    renew.unref();
    return {
      url,
      wipe,
      async release() {
        clearInterval(renew);
        await client.eval(RELEASE, 1, CLAIM_KEY, token).catch(() => {});
        await client.quit().catch(() => {});
      },
    };
  }
  throw new Error(`no free Redis database at ${root} for this test (all of ${DATABASES.join(', ')} are claimed)`);
}
