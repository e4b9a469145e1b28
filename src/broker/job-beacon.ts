/**
 * A coordinator's beacon: every job coordinated on an amqp pool (attached
 * `fj run -e amqp` and `run()`, detached jobs alike) writes one to the store
 * every {@link JOB_BEAT_EVERY_MS} while it runs: its pool, weight, priority,
 * messages in flight and whether its window held it back since the last
 * beat. The coordinators of a pool read each other's beacons to share the
 * pool's slots (executors/amqp/fair-share.ts); `fj jobs` could show them.
 *
 * A beacon lives {@link JOB_BEAT_TTL_MS}: a coordinator that dies stops
 * counting within seconds; one that ends writes a last beacon saying so.
 * Beacons are data anyone who can write the store can forge: every field is
 * checked here, and with a signing key an unsigned or mis-signed beacon
 * counts for nothing (a forged beacon can only shrink the shares of the
 * pool's jobs, never stop one: each keeps a floor, see fair-share.ts).
 */
import { MAX_PRIORITY, MAX_WEIGHT, MIN_PRIORITY, TENANT_NAME } from '../core/job-options.js';
import type { Signer } from '../core/signing.js';
import type { PayloadStore } from '../store/store.js';

/** How often a coordinator writes its beacon. */
export const JOB_BEAT_EVERY_MS = 500;
/** How long a coordinator's beacon counts without a newer one. */
export const JOB_BEAT_TTL_MS = 5000;

/** What a coordinator's beacon says. */
export interface JobBeat {
  /** The job's id (also the name the beacon is stored under). */
  job: string;
  /** The pool (work queue) it publishes to. */
  pool: string;
  /** Its weight among the pool's jobs of its priority (default 1). */
  weight: number;
  /** Its priority (default 0): higher priorities take the pool's slots first. */
  priority: number;
  /** Who it runs for, if anyone: the pool is shared between tenants first. */
  tenant?: string;
  /** Its work messages awaiting results now. */
  inFlight: number;
  /** Whether it had more to send than its window allowed since its last beat (it can use more of the pool). */
  wants: boolean;
  /**
   * The task whose rate limit the job keeps to, when it has one: the rated
   * jobs of a task on a pool share its limit by weight (dispatch/rate-gate.ts).
   */
  rated?: string;
  /** The job ended: it counts no more. */
  ended?: boolean;
  /** When this beat was written (ms since the epoch). */
  sent: number;
}

/** Writes `beat` as job `beat.job`'s beacon (sealed with its signature when there is a signer). */
export async function putJobBeacon(store: PayloadStore, signer: Signer | undefined, beat: JobBeat): Promise<void> {
  const text = JSON.stringify(beat);
  const sealed = signer ? JSON.stringify({ beat: text, sig: signer.sign('job-beacon', beat.job, text) }) : text;
  // An ended job's beacon only needs to be read once by each of the others: it lives one beat.
  await store.putBeacon('jobs', beat.job, sealed, beat.ended ? 2 * JOB_BEAT_EVERY_MS : JOB_BEAT_TTL_MS);
}

/** The sound, live beacons of the coordinators of `pool` (undefined: of every pool; ended ones included: the caller drops them). */
export async function readJobBeacons(
  store: PayloadStore,
  signer: Signer | undefined,
  pool: string | undefined,
  now: number = Date.now(),
): Promise<JobBeat[]> {
  const out: JobBeat[] = [];
  for (const { name, text } of await store.listBeacons('jobs')) {
    const b = readJobBeacon(name, text, signer, now);
    if (b && (pool === undefined || b.pool === pool)) out.push(b);
  }
  return out;
}

/** One beacon (`text`, stored under `name`), when sound (and, with a signer, signed with its key); else undefined. */
export function readJobBeacon(
  name: string,
  text: string,
  signer: Signer | undefined,
  now: number = Date.now(),
): JobBeat | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
    if (signer) {
      if (!isObject(value) || typeof value.beat !== 'string') return undefined;
      if (!signer.verify(value.sig, 'job-beacon', name, value.beat)) return undefined;
      value = JSON.parse(value.beat);
    }
  } catch {
    return undefined;
  }
  if (!isObject(value)) return undefined;
  const b = value;
  const num = (v: unknown, min: number, max: number) => typeof v === 'number' && v >= min && v <= max;
  const sound =
    b.job === name &&
    typeof b.pool === 'string' &&
    num(b.weight, Number.MIN_VALUE, MAX_WEIGHT) &&
    Number.isInteger(b.priority) &&
    num(b.priority, MIN_PRIORITY, MAX_PRIORITY) &&
    Number.isSafeInteger(b.inFlight) &&
    num(b.inFlight, 0, Number.MAX_SAFE_INTEGER) &&
    typeof b.wants === 'boolean' &&
    (b.ended === undefined || typeof b.ended === 'boolean') &&
    (b.tenant === undefined || (typeof b.tenant === 'string' && TENANT_NAME.test(b.tenant))) &&
    (b.rated === undefined || (typeof b.rated === 'string' && b.rated.length > 0 && b.rated.length <= 200)) &&
    Number.isSafeInteger(b.sent) &&
    num(b.sent, now - JOB_BEAT_TTL_MS, now + JOB_BEAT_TTL_MS);
  return sound ? (b as unknown as JobBeat) : undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

