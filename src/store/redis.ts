/**
 * The Redis payload store (`redis://[user:pass@]HOST:PORT[/DB]`, `rediss://`
 * for TLS). One Redis hash per job, `fj:job:<jobId>`, field = sha256 hex,
 * value = the bytes:
 * - put is one HSET: the same bytes are stored once however many workers
 *   race to put them (one field per hash), and a value someone else wrote
 *   under that hash is replaced rather than trusted (HSETNX would keep it;
 *   the bytes cross the network either way);
 * - get hashes what it reads and refuses bytes that do not match the ref
 *   (anyone who can write to this Redis can write to the job's hash);
 * - deleteJob is one UNLINK of one key: nothing to enumerate, nothing left
 *   behind if a put races the delete's bookkeeping, and Redis frees a large
 *   job off its main thread;
 * - the expiry is per job, which is the unit of cleanup anyway.
 * The price is that a job lives on one node of a Redis Cluster; fj speaks to
 * a single Redis (no cluster URLs), so nothing is lost today.
 *
 * `?prefix=NAME` on the URL is a namespace: every key this store writes,
 * reads or scans (`NAME:fj:job:<id>`, `NAME:fj:index`,
 * `NAME:fj:beacon:...`) starts with `NAME:`, so stores with different
 * prefixes on one database never see each other's jobs, index or workers.
 * Without one the keys are fj's names of old (`fj:job:<id>`, ...). NAME has
 * no `:` and no glob characters, so no prefix's keys match another's (or
 * the unprefixed store's) SCAN pattern.
 */
import { Redis } from 'ioredis';
import { TransportError, UsageError } from '../core/errors.js';
import { checkJobId, hashBytes, makeRef, metaKey, missingRef, parseRef, verified } from './memory.js';
import { redactUrl } from '../core/url.js';
import {
  checkBeaconName,
  checkEntry,
  checkTtl,
  matches,
  readEntry,
  type BeaconKind,
  type IndexEntry,
  type IndexPage,
  type IndexQuery,
} from './job-index.js';
import type { PayloadStore, Ref } from './store.js';

/** Seven days: longer than any job should run, short enough that a crashed coordinator's data does not stay forever. */
export const DEFAULT_REDIS_TTL_SECONDS = 7 * 24 * 60 * 60;

export interface RedisStoreOptions {
  /**
   * Seconds a job's data lives after its last put; 0 keeps it until
   * deleteJob. A leak guard for jobs whose coordinator died before cleaning
   * up. Default {@link DEFAULT_REDIS_TTL_SECONDS}.
   */
  ttlSeconds?: number;
  /** Milliseconds to wait for the TCP (and TLS) connection. Default 3000. */
  connectTimeoutMs?: number;
}

/** The query parameters a store URL may carry; any other is refused, so a typo (`?prefx=`) cannot silently share a namespace. */
const QUERY_PARAMS = ['prefix', 'password', 'family'];
const PREFIX = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * What a `redis://` / `rediss://` store URL names: the URL ioredis connects
 * to (without `prefix`) and the key prefix (`''` for none, else `NAME:`).
 * Throws UsageError, naming the parameter and the URL without its password,
 * for an unknown query parameter or a prefix that is empty, repeated, longer
 * than 64 characters or not all of A-Z a-z 0-9 . _ -.
 */
