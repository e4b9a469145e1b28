/**
 * Fair shares of a pool between the jobs on it. Every job's coordinator
 * announces itself on the pool (a beacon in the store: broker/job-beacon.ts)
 * and reads the others' every {@link JOB_BEAT_EVERY_MS}; each sizes its
 * window to its share of the pool's capacity (the messages the pool's
 * workers hold at once: their prefetch, 2 × their threads), computed by
 * every coordinator alike from the same beacons ({@link shares}):
 *
 * - priorities first: the jobs of the highest priority present share the
 *   capacity; whatever they cannot use goes to the next priority down, and
 *   so on. A job of a lower priority keeps a floor of {@link FLOOR}
 *   messages in flight, so it always progresses (about one slot per two
 *   floor messages), however many jobs of higher priority run;
 * - within a priority, between tenants first (equally; the jobs without a
 *   tenant are one more tenant, of weight 1), each tenant within the
 *   cap the pool's workers announce for it (`fj worker --tenant-cap`: the
 *   cap holds even when the tenant is alone, idling the rest), then between
 *   each tenant's jobs by weight; at each step water-filling: a job that
 *   cannot use its share (it has fewer items left than its share; its
 *   beacon says its window did not hold it back) keeps what it uses plus a
 *   little, and the rest is shared between the others.
 *
 * Why windows and not the queue: the pool's work queue is FIFO, and every
 * message a worker holds was ready in it before. When the jobs' windows add
 * up to the pool's capacity, the queue holds (almost) nothing ready: each
 * worker's prefetch holds the jobs' messages in proportion to their windows,
 * so the slots go to the jobs in that proportion (by Little's law: every
 * message waits as long, so a job's throughput is in proportion to what it
 * has in flight). A job that arrives gets its messages delivered as the
 * first slots free (within about one item's time); the others see its
 * beacon within half a second and stop refilling until they are down to their
 * new share (about a prefetch's worth of items, 2 × an item's time). A job
 * alone gets the whole capacity, as before.
 *
 * When the capacity is unknown (no heartbeats: workers of an older fj), no
 * share is set and the window finds its size alone (window.ts).
 */
import type { Signer } from '../../core/signing.js';
import type { PayloadStore } from '../../store/store.js';
import {
  JOB_BEAT_EVERY_MS,
  putJobBeacon,
  readJobBeacons,
  tenantGroup,
  tenantGroupWeight,
  type JobBeat,
} from '../../broker/job-beacon.js';

export { JOB_BEAT_EVERY_MS };

/** The least a job is allowed in flight, whatever its priority or weight: it always progresses. */
export const FLOOR = 2;
/**
 * How long a job waits for its first beat (milliseconds on a readable store)
 * before it sends anything; past this it sends as its window alone allows.
 */
export const FIRST_BEAT_WAIT_MS = 1000;

/** How long a job's end waits to write its last beacon (the one that says it ended). */
const STOP_WAIT_MS = 1000;

/** What {@link shares} needs of a job. */
export type Claim = Pick<JobBeat, 'job' | 'weight' | 'priority' | 'inFlight' | 'wants' | 'tenant'>;

/**
 * The messages each job of `claims` may keep in flight on a pool that holds
 * `capacity` at once (see the module's header for the policy). A job that
 * `wants` more can use any share; one that does not uses what it has in
 * flight, plus a quarter (it may still be ramping). `tenantCaps`: the most
 * of the capacity (0 to 1) the jobs of a tenant hold together;
 * `tenantWeights`: each tenant's weight between the tenants (default 1).
 */
