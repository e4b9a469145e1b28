/**
 * Fair shares of one pool between the jobs on it, against the real RabbitMQ
 * and real `fj worker` processes (2 × 6 threads: 12 slots). The jobs are
 * attached amqp jobs run from this process (`run()`, each its own
 * coordinator); their items block their thread for {@link MS} and report
 * when they ran (test/fixtures/spans.mjs), so the slots each job held at
 * any moment are known from the items themselves.
 *
 * - 4 jobs started at once each hold a quarter of the slots (±15%) once
 *   the shares settle; when one ends, the other three hold a third each;
 * - a small job started behind a large one finishes within 1.5× its time
 *   alone on its share (half the pool);
 * - a high-priority job started last finishes first, while the low-priority
 *   one started before it still progresses;
 * - a tenant the pool caps at 50% (`fj worker --tenant-cap`) holds no more,
 *   alone or beside another job, which takes the whole pool once the
 *   tenant's job ends;
 * - a detached job's weight and priority reach its coordinator, and `fj workers`.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinTaskNames, resolveTask, run, submit, type RunOptions, type TaskClass } from '../../src/index.js';
import { codeQueue } from '../../src/broker/amqp.js';
import { readJobBeacons } from '../../src/broker/job-beacon.js';
import { openStore } from '../../src/store/open.js';
import { runFj } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';
import {
  BROKER_URL,
  brokerAvailable,
  deleteQueue,
  deleteQueues,
  startWorkerProc,
  stopWorkerProc,
  type WorkerProc,
} from '../helpers/broker.js';

const available = await brokerAvailable();
const spans = join(import.meta.dirname, '..', 'fixtures', 'spans.mjs');
// Plain JavaScript on the build (as the workers load it): the job runs the very class they run.
const Spans = ((await import(spans)) as { default: TaskClass }).default;
const WORKERS = 2;
const THREADS = 6;
const SLOTS = WORKERS * THREADS;
const MS = 200;

/** Slot-ms of `ran` inside [from, to] (epoch ms). */
function slotMs(ran: [number, number][], from: number, to: number): number {
  let sum = 0;
  for (const [s, e] of ran) sum += Math.max(0, Math.min(e, to) - Math.max(s, from));
  return sum;
}

/** Each job's share of the slot-time all of them used in [from, to]. */
function sharesOf(runs: [number, number][][], from: number, to: number): number[] {
  const used = runs.map((r) => slotMs(r, from, to));
  const total = used.reduce((a, b) => a + b, 0);
  return used.map((u) => u / total);
}

