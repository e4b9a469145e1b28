/**
 * The in-memory payload store, plus the ref rules every store shares.
 *
 * The ref helpers live here because MemoryStore is the reference
 * implementation and has no I/O of its own: file.ts and redis.ts import them
 * from here rather than each growing its own idea of what a safe job id is.
 * One rule for all stores means a job id that passes the eager tests cannot
 * be refused later by the file or Redis store.
 */
import { createHash } from 'node:crypto';
import { TransportError, NotFoundError } from '../core/errors.js';
import {
  checkBeaconName,
  checkEntry,
  checkTtl,
  matches,
  newestFirst,
  type BeaconKind,
  type IndexEntry,
  type IndexPage,
  type IndexQuery,
} from './job-index.js';
import type { PayloadStore, Ref } from './store.js';

// No leading dot: rules out `.` and `..` and any name that could clash with
// the file store's temp files, which all start with a dot.
const JOB_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;
const HASH = /^[0-9a-f]{64}$/;

/** The sha256 hex digest of `bytes`: the content address of a payload. */
export function hashBytes(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Throws TransportError unless `jobId` is safe as a directory name and a
 * Redis key part. Job ids end up in paths (`rm -r DIR/<jobId>`), so this is a
 * safety check, not a nicety.
 */
export function checkJobId(jobId: string): string {
  if (typeof jobId !== 'string' || !JOB_ID.test(jobId) || jobId.includes('..')) {
    throw new TransportError(
      `payload store: bad job id ${JSON.stringify(jobId)}: expected 1-128 characters of A-Z a-z 0-9 . _ -, not starting with "." and without ".."`,
    );
  }
  return jobId;
}

/** The ref of `bytes` stored under `jobId`. */
export function makeRef(jobId: string, hash: string): Ref {
  return `${jobId}/${hash}`;
}

/** Splits and validates a ref; throws TransportError naming the ref when it is malformed. */
export function parseRef(ref: Ref): { jobId: string; hash: string } {
  const slash = typeof ref === 'string' ? ref.indexOf('/') : -1;
  const jobId = slash > 0 ? ref.slice(0, slash) : '';
  const hash = slash > 0 ? ref.slice(slash + 1) : '';
  if (!JOB_ID.test(jobId) || jobId.includes('..') || !HASH.test(hash)) {
    throw new TransportError(`payload store: bad ref ${JSON.stringify(ref)}: expected <jobId>/<64 lowercase hex>`);
  }
  return { jobId, hash };
}

/** The error every store raises for a well-formed ref with no data behind it. */
export function missingRef(ref: Ref, url: string): NotFoundError {
  return new NotFoundError(`payload store ${url}: ref ${ref} not found (never stored, or its job was deleted)`);
}

/**
 * `bytes` read back for `ref`, once their hash is checked against the ref's:
 * a store is shared with whoever else can write to it, so content-addressed
 * bytes that do not match their address are refused (TransportError naming
 * the ref), never used.
 */
export function verified(ref: Ref, hash: string, bytes: Uint8Array, url: string): Uint8Array {
  const actual = hashBytes(bytes);
  if (actual !== hash) {
    throw new TransportError(
      `payload store ${url}: ref ${ref} does not match its content (${bytes.byteLength} bytes hashing to ${actual.slice(0, 16)}…): refused; something other than fj changed the store`,
      { resumable: false },
    );
  }
  return bytes;
}

const META = /^[a-z][a-z0-9-]{0,31}$/;

/** Checks a meta record's name; the stores keep it as `meta-<name>`, which no content hash can be. */
export function metaKey(name: string): string {
  if (!META.test(name)) throw new TransportError(`payload store: bad record name ${JSON.stringify(name)}`);
  return `meta-${name}`;
}

/**
 * Payloads in a Map, for the eager executor and tests: same semantics as the
 * shared stores (hashing, validation, errors) so code tested against it
 * behaves the same against `file://` or `redis://`.
 */
export class MemoryStore implements PayloadStore {
  readonly url = 'memory:';
  readonly #jobs = new Map<string, Map<string, Uint8Array>>();
  readonly #index = new Map<string, IndexEntry>();
  readonly #beacons = new Map<string, { text: string; expires: number }>();

  async put(jobId: string, bytes: Uint8Array): Promise<Ref> {
    checkJobId(jobId);
    const hash = hashBytes(bytes);
    let job = this.#jobs.get(jobId);
    if (!job) this.#jobs.set(jobId, (job = new Map<string, Uint8Array>()));
    // Copy so a caller reusing its buffer cannot change what was stored.
    if (!job.has(hash)) job.set(hash, new Uint8Array(bytes));
    return makeRef(jobId, hash);
  }

  async get(ref: Ref): Promise<Uint8Array> {
    const { jobId, hash } = parseRef(ref);
    const bytes = this.#jobs.get(jobId)?.get(hash);
    if (!bytes) throw missingRef(ref, this.url);
    // Copy again: the real stores hand out fresh bytes on every get.
    return bytes.slice();
  }

  async setMeta(jobId: string, name: string, bytes: Uint8Array): Promise<void> {
    checkJobId(jobId);
    let job = this.#jobs.get(jobId);
    if (!job) this.#jobs.set(jobId, (job = new Map<string, Uint8Array>()));
    job.set(metaKey(name), new Uint8Array(bytes));
  }

  async getMeta(jobId: string, name: string): Promise<Uint8Array | undefined> {
    return this.#jobs.get(checkJobId(jobId))?.get(metaKey(name))?.slice();
  }

  async deleteJob(jobId: string): Promise<void> {
    this.#jobs.delete(checkJobId(jobId));
    this.#index.delete(jobId);
  }

  async indexJob(entry: IndexEntry): Promise<void> {
    checkJobId(entry.id);
    this.#index.set(entry.id, checkEntry(entry));
  }

  async indexEntry(jobId: string): Promise<IndexEntry | undefined> {
    this.#sweep();
    const e = this.#index.get(checkJobId(jobId));
    return e && { ...e };
  }

  async listJobs(query: IndexQuery): Promise<IndexPage> {
    this.#sweep();
    const all = [...this.#index.values()].filter((e) => matches(e, query)).sort(newestFirst);
    return { entries: all.slice(0, query.limit).map((e) => ({ ...e })), more: all.length > query.limit };
  }

  async putBeacon(kind: BeaconKind, name: string, text: string, ttlMs: number): Promise<void> {
    this.#beacons.set(`${kind}/${checkBeaconName(name)}`, { text, expires: Date.now() + checkTtl(ttlMs) });
  }

  async listBeacons(kind: BeaconKind): Promise<{ name: string; text: string }[]> {
    const now = Date.now();
    const out: { name: string; text: string }[] = [];
    for (const [key, b] of this.#beacons) {
      if (b.expires <= now) this.#beacons.delete(key);
      else if (key.startsWith(`${kind}/`)) out.push({ name: key.slice(kind.length + 1), text: b.text });
    }
    return out;
  }

  /** Removes the jobs whose index entry has expired, with their data. */
  #sweep(): void {
    const now = Date.now();
    for (const [id, e] of this.#index) {
      if (e.expires <= now) {
        this.#index.delete(id);
        this.#jobs.delete(id);
      }
    }
  }

  /** How many distinct payloads the job holds (for tests and diagnostics). */
  count(jobId: string): number {
    return this.#jobs.get(jobId)?.size ?? 0;
  }

  async close(): Promise<void> {
    this.#jobs.clear();
    this.#index.clear();
    this.#beacons.clear();
  }
}
