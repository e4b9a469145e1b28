/**
 * A worker's beacon, as every side reads it: what a worker's heartbeat
 * (worker/heartbeat.ts) writes to the store every {@link HEARTBEAT_EVERY_MS},
 * and `fj workers`, the dashboard, `/metrics`, `fj submit` and the amqp
 * executor's pool capacity read. A beacon lives {@link HEARTBEAT_TTL_MS}: a
 * worker not heard from for a while is shown as quiet, then disappears by
 * itself.
 *
 * Beacons are data anyone who can write the store can forge, so they are
 * read here and only here ({@link readBeacons}): every field is checked
 * (type and range), a `sent` ahead of the reader's clock by more than
 * {@link MAX_CLOCK_SKEW_MS} is dropped (within it, it counts as now), and a
 * beacon that fails a check is dropped, the reader told which worker and
 * which field. With a signing key a beacon is sealed like a record
 * (`{"beat": …, "sig": …}`) and an unsigned or mis-signed one is dropped.
 */
import { TENANT_NAME } from '../core/job-options.js';
import type { Logger } from '../core/log.js';
import { printable } from '../core/printable.js';
import type { Signer } from '../core/signing.js';
import type { PayloadStore } from '../store/store.js';
import { isTally, type JobTally } from './job-tally.js';

/** How often a worker writes its heartbeat. */
export const HEARTBEAT_EVERY_MS = 2000;
/** How long a heartbeat is kept: past this a silent worker is gone from every list. */
export const HEARTBEAT_TTL_MS = 10 * 60_000;
/** A worker not heard from for this long is quiet (stopped, hung or cut off): three heartbeats. */
export const QUIET_AFTER_MS = 3 * HEARTBEAT_EVERY_MS;
/**
 * How far ahead of the reader's clock a beacon's `sent` may be (the hosts'
 * clocks differ) and still count, as sent now; a beacon further ahead is
 * dropped (it would otherwise keep a worker online for as long as it lies).
 */
export const MAX_CLOCK_SKEW_MS = 5000;

/**
 * Whether a worker takes work: `warming` from its first heartbeat until every
 * thread has imported the task modules it serves (it consumes nothing yet),
 * then `ready`.
 */
export type WorkerState = 'warming' | 'ready';

/** What a heartbeat says. */
export interface WorkerBeat {
  name: string;
  host: string;
  pid: number;
  /** The pool (work queue) it serves. */
  pool: string;
  /** Worker threads. */
  concurrency: number;
  /** Warming or ready (see {@link WorkerState}); absent from workers of fj before the warm pool, which are ready once heard from. */
  state?: WorkerState;
  /** Batches running or queued on its threads now. */
  busy: number;
  /** Items answered since it started. */
  itemsDone: number;
  /** Detached jobs it coordinates now, and the most it takes at once (0: it coordinates none). */
  coordinating: string[];
  maxJobs: number;
  /** Task name -> code fingerprint, of every task it serves. */
  tasks: Record<string, string>;
  /** The most of the pool each tenant's jobs hold together (tenant -> share, above 0 and at most 1): `fj worker --tenant-cap`. */
  tenantCaps?: Record<string, number>;
  /** Each tenant's weight on the pool (tenant -> weight above 0, at most 1,000,000): `fj worker --tenant-weight`. */
  tenantWeights?: Record<string, number>;
  /** The detached jobs it coordinated to their end since it started (absent from workers of fj before 0.1.0's tally). */
  tally?: JobTally;
  /** It is its pool's scheduler now (worker/scheduler.ts: it runs the pool's delayed and periodic jobs); absent: it is not. */
  scheduler?: boolean;
  /** The fingerprint of its signing key ({@link Signer.fingerprint}), absent when it has none. */
  keyId?: string;
  version: string;
  started: number;
  /** When this beat was written (ms since the epoch). */
  sent: number;
}

/** A beacon {@link readBeacons} did not use, and why. */
export interface DroppedBeacon {
  /** The worker it names (its store key). */
  name: string;
  /** What is wrong: the field and the rule, or the signature. */
  reason: string;
  /**
   * A well-formed beat whose only fault is its signature (none, or another
   * key's): what it says is not trusted, but its pool and key fingerprint
   * tell `fj submit` that the pool's workers hold another key.
   */
  unverified?: WorkerBeat;
}

/** The beacons of a store, read: the ones to use, and the ones dropped. */
export interface Beacons {
  beats: WorkerBeat[];
  dropped: DroppedBeacon[];
}

