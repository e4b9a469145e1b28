/**
 * What the user sees of a job (issue 24, section 3), with real `fj worker`
 * processes, RabbitMQ and a file store: an ended job keeps its counts and
 * failures (with the worker that ran them); STARTED and the coordinator's
 * name while it runs; attached amqp jobs listed; the phase while `join`
 * runs; one state vocabulary; `fj cancel` of an ended job; the worker's
 * tally of failed items (`/metrics`).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listJobs, listWorkers, run, submit } from '../../src/index.js';
import { openStore } from '../../src/store/open.js';
import { readOutcome } from '../../src/store/job-records.js';
import {
  BROKER_URL,
  brokerAvailable,
  deleteQueues,
  startWorkerProc,
  stopWorkerProc,
  type WorkerProc,
} from '../helpers/broker.js';
import { runFj } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';
import { startDashboard } from '../../src/dashboard/server.js';
import { tenantJobsQueue } from '../../src/broker/tenant-queues.js';

const available = await brokerAvailable();
const SLOW_JOIN = join(import.meta.dirname, '..', 'fixtures', 'slow-join.ts');
const NAMES = ['view-a', 'view-b'];
const TOKEN = 'test-token-0123456789abcdef';

describe.runIf(available)('what the user sees of a job', () => {
  const queue = `fj.test.view.${randomUUID()}`;
  let dir: string;
  let store: string;
  const workers: WorkerProc[] = [];
  const fj = (args: string[], timeoutMs = 60_000) =>
    runFj([...args, '--store', store], { env: { FJ_BROKER_URL: BROKER_URL }, timeoutMs });
  const common = () => ({ store, broker: BROKER_URL, queue });
  const view = async (id: string) => (await listJobs({ store, limit: 100 })).jobs.find((j) => j.id === id);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fj-view-'));
    store = `file://${join(dir, 'store')}`;
    for (const name of NAMES)
      workers.push(
        await startWorkerProc(['--queue', queue, '--store', store, '-c', '2', '--name', name, '--tasks', SLOW_JOIN], {
          FJ_BROKER_URL: BROKER_URL,
        }),
      );
  }, 60_000);
  afterAll(async () => {
    await Promise.all(workers.map(stopWorkerProc));
    for (const q of [queue, `${queue}.jobs`, tenantJobsQueue(queue, 'team-x')]) await deleteQueues(q).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });

  it('a job that failed fast keeps its counts and its failure, which names the worker that ran it', async () => {
    const h = await submit(SLOW_JOIN, { n: 6, poison: [1] }, common());
    const res = await fj(['result', h.id, '--wait', '--timeout', '60']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/item 1/);
    const j = (await view(h.id))!;
    expect(j).toMatchObject({ state: 'failed', failed: 1, total: 6 });
    const s = await openStore(store);
    try {
      const o = (await readOutcome(s, h.id))!;
      expect(o.stats?.failures.map((f) => f.index)).toEqual([1]);
      expect(NAMES).toContain(o.stats!.failures[0].worker);
    } finally {
      await s.close();
    }
    const status = await fj(['status', h.id]);
    expect(status.stdout).toMatch(/state:\s+failed/);
    expect(status.stdout).toMatch(/items:\s+\d+ done, 1 failed, 6 in all/);
    expect(status.stdout).toMatch(new RegExp(`item 1 .*on (${NAMES.join('|')})`));
  }, 90_000);

  it('a job cancelled while it runs keeps its counts: done so far and its total, not 0 of ?', async () => {
    const h = await submit(SLOW_JOIN, { n: 60, ms: 250 }, common());
    await waitFor('items of the job done', async () => ((await view(h.id))?.done ?? 0) >= 4, 30_000, 100);
    expect((await fj(['cancel', h.id])).code).toBe(0);
    const ended = await waitFor(
      'the job to end cancelled',
      async () => {
        const j = await view(h.id);
        return j?.state === 'cancelled' ? j : undefined;
      },
      30_000,
      100,
    );
    expect(ended.total).toBe(60);
    expect(ended.done).toBeGreaterThanOrEqual(4);
    const listed = await fj(['jobs']);
    const row = listed.stdout.split('\n').find((l) => l.startsWith(h.id))!;
    expect(row).toMatch(/cancelled/);
    expect(row).not.toMatch(/\/\?/);
  }, 90_000);

  it('while it runs: STARTED is set, the coordinator is the worker’s --name (host:pid beside it), the phase shows join; after: one state word everywhere', async () => {
    const h = await submit(SLOW_JOIN, { n: 4, ms: 50, joinMs: 4000 }, common());
    const running = await waitFor(
      'the job in its join',
      async () => {
        const j = await view(h.id);
        return j?.phase === 'join' ? j : undefined;
      },
      30_000,
    );
    expect(NAMES).toContain(running.coordinator);
    expect(running.coordinatorHost).toMatch(/:\d+$/);
    expect(running.started).toBeGreaterThanOrEqual(running.submitted);
    const listed = await fj(['jobs']);
    const row = listed.stdout.split('\n').find((l) => l.startsWith(h.id))!;
    expect(row).toContain('running (join)');
    expect(row).toContain(running.coordinator);
    expect(row.split(/\s{2,}/)[5]).not.toBe('-'); // STARTED
    const status = await fj(['status', h.id]);
    expect(status.stdout).toMatch(/phase:\s+join/);
    const res = await fj(['result', h.id, '--wait', '--timeout', '60']);
    expect(res.code, res.stderr).toBe(0);
    const after = await fj(['status', h.id]);
    expect(after.stdout).toMatch(/state:\s+succeeded/);
    expect(after.stdout).not.toMatch(/state:\s+done/);
  }, 90_000);

  it('a job run attached (amqp) is listed while it runs and after it ends, with its task, label and counts', async () => {
    const jobId = randomUUID();
    const p = run(SLOW_JOIN, { n: 5, ms: 100, joinMs: 1500 }, { ...common(), executor: 'amqp', jobId });
    const live = await waitFor(
      'the attached job listed as running',
      async () => {
        const j = await view(jobId);
        return j?.state === 'running' ? j : undefined;
      },
      30_000,
    );
    expect(live).toMatchObject({ task: 'slow-join', label: 'test fixture: a slow join', attached: true });
    expect(await p).toBe(10);
    const j = (await view(jobId))!;
    expect(j).toMatchObject({ state: 'succeeded', done: 5, failed: 0, total: 5, attached: true });
    expect(j.finished).toBeGreaterThanOrEqual(j.started!);
    // Its output is not kept: fj result says where it went.
    const res = await fj(['result', jobId]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/run attached/);
    // The dashboard lists it, and /metrics counts it with the pool's other jobs.
    const dash = await startDashboard({ port: 0, store, broker: BROKER_URL, token: TOKEN, queue });
    try {
      const get = async (path: string) =>
        (await fetch(`${dash.url}${path}`, { headers: { 'x-fj-token': TOKEN } })).text();
      const listed = JSON.parse(await get('/api/jobs?limit=100')) as { jobs: { id: string; state: string }[] };
      expect(listed.jobs.find((x) => x.id === jobId)).toMatchObject({ state: 'succeeded' });
      const succeeded = (await listJobs({ store, limit: 100, state: 'succeeded', task: 'slow-join' })).jobs.length;
      expect(await get('/metrics')).toMatch(
        new RegExp(`^fj_jobs\\{task="slow-join",state="succeeded"\\} ${succeeded}$`, 'm'),
      );
    } finally {
      await dash.close();
    }
  }, 90_000);

  it('fj jobs shows a job’s tenant, priority and weight, in columns of their own only when a listed job sets one', async () => {
    const plain = await submit(SLOW_JOIN, { n: 2 }, common());
    expect((await fj(['result', plain.id, '--wait', '--timeout', '60'])).code).toBe(0);
    const before = await fj(['jobs', '--limit', '1']);
    expect(before.stdout.split('\n')[0]).not.toMatch(/TENANT|PRIORITY|WEIGHT/);
    // Through its tenant's jobs queue (broker/tenant-queues.ts): taken and run like any job.
    const h = await submit(SLOW_JOIN, { n: 2 }, { ...common(), tenant: 'team-x', priority: 2, weight: 3 });
    expect((await fj(['result', h.id, '--wait', '--timeout', '60'])).code).toBe(0);
    expect(await view(h.id)).toMatchObject({ tenant: 'team-x', priority: 2, weight: 3, state: 'succeeded' });
    expect(await view(plain.id)).not.toHaveProperty('tenant');
    const listed = await fj(['jobs', '--limit', '100']);
    const lines = listed.stdout.split('\n');
    const cells = (id: string) => lines.find((l) => l.startsWith(id))!.split(/\s{2,}/);
    const head = lines[0].split(/\s{2,}/);
    const at = (name: string) => head.indexOf(name);
    expect(at('TENANT')).toBeGreaterThan(at('COORDINATOR'));
    expect([at('TENANT'), at('PRIORITY'), at('WEIGHT')].map((i) => cells(h.id)[i])).toEqual(['team-x', '2', '3']);
    expect([at('TENANT'), at('PRIORITY'), at('WEIGHT')].map((i) => cells(plain.id)[i])).toEqual(['-', '0', '1']);
  }, 90_000);

  it('fj cancel of a job that has ended says how it ended, exits 4, and changes nothing', async () => {
    const h = await submit(SLOW_JOIN, { n: 3 }, common());
    expect((await fj(['result', h.id, '--wait', '--timeout', '60'])).code).toBe(0);
    const c = await fj(['cancel', h.id]);
    expect(c.code).toBe(4);
    expect(c.stderr).toMatch(/had already ended: succeeded/);
    const res = await fj(['result', h.id]);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toBe(3);
    expect((await view(h.id))!.state).toBe('succeeded');
  }, 90_000);

  it('the worker that coordinated a collect job counts its failed items (its tally, for /metrics)', async () => {
    const h = await submit(
      SLOW_JOIN,
      { n: 10, poison: [2, 5, 7] },
      { ...common(), onFailure: 'collect', maxFailures: 1 },
    );
    const res = await fj(['result', h.id, '--wait', '--timeout', '60']);
    expect(res.code).toBe(1);
    // Its error, written by the worker in the API's words, read back by fj in its own.
    expect(res.stderr).toMatch(/more than the 1 allowed \(--max-failures\)/);
    const who = (await view(h.id))!.coordinator;
    const w = await waitFor(
      'the coordinator’s heartbeat counting the failures',
      async () => {
        const found = (await listWorkers({ store })).find((x) => x.name === who);
        return (found?.tally?.items.failed ?? 0) >= 2 ? found : undefined;
      },
      30_000,
    );
    expect(w.tally!.jobs.failed.count).toBeGreaterThanOrEqual(1);
  }, 90_000);

  it('/metrics counts a collect job’s failed items for the worker that coordinated it, by task, and none for the other', async () => {
    const dash = await startDashboard({ port: 0, store, broker: BROKER_URL, token: TOKEN, queue });
    try {
      const metrics = async () => (await fetch(`${dash.url}/metrics`, { headers: { 'x-fj-token': TOKEN } })).text();
      const failedOf = (text: string, worker: string) =>
        [...text.matchAll(/^fj_job_items_failed_total\{([^}]*)\} (\d+)$/gm)]
          .filter((m) => m[1].includes(`worker="${worker}"`))
          .map((m) => ({ labels: m[1], n: Number(m[2]) }));
      const before = await metrics();
      const h = await submit(SLOW_JOIN, { n: 12, poison: [1, 3, 5, 7, 9, 11] }, { ...common(), onFailure: 'collect' });
      const res = await fj(['result', h.id, '--wait', '--timeout', '60']);
      expect(res.code, res.stderr).toBe(0);
      expect(JSON.parse(res.stdout)).toBe(0 + 2 + 4 + 6 + 8 + 10);
      const j = (await view(h.id))!;
      expect(j).toMatchObject({ state: 'succeeded', failed: 6 });
      const who = j.coordinator;
      const other = NAMES.find((n) => n !== who)!;
      const count = (text: string, worker: string) =>
        failedOf(text, worker)
          .filter((m) => m.labels.includes('task="slow-join"'))
          .reduce((n, m) => n + m.n, 0);
      let last = '';
      const text = await waitFor(
        'the coordinator’s failed items in /metrics',
        async () => {
          last = await metrics();
          return count(last, who) - count(before, who) >= 6 && last;
        },
        20_000,
        250,
      ).catch((err: Error) => {
        throw new Error(
          `${err.message}; coordinator ${who}, /metrics said:\n${last
            .split('\n')
            .filter((l) => l.startsWith('fj_job_items'))
            .join('\n')}`,
        );
      });
      expect(count(text, who) - count(before, who)).toBe(6);
      expect(count(text, other)).toBe(count(before, other));
      // Succeeded jobs by task too, and no label names a job.
      expect(text).toMatch(
        new RegExp(`^fj_job_duration_seconds_count\\{worker="${who}",task="slow-join",state="succeeded"\\} [1-9]`, 'm'),
      );
      expect(text).not.toContain(h.id);
    } finally {
      await dash.close();
    }
  }, 90_000);
});
