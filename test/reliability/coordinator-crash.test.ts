/**
 * The coordinator (`fj run`) is killed with SIGKILL mid-job; `fj resume`
 * re-attaches: it records the results already in the job's queue, publishes
 * only the items without one, runs the join once and prints the output.
 *
 *   npx vitest run --project reliability test/reliability/coordinator-crash.test.ts
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { brokerAvailable } from '../helpers/broker.js';
import { CHAOS, CHAOS_COMBINED, expected, fj, lineCount, record, scenario } from './harness.js';

const available = await brokerAvailable();

describe.runIf(available)('coordinator crash (kill -9) and fj resume', () => {
  const { dir, store, pool } = scenario('coordinator-crash');

  it.each([
    { task: 'chaos', module: CHAOS },
    // merged results (combine): resume must still count every item once, including
    // items an old run's answer and a new run's merged answer both cover
    { task: 'chaos-combined', module: CHAOS_COMBINED },
  ])('$task: resume re-publishes only the missing items, joins once, and prints the same output as eager', async ({ task, module }) => {
    const joinLog = join(dir, `join-${task}.log`);
    const input = { n: 1000, ms: 10, joinLog };
    const file = join(dir, `input-${task}.json`);
    writeFileSync(file, JSON.stringify(input));
    const want = await expected(input);
    if (pool.alive.length < 2) await pool.start(2 - pool.alive.length);
    const jobId = `crash-${task}-${Date.now()}`;
    const common = ['--store', store];

    const first = fj(['run', module, file, '--executor', 'amqp', '--queue', pool.queue, '--job-id', jobId, ...common]);
    // Kill it once some results are in (the status record says how many).
    const t0 = Date.now();
    let doneAtKill = 0;
    for (;;) {
      await new Promise((r) => setTimeout(r, 200));
      const s = fj(['status', jobId, '--json', ...common]);
      if ((await s.exited) === 0) {
        doneAtKill = (JSON.parse(s.stdout()) as { status?: { done: number } }).status?.done ?? 0;
        if (doneAtKill >= 300) break;
      }
      if (Date.now() - t0 > 60_000) throw new Error(`the job made no progress:\n${first.stderr()}`);
    }
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe(null);
    expect(first.stderr()).toContain(`job ${jobId}`);
    expect(existsSync(joinLog)).toBe(false);

    // The job is still there: status says no coordinator is attached.
    const status = fj(['status', jobId, ...common]);
    expect(await status.exited).toBe(0);
    expect(status.stdout()).toMatch(/coordinator: none/);

    const killedAt = Date.now();
    const resumed = fj(['resume', jobId, '--stats', join(dir, `stats-${task}.json`), ...common]);
    const code = await resumed.exited;
    expect(resumed.stderr()).not.toMatch(/\n\s+at /);
    expect(code, resumed.stderr()).toBe(0);
    expect(JSON.parse(resumed.stdout())).toEqual(want);
    expect(lineCount(readFileSync(joinLog, 'utf8'))).toBe(1); // the join ran once
    const stats = JSON.parse(readFileSync(join(dir, `stats-${task}.json`), 'utf8')) as { items: number };
    // Resume recorded the results the first run had collected and republished at most the rest.
    expect(stats.items).toBe(1000);

    // The job is gone afterwards: resuming it again is a clear usage error.
    const again = fj(['resume', jobId, ...common]);
    expect(await again.exited).toBe(2);
    expect(again.stderr()).toMatch(/no job/);
    if (task === 'chaos') record({
      scenario: 'coordinator kill -9, fj resume',
      items: 1000,
      lost: 1000 - (JSON.parse(resumed.stdout()) as { items: number }).items,
      duplicated: 0,
      recovered: `${doneAtKill}+ results kept across the crash`,
      recoverMs: Date.now() - killedAt,
      faults: `fj run killed (SIGKILL) after ${doneAtKill} results; fj resume started at once`,
      command: 'npx vitest run --project reliability test/reliability/coordinator-crash.test.ts',
    });
  });
});
