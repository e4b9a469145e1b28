/**
 * The dashboard's page in a real headless browser (Debian's chromium driven
 * by playwright-core) against real `fj worker` processes, RabbitMQ and a
 * file store: submit through the form generated from the schema and watch
 * the bar move live, cancel from the job page, an invalid field's JSON-path
 * error beside it, and user text with `<script>` and `<img onerror>` shown
 * as text. Screenshots for the README: FJ_UPDATE_SCREENSHOTS=1 writes them to docs/. Needs chromium: skipped
 * with a warning where it is missing, except under CI=true (.ci/run installs it).
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard, type Dashboard } from '../../src/dashboard/server.js';
import { pipeline, run, submitPipeline } from '../../src/index.js';
import { Scale, Squares, Total } from '../fixtures/pipeline-stages.js';
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
import { requireServices } from '../helpers/services.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
];
const ROOT = join(import.meta.dirname, '..', '..');
const SLEEPY = join(ROOT, 'test', 'fixtures', 'sleepy.ts');
const FLAKY = join(ROOT, 'test', 'fixtures', 'flaky.ts');
const SLOW_JOIN = join(ROOT, 'test', 'fixtures', 'slow-join.ts');
const STAGES = join(ROOT, 'test', 'fixtures', 'pipeline-stages.ts');
// Screenshots are always taken; they replace the README's (docs/) only with FJ_UPDATE_SCREENSHOTS=1, so a test run leaves the tree clean.
const SHOTS = process.env.FJ_UPDATE_SCREENSHOTS === '1' ? join(ROOT, 'docs') : join(tmpdir(), 'fj-dashboard-shots');
const TOKEN = 'browser-token-0123456789abcdef';
const EVIL_LABEL = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">';

function hasChromium(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (requireServices())
    throw new Error(
      `${CHROMIUM} is missing, and CI=true/FJ_REQUIRE_BROKER=1 requires the browser tests to run (.ci/run installs chromium)`,
    );
  console.warn(`SKIPPING dashboard browser tests: ${CHROMIUM} is missing (apt-get install chromium)`);
  return false;
}

const available = (await brokerAvailable()) && hasChromium();

describe.runIf(available)('fj dashboard in a real browser', () => {
  const queue = `fj.test.dashboard-ui.${randomUUID()}`;
  let dir: string;
  let dash: Dashboard;
  let browser: Browser;
  let page: Page;
  const workers: WorkerProc[] = [];
  const errors: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fj-dashboard-ui-'));
    const store = `file://${join(dir, 'store')}`;
    for (let i = 0; i < 2; i++)
      workers.push(
        await startWorkerProc(
          ['--queue', queue, '--store', store, '-c', '2', '--tasks', SLEEPY, FLAKY, SLOW_JOIN, STAGES],
          {
            FJ_BROKER_URL: BROKER_URL,
          },
        ),
      );
    dash = await startDashboard({
      port: 0,
      store,
      broker: BROKER_URL,
      token: TOKEN,
      tasks: [SLEEPY, FLAKY, SLOW_JOIN],
      queue,
      liveEveryMs: 250,
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
    page = await browser.newPage({ viewport: { width: 1100, height: 720 } });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${dash.url}/#token=${TOKEN}`);
    await page.getByText('workers online').waitFor({ timeout: 15_000 });
  }, 90_000);
  afterAll(async () => {
    await browser?.close();
    await dash?.close();
    await Promise.all(workers.map(stopWorkerProc));
    for (const q of [queue, `${queue}.jobs`]) await deleteQueues(q).catch(() => {});
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const progressNow = async () => Number(await page.getByRole('progressbar').first().getAttribute('aria-valuenow'));

  it('a job submitted through the form generated from the schema runs, its bar moving without a reload', async () => {
    await page.goto(`${dash.url}/#/tasks/sleepy`);
    const form = page.getByTestId('task-form');
    await form.getByLabel('values').fill(Array.from({ length: 40 }, (_, i) => String(i)).join('\n'));
    await form.getByLabel('ms').fill('250');
    await form.getByLabel('label').fill('from the form');
    await page.screenshot({ path: join(SHOTS, 'dashboard-submit.png') });
    await page.evaluate(() => ((globalThis as unknown as { __samePage: boolean }).__samePage = true));
    await form.getByRole('button', { name: 'Submit job' }).click();
    await page.getByTestId('job-label').filter({ hasText: 'from the form' }).waitFor();
    // The bar's value, seen rising at least twice before the end: live updates, not a reload.
    const seen = new Set<number>();
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && !(await page.locator('[data-state="succeeded"]').count())) {
      const n = await progressNow();
      if (n > 0 && n < 40) seen.add(n);
      if (seen.size === 2 && n < 40) await page.screenshot({ path: join(SHOTS, 'dashboard-job.png') }); // mid-run: bar, rate, ETA
      await page.waitForTimeout(100);
    }
    await page.locator('[data-state="succeeded"]').waitFor({ timeout: 5000 });
    expect(seen.size).toBeGreaterThanOrEqual(2);
    expect(await progressNow()).toBe(40);
    expect(await page.locator('[data-testid="rate-chart"] canvas').count()).toBe(1); // the items/s chart (uPlot)
    expect(await page.evaluate(() => (globalThis as unknown as { __samePage?: boolean }).__samePage)).toBe(true);
    await page.getByTestId('output').waitFor();
    expect(JSON.parse(await page.getByTestId('output').innerText())).toEqual(
      Array.from({ length: 40 }, (_, i) => i * 2),
    );
  }, 90_000);

  it('with the event stream blocked, the job page falls back to polling and still moves', async () => {
    const page2 = await browser.newPage();
    try {
      await page2.route('**/api/events**', (r) => r.abort());
      await page2.goto(`${dash.url}/#token=${TOKEN}`);
      const res = await page2.evaluate(
        async ([t]) =>
          (
            await fetch('/api/jobs', {
              method: 'POST',
              headers: { 'content-type': 'application/json', 'x-fj-token': t },
              body: JSON.stringify({
                task: 'sleepy',
                input: { values: Array.from({ length: 24 }, (_, i) => i), ms: 250 },
              }),
            })
          ).json(),
        [TOKEN],
      );
      await page2.goto(`${dash.url}/#/job/${(res as { id: string }).id}`);
      await page2.getByText('(polling)').waitFor({ timeout: 10_000 });
      await page2.locator('[data-state="succeeded"]').waitFor({ timeout: 60_000 });
      expect(Number(await page2.getByRole('progressbar').first().getAttribute('aria-valuenow'))).toBe(24);
    } finally {
      await page2.close();
    }
  }, 90_000);

  it("the form's settings reach the job: priority, weight and tenant in its records, and a start time makes it scheduled", async () => {
    await page.goto(`${dash.url}/#/tasks/sleepy`);
    const form = page.getByTestId('task-form');
    await form.getByLabel('values').fill('1\n2');
    await form.getByLabel('ms').fill('1');
    await form.getByLabel('label').fill('with settings');
    await form.getByLabel('priority').fill('5');
    await form.getByLabel('weight').fill('2');
    await form.getByLabel('tenant').fill('team-b');
    // Two hours from now, as the browser's date and time control takes it (local time, to the minute).
    const due = new Date(Date.now() + 2 * 3600_000);
    const local = new Date(due.getTime() - due.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
    await form.getByLabel('start at').fill(local);
    await form.getByRole('button', { name: 'Submit job' }).click();
    await page.getByTestId('job-label').filter({ hasText: 'with settings' }).waitFor();
    const id = new URL(page.url()).hash.split('/')[2];
    const view = (await (await fetch(`${dash.url}/api/jobs/${id}`)).json()) as { state: string };
    expect(view.state).toBe('scheduled');
    const store = await openStore(`file://${join(dir, 'store')}`);
    try {
      const manifest = await readManifest(store, id, undefined);
      expect(manifest.options).toMatchObject({ priority: 5, weight: 2, tenant: 'team-b' });
      const dueAt = manifest.detached?.due ?? 0;
      expect(Math.abs(dueAt - due.getTime())).toBeLessThan(60_000); // to the minute the control keeps
    } finally {
      await store.close();
    }
    await fetch(`${dash.url}/api/jobs/${id}/cancel`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-fj-token': TOKEN },
      body: '{}',
    });
  });

  it('a job cancelled from its page ends cancelled on the workers; "Resubmit" runs it again as a new job', async () => {
    await page.goto(`${dash.url}/#/tasks/sleepy`);
    const form = page.getByTestId('task-form');
    await form.getByLabel('values').fill(Array.from({ length: 300 }, (_, i) => String(i)).join('\n'));
    await form.getByLabel('ms').fill('300');
    await form.getByLabel('label').fill('to be cancelled');
    await form.getByRole('button', { name: 'Submit job' }).click();
    await page.getByTestId('job-label').filter({ hasText: 'to be cancelled' }).waitFor();
    await page.locator('[data-state="running"]').waitFor({ timeout: 30_000 });
    const waitDone = Date.now() + 30_000;
    while ((await progressNow()) === 0 && Date.now() < waitDone) await page.waitForTimeout(100); // items are being done
    const id = new URL(page.url()).hash.split('/')[2];
    // A healthy running job (its coordinator attached): nothing to resume, no Resume button.
    await page.waitForTimeout(600);
    expect(await page.getByRole('button', { name: 'Resume' }).count()).toBe(0);
    await page.getByRole('button', { name: 'Cancel job' }).click();
    await page.getByRole('button', { name: 'Really cancel' }).click();
    await page.locator('[data-state="cancelled"]').waitFor({ timeout: 30_000 });
    expect(await progressNow()).toBeLessThan(300);
    const view = (await (await fetch(`${dash.url}/api/jobs/${id}`)).json()) as { state: string; error: string };
    expect(view).toMatchObject({ state: 'cancelled', error: `job ${id} cancelled from the dashboard` });
    expect(await page.getByTestId('job-error').innerText()).toBe(`job ${id} cancelled from the dashboard`);
    // "Resubmit" runs every item again as a new job, and opens its page.
    await page.getByTestId('resubmit').click();
    await page.getByTestId('job-label').filter({ hasText: 'resubmit of to be cancelled' }).waitFor({ timeout: 15_000 });
    const again = new URL(page.url()).hash.split('/')[2];
    expect(again).not.toBe(id);
    await fetch(`${dash.url}/api/jobs/${again}/cancel`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-fj-token': TOKEN },
      body: '{}',
    });
    await page.goto(`${dash.url}/#/jobs`);
    await page.locator(`[data-job="${id}"] [data-state="cancelled"]`).waitFor();
    await page.screenshot({ path: join(SHOTS, 'dashboard-jobs.png') });
  }, 90_000);

  it('a running job shows its phase: "joining" while its join runs, on its page and in the list', async () => {
    const res = await fetch(`${dash.url}/api/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-fj-token': TOKEN },
      body: JSON.stringify({ task: 'slow-join', input: { n: 4, joinMs: 6000 }, label: 'slow join' }),
    });
    const { id } = (await res.json()) as { id: string };
    await page.goto(`${dash.url}/#/job/${id}`);
    const phase = page.locator('[data-phase="join"]');
    await phase.waitFor({ timeout: 30_000 });
    expect(await phase.innerText()).toBe('joining');
    await page.goto(`${dash.url}/#/jobs`);
    const row = page.locator(`[data-job="${id}"] [data-phase="join"]`);
    await row.waitFor({ timeout: 10_000 });
    expect(await row.innerText()).toBe('joining');
    // Once it ended, no phase.
    await page.locator(`[data-job="${id}"] [data-state="succeeded"]`).waitFor({ timeout: 30_000 });
    expect(await page.locator(`[data-job="${id}"] [data-phase]`).count()).toBe(0);
  }, 90_000);

  it('a submitted pipeline: its page shows each stage with its state and bar, the current one live; the list puts its stage jobs under it', async () => {
    const store = `file://${join(dir, 'store')}`;
    const p = pipeline(Squares).pipe(Scale).pipe(Total);
    const handle = await submitPipeline(
      p,
      { count: 80, slowScale: 120 },
      { queue, broker: BROKER_URL, store, label: EVIL_LABEL },
    );
    const id = handle.id;
    await page.goto(`${dash.url}/#/job/${id}`);
    await page.getByTestId('stages').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('job-label').innerText()).toBe(EVIL_LABEL);
    // Stage 2 (80 items of 120 ms on 4 slots): marked current, its bar seen at two values short of the end, no reload.
    const stage2 = page.locator('[data-testid="stages"] tr[data-stage="2"]');
    await page.locator('[data-testid="stages"] tr[data-stage="2"][aria-current="step"]').waitFor({ timeout: 30_000 });
    expect(await stage2.locator('a').innerText()).toBe(`${id}.2`);
    expect(await page.getByTestId('pipeline-stage').innerText()).toBe('2/3 scale');
    expect(await page.locator('[data-testid="stages"] tr[data-stage="1"] [data-state="succeeded"]').count()).toBe(1);
    expect(await page.locator('[data-testid="stages"] tr[data-stage="3"] [data-state="pending"]').count()).toBe(1);
    const seen = new Set<number>();
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && seen.size < 2) {
      const n = Number(await stage2.getByRole('progressbar').getAttribute('aria-valuenow'));
      if (n > 0 && n < 80) seen.add(n);
      await page.waitForTimeout(100);
    }
    expect(seen.size).toBe(2);
    await page.screenshot({ path: join(SHOTS, 'dashboard-pipeline.png') });
    // The JSON API gives the stages too.
    const api = (await (await fetch(`${dash.url}/api/jobs/${id}`)).json()) as {
      stages: { job: string; state: string }[];
      stale: boolean;
    };
    expect(api.stages.map((t) => t.job)).toEqual([1, 2, 3].map((n) => `${id}.${n}`));
    expect(api.stale).toBe(false); // a pipeline has no coordinator of its own: no Resume offered
    expect(await page.getByTestId('resume').count()).toBe(0);
    // At its end: every stage succeeded with its whole bar, none current; the output is the last stage's.
    await page
      .locator('[data-testid="stages"] tr[data-stage="3"] [data-state="succeeded"]')
      .waitFor({ timeout: 60_000 });
    await page.locator('dd [data-state="succeeded"]').waitFor({ timeout: 10_000 });
    expect(await page.locator('[data-testid="stages"] tr[aria-current]').count()).toBe(0);
    expect(await page.getByTestId('stage-progress-2').innerText()).toBe('80 of 80');
    await page.getByTestId('output').waitFor();
    expect(JSON.parse(await page.getByTestId('output').innerText())).toMatchObject({ count: 80 });
    // The list: the pipeline, then its stage jobs right under it, in order, each marked.
    await page.goto(`${dash.url}/#/jobs`);
    await page.locator(`[data-job="${id}.3"]`).waitFor({ timeout: 10_000 });
    const rows = await page
      .locator('[data-testid="jobs"] tr[data-job]')
      .evaluateAll((trs) => trs.map((tr) => [tr.getAttribute('data-job'), tr.getAttribute('data-stage-of')]));
    const at = rows.findIndex(([j]) => j === id);
    expect(rows.slice(at, at + 4)).toEqual([[id, null], ...[1, 2, 3].map((n) => [`${id}.${n}`, id])]);
    expect(await page.locator(`[data-job="${id}.2"] .stage-mark`).innerText()).toBe('└ stage 2');
    expect(await page.locator('main img, main script').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss)).toBeUndefined();
    // A stage's page links back to its pipeline.
    await page.goto(`${dash.url}/#/job/${encodeURIComponent(`${id}.2`)}`);
    await page.getByTestId('pipeline-of').waitFor();
    expect(await page.getByTestId('pipeline-of').innerText()).toBe(id);
  }, 120_000);

  it('a failed item shows its stack on demand, and "Re-run failed items" runs it again in a new job whose output is whole', async () => {
    const attemptsDir = await mkdtemp(join(tmpdir(), 'fj-dashboard-ui-flaky-'));
    const input = { n: 12, dir: attemptsDir, failFirst: { '5': 1 } };
    const res = await fetch(`${dash.url}/api/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-fj-token': TOKEN },
      body: JSON.stringify({ task: 'flaky', input, label: 'one fails', options: { retries: 0, onFailure: 'collect' } }),
    });
    const { id } = (await res.json()) as { id: string };
    await page.goto(`${dash.url}/#/job/${id}`);
    await page.locator('[data-state="succeeded"]').waitFor({ timeout: 60_000 });
    // The failures come first, the output (folded when long) after them.
    await page.getByTestId('output-box').waitFor();
    const failuresAt = (await page.getByTestId('failures').boundingBox())!.y;
    expect(failuresAt).toBeLessThan((await page.getByTestId('output-box').boundingBox())!.y);
    await page.getByText('item 5 failed on attempt 1').click(); // opens the failure's details
    await page.getByTestId('stack-5').click();
    expect(await page.getByTestId('stack-text-5').innerText()).toMatch(/flaky\.ts:\d+/);
    await page.getByTestId('rerun-failed').click();
    await page.getByTestId('rerun-of').filter({ hasText: id }).waitFor({ timeout: 15_000 }); // the new job's page
    await page.locator('[data-state="succeeded"]').waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('progress').innerText()).toBe('12 of 12');
    expect(JSON.parse(await page.getByTestId('output').innerText())).toEqual({
      results: Array.from({ length: 12 }, (_, i) => i),
      failed: [],
    });
    await rm(attemptsDir, { recursive: true, force: true });
  }, 120_000);

  it("an invalid field shows the server's JSON-path error beside it", async () => {
    await page.goto(`${dash.url}/#/tasks/sleepy`);
    const form = page.getByTestId('task-form');
    await form.getByLabel('values').fill('1\nnot a number');
    await form.getByRole('button', { name: 'Submit job' }).click();
    const err = page.locator('[data-field="values"] [data-testid="error-values"]');
    await err.waitFor();
    expect(await err.innerText()).toBe('/values/1: must be number');
    // The summary names where its one problem is, rather than end on a colon.
    expect(await page.getByTestId('form-error').innerText()).toBe(
      'input does not match the schema (1 problem): shown beside the field below',
    );
    expect(new URL(page.url()).hash).toBe('#/tasks/sleepy'); // nothing submitted
    await page.screenshot({ path: join(SHOTS, 'dashboard-form-error.png') });
  }, 30_000);

  it('an array of objects takes one JSON object per line; the time axis reads as a clock; no token in any stream URL', async () => {
    const urls: string[] = [];
    const seen = (r: { url(): string }) => urls.push(r.url());
    page.on('request', seen);
    try {
      await page.goto(`${dash.url}/#/tasks/align`);
      const form = page.getByTestId('task-form');
      expect(await form.getByLabel('edits').getAttribute('placeholder')).toBe(
        'a JSON array, or one JSON value per line',
      );
      await form.getByLabel('reference').fill('ACGTACGTAC');
      await form.getByLabel('edits').fill('{"id": "e1", "sequence": "ACGTA"}\n{"id": "e2", "sequence": "GTAC"}');
      await form.getByLabel('label').fill('objects per line');
      await form.getByRole('button', { name: 'Submit job' }).click();
      await page.getByTestId('job-label').filter({ hasText: 'objects per line' }).waitFor({ timeout: 15_000 });
      await page.locator('[data-state="succeeded"]').waitFor({ timeout: 60_000 });
      expect(await page.getByTestId('progress').innerText()).toBe('2 of 2');
      // A string, so vitest leaves the page's own import() alone.
      const label = await page.evaluate<string>("import('/page/chart.js').then((m) => m.clock(1700000000.25))");
      expect(label).toMatch(/^\d\d:\d\d:\d\d$/);
    } finally {
      page.off('request', seen);
    }
    const streams = urls.filter((u) => u.includes('/api/events?'));
    expect(streams.length).toBeGreaterThan(0);
    for (const u of streams) {
      expect(u).not.toContain('token=');
      expect(u).not.toContain(TOKEN);
    }
  }, 90_000);

  it('a label and an output with <script> and <img onerror> render as text, never as HTML', async () => {
    const input = { documents: [`${EVIL_LABEL}|plain`], delimiter: '|' };
    const res = await fetch(`${dash.url}/api/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-fj-token': TOKEN },
      body: JSON.stringify({ task: 'wordcount', input, label: EVIL_LABEL }),
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    await page.goto(`${dash.url}/#/job/${id}`);
    await page.locator('[data-state="succeeded"]').waitFor({ timeout: 60_000 });
    await page.getByTestId('output').waitFor();
    expect(await page.getByTestId('job-label').innerText()).toBe(EVIL_LABEL);
    expect(await page.getByTestId('output').innerText()).toContain(EVIL_LABEL.replace(/"/g, '\\"'));
    expect(await page.locator('main img, main script').count()).toBe(0);
    await page.goto(`${dash.url}/#/jobs`);
    await page.locator(`[data-job="${id}"] .label`).waitFor();
    expect(await page.locator(`[data-job="${id}"] .label`).innerText()).toBe(EVIL_LABEL);
    expect(await page.locator('main img, main script').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss)).toBeUndefined();
  }, 90_000);

  it("the workers page shows who holds the pool's slots: each job's share over time, its tenant and weight, and Jain's index", async () => {
    await page.goto(`${dash.url}/#/workers`);
    await page.getByTestId('workers').waitFor();
    const where = {
      executor: 'amqp' as const,
      broker: BROKER_URL,
      queue,
      store: `file://${join(dir, 'store')}`,
      logLevel: 'warn' as const,
    };
    // Two jobs of one tenant on the pool at once, of weights 3 and 1: they share the tenant's part 3:1.
    const values = Array.from({ length: 120 }, (_, i) => i);
    const jobs = Promise.all([
      run(SLEEPY, { values, ms: 60 }, { ...where, tenant: 'team-w', weight: 3 }),
      run(SLEEPY, { values, ms: 60 }, { ...where, tenant: 'team-w' }),
    ]);
    try {
      const pool = page.locator(`[data-sharing="${queue}"]`);
      await pool.locator('[data-testid="sharing"] tr[data-job]').nth(1).waitFor({ timeout: 20_000 });
      const rows = pool.locator('[data-testid="sharing"] tr[data-job]');
      expect(await rows.locator('td:nth-child(2)').allInnerTexts()).toEqual(['team-w', 'team-w']);
      expect((await rows.locator('td:nth-child(4)').allInnerTexts()).sort()).toEqual(['1', '3']);
      expect(await pool.innerText()).toMatch(/Jain's index \d\.\d\d over \d job/);
      const jain = Number(await pool.getByTestId('jain').innerText());
      expect(jain).toBeGreaterThan(0);
      expect(jain).toBeLessThanOrEqual(1);
      // The chart has a line per job and keeps taking samples (one a second).
      const chart = pool.getByTestId('share-chart');
      await expect.poll(async () => Number(await chart.getAttribute('data-jobs')), { timeout: 10_000 }).toBe(2);
      const first = Number(await chart.getAttribute('data-samples'));
      await expect
        .poll(async () => Number(await chart.getAttribute('data-samples')), { timeout: 10_000 })
        .toBeGreaterThan(first + 1);
      await chart.locator('canvas').waitFor();
      await page.screenshot({ path: join(SHOTS, 'dashboard-sharing.png') });
    } finally {
      await jobs;
    }
    expect(errors).toEqual([]);
  }, 60_000);

  it('the workers page lists both workers of the pool; the overview counts them, peeks at dead letters as text and purges them', async () => {
    await page.goto(`${dash.url}/#/workers`);
    await page.getByTestId('workers').waitFor();
    for (const w of workers) expect(w.log()).toMatch(/serving/);
    await page.locator(`[data-testid="workers"] tr[data-worker*="${queue}"]`).nth(1).waitFor({ timeout: 20_000 });
    expect(await page.locator(`[data-testid="workers"] tr[data-worker*="${queue}"]`).count()).toBe(2);
    // Each is ready (its threads imported its tasks): the state the worker's heartbeat says.
    const states = page.locator(`[data-testid="workers"] tr[data-worker*="${queue}"] [data-testid="worker-state"]`);
    await expect.poll(async () => states.allTextContents(), { timeout: 20_000 }).toEqual(['ready', 'ready']);
    await page.screenshot({ path: join(SHOTS, 'dashboard-workers.png') });
    const amqp = (await import('amqplib')).default;
    const conn = await amqp.connect(BROKER_URL);
    try {
      const ch = await conn.createConfirmChannel();
      ch.sendToQueue(`${queue}.dead`, Buffer.from(EVIL_LABEL), {});
      await ch.waitForConfirms();
    } finally {
      await conn.close();
    }
    await page.goto(`${dash.url}/#/`);
    await page.locator('[data-testid="rate-chart"] canvas').waitFor();
    const dead = page.locator(`[data-dead="${queue}"]`);
    await dead.getByRole('button', { name: 'Peek' }).click();
    await dead.locator('code').first().waitFor();
    expect(await dead.locator('code').first().innerText()).toContain('<img src=x onerror=');
    expect(await page.locator('main img, main script').count()).toBe(0);
    expect(Number(await page.getByTestId('workers-online').innerText())).toBeGreaterThanOrEqual(2);
    await page.screenshot({ path: join(SHOTS, 'dashboard-overview.png') });
    await dead.getByRole('button', { name: 'Purge' }).click();
    await dead.getByRole('button', { name: 'Really purge' }).click();
    await dead.getByText('1 purged.').waitFor();
    expect(await page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss)).toBeUndefined();
    expect(errors).toEqual([]);
  }, 30_000);
});