/** The text a worker writes as its beacon: the beat's JSON, sealed with its signature when there is a signer. */
export function sealBeacon(signer: Signer | undefined, beat: WorkerBeat): string {
  const text = JSON.stringify(beat);
  return signer ? JSON.stringify({ beat: text, sig: signer.sign('beacon', beat.name, text) }) : text;
}

/**
 * Reads one beacon (`text`, stored under `name`): the beat when it is sound
 * (with a signer: signed with its key), else why not. A `sent` up to
 * {@link MAX_CLOCK_SKEW_MS} ahead of `now` reads as `now`.
 */
export function readBeacon(
  name: string,
  text: string,
  signer: Signer | undefined,
  now: number = Date.now(),
): { beat: WorkerBeat } | DroppedBeacon {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { name, reason: 'not JSON' };
  }
  const inner = isObject(value) && typeof value.beat === 'string' && 'sig' in value ? value.beat : undefined;
  const sealed = inner !== undefined;
  let beat: unknown = value;
  if (sealed) {
    try {
      beat = JSON.parse(inner);
    } catch {
      return { name, reason: 'not JSON' };
    }
  }
  const problem = beatProblem(name, beat, now);
  if (problem) return { name, reason: problem };
  const b = beat as WorkerBeat;
  if (b.sent > now) b.sent = now;
  if (signer) {
    const why = !sealed
      ? 'not signed (this process has a signing key)'
      : !signer.verify((value as { sig?: unknown }).sig, 'beacon', name, inner)
        ? "not signed with this process's signing key"
        : undefined;
    if (why) return { name, reason: why, unverified: b };
  }
  return { beat: b };
}

/** The live beacons of `store`, read by {@link readBeacon}; each dropped one is logged on `log` (when given) once per worker and reason. */
export async function readBeacons(
  store: PayloadStore,
  signer: Signer | undefined,
  log?: Logger,
  now: number = Date.now(),
): Promise<Beacons> {
  const out: Beacons = { beats: [], dropped: [] };
  for (const { name, text } of await store.listBeacons('workers')) {
    const r = readBeacon(name, text, signer, now);
    if ('beat' in r) out.beats.push(r.beat);
    else {
      out.dropped.push(r);
      if (log) warnOnce(log, `heartbeat of worker ${printableName(name)} ignored: ${r.reason}`);
    }
  }
  return out;
}

/** Whether a beat sent at `sent` is quiet at `now` (see {@link QUIET_AFTER_MS}). */
export function isQuiet(beat: Pick<WorkerBeat, 'sent'>, now: number = Date.now()): boolean {
  return now - beat.sent > QUIET_AFTER_MS;
}

/**
 * Why a job signed by this process (key fingerprint `ours`, undefined: no
 * key) would not be served by pool `pool`: every live worker of the pool
 * holds another key, or none while this process has one (their results, or
 * this job's messages, would be dropped and the job would wait for ever).
 * Undefined when a live worker holds the same key, or no worker is live.
 */
export function keyMismatch(
  beacons: Beacons,
  pool: string,
  ours: string | undefined,
  now = Date.now(),
): string | undefined {
  const all = [...beacons.beats, ...beacons.dropped.flatMap((d) => (d.unverified ? [d.unverified] : []))];
  const live = all.filter((b) => b.pool === pool && !isQuiet(b, now));
  if (live.length === 0 || live.some((b) => b.keyId === ours)) return undefined;
  const theirs = [...new Set(live.map((b) => b.keyId ?? 'none'))].join(', ');
  const names = live
    .map((b) => printableName(b.name))
    .slice(0, 5)
    .join(', ');
  const fix =
    ours === undefined
      ? "set FJ_SIGNING_KEY (or FJ_SIGNING_KEY_FILE) to the pool's key"
      : 'give this process the key the workers hold, or start the workers with this one';
  return (
    `the workers of pool ${pool} (${names}) hold ${theirs === 'none' ? 'no signing key' : `signing key ${theirs}`}, ` +
    `this process ${ours === undefined ? 'none' : `key ${ours}`} (fingerprints): they would drop this job's messages or it their results; ${fix}`
  );
}

const MAX_COUNT = Number.MAX_SAFE_INTEGER;
const MAX_THREADS = 65_536;
const MAX_LIST = 10_000;
const MAX_TEXT = 1000;
const KEY_ID = /^[0-9a-f]{16}$/;

