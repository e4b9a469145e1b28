/**
 * What a writer of the store can do to its readers (issue 24, section 6):
 * malformed or forged heartbeats, rewritten index entries, wrong-shaped
 * records and terminal escapes in data. Real `fj worker` processes, the
 * built CLI, a dashboard in this process and a real file store; the
 * attacker writes the store directly, as one who can reach it would.
 *
 *   npm run build && npx vitest run --project reliability test/reliability/store-trust.test.ts
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard, type Dashboard } from '../../src/dashboard/server.js';
import { openStore } from '../../src/store/open.js';
import type { PayloadStore } from '../../src/store/store.js';
import { Signer } from '../../src/core/signing.js';
import { HEARTBEAT_TTL_MS } from '../../src/broker/beacon.js';
import { PoolCapacity } from '../../src/executors/amqp/pool-capacity.js';
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
import { clean, ROOT, scratch } from './harness.js';
import { join } from 'node:path';
import { readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const available = await brokerAvailable();
const SLEEPY = join(ROOT, 'test', 'fixtures', 'sleepy.ts');
const KEY_A = `a-${randomUUID()}`;
const KEY_B = `b-${randomUUID()}`;

/** A worker's real beacon (as the store holds it), parsed; sealed ones opened. */
async function realBeat(store: PayloadStore, name: string): Promise<Record<string, unknown>> {
  return waitFor(
    `the heartbeat of ${name}`,
    async () => {
      const b = (await store.listBeacons('workers')).find((x) => x.name === name);
      if (!b) return false;
      const v = JSON.parse(b.text) as { beat?: string };
      return (typeof v.beat === 'string' ? JSON.parse(v.beat) : v) as Record<string, unknown>;
    },
    20_000,
    100,
  );
}