export function parseRedisStoreUrl(url: string): { connectUrl: string; keyPrefix: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(
      `store URL ${redactUrl(url)} is not a valid URL; expected redis://[user:pass@]HOST:PORT[/DB][?prefix=NAME]`,
    );
  }
  const where = `in store URL ${redactUrl(url)}`;
  for (const key of new Set(parsed.searchParams.keys()))
    if (!QUERY_PARAMS.includes(key))
      throw new UsageError(
        `unknown query parameter '${key}' ${where}: a Redis store URL takes ${QUERY_PARAMS.map((k) => `'${k}'`).join(', ')} (a namespace is '?prefix=NAME')`,
      );
  const prefixes = parsed.searchParams.getAll('prefix');
  if (prefixes.length === 0) return { connectUrl: url, keyPrefix: '' };
  if (prefixes.length > 1) throw new UsageError(`'prefix' is given ${prefixes.length} times ${where}: give it once`);
  const name = prefixes[0];
  if (!name)
    throw new UsageError(
      `'prefix' is empty ${where}: give a name (?prefix=team-a), or leave the parameter out for no namespace`,
    );
  if (!PREFIX.test(name))
    throw new UsageError(
      `'prefix' ${JSON.stringify(name)} ${where} is not a valid namespace: expected 1-64 characters of A-Z a-z 0-9 . _ - (no ':', spaces or glob characters)`,
    );
  parsed.searchParams.delete('prefix');
  return { connectUrl: parsed.href, keyPrefix: `${name}:` };
}

/** The job index: a sorted set of job ids by submission time; each entry itself is a field of its job's hash, so it expires with the job. */
const INDEX_KEY = 'fj:index';
const ENTRY_FIELD = 'meta-index';
/** The leak guard (see `#expire`): KEYS[1] the job's hash, ARGV[1] seconds, ARGV[2] the entry's field. */
const EXPIRE_SCRIPT = `redis.call('EXPIRE', KEYS[1], ARGV[1], 'NX')
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0 then redis.call('EXPIRE', KEYS[1], ARGV[1], 'GT') end
return 0`;

/** Payloads in Redis, shared by every host that can reach it. */
export class RedisStore implements PayloadStore {
  readonly url: string;
  readonly #client: Redis;
  readonly #ttl: number;
  /** Before every key: `''`, or the URL's `prefix` and a colon. */
  readonly #ns: string;
  readonly #index: string;
  readonly #secrets: string[];
  /** ioredis reports the real cause (ECONNREFUSED, WRONGPASS) as an event, then rejects with "Connection is closed." */
  #lastError: Error | undefined;

  private constructor(url: string, client: Redis, ttl: number, keyPrefix: string) {
    this.url = redactUrl(url);
    this.#client = client;
    this.#ttl = ttl;
    this.#ns = keyPrefix;
    this.#index = `${keyPrefix}${INDEX_KEY}`;
    this.#secrets = secretsOf(url);
    client.on('error', (err: Error) => {
      this.#lastError = err;
    });
    // A reconnect heals the connection: an old error must not explain a new failure.
    client.on('ready', () => {
      this.#lastError = undefined;
    });
  }

  /**
   * Connects and resolves once Redis answers; rejects with TransportError
   * within about `connectTimeoutMs` when it cannot. Fails fast on purpose: a
   * job that cannot store its payloads should say so, not hang. `?prefix=NAME`
   * puts every key under `NAME:` (see the module comment); a bad URL query
   * is a UsageError before any connection (see {@link parseRedisStoreUrl}).
   */
  static async open(url: string, options: RedisStoreOptions = {}): Promise<RedisStore> {
    const ttl = options.ttlSeconds ?? DEFAULT_REDIS_TTL_SECONDS;
    if (!Number.isInteger(ttl) || ttl < 0)
      throw new TypeError(`Expected \`ttlSeconds\` to be an integer from 0 and up, got \`${ttl}\``);
    const { connectUrl, keyPrefix } = parseRedisStoreUrl(url);
    const client = new Redis(connectUrl, {
      lazyConnect: true,
      connectTimeout: options.connectTimeoutMs ?? 3000,
      // A command waits through at most two reconnect attempts, then fails,
      // instead of queueing forever while Redis is down.
      maxRetriesPerRequest: 2,
      // Keep reconnecting (capped backoff) so a Redis restart mid-job heals.
      retryStrategy: (times) => Math.min(times * 200, 2000),
    });
    const store = new RedisStore(url, client, ttl, keyPrefix);
    try {
      await client.connect();
    } catch (err) {
      client.disconnect();
      throw store.#fail('connect', err, false);
    }
    return store;
  }

