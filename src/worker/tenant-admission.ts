/**
 * Which tenant's job a worker with room takes next (broker/tenant-queues.ts):
 * the one whose tenant has the fewest jobs running on the pool for its
 * weight (`fj worker --tenant-weight`), ties broken at random, so one
 * tenant's thousand queued jobs do not hold back another's one.
 *
 * RabbitMQ pushes a consumer whatever its queue holds, first come first
 * served, and has no "take from the emptiest of these queues": the tenants'
 * queues are not consumed but asked, while the worker has room, every
 * {@link ADMIT_EVERY_MS} and at once when a slot frees (`poke`): which hold
 * a job (a passive declare each; the job beacons are read only when two or
 * more do), then `basic.get` from the first in order, one job at a time. A job taken here is handed to the job consumer as
 * if it had been delivered (it is acked or put back on the same channel).
 *
 * Jobs that name no tenant are one more tenant here, of weight 1: while
 * no tenant has a job queued, the job consumer takes them from the pool's
 * jobs queue as RabbitMQ pushes them (a pool with no tenants pays a read
 * of the tenant list each {@link TENANTS_FRESH_MS} while the worker has
 * room, and one more when a slot frees); once a tenant has one queued, the
 * consumer stops taking from the pool's jobs queue ({@link contended}) and
 * its jobs are taken here, in the same order as the tenants' (`basic.get`).
 * A worker whose slots were all taken consumes the pool's jobs queue again
 * only once a freed slot has had the queues asked: else RabbitMQ would push
 * it the next job of that queue before a tenant's waiting one is seen.
 *
 * Running jobs are counted from their coordinators' beacons
 * (broker/job-beacon.ts: every worker's, so the order holds across the
 * pool), plus the jobs this worker took in the last {@link RECENT_MS}
 * (their coordinators may not have written a beacon yet). Limits: a job
 * may be counted twice for a moment (beacon and recent), which only makes
 * its tenant wait a little longer; two workers with room at the same moment
 * may each take from the same tenant; and a tenant queued for the first
 * time is seen within {@link TENANTS_FRESH_MS}.
 */
import type { ConsumeMessage } from 'amqplib';
import type { Signer } from '../core/signing.js';
import type { QueueType } from '../core/location.js';
import type { Logger } from '../task/types.js';
import type { PayloadStore } from '../store/store.js';
import { declareQueue, jobsQueue } from '../broker/amqp.js';
import { readJobBeacons, tenantGroupWeight } from '../broker/job-beacon.js';
import type { LinkSession } from '../broker/resilient-link.js';
import { readTenants, tenantJobsQueue, tenantJobsQueueSpec } from '../broker/tenant-queues.js';

/** How often a worker with room asks the tenants' queues. */
export const ADMIT_EVERY_MS = 250;
/** A job taken here counts as running for this long, or until its coordinator's beacon says so. */
export const RECENT_MS = 2000;
/** How long the pool's list of tenants is used before it is read again (a freed slot reads it at once). */
export const TENANTS_FRESH_MS = 1000;

/** The name jobs that name no tenant go by in the order (a tenant's name is never empty). */
const UNTENANTED = '';

/** What admission is built from. */
export interface AdmissionParts {
  pool: string;
  queueType: QueueType;
  store: PayloadStore;
  signer: Signer | undefined;
  log: Logger;
  /** Tenant -> weight (`fj worker --tenant-weight`); a tenant not named weighs 1. */
  tenantWeights: Record<string, number>;
  /** How many more jobs the worker can take now. */
  room(): number;
  /** The jobs link's session, while it is up. */
  session(): LinkSession | undefined;
  /** Hands a job message taken from a tenant's queue to the consumer; it calls `settled` once the job holds a slot or never will. */
  take(msg: ConsumeMessage, session: LinkSession, settled: () => void): void;
  /**
   * The queues were asked ({@link TenantAdmission.contended} is fresh), or
   * asking them failed: the consumer takes from the pool's jobs queue only
   * while it has room and contended is false.
   */
  onChecked(): void;
}

/** Takes tenants' jobs, fewest running for their weight first, while the worker has room (see the module's header). */
export class TenantAdmission {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private again = false;
  private tenants: { at: number; names: string[] } | undefined;
  /** The jobs taken here lately: their tenant and when. */
  private recent: { tenant: string; at: number }[] = [];
  /** The queues declared in each session (a `basic.get` on a queue that is not there closes the channel). */
  private declared = new WeakMap<LinkSession, Set<string>>();
  private unsettled = 0;
  private busy = false;

  constructor(private readonly p: AdmissionParts) {}