describe.runIf(available)('heartbeats are checked, and signed with a key', () => {
  const { dir, store: storeUrl } = scratch('store-trust-beacons');
  const queue = `fj.trust.${randomUUID()}`;
  const keyed = `${queue}.keyed`;
  const workers: WorkerProc[] = [];
  let store: PayloadStore;
  let dash: Dashboard | undefined;
  beforeAll(async () => {
    store = await openStore(storeUrl);
    workers.push(
      await startWorkerProc(['--queue', queue, '--store', storeUrl, '-c', '1', '--name', 'real-1', '--tasks', SLEEPY], {
        FJ_BROKER_URL: BROKER_URL,
      }),
    );
  }, 60_000);
  afterAll(async () => {
    await dash?.close();
    await Promise.all(workers.map(stopWorkerProc));
    await store?.close();
    for (const q of [queue, `${queue}.jobs`, keyed, `${keyed}.jobs`]) await deleteQueues(q).catch(() => {});
    clean(dir);
  });

  it('a malformed beacon is left out of fj workers, /api/overview, /metrics and the pool capacity, and said once, naming worker and field', async () => {
    const real = await realBeat(store, 'real-1');
    const plant = (name: string, change: Record<string, unknown>) =>
      store.putBeacon('workers', name, JSON.stringify({ ...real, name, ...change }), HEARTBEAT_TTL_MS);
    await plant('bad-null', { coordinating: null });
    await plant('bad-busy', { busy: 'x' });
    await plant('bad-items', { itemsDone: '1000000' });
    await plant('bad-future', { sent: Date.now() + 3600_000, concurrency: 4096 });
    await plant('bad-state', { state: 'hot' });

    const r = await runFj(['workers', '--store', storeUrl]);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^real-1 /m);
    expect(r.stdout).not.toMatch(/bad-/);
    expect(r.stderr).toMatch(/worker bad-null ignored: field coordinating/);
    expect(r.stderr).toMatch(/worker bad-busy ignored: field busy/);
    expect(r.stderr).toMatch(/worker bad-items ignored: field itemsDone/);
    expect(r.stderr).toMatch(/worker bad-future ignored: field sent: 3[56]\d\d s ahead/);
    expect(r.stderr).toMatch(/worker bad-state ignored: field state/);

    dash = await startDashboard({ port: 0, store: storeUrl, broker: BROKER_URL, queue, tasks: [SLEEPY] });
    const overview = await fetch(`${dash.url}/api/overview`);
    expect(overview.status).toBe(200);
    const o = (await overview.json()) as { itemsDone: unknown; workersOnline: number };
    expect(typeof o.itemsDone).toBe('number');
    expect(o.workersOnline).toBe(1);
    const metrics = await fetch(`${dash.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^fj_workers_online 1$/m);
    const ws = (await (await fetch(`${dash.url}/api/workers`)).json()) as {
      workers: { name: string; tasks: Record<string, string> }[];
    };
    expect(ws.workers.map((w) => w.name)).toEqual(['real-1']);

    // The window of a run on the pool starts at the real worker's 2 × 1 slots, not the liar's 2 × 4096.
    const code = { task: 'wordcount', hash: ws.workers[0].tasks.wordcount };
    const capacity = new PoolCapacity(store, queue, () => code);
    capacity.start();
    try {
      expect(await waitFor('the pool capacity', () => capacity.get() ?? false, 5000, 50)).toBe(2);
    } finally {
      capacity.stop();
    }
  }, 60_000);

  it('with a signing key, beacons are signed and carry the key fingerprint; unsigned and forged ones are ignored', async () => {
    const env = { FJ_BROKER_URL: BROKER_URL, FJ_SIGNING_KEY: KEY_A };
    workers.push(
      await startWorkerProc(
        ['--queue', keyed, '--store', storeUrl, '-c', '1', '--name', 'keyed-1', '--tasks', SLEEPY],
        env,
      ),
    );
    const real = await realBeat(store, 'keyed-1');
    expect(real.keyId).toBe(new Signer(KEY_A).fingerprint);
    expect(String(real.keyId)).toMatch(/^[0-9a-f]{16}$/);
    expect(JSON.stringify(await store.listBeacons('workers'))).not.toContain(KEY_A);
    // Unsigned, and signed with another key, both well-formed and on the pool.
    await store.putBeacon('workers', 'ghost-1', JSON.stringify({ ...real, name: 'ghost-1' }), HEARTBEAT_TTL_MS);
    const forged = JSON.stringify({ ...real, name: 'ghost-2' });
    await store.putBeacon(
      'workers',
      'ghost-2',
      JSON.stringify({ beat: forged, sig: new Signer(KEY_B).sign('beacon', 'ghost-2', forged) }),
      HEARTBEAT_TTL_MS,
    );
    const r = await runFj(['workers', '--store', storeUrl, '--json'], { env: { FJ_SIGNING_KEY: KEY_A } });
    expect(r.code).toBe(0);
    const names = (JSON.parse(r.stdout) as { name: string; pool: string }[])
      .filter((w) => w.pool === keyed)
      .map((w) => w.name);
    expect(names).toEqual(['keyed-1']);
    expect(r.stderr).toMatch(/worker ghost-1 ignored: not signed/);
    expect(r.stderr).toMatch(/worker ghost-2 ignored: not signed with this process's signing key/);
  }, 60_000);

  it('fj submit refuses a pool whose live workers hold another signing key, or none while it has one', async () => {
    await realBeat(store, 'keyed-1');
    const input = join(dir, 'input.json');
    await import('node:fs/promises').then((fs) => fs.writeFile(input, JSON.stringify({ values: [1, 2] })));
    const submit = (q: string, key: string | undefined) =>
      runFj(['submit', SLEEPY, input, '--queue', q, '--store', storeUrl], {
        env: { FJ_BROKER_URL: BROKER_URL, FJ_SIGNING_KEY: key ?? '' },
      });
    const a = new Signer(KEY_A).fingerprint;
    const b = new Signer(KEY_B).fingerprint;
    // The keyed pool's worker holds key A: key B is refused, no key is refused, key A is taken.
    const other = await submit(keyed, KEY_B);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain(`hold signing key ${a}`);
    expect(other.stderr).toContain(`this process key ${b}`);
    expect(other.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    const none = await submit(keyed, undefined);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/this process none .*set FJ_SIGNING_KEY/);
    const same = await submit(keyed, KEY_A);
    expect(same.stderr).toBe('');
    expect(same.code).toBe(0);
    // The unkeyed pool's worker holds none: a process with a key is refused.
    const keyedClient = await submit(queue, KEY_A);
    expect(keyedClient.code).toBe(2);
    expect(keyedClient.stderr).toContain('hold no signing key');
    // Nothing was written for the refused submissions: only the accepted job is listed.
    const jobs = await runFj(['jobs', '--store', storeUrl, '--json'], { env: { FJ_SIGNING_KEY: KEY_A } });
    expect((JSON.parse(jobs.stdout) as { jobs: unknown[] }).jobs).toHaveLength(1);
  }, 60_000);
});

describe.runIf(available)('listings, records and terminals, against a store writer', () => {
  const { dir, store: storeUrl } = scratch('store-trust-records');
  const root = fileURLToPath(storeUrl);
  const queue = `fj.trust.rec.${randomUUID()}`;
  const keyed = `${queue}.keyed`;
  const workers: WorkerProc[] = [];
  const input = join(dir, 'input.json');
  let dash: Dashboard | undefined;
  beforeAll(async () => {
    writeFileSync(input, JSON.stringify({ values: [1, 2, 3] }));
    const args = (q: string, name: string) => [
      '--queue',
      q,
      '--store',
      storeUrl,
      '-c',
      '1',
      '--name',
      name,
      '--tasks',
      SLEEPY,
    ];
    workers.push(await startWorkerProc(args(queue, 'plain-1'), { FJ_BROKER_URL: BROKER_URL }));
    workers.push(await startWorkerProc(args(keyed, 'keyed-2'), { FJ_BROKER_URL: BROKER_URL, FJ_SIGNING_KEY: KEY_A }));
  }, 60_000);
  afterAll(async () => {
    await dash?.close();
    await Promise.all(workers.map(stopWorkerProc));
    for (const q of [queue, `${queue}.jobs`, keyed, `${keyed}.jobs`]) await deleteQueues(q).catch(() => {});
    clean(dir);
  });

  /** A job run to its end on pool `q` (with `key`, when given). */
  async function endedJob(q: string, key?: string): Promise<string> {
    const id = `trust-${randomUUID().slice(0, 8)}`;
    const r = await runFj(
      ['submit', SLEEPY, input, '--queue', q, '--store', storeUrl, '--job-id', id, '--label', 'real label', '--wait'],
      { env: { FJ_BROKER_URL: BROKER_URL, FJ_SIGNING_KEY: key ?? '' } },
    );
    expect(r.code, r.stderr).toBe(0);
    return id;
  }

  const jobsJson = async (args: string[], key?: string) => {
    const r = await runFj(['jobs', '--store', storeUrl, '--json', ...args], { env: { FJ_SIGNING_KEY: key ?? '' } });
    expect(r.code, r.stderr).toBe(0);
    return (
      JSON.parse(r.stdout) as {
        jobs: {
          id: string;
          task: string;
          label: string;
          state: string;
          done: number;
          total: number | null;
          error?: string;
        }[];
      }
    ).jobs;
  };

  it('with a signing key, fj jobs takes task, label and state from the signed records, and filters on them', async () => {
    const id = await endedJob(keyed, KEY_A);
    // The attacker rewrites the job's index entry (file name and content), and plants one for a job that never was.
    const index = join(root, '.index');
    const name = readdirSync(index).find((n) => n.includes(`~${id}~`))!;
    const entry = JSON.parse(readFileSync(join(index, name), 'utf8')) as Record<string, unknown>;
    const forged = { ...entry, state: 'failed', task: 'forged', label: 'FORGED label: pay invoice 4711' };
    const [sub, , , exp] = name.split('~');
    writeFileSync(join(index, `${sub}~${id}~failed~${exp}~forged`), JSON.stringify(forged));
    unlinkSync(join(index, name));
    const ghost = `ghost-${randomUUID().slice(0, 8)}`;
    writeFileSync(join(index, `${sub}~${ghost}~failed~${exp}~forged`), JSON.stringify({ ...forged, id: ghost }));

    const all = await jobsJson([], KEY_A);
    expect(all.map((j) => j.id)).toEqual([id]);
    expect(all[0]).toMatchObject({ task: 'sleepy', label: 'real label', state: 'succeeded' });
    expect(await jobsJson(['--state', 'failed'], KEY_A)).toEqual([]);
    expect(await jobsJson(['--task', 'forged'], KEY_A)).toEqual([]);
    const table = await runFj(['jobs', '--store', storeUrl], { env: { FJ_SIGNING_KEY: KEY_A } });
    expect(table.stdout).not.toContain('FORGED');
    // Without a key the index is all there is: that is what the key is for (docs/reliability.md, trust model).
    expect((await jobsJson([])).map((j) => j.task).sort()).toEqual(['forged', 'forged']);
    rmSync(join(index, `${sub}~${ghost}~failed~${exp}~forged`));
  }, 60_000);

  it('a result or status record of the wrong shape is reported naming the job and the field, not crashed on', async () => {
    const id = await endedJob(queue);
    const resultFile = join(root, id, 'meta-result');
    const real = JSON.parse(readFileSync(resultFile, 'utf8')) as { stats: Record<string, unknown> };
    writeFileSync(
      resultFile,
      JSON.stringify({
        ...real,
        stats: { ...real.stats, failed: 1, failures: [{ index: 0, attempts: 1, error: null }] },
      }),
    );
    const r = await runFj(['result', id, '--store', storeUrl]);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.stderr).toBe(
      `fj: job ${id}: its result record in the store is malformed (stats.failures[0].error: expected an object): not used\n`,
    );
    expect(r.code).toBe(3);
    dash = await startDashboard({ port: 0, store: storeUrl, broker: BROKER_URL, queue, tasks: [SLEEPY] });
    const detail = await fetch(`${dash.url}/api/jobs/${id}`);
    expect(detail.status).toBe(200);
    expect(((await detail.json()) as { error: string }).error).toMatch(
      /stats\.failures\[0\]\.error: expected an object/,
    );

    writeFileSync(resultFile, JSON.stringify({ ...real, stats: 'x' }));
    const [j] = (await jobsJson([])).filter((x) => x.id === id);
    expect(j.error).toMatch(/result record in the store is malformed \(stats: expected an object\)/);
    expect(Number.isNaN(j.total)).toBe(false);
    const table = await runFj(['jobs', '--store', storeUrl]);
    expect(table.code).toBe(0);
    expect(table.stdout).not.toMatch(/NaN/);

    // the result record whole again, so that the status record is the one at fault
    writeFileSync(resultFile, JSON.stringify(real));
    writeFileSync(join(root, id, 'meta-status'), JSON.stringify({ state: 'running', task: 'sleepy', done: 'many' }));
    const s = await runFj(['status', id, '--store', storeUrl]);
    expect(s.stderr).toMatch(
      new RegExp(
        `^fj: job ${id}: its status record in the store is malformed \\(total: expected a whole number or null\\)`,
      ),
    );
    expect(s.stderr).not.toMatch(/internal error/);
  }, 60_000);

  it('terminal escapes in heartbeats, failures and status records are printed escaped by fj workers, fj result and fj status', async () => {
    const ESC = '\x1b]0;pwned\x07\x1b[31m';
    const id = await endedJob(queue);
    const resultFile = join(root, id, 'meta-result');
    const real = JSON.parse(readFileSync(resultFile, 'utf8')) as { stats: Record<string, unknown> };
    const failure = { index: 1, attempts: 2, error: { name: 'Error', message: `boom ${ESC}` } };
    writeFileSync(resultFile, JSON.stringify({ ...real, stats: { ...real.stats, failed: 1, failures: [failure] } }));
    const r = await runFj(['result', id, '--store', storeUrl]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('item 1: boom \\u001b]0;pwned\\u0007\\u001b[31m');
    // A failed job's own error, as `fj result` reports it.
    writeFileSync(
      resultFile,
      JSON.stringify({
        ...real,
        state: 'failed',
        error: { code: 'FJ_ITEM', message: `item 3 failed: ${ESC}\nsecond line`, exitCode: 1 },
      }),
    );
    const f = await runFj(['result', id, '--store', storeUrl]);
    expect(f.code).toBe(1);
    expect(f.stderr).toContain('item 3 failed: \\u001b]0;pwned\\u0007\\u001b[31m\nsecond line');

    writeFileSync(
      join(root, id, 'meta-status'),
      JSON.stringify({
        state: 'failed',
        task: `sleepy${ESC}`,
        total: 3,
        done: 3,
        failed: 0,
        retried: 0,
        inFlightMessages: 0,
        coordinator: `w${ESC}`,
        updated: 'now',
        error: `bad ${ESC}`,
      }),
    );
    const s = await runFj(['status', id, '--store', storeUrl]);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toContain('sleepy\\u001b]0;pwned');

    const beats = await openStore(storeUrl);
    try {
      const b = await realBeat(beats, 'plain-1');
      await beats.putBeacon(
        'workers',
        'esc-1',
        JSON.stringify({ ...b, name: 'esc-1', pool: `p${ESC}`, host: ESC }),
        HEARTBEAT_TTL_MS,
      );
    } finally {
      await beats.close();
    }
    const w = await runFj(['workers', '--store', storeUrl]);
    expect(w.code).toBe(0);
    expect(w.stdout).toContain('p\\u001b]0;pwned');
    for (const out of [r, f, s, w]) expect(out.stdout + out.stderr).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
  }, 60_000);
});
