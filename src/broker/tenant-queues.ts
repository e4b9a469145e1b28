/**
 * A pool's jobs, queued tenant by tenant. A detached job that names a
 * tenant (`fj submit --tenant`) waits in its tenant's jobs queue,
 * `<pool>.jobs.tenant.<tenant>`, not in the pool's one FIFO jobs queue: a
 * worker with room for a job takes the next one from the tenant with the
 * fewest jobs running on the pool for its weight (worker/tenant-admission.ts),
 * so a tenant that queued a thousand jobs delays another's one by about a
 * job's start, not by its thousand. Jobs without a tenant keep the pool's
 * jobs queue: taken as they come while no tenant has a job queued, else in
 * turn with the tenants', as one more tenant.
 *
 * RabbitMQ cannot list queues over AMQP: whoever queues a tenant's job
 * writes a beacon naming the tenant in the store (kind `tenants`, alive
 * {@link TENANT_ANNOUNCE_TTL_MS}), and the workers read the pool's tenants
 * from there.
 */
import { createHash } from 'node:crypto';
import type { QueueType } from '../core/location.js';
import type { PayloadStore } from '../store/store.js';
import { jobsQueue, jobsQueueSpec, type QueueSpec } from './amqp.js';

/** How long a tenant stays known to a pool's workers after its last job was queued. */
export const TENANT_ANNOUNCE_TTL_MS = 7 * 24 * 3600_000;

/** Tenant `tenant`'s jobs queue on pool `pool`; hashed down past RabbitMQ's 255 bytes. */
export function tenantJobsQueue(pool: string, tenant: string): string {
  const name = `${jobsQueue(pool)}.tenant.${tenant}`;
  if (Buffer.byteLength(name) <= 255) return name;
  return `fj.jobs.tenant.${createHash('sha256').update(`${pool}\0${tenant}`).digest('hex').slice(0, 48)}`;
}

/** A tenant's jobs queue: as the pool's jobs queue (durable, the same arguments), under the tenant's name. */
export function tenantJobsQueueSpec(pool: string, tenant: string, type: QueueType = 'classic'): QueueSpec {
  return { ...jobsQueueSpec(pool, type), name: tenantJobsQueue(pool, tenant) };
}

/** The beacon that says `tenant` has jobs queued on `pool` (a name the store accepts, whatever the pool's). */
function beaconName(pool: string, tenant: string): string {
  return `t${createHash('sha256').update(`${pool}\n${tenant}`).digest('hex').slice(0, 40)}`;
}

/** A process writes a tenant's beacon again only after this long (its TTL is a week): not once per job queued. */
const ANNOUNCE_AGAIN_MS = 3600_000;
/** When this process last announced each beacon, per store. */
const announced = new WeakMap<PayloadStore, Map<string, number>>();

/** Tells `pool`'s workers that `tenant` queues jobs there (with its jobs; at most once an hour from one process). */
export async function announceTenant(store: PayloadStore, pool: string, tenant: string): Promise<void> {
  const name = beaconName(pool, tenant);
  let last = announced.get(store);
  if (!last) announced.set(store, (last = new Map<string, number>()));
  if (Date.now() - (last.get(name) ?? -Infinity) < ANNOUNCE_AGAIN_MS) return;
  await store.putBeacon('tenants', name, JSON.stringify({ pool, tenant }), TENANT_ANNOUNCE_TTL_MS);
  last.set(name, Date.now());
}

/** The tenants that queued jobs on `pool` within {@link TENANT_ANNOUNCE_TTL_MS} (a beacon that does not parse is skipped). */
export async function readTenants(store: PayloadStore, pool: string): Promise<string[]> {
  const out: string[] = [];
  for (const { text } of await store.listBeacons('tenants')) {
    try {
      const b = JSON.parse(text) as { pool?: unknown; tenant?: unknown };
      if (b.pool === pool && typeof b.tenant === 'string' && b.tenant.length > 0) out.push(b.tenant);
    } catch {
      // not ours to mend: skipped
    }
  }
  return out;
}