/** The first field of `b` that is not what a worker writes (named, with the rule), else undefined. */
function beatProblem(name: string, b: unknown, now: number): string | undefined {
  if (!isObject(b)) return 'not an object';
  const text = (v: unknown) => typeof v === 'string' && v.length > 0 && v.length <= MAX_TEXT;
  const int = (v: unknown, min: number, max: number) =>
    typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max;
  if (b.name !== name) return `field name: expected ${JSON.stringify(name)} (the name it is stored under)`;
  if (!text(b.host)) return 'field host: expected a string';
  if (!int(b.pid, 0, MAX_COUNT)) return 'field pid: expected a whole number';
  if (!text(b.pool)) return 'field pool: expected a string';
  if (!int(b.concurrency, 1, MAX_THREADS)) return `field concurrency: expected a whole number from 1 to ${MAX_THREADS}`;
  if (!int(b.busy, 0, b.concurrency as number)) return 'field busy: expected a whole number from 0 to its concurrency';
  if (!int(b.itemsDone, 0, MAX_COUNT)) return 'field itemsDone: expected a whole number from 0';
  if (!int(b.maxJobs, 0, MAX_LIST)) return `field maxJobs: expected a whole number from 0 to ${MAX_LIST}`;
  if (!Array.isArray(b.coordinating) || b.coordinating.length > MAX_LIST || !b.coordinating.every(text))
    return 'field coordinating: expected a list of job ids';
  if (!isObject(b.tasks) || Array.isArray(b.tasks)) return 'field tasks: expected an object of task -> code';
  const tasks = Object.entries(b.tasks);
  if (tasks.length > MAX_LIST || !tasks.every(([k, v]) => text(k) && text(v)))
    return 'field tasks: expected an object of task -> code';
  const optional = optionalProblem(b);
  if (optional) return optional;
  if (!text(b.version)) return 'field version: expected a string';
  if (!int(b.sent, 0, MAX_COUNT)) return 'field sent: expected a time (ms since the epoch)';
  if ((b.sent as number) > now + MAX_CLOCK_SKEW_MS)
    return `field sent: ${Math.round(((b.sent as number) - now) / 1000)} s ahead of this host's clock (at most ${MAX_CLOCK_SKEW_MS / 1000} s counts)`;
  if (!int(b.started, 0, b.sent as number)) return 'field started: expected a time no later than sent';
  return undefined;
}

/** The first of a beat's optional fields (absent from older workers' beats) that is present and malformed. */
function optionalProblem(b: Record<string, unknown>): string | undefined {
  if (b.state !== undefined && b.state !== 'warming' && b.state !== 'ready')
    return 'field state: expected "warming" or "ready"';
  if (b.tally !== undefined && !isTally(b.tally)) return 'field tally: malformed';
  if (b.scheduler !== undefined && typeof b.scheduler !== 'boolean') return 'field scheduler: expected true or false';
  if (b.tenantCaps !== undefined && !isPerTenant(b.tenantCaps, (c) => c > 0 && c <= 1))
    return 'field tenantCaps: expected an object of tenant -> share above 0 and at most 1';
  if (b.tenantWeights !== undefined && !isPerTenant(b.tenantWeights, (w) => w > 0 && w <= 1_000_000))
    return 'field tenantWeights: expected an object of tenant -> weight above 0 and at most 1000000';
  if (b.keyId !== undefined && !(typeof b.keyId === 'string' && KEY_ID.test(b.keyId)))
    return 'field keyId: expected 16 hex digits';
  return undefined;
}

function isPerTenant(v: unknown, ok: (n: number) => boolean): boolean {
  const entries = isObject(v) && !Array.isArray(v) ? Object.entries(v) : undefined;
  return (
    entries !== undefined &&
    entries.length <= MAX_LIST &&
    entries.every(([k, n]) => TENANT_NAME.test(k) && typeof n === 'number' && ok(n))
  );
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

/** A worker name for a log line or message (the store keeps names safe, but a store is data too). */
function printableName(name: string): string {
  return printable(name.slice(0, 200));
}

// Each reason once per logger: the dashboard reads beacons every second.
const warned = new WeakMap<Logger, Set<string>>();
function warnOnce(log: Logger, line: string): void {
  let seen = warned.get(log);
  if (!seen) warned.set(log, (seen = new Set()));
  if (seen.has(line)) return;
  if (seen.size > 1000) seen.clear();
  seen.add(line);
  log.warn(line);
}