describe.runIf(available)('fair shares of a pool', () => {
  const queue = `fj.test.${randomUUID()}`;
  const dir = mkdtempSync(join(tmpdir(), 'fj-fair-test-'));
  const store = `file://${dir}`;
  let workers: WorkerProc[] = [];

  /** One job of `items` items; resolves to when it started and ended (epoch ms) and when its items ran. */
  async function job(items: number, options: RunOptions = {}) {
    const started = Date.now();
    const ran = (await run(
      Spans,
      { items, ms: MS },
      { executor: 'amqp', queue, broker: BROKER_URL, store, ...options },
    )) as [number, number][];
    expect(ran).toHaveLength(items);
    return { started, ended: Date.now(), ran };
  }
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  beforeAll(async () => {
    workers = await Promise.all(
      Array.from({ length: WORKERS }, (_, n) =>
        startWorkerProc([
          ...['--queue', queue, '--store', store, '--tasks', spans],
          ...['--concurrency', String(THREADS), '--name', `fair${n}`, '--tenant-cap', 'capped=50%'],
          ...['--tenant-weight', 'heavy=3'],
        ]),
      ),
    );
    await job(SLOTS * 2); // every thread loads the task
    await sleep(2000); // and its coordinator's beacon is gone
  }, 60_000);

  afterAll(async () => {
    for (const w of workers) await stopWorkerProc(w);
    await deleteQueues(queue);
    // The workers declared a code queue for every task they serve (the built-ins too), and the pool's jobs queue.
    for (const t of await Promise.all([...builtinTaskNames(), Spans].map((n) => resolveTask(n))))
      await deleteQueue(codeQueue(queue, t.name, t.codeHash));
    await deleteQueue(`${queue}.jobs`);
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives 4 jobs started at once a quarter of the slots each, and a third each when one ends', async () => {
    // ~3 slots each: the fourth ends after ~6.7 s, the other three ~5 s later.
    const runs = await Promise.all([200, 200, 200, 100].map((n) => job(n)));
    const fourthEnded = runs[3].ended;
    const start = Math.max(...runs.map((r) => r.started));
    // Shares settle within 2 s (a beacon's second, and the prefetched items of the first second).
    const four = sharesOf(
      runs.map((r) => r.ran),
      start + 2000,
      fourthEnded - 300,
    );
    for (const s of four) expect(Math.abs(s - 0.25)).toBeLessThan(0.25 * 0.15);
    const firstOfThreeEnded = Math.min(...runs.slice(0, 3).map((r) => r.ended));
    const three = sharesOf(
      runs.slice(0, 3).map((r) => r.ran),
      fourthEnded + 1500,
      firstOfThreeEnded - 300,
    );
    for (const s of three) expect(Math.abs(s - 1 / 3)).toBeLessThan(0.15 / 3);
  }, 60_000);

  it('finishes a small job behind a large one within 1.5x its time alone on its share', async () => {
    const small = 12;
    const alone = await job(small); // on the whole pool: one wave of items
    const aloneMs = alone.ended - alone.started;
    await sleep(1500);
    // On half the pool (its share beside the large job): one more wave of items.
    const aloneOnShareMs = aloneMs + MS * (Math.ceil(small / (SLOTS / 2)) - Math.ceil(small / SLOTS));
    const large = job(600);
    await sleep(2000);
    const s = await job(small);
    const l = await large;
    expect(l.ended).toBeGreaterThan(s.ended);
    // The issue asks for 2x; measured here: 1.0x with fair shares, 2.0x without (the window alone).
    expect(s.ended - s.started).toBeLessThan(1.5 * aloneOnShareMs);
  }, 60_000);

  it('finishes a high-priority job started last first, while a low-priority one still progresses', async () => {
    const low = job(300);
    await sleep(1000);
    const high = await job(250, { priority: 1 });
    const l = await low;
    expect(high.ended).toBeLessThan(l.ended);
    // The low job kept its floor while the high one ran (from 2 s after the high one started: shares settle).
    const during = l.ran.filter(([s]) => s > high.started + 2000 && s < high.ended).length;
    expect(during).toBeGreaterThan(3);
  }, 60_000);

  it('keeps a capped tenant within its cap, alone too, and gives its slots to others once it has nothing left', async () => {
    /** Mean slots `ran` held in [from, to]. */
    const held = (ran: [number, number][], from: number, to: number) => slotMs(ran, from, to) / (to - from);
    const capped = job(200, { tenant: 'capped' });
    await sleep(2000);
    const other = job(300);
    const c = await capped;
    const o = await other;
    const bothFrom = o.started + 1500;
    expect(held(c.ran, c.started + 1000, o.started)).toBeLessThan((SLOTS / 2) * 1.15); // alone: the cap idles the rest
    expect(held(c.ran, bothFrom, c.ended - 300)).toBeLessThan((SLOTS / 2) * 1.15);
    expect(held(o.ran, bothFrom, c.ended - 300)).toBeGreaterThan((SLOTS / 2) * 0.85);
    expect(held(o.ran, c.ended + 1500, o.ended - 300)).toBeGreaterThan(SLOTS * 0.85);
  }, 60_000);

  it('shares the pool between tenants by the weights its workers give them (fj worker --tenant-weight)', async () => {
    // heavy weighs 3, light 1 (not named): 3/4 and 1/4 of the slots while both run, whatever their jobs' count.
    const runs = await Promise.all([
      job(300, { tenant: 'heavy' }),
      job(150, { tenant: 'light' }),
      job(150, { tenant: 'light' }),
    ]);
    const start = Math.max(...runs.map((r) => r.started));
    const firstEnded = Math.min(...runs.map((r) => r.ended));
    const [heavy, light1, light2] = sharesOf(
      runs.map((r) => r.ran),
      start + 2000,
      firstEnded - 300,
    );
    expect(Math.abs(heavy - 0.75)).toBeLessThan(0.75 * 0.15);
    expect(Math.abs(light1 + light2 - 0.25)).toBeLessThan(0.25 * 0.3);
  }, 60_000);

  it("takes a detached job's weight and priority from fj submit to its coordinator (fj workers shows them), and refuses bad ones", async () => {
    const bad = await runFj(['submit', spans, '-', '--weight', '0'], { stdin: '{}' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--weight must be a number above 0 and at most 1000000, got '0'/);
    const worse = await runFj(['submit', spans, '-', '--priority', '1.5'], { stdin: '{}' });
    expect(worse.code).toBe(2);
    expect(worse.stderr).toMatch(/--priority must be a whole number from -100 to 100, got '1.5'/);

    const handle = await submit(
      Spans,
      { items: 120, ms: MS },
      { queue, broker: BROKER_URL, store, weight: 2, priority: 3 },
    );
    const s = await openStore(store);
    try {
      // The worker that coordinates it announces it on the pool with the job's own weight and priority.
      const beat = await waitFor("the detached job's beacon", async () =>
        (await readJobBeacons(s, undefined, queue)).find((b) => b.job === handle.id && !b.ended),
      );
      expect(beat).toMatchObject({ weight: 2, priority: 3 });
      // fj workers shows who holds the slots.
      const shown = await runFj(['workers', '--store', store]);
      expect(shown.code).toBe(0);
      expect(shown.stdout).toMatch(new RegExp(`${handle.id}\\s+${queue.replace(/\./g, '\\.')}\\s+3\\s+2\\s+-\\s+\\d+`));
    } finally {
      await s.close();
    }
    expect(await handle.result()).toHaveLength(120);
  }, 60_000);
});