export function shares(
  capacity: number,
  claims: readonly Claim[],
  tenantCaps: ReadonlyMap<string, number> = new Map(),
  tenantWeights: ReadonlyMap<string, number> = new Map(),
): Map<string, number> {
  const out = new Map<string, number>();
  const need = (c: Claim) => (c.wants ? Infinity : c.inFlight + Math.max(1, Math.ceil(c.inFlight / 4)));
  const levels = [...new Set(claims.map((c) => c.priority))].sort((a, b) => b - a);
  let left = capacity;
  let below = claims.length;
  for (const p of levels) {
    const level = claims.filter((c) => c.priority === p);
    below -= level.length;
    // The jobs of lower priorities keep their floors; what this level cannot use goes down to them.
    const avail = Math.max(0, left - FLOOR * below);
    left -= avail;
    // Between tenants first (by the pool's tenant weights, 1 unless set; the jobs without one are one more tenant,
    // of weight 1), each within its cap; then between each tenant's jobs, by weight.
    const tenants = new Map<string, Claim[]>();
    for (const c of level) {
      const key = tenantGroup(c.tenant);
      tenants.set(key, [...(tenants.get(key) ?? []), c]);
    }
    const groups = [...tenants.values()].map((jobs) => {
      const { tenant } = jobs[0];
      const cap = tenant === undefined ? undefined : tenantCaps.get(tenant);
      const wanted = jobs.reduce((n, c) => n + need(c), 0);
      const weight = tenantGroupWeight(tenant, tenantWeights);
      return { jobs, weight, cap, wanted, need: cap === undefined ? wanted : Math.min(wanted, cap * capacity) };
    });
    let byTenant = waterFill(avail, groups);
    if (groups.some((g) => g.cap !== undefined && g.cap < 1)) {
      // A cap is a share of the slots: messages in flight count in proportion only while the pool is full (the
      // jobs hold more than its slots, capacity / 2), so a capped tenant holds cap × what everyone holds, and
      // never less than cap × the slots (alone, it would otherwise fill them all).
      const others =
        capacity -
        left -
        avail +
        FLOOR * below +
        sumOf(
          groups.filter((g) => g.cap === undefined),
          byTenant,
        );
      for (const g of groups)
        if (g.cap !== undefined && g.cap < 1)
          g.need = Math.min(
            g.wanted,
            g.cap * capacity,
            Math.max((g.cap * capacity) / 2, (g.cap * others) / (1 - g.cap)),
          );
      byTenant = waterFill(avail, groups);
    }
    for (const g of groups) {
      const given = waterFill(
        byTenant.get(g)!,
        g.jobs.map((c) => ({ c, weight: c.weight, need: need(c) })),
      );
      for (const [{ c }, n] of given) out.set(c.job, n);
    }
    left += avail - sumOf(groups, byTenant);
  }
  for (const [job, n] of out) out.set(job, Math.max(FLOOR, Math.ceil(n)));
  return out;
}

function sumOf<T>(items: readonly T[], given: ReadonlyMap<T, number>): number {
  return items.reduce((n, x) => n + given.get(x)!, 0);
}

/**
 * Shares `avail` between `items` by weight, water-filling: an item that
 * needs less than its share gets what it needs, and the rest is shared
 * again between the others. What no item needs is left out (the values add
 * up to less than `avail`).
 */
function waterFill<T extends { weight: number; need: number }>(avail: number, items: readonly T[]): Map<T, number> {
  const out = new Map<T, number>();
  let open = items;
  for (;;) {
    const weights = open.reduce((n, x) => n + x.weight, 0);
    const modest = open.filter((x) => x.need <= (avail * x.weight) / weights);
    if (modest.length === 0) break;
    for (const x of modest) {
      out.set(x, x.need);
      avail -= x.need;
    }
    open = open.filter((x) => !modest.includes(x));
  }
  const weights = open.reduce((n, x) => n + x.weight, 0);
  for (const x of open) out.set(x, (avail * x.weight) / weights);
  return out;
}

/** What a {@link FairShare} sizes and reads. */
export interface FairShareOptions {
  readonly store: PayloadStore;
  readonly signer?: Signer;
  readonly pool: string;
  readonly job: string;
  readonly weight: number;
  readonly priority: number;
  readonly tenant: string | undefined;
  /** The task whose rate limit the job keeps to, when it has one (shared with the task's other rated jobs on the pool). */
  readonly rated: string | undefined;
  /** Messages of this job in flight now. */
  readonly inFlight: () => number;
  /** The pool's capacity in messages, when known (worker heartbeats: pool-capacity.ts). */
  readonly capacity: () => number | undefined;
  /** The pool's tenant caps (tenant -> share of the capacity), as its workers announce them. */
  readonly tenantCaps: () => ReadonlyMap<string, number>;
  /** The pool's tenant weights (tenant -> weight), as its workers announce them. */
  readonly tenantWeights: () => ReadonlyMap<string, number>;
  /** The same, read from the heartbeats now (the first beat's). */
  readonly readCapacity: () => Promise<number | undefined>;
  /** The share changed (undefined: none, the window alone sizes the job). */
  readonly onShare: (share: number | undefined) => void;
}