/** What {@link poolFairness} reads of a running job (a {@link JobBeat}, or a view of one). */
export type FairnessInput = Pick<JobBeat, 'job' | 'pool' | 'weight' | 'priority' | 'inFlight' | 'wants' | 'tenant'>;

/**
 * How evenly each pool's slots are shared now: Jain's fairness index,
 * J = (Σx)² / (n·Σx²), over the jobs of the highest priority present that
 * could use more than they hold (`wants`: a job that holds all it can use
 * is not short of its share), x being a job's in-flight messages divided by
 * its part of the pool as the policy sets it (executors/amqp/fair-share.ts):
 * the tenants' parts by their weights (`tenantWeights(pool)`, 1 unless set;
 * the jobs without a tenant are one more tenant, of weight 1), then each
 * tenant's part by its jobs' weights. 1 is a split as the policy wants it,
 * 1/n one job holding everything; with fewer than two such jobs the pool
 * counts as even (1). `jobs` is how many were counted.
 */
export function poolFairness(
  beats: readonly FairnessInput[],
  tenantWeights: (pool: string) => ReadonlyMap<string, number> = () => new Map(),
): Map<string, { index: number; jobs: number }> {
  const out = new Map<string, { index: number; jobs: number }>();
  for (const pool of new Set(beats.map((b) => b.pool))) {
    const mine = beats.filter((b) => b.pool === pool);
    const top = Math.max(...mine.map((b) => b.priority));
    const counted = mine.filter((b) => b.priority === top && b.wants);
    const part = entitlements(counted, tenantWeights(pool));
    const xs = counted.map((b) => b.inFlight / part.get(b.job)!);
    const sum = xs.reduce((a, x) => a + x, 0);
    const squares = xs.reduce((a, x) => a + x * x, 0);
    out.set(pool, { index: xs.length < 2 || squares === 0 ? 1 : (sum * sum) / (xs.length * squares), jobs: xs.length });
  }
  return out;
}

/**
 * The group a job shares its pool in, between tenants (the jobs' shares,
 * executors/amqp/fair-share.ts; the pool's admission order,
 * worker/tenant-admission.ts; {@link poolFairness}): its tenant's; the jobs
 * that name no tenant are one group, one more tenant.
 */
export function tenantGroup(tenant: string | undefined): string {
  return tenant === undefined ? 'no tenant' : `tenant ${tenant}`;
}

/** A {@link tenantGroup}'s weight between the groups: the pool's for a tenant (1 unless set); 1 for the jobs without one. */
export function tenantGroupWeight(tenant: string | undefined, tenantWeights: ReadonlyMap<string, number>): number {
  return tenant === undefined ? 1 : (tenantWeights.get(tenant) ?? 1);
}

/** Each job's part (0 to 1) of what `jobs` share: between tenants by weight first, then within each by the jobs' weights. */
function entitlements(jobs: readonly FairnessInput[], tenantWeights: ReadonlyMap<string, number>): Map<string, number> {
  const groups = new Map<string, FairnessInput[]>();
  for (const j of jobs) {
    const key = tenantGroup(j.tenant);
    groups.set(key, [...(groups.get(key) ?? []), j]);
  }
  const weightOf = (g: FairnessInput[]) => tenantGroupWeight(g[0].tenant, tenantWeights);
  const all = [...groups.values()].reduce((n, g) => n + weightOf(g), 0);
  const part = new Map<string, number>();
  for (const g of groups.values()) {
    const inside = g.reduce((n, j) => n + j.weight, 0);
    for (const j of g) part.set(j.job, (weightOf(g) / all) * (j.weight / inside));
  }
  return part;
}

/**
 * Each pool's tenant weights as its live workers announce them (`fj worker
 * --tenant-weight`), the smallest where they disagree, as the jobs' shares
 * take them (executors/amqp/pool-capacity.ts).
 */
export function tenantWeightsByPool(
  workers: readonly { pool: string; tenantWeights?: Record<string, number> }[],
): (pool: string) => ReadonlyMap<string, number> {
  const byPool = new Map<string, Map<string, number>>();
  for (const w of workers) {
    const weights = byPool.get(w.pool) ?? new Map<string, number>();
    byPool.set(w.pool, weights);
    for (const [tenant, n] of Object.entries(w.tenantWeights ?? {}))
      weights.set(tenant, Math.min(n, weights.get(tenant) ?? Infinity));
  }
  return (pool) => byPool.get(pool) ?? new Map();
}
