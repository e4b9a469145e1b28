/**
 * The dashboard's HTTP API for real: a dashboard in this process, real
 * `fj worker` processes, a real RabbitMQ and file store. Submit, list, get,
 * download, cancel, resume, re-run, workers, queues, metrics; the token and
 * origin rules; the body limit. (The page in a browser: dashboard-browser.test.ts.)
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard, type Dashboard } from '../../src/dashboard/server.js';
import { redact } from '../../src/dashboard/context.js';
import { normalizeDashboardOptions } from '../../src/dashboard/dashboard-options.js';
import { run } from '../../src/index.js';
import { openStore } from '../../src/store/open.js';
import { readManifest } from '../../src/store/job-records.js';
import {
  BROKER_URL,
  brokerAvailable,
  deleteQueues,
  startWorkerProc,
  stopWorkerProc,
  type WorkerProc,
} from '../helpers/broker.js';
import { spawn } from 'node:child_process';
import { FJ_CLI, runFj } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';

const available = await brokerAvailable();
const ROOT = join(import.meta.dirname, '..', '..');
const SLEEPY = join(ROOT, 'test', 'fixtures', 'sleepy.ts');
const FLAKY = join(ROOT, 'test', 'fixtures', 'flaky.ts');
const SLOW_JOIN = join(ROOT, 'test', 'fixtures', 'slow-join.ts');
const TOKEN = 'test-token-0123456789abcdef';

describe('dashboard options', () => {
  it('binds the loopback by default; any other address needs a token', () => {
    expect(normalizeDashboardOptions({}, {})).toMatchObject({
      host: '127.0.0.1',
      port: 8050,
      tokenGiven: false,
      readsNeedToken: false,
    });
    expect(() => normalizeDashboardOptions({ host: '0.0.0.0' }, {})).toThrow(/needs a token/);
    expect(normalizeDashboardOptions({ host: '0.0.0.0' }, { FJ_DASHBOARD_TOKEN: TOKEN })).toMatchObject({
      token: TOKEN,
      readsNeedToken: true,
    });
    expect(() => normalizeDashboardOptions({ token: 'short' }, {})).toThrow(/at least 16/);
  });

  it('redacts the password of any URL in a text', () => {
    expect(redact('cannot reach amqp://guest:s3cret@10.0.0.1:5672/ or redis://:pw@h:6379')).toBe(
      'cannot reach amqp://guest:***@10.0.0.1:5672/ or redis://:***@h:6379',
    );
  });
});

describe('fj dashboard on the command line', () => {
  it('refuses a non-loopback address without a token (exit 2, one line, no stack)', async () => {
    const r = await runFj(['dashboard', '--host', '0.0.0.0', '--port', '0'], { env: { FJ_DASHBOARD_TOKEN: '' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'fj: binding 0.0.0.0 (not the loopback) needs a token: pass --token or set FJ_DASHBOARD_TOKEN\n',
    );
  });

  it('prints its URL with a made-up token in the fragment, serves the page, and exits 0 on SIGTERM', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fj-dashboard-cli-'));
    const child = spawn(process.execPath, [FJ_CLI, 'dashboard', '--port', '0', '--store', `file://${dir}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FJ_DASHBOARD_TOKEN: '' },
    });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const [, url, token] = await waitFor(
        'the URL',
        () => /dashboard on (http:\/\/127\.0\.0\.1:\d+)\/#token=([\w-]{20,})\n/.exec(err) ?? false,
        20_000,
      );
      const page = await fetch(url);
      expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(await page.text()).toContain('/page/app.js');
      expect(
        (
          await fetch(`${url}/api/jobs`, {
            method: 'POST',
            body: '{}',
            headers: { 'content-type': 'application/json' },
          })
        ).status,
      ).toBe(401);
      const ok = await fetch(`${url}/api/jobs`, {
        method: 'POST',
        body: JSON.stringify({ task: 'wordcount', input: {} }),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      });
      expect(ok.status).toBe(400); // past the door: the input lacks documents
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe('fj dashboard prints a token only when it made it up', () => {
  it('a token given in FJ_DASHBOARD_TOKEN is not printed (service logs keep the URL line)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fj-dashboard-cli-'));
    const child = spawn(process.execPath, [FJ_CLI, 'dashboard', '--port', '0', '--store', `file://${dir}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FJ_DASHBOARD_TOKEN: TOKEN },
    });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const [, url] = await waitFor(
        'the URL',
        () => /dashboard on (http:\/\/127\.0\.0\.1:\d+)\/?\n/.exec(err) ?? false,
        20_000,
      );
      expect(err).not.toContain(TOKEN);
      expect(err).toContain('FJ_DASHBOARD_TOKEN');
      expect((await fetch(`${url}/api/jobs`)).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe.runIf(available)('fj dashboard: the HTTP API against real workers', () => {
  const queue = `fj.test.dashboard.${randomUUID()}`;
  let dir: string;
  let store: string;
  let dash: Dashboard;
  const workers: WorkerProc[] = [];
  const call = (path: string, init: RequestInit & { token?: string | null } = {}) => {
    const headers: Record<string, string> = { ...(init.headers as Record<string, string>) };
    if (init.token !== null) headers['x-fj-token'] = init.token ?? TOKEN;
    if (init.body !== undefined) headers['content-type'] ??= 'application/json';
    return fetch(`${dash.url}${path}`, { ...init, headers });
  };
  const post = (path: string, body: unknown, extra: RequestInit & { token?: string | null } = {}) =>
    call(path, { method: 'POST', body: JSON.stringify(body), ...extra });
  const job = async (id: string) =>
    (await (await call(`/api/jobs/${id}`)).json()) as {
      state: string;
      label: string;
      done: number;
      total: number | null;
      failures: unknown[];
      hasOutput: boolean;
      error?: string;
      phase?: string;
    };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fj-dashboard-'));
    store = `file://${join(dir, 'store')}`;
    for (let i = 0; i < 2; i++)
      workers.push(
        await startWorkerProc(['--queue', queue, '--store', store, '-c', '2', '--tasks', SLEEPY, FLAKY, SLOW_JOIN], {
          FJ_BROKER_URL: BROKER_URL,
        }),
      );
    dash = await startDashboard({
      port: 0,
      store,
      broker: BROKER_URL,
      token: TOKEN,
      tasks: [SLEEPY, FLAKY, SLOW_JOIN],
      queue,
      liveEveryMs: 200,
    });
  }, 60_000);
  afterAll(async () => {
    await dash?.close();
    await Promise.all(workers.map(stopWorkerProc));
    for (const q of [queue, `${queue}.jobs`]) await deleteQueues(q).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });

  it('POST /api/jobs submits; the job ends on the workers; its output and input download as JSON equal to eager', async () => {
    const input = JSON.parse(readFileSync(join(ROOT, 'examples', 'wordcount.json'), 'utf8'));
    const res = await post('/api/jobs', {
      task: 'wordcount',
      input,
      label: 'api wordcount',
      options: { onCodeChange: 'follow' },
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    // Recorded in the job's manifest: its coordinator follows new code when the pool's workers run none of its own.
    const s = await openStore(store);
    try {
      expect((await readManifest(s, id)).options.onCodeChange).toBe('follow');
    } finally {
      await s.close();
    }
    expect((await post('/api/jobs', { task: 'wordcount', input, options: { onCodeChange: 'maybe' } })).status).toBe(
      400,
    );
    await waitFor('the job to succeed', async () => (await job(id)).state === 'succeeded', 60_000, 200);
    const out = await call(`/api/jobs/${id}/output`);
    expect(out.headers.get('content-disposition')).toBe(`attachment; filename="${id}.output.json"`);
    expect(await out.json()).toEqual(await run('wordcount', input, { executor: 'eager' }));
    expect(await (await call(`/api/jobs/${id}/input`)).json()).toEqual({ ...input, delimiter: input.delimiter ?? ' ' });
    const listed = (await (await call('/api/jobs?task=wordcount&label=API%20WORD')).json()) as {
      jobs: { id: string; label: string }[];
    };
    expect(listed.jobs.map((j) => j.id)).toEqual([id]);
  }, 90_000);

  it('an invalid input is HTTP 400 with the JSON-path problems, and nothing is queued', async () => {
    const before = ((await (await call('/api/jobs?limit=200')).json()) as { jobs: unknown[] }).jobs.length;
    const res = await post('/api/jobs', { task: 'sleepy', input: { values: [1, 'two'], extra: true } });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: string; problems: string[] };
    expect(body.code).toBe('FJ_INPUT');
    expect(body.problems.sort()).toEqual([
      '/extra: is not allowed here (unknown property)',
      '/values/1: must be number',
    ]);
    expect((await post('/api/jobs', { task: '../../etc/evil.js', input: {} })).status).toBe(400); // only tasks the dashboard serves
    expect(((await (await call('/api/jobs?limit=200')).json()) as { jobs: unknown[] }).jobs.length).toBe(before);
  });

  it('a mutating request without the token, or from another origin, is refused; reads on the loopback need none', async () => {
    const body = { task: 'sleepy', input: { values: [1] } };
    expect((await post('/api/jobs', body, { token: null })).status).toBe(401);
    expect((await post('/api/jobs', body, { token: 'wrong-token-0123456789abcdef' })).status).toBe(401);
    expect((await post('/api/jobs', body, { headers: { origin: 'https://evil.example' } })).status).toBe(403);
    expect((await post('/api/jobs', body, { headers: { 'sec-fetch-site': 'cross-site' } })).status).toBe(403);
    // A cross-site form post carries neither header token nor JSON: refused before anything runs.
    expect(
      (
        await call('/api/jobs', {
          method: 'POST',
          token: null,
          headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
          body: 'task=sleepy',
        })
      ).status,
    ).toBe(403);
    expect((await call('/api/jobs', { token: null })).status).toBe(200);
    const big = await post('/api/jobs', { task: 'sleepy', input: { values: [], pad: 'x'.repeat(5 * 1024 * 1024) } });
    expect(big.status).toBe(413);
  });

  it('cancel stops a running job on the workers; resume and cancel of an ended job are 409', async () => {
    const res = await post('/api/jobs', {
      task: 'sleepy',
      input: { values: Array.from({ length: 200 }, (_, i) => i), ms: 300 },
      label: 'long',
    });
    const { id } = (await res.json()) as { id: string };
    await waitFor('the job to run', async () => (await job(id)).done > 0, 30_000, 100);
    expect((await post(`/api/jobs/${id}/resume`, {})).status).toBe(200); // a spare job message: the worker sees its coordinator attached
    const c = await post(`/api/jobs/${id}/cancel`, {});
    expect(c.status).toBe(200);
    const ended = await waitFor(
      'the job to be cancelled',
      async () => ((await job(id)).state === 'cancelled' ? job(id) : false),
      30_000,
      100,
    );
    expect(ended.done).toBeLessThan(200);
    // Its error says where the cancel came from (issue 24: it said "by 'fj cancel'").
    expect(ended.error).toBe(`job ${id} cancelled from the dashboard`);
    await waitFor(
      'the workers to log the cancel',
      () => workers.some((w) => w.log().includes(id) && /cancel/i.test(w.log())),
      10_000,
    );
    expect((await post(`/api/jobs/${id}/cancel`, {})).status).toBe(409);
    expect((await post(`/api/jobs/${id}/resume`, {})).status).toBe(409);
    expect(await (await call(`/api/jobs/${id}/output`)).json()).toMatchObject({
      error: expect.stringMatching(/cancelled/),
    });
    const resubmitted = await post(`/api/jobs/${id}/resubmit`, {});
    expect(resubmitted.status).toBe(201);
    const again = ((await resubmitted.json()) as { id: string }).id;
    expect(again).not.toBe(id);
    expect((await job(again)).label).toBe('resubmit of long');
    await post(`/api/jobs/${again}/cancel`, {});
    // Cancelled before a coordinator attached, or while one ran: from the dashboard either way.
    const stopped = await waitFor(
      'the resubmitted job to be cancelled',
      async () => ((await job(again)).state === 'cancelled' ? job(again) : false),
      30_000,
      100,
    );
    expect(stopped.error).toMatch(new RegExp(`^job ${again} cancelled from the dashboard( before it started)?$`));
    // The former name answers the same for one release (deprecated alias).
    const alias = await post(`/api/jobs/${id}/rerun`, {});
    expect(alias.status).toBe(201);
    const third = ((await alias.json()) as { id: string }).id;
    expect(third).not.toBe(id);
    expect(third).not.toBe(again);
    await post(`/api/jobs/${third}/cancel`, {});
  }, 90_000);

  it("re-run failed items only: a new job runs just the items without a result, and its output is the whole job's; a failure's stack on demand", async () => {
    const attemptsDir = await mkdtemp(join(tmpdir(), 'fj-dashboard-flaky-'));
    const input = { n: 30, dir: attemptsDir, failFirst: { '3': 1, '17': 1 } }; // items 3 and 17 fail their first attempt
    const res = await post('/api/jobs', {
      task: 'flaky',
      input,
      label: 'two fail',
      options: { retries: 0, onFailure: 'collect' },
    });
    const { id } = (await res.json()) as { id: string };
    type Detail = {
      state: string;
      failures: { index: number; error: { message: string; stack?: string }; stack: boolean }[];
      kept: number | null;
      rerunOf: string | null;
      hasOutput: boolean;
    };
    const first = await waitFor(
      'the job to end',
      async () => {
        const j = (await job(id)) as unknown as Detail;
        return j.state === 'succeeded' && j;
      },
      60_000,
      200,
    );
    expect(first.failures.map((f) => [f.index, f.stack])).toEqual([
      [3, true],
      [17, true],
    ]);
    expect(first.failures[0].error.stack).toBeUndefined(); // stacks only on demand
    expect(first.kept).toBe(28);
    const failure = (await (await call(`/api/jobs/${id}/failures/3`)).json()) as {
      error: { message: string; stack: string };
    };
    expect(failure.error.message).toMatch(/item 3 failed on attempt 1/);
    expect(failure.error.stack).toMatch(/flaky\.ts:\d+/); // where in the task it threw
    expect((await call(`/api/jobs/${id}/failures/4`)).status).toBe(404);
    expect((await post(`/api/jobs/${id}/rerun-failed`, {}, { token: null })).status).toBe(401);

    const again = await post(`/api/jobs/${id}/rerun-failed`, {});
    expect(again.status).toBe(201);
    const rerunId = ((await again.json()) as { id: string }).id;
    const second = await waitFor(
      'the re-run to end',
      async () => {
        const j = (await job(rerunId)) as unknown as Detail;
        return j.state === 'succeeded' && j;
      },
      60_000,
      200,
    );
    expect(second).toMatchObject({ rerunOf: id, kept: null, failures: [] });
    // Only items 3 and 17 ran again: every other item made one attempt in all.
    const { attempts } = await import('../fixtures/flaky.js');
    expect(Array.from({ length: 30 }, (_, i) => attempts(attemptsDir, i))).toEqual(
      Array.from({ length: 30 }, (_, i) => (i === 3 || i === 17 ? 2 : 1)),
    );
    expect(await (await call(`/api/jobs/${rerunId}/output`)).json()).toEqual({
      results: Array.from({ length: 30 }, (_, i) => i),
      failed: [],
    });
    // A job with nothing left to run again: 409.
    expect((await post(`/api/jobs/${rerunId}/rerun-failed`, {})).status).toBe(409);
    await rm(attemptsDir, { recursive: true, force: true });
  }, 120_000);

  it('a running job gives its phase (join while its join runs) in GET /api/jobs/:id and the list; none once it ended', async () => {
    const res = await post('/api/jobs', { task: 'slow-join', input: { n: 4, joinMs: 4000 }, label: 'slow join' });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    const joining = await waitFor(
      'the job in its join',
      async () => {
        const j = await job(id);
        return j.phase === 'join' && j;
      },
      30_000,
      100,
    );
    expect(joining).toMatchObject({ state: 'running', done: 4, total: 4 });
    const listed = (await (await call('/api/jobs?task=slow-join')).json()) as {
      jobs: { id: string; state: string; phase?: string }[];
    };
    expect(listed.jobs.find((j) => j.id === id)).toMatchObject({ state: 'running', phase: 'join' });
    const ended = await waitFor(
      'the job to succeed',
      async () => {
        const j = await job(id);
        return j.state === 'succeeded' && j;
      },
      30_000,
      100,
    );
    expect(ended.phase).toBeUndefined();
  }, 60_000);

  it('GET /api/workers, /api/queues and /metrics read heartbeats and RabbitMQ', async () => {
    const ws = await waitFor(
      'both workers in the heartbeats',
      async () => {
        const w = (
          (await (await call('/api/workers')).json()) as { workers: { pool: string; quiet: boolean }[] }
        ).workers.filter((x) => x.pool === queue && !x.quiet);
        return w.length === 2 && w;
      },
      20_000,
      200,
    );
    expect(ws).toHaveLength(2);
    const q = (await (await call('/api/queues')).json()) as {
      pools: { pool: string; work: { consumers: number }; dead: { messages: number } }[];
    };
    expect(q.pools.find((p) => p.pool === queue)).toMatchObject({ work: { consumers: 2 }, dead: { messages: 0 } });
    const sum = (text: string, re: RegExp) => [...text.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
    // The workers' tallies reach /metrics with their next heartbeat (every 2 s): wait for the jobs of the tests above.
    const text = await waitFor(
      'the ended jobs in /metrics',
      async () => {
        const t = await (await call('/metrics')).text();
        return (
          sum(t, /^fj_job_duration_seconds_count\{worker="[^"]+",task="[^"]+",state="succeeded"\} (\d+)$/gm) >= 3 && t
        );
      },
      10_000,
      250,
    );
    expect(text).toMatch(/^fj_workers_online [2-9]/m);
    expect(text).toMatch(/^fj_jobs\{task="wordcount",state="succeeded"\} [1-9]/m);
    // From the workers' tallies: the jobs of the tests above ended on these workers (the re-run test's two failed items among them).
    expect(
      sum(text, /^fj_job_duration_seconds_count\{worker="[^"]+",task="[^"]+",state="cancelled"\} (\d+)$/gm),
    ).toBeGreaterThanOrEqual(1);
    expect(sum(text, /^fj_job_items_failed_total\{worker="[^"]+",task="flaky"\} (\d+)$/gm)).toBeGreaterThanOrEqual(2);
    expect(sum(text, /^fj_job_items_succeeded_total\{worker="[^"]+",task="[^"]+"\} (\d+)$/gm)).toBeGreaterThanOrEqual(
      58,
    );
    for (const m of text.matchAll(
      /^fj_job_duration_seconds_count\{worker="([^"]+)",task="([^"]+)",state="(\w+)"\} (\d+)$/gm,
    )) {
      const buckets = [
        ...text.matchAll(
          new RegExp(
            `^fj_job_duration_seconds_bucket\\{worker="${m[1].replace(/\./g, '\\.')}",task="${m[2].replace(/\./g, '\\.')}",state="${m[3]}",le="([^"]+)"\\} (\\d+)$`,
            'gm',
          ),
        ),
      ].map((b) => Number(b[2]));
      expect(buckets).toHaveLength(11); // ten bounds and +Inf, cumulative
      expect(buckets).toEqual([...buckets].sort((a, b) => a - b));
      expect(buckets.at(-1)).toBe(Number(m[4]));
    }
    expect(text).toMatch(
      new RegExp(`^fj_queue_messages\\{pool="${queue.replace(/\./g, '\\.')}",kind="work"\\} \\d+`, 'm'),
    );
    const tasks = (await (await call('/api/tasks')).json()) as {
      tasks: { name: string; schema: { properties: object } }[];
    };
    expect(tasks.tasks.map((t) => t.name)).toEqual(expect.arrayContaining(['wordcount', 'align', 'sleepy']));
    expect(Object.keys(tasks.tasks.find((t) => t.name === 'wordcount')!.schema.properties)).toEqual([
      'documents',
      'delimiter',
    ]);
    expect(JSON.stringify(tasks) + JSON.stringify(q) + text).not.toMatch(/guest:guest/);
  }, 30_000);

  it('dead letters: peek shows a safe preview and leaves them; purge needs the pool repeated as confirmation', async () => {
    const amqp = (await import('amqplib')).default;
    const conn = await amqp.connect(BROKER_URL);
    try {
      const ch = await conn.createConfirmChannel();
      await ch.checkQueue(`${queue}.dead`);
      ch.sendToQueue(`${queue}.dead`, Buffer.from('<img src=x onerror=alert(1)> not fj'), {
        headers: { 'fj-task': 'sleepy' },
      });
      await ch.waitForConfirms();
    } finally {
      await conn.close();
    }
    const peek = (await (await call(`/api/queues/${queue}/dead`)).json()) as {
      count: number;
      letters: { task: string; preview: string }[];
    };
    expect(peek.count).toBe(1);
    expect(peek.letters[0]).toMatchObject({ task: '"sleepy"', preview: expect.stringContaining('not fj') });
    expect(
      (
        (await (await call('/api/queues')).json()) as { pools: { pool: string; dead: { messages: number } }[] }
      ).pools.find((p) => p.pool === queue)!.dead.messages,
    ).toBe(1);
    expect((await post(`/api/queues/${queue}/dead/purge`, {})).status).toBe(400);
    expect((await post(`/api/queues/${queue}/dead/purge`, { confirm: queue }, { token: null })).status).toBe(401);
    expect(await (await post(`/api/queues/${queue}/dead/purge`, { confirm: queue })).json()).toMatchObject({
      purged: 1,
    });
    expect(((await (await call(`/api/queues/${queue}/dead`)).json()) as { count: number }).count).toBe(0);
  });

  it('GET /api/jobs pages the index by cursor, newest first, with `more`, never silently capped', async () => {
    const s = await openStore(store);
    const t0 = 1_000_000_000_000; // older than every real job, so they come first and these last
    try {
      for (let i = 0; i < 25; i++)
        await s.indexJob({
          id: `page-${String(i).padStart(2, '0')}`,
          state: 'failed',
          task: 'paged',
          label: i % 2 ? 'odd one' : 'even one',
          submitted: t0 + i,
          expires: Date.now() + 3600_000,
        });
    } finally {
      await s.close();
    }
    const seen: string[] = [];
    let before = '';
    let more = true;
    let pages = 0;
    while (more) {
      const p = (await (await call(`/api/jobs?task=paged&limit=10${before ? `&before=${before}` : ''}`)).json()) as {
        jobs: { id: string }[];
        more: boolean;
        next: string | null;
      };
      seen.push(...p.jobs.map((j) => j.id));
      more = p.more;
      before = p.next ?? '';
      pages++;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => `page-${String(24 - i).padStart(2, '0')}`));
    const odd = (await (await call('/api/jobs?task=paged&label=odd&limit=5')).json()) as {
      jobs: { id: string }[];
      more: boolean;
      next: string;
    };
    expect(odd.jobs.map((j) => j.id)).toEqual(['page-23', 'page-21', 'page-19', 'page-17', 'page-15']);
    expect(odd.more).toBe(true);
    const rest = (await (await call(`/api/jobs?task=paged&label=odd&limit=50&before=${odd.next}`)).json()) as {
      jobs: { id: string }[];
      more: boolean;
    };
    expect(rest.jobs.map((j) => j.id)).toEqual([
      'page-13',
      'page-11',
      'page-09',
      'page-07',
      'page-05',
      'page-03',
      'page-01',
    ]);
    expect(rest.more).toBe(false);
    expect((await call('/api/jobs?state=bogus')).status).toBe(400);
    expect((await call('/api/jobs?before=nonsense')).status).toBe(400);
  });
});