/** One job's side of the sharing: its beacon, written and read with the others' every {@link JOB_BEAT_EVERY_MS}. */
export class FairShare {
  private timer: NodeJS.Timeout | undefined;
  private beating = false;
  private held = true; // until its first beat is read, a job counts as wanting
  private ended = false;
  private started = false;
  /** The share of the last beat, if any. */
  share: number | undefined;
  /**
   * The part of its task's rate limit this job may use: its weight over the
   * weights of the rated jobs of its task on the pool (itself included), as
   * of the last beat. 1 until then, or when the store cannot be read.
   */
  rateFraction = 1;

  constructor(private readonly o: FairShareOptions) {}

  /** The job had more to send than its window allowed: it can use more of the pool. */
  heldBack(): void {
    this.held = true;
  }

  /**
   * Starts beating. Until the first beat has read the pool (the others'
   * beacons and the workers' capacity), for {@link FIRST_BEAT_WAIT_MS} at
   * most, the job sends nothing: a job starting beside others does not put a
   * whole window ahead of theirs in the queue, and it sends its share at
   * once (in a few steps, its first items wait behind more of the others').
   */
  start(): void {
    if (this.timer || this.ended) return;
    if (this.share === undefined && !this.started) {
      this.set(0);
      setTimeout(() => this.share === 0 && this.set(undefined), FIRST_BEAT_WAIT_MS).unref();
    }
    this.started = true;
    void this.beat(true);
    this.timer = setInterval(() => void this.beat(), JOB_BEAT_EVERY_MS);
    this.timer.unref();
  }

  /** Stops, and tells the pool's other jobs this one ended (best effort: its beacon expires anyway). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.ended) return;
    this.ended = true;
    // The job's end never waits on a slow store for this: past STOP_WAIT_MS the beacon simply expires.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      putJobBeacon(this.o.store, this.o.signer, { ...this.claim(), ended: true }).catch(() => {}),
      new Promise<void>((r) => (timer = setTimeout(r, STOP_WAIT_MS))),
    ]);
    clearTimeout(timer);
  }

  private claim(): JobBeat {
    const { job, pool, weight, priority, tenant, rated } = this.o;
    return {
      job,
      pool,
      weight,
      priority,
      ...(tenant === undefined ? {} : { tenant }),
      ...(rated === undefined ? {} : { rated }),
      inFlight: this.o.inFlight(),
      wants: this.held,
      sent: Date.now(),
    };
  }

  private async beat(first = false): Promise<void> {
    if (this.beating || this.ended) return;
    this.beating = true;
    try {
      const mine = this.claim();
      this.held = false;
      await putJobBeacon(this.o.store, this.o.signer, mine);
      const capacity = first ? await this.o.readCapacity() : this.o.capacity();
      const others = (await readJobBeacons(this.o.store, this.o.signer, this.o.pool)).filter(
        (b) => !b.ended && b.job !== mine.job,
      );
      if (mine.rated !== undefined) {
        const weights = others.filter((b) => b.rated === mine.rated).reduce((n, b) => n + b.weight, mine.weight);
        this.rateFraction = mine.weight / weights;
      }
      if (capacity === undefined || this.ended) return this.set(undefined);
      if (!this.ended)
        this.set(shares(capacity, [mine, ...others], this.o.tenantCaps(), this.o.tenantWeights()).get(mine.job));
    } catch {
      // a store that cannot be read or written now: keep the last share (the first time: none, the window alone)
      if (first) this.set(undefined);
    } finally {
      this.beating = false;
    }
  }

  private set(share: number | undefined): void {
    if (share === this.share) return;
    this.share = share;
    this.o.onShare(share);
  }
}
