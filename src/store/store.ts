/**
 * The payload store seam: large items, large results and a job's params live
 * here, addressed by a content hash, so a broker message carries a short
 * reference instead of the bytes. One interface, one file per implementation
 * (memory.ts, file.ts, redis.ts), one conformance suite run against each.
 */

import type { BeaconKind, IndexEntry, IndexPage, IndexQuery } from './job-index.js';

export type { BeaconKind, IndexEntry, IndexPage, IndexQuery };

/** A reference to stored bytes: `<jobId>/<sha256 hex of the bytes>`. */
export type Ref = string;

export interface PayloadStore {
  /** The store's URL with any password removed (safe to log). */
  readonly url: string;
  /**
   * Stores `bytes` under the job and returns their reference. Idempotent:
   * the same bytes in the same job give the same ref and are stored once;
   * whatever is already stored under that ref is used only once checked
   * against the hash, else replaced.
   */
  put(jobId: string, bytes: Uint8Array): Promise<Ref>;
  /**
   * The bytes of `ref`, checked against the hash the ref names; rejects with
   * TransportError naming the ref when it is missing, or when the stored
   * bytes do not match (planted or damaged bytes are never returned).
   */
  get(ref: Ref): Promise<Uint8Array>;
  /**
   * Writes a named record of the job (its manifest, its status), replacing
   * any earlier one; deleted with the job. Names: `[a-z][a-z0-9-]{0,31}`.
   */
  setMeta(jobId: string, name: string, bytes: Uint8Array): Promise<void>;
  /** A named record of the job, or `undefined` when there is none. */
  getMeta(jobId: string, name: string): Promise<Uint8Array | undefined>;
  /** Removes everything stored under the job, its index entry included. Missing data is not an error. */
  deleteJob(jobId: string): Promise<void>;
  /**
   * Writes (or replaces) the job's entry in the job index (job-index.ts)
   * and sets when the store removes the job: at `entry.expires`, the job's
   * data, records and entry are gone (Redis: key expiry; file and memory
   * stores: swept as the index is used).
   */
  indexJob(entry: IndexEntry): Promise<void>;
  /** The job's index entry, or undefined when it has none (never indexed, forgotten, expired). */
  indexEntry(jobId: string): Promise<IndexEntry | undefined>;
  /** Index entries matching `query`, newest first; expired ones are never listed. */
  listJobs(query: IndexQuery): Promise<IndexPage>;
  /**
   * Writes a beacon (a worker's heartbeat): `text` under `name`, gone after
   * `ttlMs` unless written again. Names: 1-200 of `A-Za-z0-9._:-`, not
   * starting with a dot.
   */
  putBeacon(kind: BeaconKind, name: string, text: string, ttlMs: number): Promise<void>;
  /** The live beacons of a kind. */
  listBeacons(kind: BeaconKind): Promise<{ name: string; text: string }[]>;
  /** Releases connections. */
  close(): Promise<void>;
}