  async put(jobId: string, bytes: Uint8Array): Promise<Ref> {
    const hash = hashBytes(bytes);
    const ref = makeRef(checkJobId(jobId), hash);
    const key = this.#jobKey(jobId);
    const tx = this.#client.multi().hset(key, hash, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    // In the same transaction, so no job key ever exists without its expiry.
    this.#expire(tx, key);
    try {
      for (const [err] of (await tx.exec()) ?? []) if (err) throw err;
    } catch (err) {
      throw this.#fail(`put ${ref}`, err);
    }
    return ref;
  }

  async get(ref: Ref): Promise<Uint8Array> {
    const { jobId, hash } = parseRef(ref);
    let bytes: Buffer | null;
    try {
      bytes = await this.#client.hgetBuffer(this.#jobKey(jobId), hash);
    } catch (err) {
      throw this.#fail(`get ${ref}`, err);
    }
    if (!bytes) throw missingRef(ref, this.url);
    return verified(ref, hash, bytes, this.url);
  }

  async setMeta(jobId: string, name: string, bytes: Uint8Array): Promise<void> {
    const key = this.#jobKey(checkJobId(jobId));
    const tx = this.#client
      .multi()
      .hset(key, metaKey(name), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    this.#expire(tx, key);
    try {
      for (const [err] of (await tx.exec()) ?? []) if (err) throw err;
    } catch (err) {
      throw this.#fail(`write record ${name} of job ${jobId}`, err);
    }
  }

  async getMeta(jobId: string, name: string): Promise<Uint8Array | undefined> {
    try {
      return (await this.#client.hgetBuffer(this.#jobKey(checkJobId(jobId)), metaKey(name))) ?? undefined;
    } catch (err) {
      throw this.#fail(`read record ${name} of job ${jobId}`, err);
    }
  }

  async deleteJob(jobId: string): Promise<void> {
    try {
      await this.#client
        .multi()
        .unlink(this.#jobKey(checkJobId(jobId)))
        .zrem(this.#index, jobId)
        .exec();
    } catch (err) {
      throw this.#fail(`delete job ${jobId}`, err);
    }
  }

  /**
   * The job's hash expires at the entry's `expires` (set, not only
   * extended: a finished job's retention can be shorter than a running
   * one's leak guard); the index itself expires with its longest-lived entry.
   */
  async indexJob(entry: IndexEntry): Promise<void> {
    const e = checkEntry(entry);
    const key = this.#jobKey(checkJobId(e.id));
    const tx = this.#client
      .multi()
      .hset(key, ENTRY_FIELD, JSON.stringify(e))
      .pexpireat(key, e.expires)
      .zadd(this.#index, e.submitted, e.id)
      .call('PEXPIREAT', this.#index, e.expires, 'NX')
      .call('PEXPIREAT', this.#index, e.expires, 'GT');
    try {
      for (const [err] of (await tx.exec()) ?? []) if (err) throw err;
    } catch (err) {
      throw this.#fail(`index job ${e.id}`, err);
    }
  }

  async indexEntry(jobId: string): Promise<IndexEntry | undefined> {
    let text: string | null;
    try {
      text = await this.#client.hget(this.#jobKey(checkJobId(jobId)), ENTRY_FIELD);
    } catch (err) {
      throw this.#fail(`read the index entry of job ${jobId}`, err);
    }
    const e = text ? readEntry(text) : undefined;
    return e && e.id === jobId ? e : undefined;
  }

  /** Walks the sorted set newest first, a page of ids at a time; ids whose job expired are removed from it on the way. */
  async listJobs(query: IndexQuery): Promise<IndexPage> {
    const entries: IndexEntry[] = [];
    const page = 500;
    const max = query.before ? String(query.before.submitted) : '+inf';
    let offset = 0;
    try {
      for (;;) {
        const ids = await this.#client.zrevrangebyscore(this.#index, max, '-inf', 'LIMIT', offset, page);
        if (ids.length === 0) return { entries, more: false };
        const pipe = this.#client.pipeline();
        for (const id of ids) pipe.hget(this.#jobKey(id), ENTRY_FIELD);
        const rows = (await pipe.exec()) ?? [];
        const gone: string[] = [];
        for (let k = 0; k < ids.length; k++) {
          const text = rows[k]?.[1] as string | null;
          const e = text ? readEntry(text) : undefined;
          if (!e || e.id !== ids[k]) {
            gone.push(ids[k]);
            continue;
          }
          if (!matches(e, query)) continue;
          if (entries.length === query.limit) return { entries, more: true };
          entries.push(e);
        }
        if (gone.length) await this.#client.zrem(this.#index, ...gone);
        if (ids.length < page) return { entries, more: false };
        offset += page - gone.length;
      }
    } catch (err) {
      throw this.#fail('list the job index', err);
    }
  }

  async putBeacon(kind: BeaconKind, name: string, text: string, ttlMs: number): Promise<void> {
    try {
      await this.#client.set(this.#beaconKey(kind, checkBeaconName(name)), text, 'PX', checkTtl(ttlMs));
    } catch (err) {
      throw this.#fail(`write beacon ${name}`, err);
    }
  }

  async listBeacons(kind: BeaconKind): Promise<{ name: string; text: string }[]> {
    const prefix = this.#beaconKey(kind, '');
    const keys: string[] = [];
    try {
      let cursor = '0';
      do {
        const [next, found] = await this.#client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        keys.push(...found);
      } while (cursor !== '0');
      if (keys.length === 0) return [];
      const texts = await this.#client.mget(...keys);
      return keys.flatMap((k, i) => (texts[i] == null ? [] : [{ name: k.slice(prefix.length), text: texts[i] }]));
    } catch (err) {
      throw this.#fail(`list beacons`, err);
    }
  }

  #jobKey(jobId: string): string {
    return `${this.#ns}fj:job:${jobId}`;
  }

  #beaconKey(kind: BeaconKind, name: string): string {
    return `${this.#ns}fj:beacon:${kind}:${name}`;
  }

  /**
   * Gives `key` the store's expiry if it has none, or extends a shorter one
   * while the job has no index entry; never shortens it, and never moves the
   * expiry of an indexed job (its entry's `expires` stands: a finished job's
   * retention is not extended by a later write).
   */
  #expire(tx: ReturnType<Redis['multi']>, key: string): void {
    if (this.#ttl <= 0) return;
    tx.eval(EXPIRE_SCRIPT, 1, key, this.#ttl, ENTRY_FIELD);
  }

  async close(): Promise<void> {
    if (this.#client.status === 'ready') await this.#client.quit().catch(() => this.#client.disconnect());
    else this.#client.disconnect();
  }

  /**
   * A TransportError for a failed operation, scrubbed of the password. The
   * ioredis error is not kept as `cause` as is: a ReplyError carries the
   * command's arguments, which for AUTH are the credentials and for a put
   * are the payload.
   */
  #fail(op: string, err: unknown, canResume?: boolean): TransportError {
    let message = err instanceof Error ? err.message : String(err);
    const last = this.#lastError;
    if (last && last !== err && last.message !== message) message += ` (${last.message})`;
    for (const secret of this.#secrets) message = message.split(secret).join('***');
    const code = (err as { code?: unknown } | null)?.code;
    const cause = Object.assign(new Error(message), code === undefined ? {} : { code });
    // Redis refusing the data (out of memory, a read-only replica, no permission) is not cured by waiting.
    const resumable =
      canResume ?? !/^(OOM|READONLY|NOPERM|NOAUTH|WRONGPASS)\b/.test(err instanceof Error ? err.message : '');
    return new TransportError(`payload store ${this.url}: ${op} failed: ${message}`, { cause, resumable });
  }
}

/** The password of `url`, raw and decoded, as ioredis may echo either. */
function secretsOf(url: string): string[] {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [];
  }
  const secrets = [parsed.password, parsed.searchParams.get('password') ?? ''];
  try {
    secrets.push(decodeURIComponent(parsed.password));
  } catch {
    // Not valid percent-encoding: the raw form is all there is.
  }
  return [...new Set(secrets.filter(Boolean))];
}
