/**
 * How evenly a pool's slots are shared, as the operator reads it: Jain's
 * index per pool (broker/job-beacon.ts `poolFairness`) from the running
 * jobs' beacons, on `/metrics` of a real dashboard over a real file store
 * (`fj_pool_fairness`, `fj_pool_jobs_sharing`), and its arithmetic.
 *
 *   npx vitest run --project main test/integration/pool-fairness.test.ts
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { poolFairness, putJobBeacon, tenantWeightsByPool, type JobBeat } from '../../src/broker/job-beacon.js';
import { startDashboard, type Dashboard } from '../../src/dashboard/server.js';
import { openStore } from '../../src/store/open.js';

const beat = (job: string, pool: string, inFlight: number, extra: Partial<JobBeat> = {}): JobBeat => ({
  job,
  pool,
  weight: 1,
  priority: 0,
  inFlight,
  wants: true,
  sent: Date.now(),
  ...extra,
});

describe("Jain's index of a pool's shares", () => {
  it('1 for an even split (by weight), 1/n when one job holds everything; only the top priority, only jobs that want more', () => {
    const f = poolFairness([
      beat('a', 'even', 8),
      beat('b', 'even', 8),
      beat('c', 'even', 16, { weight: 2 }), // twice the weight, twice the slots: even
      beat('d', 'hog', 30),
      beat('e', 'hog', 0),
      beat('f', 'hog', 0),
      beat('g', 'prio', 20, { priority: 5 }),
      beat('h', 'prio', 20, { priority: 5 }),
      beat('i', 'prio', 2), // a lower priority's floor does not count
      beat('j', 'sated', 30),
      beat('k', 'sated', 2, { wants: false }), // holds all it can use
      beat('l', 'skew', 30),
      beat('m', 'skew', 10),
    ]);
    expect(f.get('even')).toEqual({ index: 1, jobs: 3 });
    expect(f.get('hog')!.index).toBeCloseTo(1 / 3, 6);
    expect(f.get('prio')).toEqual({ index: 1, jobs: 2 });
    expect(f.get('sated')).toEqual({ index: 1, jobs: 1 });
    expect(f.get('skew')!.index).toBeCloseTo((40 * 40) / (2 * (900 + 100)), 6); // 0.8
  });
});

describe("Jain's index against the policy's tenants", () => {
  it('measures each job against its part as the policy sets it: tenants by their weights first, then their jobs by weight', () => {
    const split = [
      beat('a', 'p', 4, { tenant: 'team-x', weight: 3 }), // its tenant's only job: half the pool, whatever its weight
      beat('b', 'p', 4), // the jobs without a tenant: one more tenant, of weight 1
    ];
    expect(poolFairness(split).get('p')).toEqual({ index: 1, jobs: 2 });
    // The same 50/50 is not what the policy wants when team-x weighs 3: 3/4 of the pool is its part.
    const weighed = poolFairness(split, () => new Map([['team-x', 3]])).get('p')!.index;
    expect(weighed).toBeCloseTo((4 / 0.75 + 4 / 0.25) ** 2 / (2 * ((4 / 0.75) ** 2 + (4 / 0.25) ** 2)), 6); // 0.8
    // Within one tenant, by the jobs' weights: 6 and 2 of 8 for weights 3 and 1 is even.
    const inside = [beat('c', 'q', 6, { tenant: 't', weight: 3 }), beat('d', 'q', 2, { tenant: 't' })];
    expect(poolFairness(inside).get('q')).toEqual({ index: 1, jobs: 2 });
    // Jobs without a tenant share one part between them: 4 and 4 beside team-x's 8 is even.
    const untenanted = [beat('e', 'r', 8, { tenant: 'team-x' }), beat('f', 'r', 4), beat('g', 'r', 4)];
    expect(poolFairness(untenanted).get('r')).toEqual({ index: 1, jobs: 3 });
  });

  it("takes each pool's tenant weights from its live workers, the smallest where they disagree", () => {
    const weights = tenantWeightsByPool([
      { pool: 'p', tenantWeights: { a: 3, b: 2 } },
      { pool: 'p', tenantWeights: { a: 2 } },
      { pool: 'q' },
    ]);
    expect([...weights('p')]).toEqual([
      ['a', 2],
      ['b', 2],
    ]);
    expect(weights('q').size).toBe(0);
    expect(weights('unknown').size).toBe(0);
  });
});

describe('fj_pool_fairness on /metrics', () => {
  let dir: string;
  let dash: Dashboard;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fj-fairness-'));
    const store = await openStore(`file://${dir}`);
    try {
      for (const b of [beat('j1', 'pool.a', 30), beat('j2', 'pool.a', 10), beat('j3', 'pool.b', 12)])
        await putJobBeacon(store, undefined, b);
      await putJobBeacon(store, undefined, beat('j4', 'pool.b', 12, { ended: true })); // ended: not counted
    } finally {
      await store.close();
    }
    dash = await startDashboard({ host: '127.0.0.1', port: 0, store: `file://${dir}` });
  });
  afterAll(async () => {
    await dash?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('gives each pool its index and how many jobs it counted', async () => {
    const text = await (await fetch(new URL('/metrics', dash.url))).text();
    expect(text).toMatch(/^fj_pool_fairness\{pool="pool\.a"\} 0\.8$/m);
    expect(text).toMatch(/^fj_pool_jobs_sharing\{pool="pool\.a"\} 2$/m);
    expect(text).toMatch(/^fj_pool_fairness\{pool="pool\.b"\} 1$/m);
    expect(text).toMatch(/^fj_pool_jobs_sharing\{pool="pool\.b"\} 1$/m);
  });
});