  /**
   * Whether a tenant had a job queued when the queues were last asked: the
   * pool's own jobs (no tenant) are then taken here, in order, not as
   * RabbitMQ pushes them.
   */
  get contended(): boolean {
    return this.busy;
  }

  /** Jobs taken from a tenant's queue that hold no slot yet: the consumer counts them against its room. */
  get admitting(): number {
    return this.unsettled;
  }

  start(): void {
    this.timer ??= setInterval(() => void this.admit(), ADMIT_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** A slot freed: asks again at once, with the tenants read afresh. */
  poke(): void {
    if (!this.timer) return;
    this.tenants = undefined;
    void this.admit();
  }

  /** Takes jobs while there is room and a tenant has one queued; one round at a time (a call during one runs another after it). */
  private async admit(): Promise<void> {
    if (this.running) return void (this.again = true);
    this.running = true;
    try {
      do {
        this.again = false;
        while (this.timer && this.p.room() > 0 && (await this.takeOne()));
      } while (this.again && this.timer);
    } catch (err) {
      // The link reconnects, or the store answers later: the next round tries again; the pool's own jobs meanwhile as last known.
      this.p.log.debug(`tenant admission: ${(err as Error).message}`);
      this.p.onChecked();
    } finally {
      this.running = false;
    }
  }

  /** Takes the next job of the tenant with the fewest running for its weight; false when no tenant has one queued. */
  private async takeOne(): Promise<boolean> {
    const session = this.p.session();
    if (!session) return false;
    for (const tenant of await this.order(await this.waiting(session))) {
      const queue = tenant === UNTENANTED ? jobsQueue(this.p.pool) : tenantJobsQueue(this.p.pool, tenant);
      const got = await session.ch.get(queue, { noAck: false });
      if (!got) continue; // taken by another worker meanwhile
      // Acked or put back by its delivery tag on this channel like a pushed one; only consumerTag (unused) differs.
      const msg = got as unknown as ConsumeMessage;
      this.recent.push({ tenant, at: Date.now() });
      let settled = false;
      this.unsettled++;
      this.p.take(msg, session, () => {
        if (settled) return;
        settled = true;
        this.unsettled--;
      });
      return true;
    }
    return false;
  }

  /**
   * The pool's tenants whose jobs queue holds a job now, and
   * {@link UNTENANTED} when one does and so does the pool's jobs queue: one
   * round trip per tenant (declared once per session, then checked), and no
   * store read beyond the tenant list while nothing is queued. Sets
   * {@link contended}.
   */
  private async waiting(session: LinkSession): Promise<string[]> {
    const now = Date.now();
    if (!this.tenants || now - this.tenants.at > TENANTS_FRESH_MS)
      this.tenants = { at: now, names: await readTenants(this.p.store, this.p.pool) };
    let known = this.declared.get(session);
    if (!known) this.declared.set(session, (known = new Set()));
    const out: string[] = [];
    for (const tenant of this.tenants.names) {
      const spec = tenantJobsQueueSpec(this.p.pool, tenant, this.p.queueType);
      const q = known.has(spec.name) ? await session.ch.checkQueue(spec.name) : await declareQueue(session.ch, spec);
      known.add(spec.name);
      if (q.messageCount > 0) out.push(tenant);
    }
    // Declared by the consumer's link in every session.
    if (out.length > 0 && (await session.ch.checkQueue(jobsQueue(this.p.pool))).messageCount > 0) out.push(UNTENANTED);
    this.busy = out.length > 0;
    this.p.onChecked();
    return out;
  }

  /** `names` (tenants with a job queued), fewest running jobs on the pool per unit of weight first, ties at random. */
  private async order(names: string[]): Promise<string[]> {
    if (names.length < 2) return names;
    const now = Date.now();
    const running = new Map<string, number>();
    const add = (t: string) => running.set(t, (running.get(t) ?? 0) + 1);
    for (const b of await readJobBeacons(this.p.store, this.p.signer, this.p.pool, now))
      if (!b.ended) add(b.tenant ?? UNTENANTED);
    this.recent = this.recent.filter((r) => now - r.at < RECENT_MS);
    for (const r of this.recent) add(r.tenant);
    const weights = new Map(Object.entries(this.p.tenantWeights));
    const score = (t: string) => (running.get(t) ?? 0) / tenantGroupWeight(t === UNTENANTED ? undefined : t, weights);
    return names
      .map((t) => ({ t, s: score(t), tie: Math.random() }))
      .sort((a, b) => a.s - b.s || a.tie - b.tie)
      .map((x) => x.t);
  }
}
