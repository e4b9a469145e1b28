/**
 * Delayed and periodic jobs on real `fj worker` processes (issue 27): a job
 * submitted `--in 3s` is `scheduled`, then runs when due and not before; a
 * cancelled scheduled job never runs; a schedule ticking every 2 s runs
 * exactly one job per tick with 3 workers up, and still one per tick after
 * the worker that holds the scheduler lease is killed (SIGKILL, by PID);
 * pause stops the ticks and resume restarts them (the missed ones not run);
 * a tick missed while no worker of the pool was up runs once, late, when one
 * comes up; a schedule's tenant and priority reach each tick's job; bad cron, time zone or time are usage errors (exit 2, one line).
 *
 *   CI=true npx vitest run --project reliability test/reliability/schedules.test.ts
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listJobs, listSchedules, listWorkers, type JobView, type ScheduleView } from '../../src/index.js';
import { HELD_TTL_MS } from '../../src/broker/held-queue.js';
import { startDashboard } from '../../src/dashboard/server.js';
import { BROKER_URL, brokerAvailable, deleteQueue } from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';
import { CHAOS, fj, scenario, WorkerPool } from './harness.js';

const available = await brokerAvailable();

/** Runs `fj …args` to its end. */
async function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = fj(args);
  const code = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** Join lines (one per job that ran its join) written after `since` and up to `until` (ms). */
function joinsAfter(file: string, since = 0, until = Infinity): number {
  if (!existsSync(file)) return 0;
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => Date.parse(l.split(' ')[1]))
    .filter((t) => t > since && t <= until).length;
}

/**
 * The odd second (a tick every 2 s falls on even ones, and its job runs within a few hundred ms) at or
 * after `t` (`up`), or at or before it: a cut-off no job of the schedule is running at.
 */
function oddSecond(t: number, up: boolean): number {
  return (up ? Math.ceil((t - 1000) / 2000) : Math.floor((t - 1000) / 2000)) * 2000 + 1000;
}

