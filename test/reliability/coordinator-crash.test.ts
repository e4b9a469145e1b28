/**
 * The coordinator (`fj run`) is killed with SIGKILL mid-job; `fj resume`
 * re-attaches: it records the results already in the job's queue, publishes
 * only the items without one, runs the join once and prints the output. A
 * changed task or input file is refused.
 *
 *   npx vitest run --project reliability test/reliability/coordinator-crash.test.ts
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ChaosOutput } from '../fixtures/chaos.js';
import { brokerAvailable, deleteQueues, purgeQueue } from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';
import { attempts } from '../helpers/run-log.js';
import { CHAOS, CHAOS_COMBINED, codeQueueOf, expected, fj, lineCount, recording, scenario } from './harness.js';

const available = await brokerAvailable();

const COMMAND = 'npx vitest run --project reliability test/reliability/coordinator-crash.test.ts';

describe.runIf(available)('coordinator crash (kill -9) and fj resume', () => {
  const { dir, store, pool } = scenario('coordinator-crash');

  it.each([
    { task: 'chaos', module: CHAOS },
    // merged results (combine): resume must still count every item once, including
    // items an old run's answer and a new run's merged answer both cover
    { task: 'chaos-combined', module: CHAOS_COMBINED },
  ])(
    '$task: resume re-publishes exactly the items without a result, joins once, and prints the same output as eager',
    async ({ task, module }) => {
      const rec = recording(
        task === 'chaos' ? 'coordinator kill -9, fj resume' : 'coordinator kill -9, fj resume, combine',
        COMMAND,
      );
      const joinLog = join(dir, `join-${task}.log`);
      const runLog = join(dir, `runs-${task}.log`);
      const n = 1000;
      const input = { n, ms: 10, joinLog, runLog };
      rec.items = n;
      const file = join(dir, `input-${task}.json`);
      writeFileSync(file, JSON.stringify(input));
      const want = await expected(input);
      if (pool.alive.length < 2) await pool.start(2 - pool.alive.length);
      const jobId = `crash-${task}-${Date.now()}`;
      const common = ['--store', store];

      const first = fj([
        'run',
        module,
        file,
        '--executor',
        'amqp',
        '--queue',
        pool.queue,
        '--job-id',
        jobId,
        ...common,
      ]);
      // Kill it once some results are in (the status record says how many).
      const doneAtKill = await waitFor(
        '300 results recorded by the first run',
        async () => {
          const s = fj(['status', jobId, '--json', ...common]);
          if ((await s.exited) !== 0) return undefined;
          const done = (JSON.parse(s.stdout()) as { status?: { done: number } }).status?.done ?? 0;
          return done >= 300 ? done : undefined;
        },
        60_000,
        200,
      );
      first.child.kill('SIGKILL');
      const killedAt = Date.now();
      expect(await first.exited).toBe(null);
      expect(first.stderr()).toContain(`job ${jobId}`);
      expect(existsSync(joinLog)).toBe(false);

      // Freeze the job at the kill: the workers finish what they hold and
      // publish its results (warm shutdown), then the first run's unanswered
      // messages are dropped. Every item that ran now has a result waiting in
      // the job's results queue; every other item has none, and no message.
      await pool.stopWorkers();
      await purgeQueue(await codeQueueOf(pool.queue, module));
      const withResult = new Set(attempts(runLog).map((a) => a.i));
      const without = n - withResult.size;
      const ranBefore = attempts(runLog).length;
      rec.faults = `fj run killed (SIGKILL) after ${doneAtKill} results; its workers stopped and its queued messages dropped; fj resume started at once`;

      // The job is still there: status says no coordinator is attached.
      const status = fj(['status', jobId, ...common]);
      expect(await status.exited).toBe(0);
      expect(status.stdout()).toMatch(/coordinator: none/);

      await pool.start(2);
      const resumed = fj([
        'resume',
        jobId,
        '--task',
        module,
        '--verbose',
        '--stats',
        join(dir, `stats-${task}.json`),
        ...common,
      ]);
      const code = await resumed.exited;
      rec.recoverMs = Date.now() - killedAt;
      const republished = attempts(runLog)
        .slice(ranBefore)
        .map((a) => a.i);
      const again = republished.filter((i) => withResult.has(i));
      rec.recovered = `${withResult.size} results kept across the crash; ${new Set(republished).size} items re-published (${without} had no result), ${again.length} of them run twice`;
      expect(resumed.stderr()).not.toMatch(/\n\s+at /);
      expect(code, resumed.stderr()).toBe(0);
      const out = JSON.parse(resumed.stdout()) as ChaosOutput;
      rec.lost = out.missing.length;
      rec.duplicated = out.duplicated.length;
      expect(out).toEqual(want);
      expect(lineCount(readFileSync(joinLog, 'utf8'))).toBe(1); // the join ran once
      // Resume found every result the first run's items left, and ran exactly the others, each once.
      expect(resumed.stderr()).toContain(`resumed job ${jobId}: ${withResult.size} item(s) already have results`);
      expect(again, 'items re-run by resume though they had a result').toEqual([]);
      expect(republished.length).toBe(without);
      expect(new Set(republished).size).toBe(without);
      const stats = JSON.parse(readFileSync(join(dir, `stats-${task}.json`), 'utf8')) as { items: number };
      expect(stats.items).toBe(n);

      // The job is gone afterwards: resuming it again is a clear usage error.
      const again2 = fj(['resume', jobId, '--task', module, ...common]);
      expect(await again2.exited).toBe(2);
      expect(again2.stderr()).toMatch(/no job/);
    },
  );

  it('refuses to resume when the task code or the input file changed since the job started (exit 2)', async () => {
    // A copy of the chaos task to change, and a queue no worker serves: the job only has to exist.
    const mod = join(dir, 'chaos-copy.ts');
    const source = readFileSync(CHAOS, 'utf8').replace("'../../src/index.js'", "'fj'");
    writeFileSync(mod, source);
    const file = join(dir, 'input-refuse.json');
    writeFileSync(file, JSON.stringify({ n: 50 }));
    const queue = `${pool.queue}.idle`;
    const jobId = `refuse-${Date.now()}`;
    const common = ['--store', store];
    const first = fj(['run', mod, file, '--executor', 'amqp', '--queue', queue, '--job-id', jobId, ...common]);
    try {
      await waitFor(
        'the job to be listed by fj status',
        async () => (await fj(['status', jobId, ...common]).exited) === 0,
        30_000,
        200,
      );
      first.child.kill('SIGKILL');
      await first.exited;

      writeFileSync(mod, `${source}\n// changed\n`);
      const code = fj(['resume', jobId, '--task', mod, ...common]);
      expect(await code.exited, code.stderr()).toBe(2);
      expect(code.stderr()).toMatch(
        new RegExp(
          `job ${jobId}: the code of task chaos-copy changed since the job started \\(\\w+ then, \\w+ now\\); resume needs the same code`,
        ),
      );
      writeFileSync(mod, source);

      writeFileSync(file, JSON.stringify({ n: 51 }));
      const changed = fj(['resume', jobId, '--task', mod, ...common]);
      expect(await changed.exited, changed.stderr()).toBe(2);
      expect(changed.stderr()).toMatch(
        new RegExp(
          `job ${jobId}: its input file .*input-refuse\\.json changed since the job started; resume needs the same input`,
        ),
      );
      expect(changed.stdout()).toBe('');
    } finally {
      first.child.kill('SIGKILL');
      await fj(['cancel', jobId, ...common]).exited;
      await deleteQueues(queue).catch(() => {});
    }
  });
});