/** Tick times (ms) of a schedule's jobs, ascending, and the jobs. */
async function tickJobs(store: string, name: string): Promise<{ tick: number; job: JobView }[]> {
  const { jobs } = await listJobs({ store, limit: 500 });
  return jobs
    .filter((j) => j.id.startsWith(`${name}.`))
    .map((job) => {
      const t = /\.(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(job.id)!;
      return { tick: Date.UTC(+t[1], +t[2] - 1, +t[3], +t[4], +t[5], +t[6]), job };
    })
    .sort((a, b) => a.tick - b.tick);
}

/** Every tick from the first to the last is there, 2 s apart: none missing, none twice. */
function expectEveryTick(ticks: number[]): void {
  for (let i = 1; i < ticks.length; i++) expect(ticks[i] - ticks[i - 1], `ticks ${ticks.join(', ')}`).toBe(2000);
}

describe.runIf(available)('delayed and periodic jobs', () => {
  const { dir, store, pool } = scenario('schedules');
  const idle = new WorkerPool(store); // a pool with no worker up at first
  beforeAll(() => pool.start(3), 60_000);
  afterAll(async () => {
    await idle.stop();
    for (const q of [pool.queue, idle.queue]) {
      await deleteQueue(`${q}.scheduler`).catch(() => {});
      await deleteQueue(`${q}.jobs`).catch(() => {});
    }
  });
  const input = (name: string, extra: object = {}) => {
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify({ n: 3, joinLog: join(dir, `${name}.joins`), ...extra }));
    return { file, joins: join(dir, `${name}.joins`) };
  };

  it('bad cron, bad time zone, a time in the past: usage errors, exit 2, no stack trace', async () => {
    const { file } = input('bad');
    const cases: [string[], RegExp][] = [
      [['schedule', 'add', 'b1', CHAOS, file, '--cron', '*/2 * * *x *'], /^fj: --cron "\*\/2 \* \* \*x \*": /],
      [
        ['schedule', 'add', 'b2', CHAOS, file, '--cron', '0 2 * * *', '--tz', 'Mars/Olympus'],
        /^fj: --tz "Mars\/Olympus" is not an IANA time zone/,
      ],
      [['schedule', 'add', 'b3!', CHAOS, file, '--cron', '0 2 * * *'], /^fj: invalid schedule name "b3!"/],
      [
        ['submit', CHAOS, file, '--at', '2020-01-01T00:00:00Z'],
        /^fj: at \(--at\) 2020-01-01T00:00:00\.000Z is in the past/,
      ],
      [['submit', CHAOS, file, '--at', 'tomorrow'], /^fj: at \(--at\) must be an ISO 8601 time/],
      [
        ['submit', CHAOS, file, '--in', '3s', '--at', '2030-01-01T00:00:00Z'],
        /^fj: give at \(--at\) or delayMs \(--in\), not both/,
      ],
      [['schedule', 'pause', 'nope'], /^fj: no schedule nope in store/],
    ];
    for (const [args, message] of cases) {
      const r = await cli([...args, '--store', store]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1); // one line: no stack trace
    }
    expect(await listSchedules({ store })).toEqual([]);
  });

  it('fj submit --in 3s: scheduled, then runs and succeeds once due, not before', async () => {
    const { file, joins } = input('delayed');
    const t0 = Date.now();
    const sub = await cli(['submit', CHAOS, file, '--in', '3s', '--queue', pool.queue, '--store', store]);
    expect(sub.code, sub.stderr).toBe(0);
    const id = sub.stdout.trim();
    const [view] = (await listJobs({ store, limit: 50 })).jobs.filter((j) => j.id === id);
    expect(view.state).toBe('scheduled');
    expect(view.due! - t0).toBeGreaterThanOrEqual(3000);
    const due = new Date(view.due!).toISOString();
    expect((await cli(['jobs', '--store', store])).stdout).toContain(
      `scheduled (due ${due.replace('T', ' ').slice(0, 19)})`,
    );
    expect((await cli(['status', id, '--store', store])).stdout).toContain(`due:        ${due}`);
    const res = await cli(['result', id, '--wait', '--timeout', '20', '--store', store]);
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ items: 3, missing: [] });
    const [done] = (await listJobs({ store, limit: 50 })).jobs.filter((j) => j.id === id);
    expect(done.state).toBe('succeeded');
    expect(done.started! - t0).toBeGreaterThanOrEqual(3000); // not before it was due
    expect(done.started! - view.due!).toBeLessThan(2000); // and soon after
    expect(joinsAfter(joins)).toBe(1);
  });

  it('fj cancel of a scheduled job: it ends cancelled and never runs', async () => {
    const { file, joins } = input('cancelled');
    const sub = await cli(['submit', CHAOS, file, '--in', '3s', '--queue', pool.queue, '--store', store]);
    expect(sub.code, sub.stderr).toBe(0);
    const id = sub.stdout.trim();
    const cancel = await cli(['cancel', id, '--store', store]);
    expect(cancel.code, cancel.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, 5000)); // past its due time
    const [view] = (await listJobs({ store, limit: 50 })).jobs.filter((j) => j.id === id);
    expect(view.state).toBe('cancelled');
    expect(view.started).toBeUndefined();
    expect(joinsAfter(joins)).toBe(0);
    expect(pool.logs()).not.toContain(`job ${id} (`); // no worker coordinated it
  });

  it('a schedule every 2 s: exactly one run per tick with 3 workers up, and after the scheduling worker is killed', async () => {
    const { file, joins } = input('every2s');
    const add = await cli([
      'schedule',
      'add',
      'every2s',
      CHAOS,
      file,
      '--cron',
      '*/2 * * * * *',
      '--tz',
      'Europe/Berlin',
      '--queue',
      pool.queue,
      '--store',
      store,
      // Each tick's job is a tenant's, at a priority: it goes through the tenant's jobs queue and admission.
      '--tenant',
      'team-s',
      '--priority',
      '2',
    ]);
    expect(add.code, add.stderr).toBe(0);
    await waitFor('4 ticks', async () => (await tickJobs(store, 'every2s')).length >= 4, 20_000);
    for (const { job } of await tickJobs(store, 'every2s'))
      expect(job).toMatchObject({ tenant: 'team-s', priority: 2 });
    const [s] = await listSchedules({ store });
    expect(s).toMatchObject({ name: 'every2s', cron: '*/2 * * * * *', timezone: 'Europe/Berlin', paused: false });
    // fj workers names one scheduler among the pool's workers: the one that submitted the last tick.
    const schedulers = async () =>
      (await listWorkers({ store })).filter((w) => w.pool === pool.queue && !w.quiet && w.scheduler).map((w) => w.name);
    await waitFor('the scheduler in the heartbeats', async () => (await schedulers()).length === 1, 10_000);
    expect(await schedulers()).toEqual([s.last!.by]);
    // The worker that submitted the last tick holds the lease: kill -9 it.
    const victim = pool.alive.find((w) => s.last!.by.endsWith(`.${w.child.pid}`));
    expect(victim, `no live worker named ${s.last!.by}`).toBeDefined();
    const killedAt = Date.now();
    process.kill(victim!.child.pid!, 'SIGKILL');
    // The job in hand at the kill (if one was) is taken over once its held copy's TTL ends (HELD_TTL_MS): the
    // ticks counted after the kill start past that, and there are at least 2 of them.
    const takenOver = killedAt + HELD_TTL_MS + 1000;
    await waitFor(
      '2 ticks after the takeover',
      async () => (await tickJobs(store, 'every2s')).filter((t) => t.tick > takenOver + 1000).length >= 3,
      HELD_TTL_MS + 20_000,
    );
    await new Promise((r) => setTimeout(r, 1500)); // the last tick's job ends
    const ticks = await tickJobs(store, 'every2s');
    expectEveryTick(ticks.map((t) => t.tick));
    // One join per tick's job, counted between odd seconds (when no job of the schedule runs): before the kill, and
    // from a tick after it (the job in hand as the worker died may join twice: at-least-once join, not this test's).
    const beforeKill = oddSecond(killedAt, false);
    expect(joinsAfter(joins, 0, beforeKill)).toBe(ticks.filter((t) => t.tick < beforeKill).length);
    const from = oddSecond(takenOver, true); // the job in hand at the kill has been taken over and ended
    const until = oddSecond(Date.now(), false);
    const after = ticks.filter((t) => t.tick > from && t.tick < until);
    expect(after.length).toBeGreaterThanOrEqual(2);
    // Every tick's job succeeded, the one in hand as the worker died included (another worker took it over).
    for (const t of ticks.filter((x) => x.tick < until)) expect(t.job.state, t.job.id).toBe('succeeded');
    const story = () =>
      [
        `joins counted from ${new Date(from).toISOString()} until ${new Date(until).toISOString()}, kill at ${new Date(killedAt).toISOString()}:`,
        readFileSync(joins, 'utf8').trim(),
        'ticks (id, coordinator, started, ended):',
        ...ticks.map(({ job }) =>
          [job.id, job.coordinatorHost ?? job.coordinator, job.started, job.finished]
            .map((v) => (typeof v === 'number' ? new Date(v).toISOString() : v))
            .join(' '),
        ),
      ].join('\n');
    expect(joinsAfter(joins, from, until), story()).toBe(after.length);
    const [s2] = await listSchedules({ store });
    expect(s2.last!.by).not.toBe(s.last!.by); // another worker took the lease
  });

  it('pause stops the runs, resume restarts them (ticks missed while paused do not run)', async () => {
    const paused = await cli(['schedule', 'pause', 'every2s', '--store', store]);
    expect(paused.code, paused.stderr).toBe(0);
    const pausedAt = Date.now();
    await new Promise((r) => setTimeout(r, 5000));
    const during = (await tickJobs(store, 'every2s')).filter((t) => t.tick > pausedAt + 500);
    expect(during).toEqual([]);
    const list = await cli(['schedules', '--store', store]);
    expect(list.stdout).toMatch(/every2s\s+chaos\s+\*\/2 \* \* \* \* \*\s+Europe\/Berlin\s+\S+\s+-\s+.*\s+yes$/m);
    const resumed = await cli(['schedule', 'resume', 'every2s', '--store', store]);
    expect(resumed.code, resumed.stderr).toBe(0);
    const resumedAt = Date.now();
    await waitFor(
      'ticks after resume',
      async () => (await tickJobs(store, 'every2s')).filter((t) => t.tick > resumedAt).length >= 2,
      10_000,
    );
    const ticks = (await tickJobs(store, 'every2s')).map((t) => t.tick);
    expect(ticks.filter((t) => t > pausedAt + 500 && t < resumedAt)).toEqual([]);
    expectEveryTick(ticks.filter((t) => t > resumedAt));
    // The dashboard lists it (read-only).
    const dash = await startDashboard({ port: 0, store, broker: BROKER_URL, queue: pool.queue });
    try {
      const body = (await (await fetch(`${dash.url}/api/schedules`)).json()) as { schedules: ScheduleView[] };
      expect(body.schedules).toMatchObject([{ name: 'every2s', task: 'chaos', paused: false, queue: pool.queue }]);
      expect(body.schedules[0].last!.job).toMatch(/^every2s\.\d{8}T\d{6}Z$/);
    } finally {
      await dash.close();
    }
    const removed = await cli(['schedule', 'remove', 'every2s', '--store', store]);
    expect(removed.code, removed.stderr).toBe(0);
    expect(await listSchedules({ store })).toEqual([]);
  });

  it('ticks missed with no worker of the pool up: the latest runs once, late, when a worker comes up', async () => {
    const { file, joins } = input('missed');
    const add = await cli([
      'schedule',
      'add',
      'missed',
      CHAOS,
      file,
      '--cron',
      '*/2 * * * * *',
      '--queue',
      idle.queue,
      '--store',
      store,
    ]);
    expect(add.code, add.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, 5000)); // 2-3 ticks missed
    expect(await tickJobs(store, 'missed')).toEqual([]);
    await idle.start(1);
    await waitFor('two ticks run', async () => (await tickJobs(store, 'missed')).length >= 2, 15_000);
    const ticks = await tickJobs(store, 'missed');
    // The first job submitted ran the latest missed tick; no burst of the earlier ones.
    const firstSubmitted = Math.min(...ticks.map((t) => t.job.submitted));
    expect(ticks.filter((t) => t.tick <= firstSubmitted)).toHaveLength(1);
    expect(idle.logs()).toMatch(
      /schedule missed: tick \S+ submitted [\d.]+ s late .*earlier tick\(s\) missed too, not run/,
    );
    await new Promise((r) => setTimeout(r, 1000));
    expect(joinsAfter(joins)).toBeGreaterThanOrEqual(ticks.filter((t) => t.job.state === 'succeeded').length);
    await cli(['schedule', 'remove', 'missed', '--store', store]);
  });
});
