/**
 * Workers die (kill -9) at random moments during a 1,000-item job; a
 * supervisor starts replacements. The broker redelivers what the dead ones
 * held; the output must be identical to the eager executor's, nothing lost,
 * nothing counted twice.
 *
 *   npx vitest run --project reliability test/reliability/worker-kill.test.ts
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runJob } from '../../src/index.js';
import Chaos, { type ChaosOutput } from '../fixtures/chaos.js';
import ChaosCombined from '../fixtures/chaos-combined.js';
import ChaosFolded from '../fixtures/chaos-folded.js';
import { BROKER_URL, brokerAvailable } from '../helpers/broker.js';
import { attempts, rerun } from '../helpers/run-log.js';
import { expected, recording, scenario } from './harness.js';

const available = await brokerAvailable();

const COMMAND = 'npx vitest run --project reliability test/reliability/worker-kill.test.ts';

/**
 * Kills that hit a worker holding work: the killed process had started an
 * item that another process then ran again (the broker redelivered it, or a
 * worker split the redelivered batch). A kill of an idle worker proves nothing.
 */
function killsHittingWork(runLog: string, killed: number[]): number {
  const runs = attempts(runLog);
  return killed.filter((pid) => {
    const mine = new Set(runs.filter((r) => r.pid === pid).map((r) => r.i));
    return runs.some((r) => r.pid !== pid && mine.has(r.i));
  }).length;
}

describe.runIf(available)('worker crash (kill -9) mid-job', () => {
  const { dir, store, pool } = scenario('worker-kill');

  /** Awaits `job` while 4 workers are killed at random moments and a supervisor keeps 3 alive; the kills must land before the job ends. */
  async function withKills<T>(job: Promise<T>): Promise<{ result: T; killed: number[] }> {
    const killed: number[] = [];
    let finished = false;
    void job.finally(() => (finished = true)).catch(() => {});
    const stopSupervisor = pool.supervise(3);
    const killer = (async () => {
      for (let k = 0; k < 4 && !finished; k++) {
        await new Promise((r) => setTimeout(r, 200 + Math.random() * 500));
        if (finished) break;
        await pool.killOne();
        killed.push(pool.killed.at(-1)!);
      }
    })();
    try {
      return { result: await job, killed };
    } finally {
      await killer;
      await stopSupervisor();
    }
  }

  it.each([
    { name: 'worker kill -9', task: Chaos },
    // merged results of redelivered batches must be counted once, none lost
    { name: 'worker kill -9, combine', task: ChaosCombined },
    // a worker killed mid-fold: its accumulator never left it; the batch runs again, counted once
    { name: 'worker kill -9, fold', task: ChaosFolded },
  ])(
    '$name: 1,000 items, 4 kills at random moments, replacements started: output identical to eager, nothing lost or doubled',
    async ({ name, task }) => {
      const rec = recording(name, COMMAND);
      const runLog = join(dir, `${task.name}.runs`);
      // 20 ms items: 1000 * 20 / 3 ms of work, longer than the four kills take (at most 4 * 0.7 s)
      const input = { n: 1000, ms: 20 };
      rec.items = input.n;
      const want = await expected(input);
      if (pool.alive.length < 3) await pool.start(3 - pool.alive.length);
      const options = { executor: 'amqp' as const, broker: BROKER_URL, queue: pool.queue, store };

      // A fault-free run first: the baseline for "time to recover".
      const base = await runJob(task, input, options);
      expect(base.output).toEqual(want);

      const { result, killed } = await withKills(runJob(task, { ...input, runLog }, options));
      const { output, stats } = result;
      const out = output as ChaosOutput;
      const again = rerun(runLog);
      const hits = killsHittingWork(runLog, killed);
      rec.lost = out.missing.length;
      rec.duplicated = out.duplicated.length;
      rec.recovered = `${again.length} items run again (redelivered), counted once`;
      rec.recoverMs = stats.wallMs - base.stats.wallMs;
      rec.faults = `${killed.length} workers killed (SIGKILL) at random moments during the job, ${hits} of them holding work; 3 kept alive`;
      expect(killed, 'every kill landed while the job ran').toHaveLength(4);
      expect(hits, 'kills that hit a worker holding work').toBeGreaterThanOrEqual(1);
      expect(again.length).toBeGreaterThan(0);
      expect(out).toEqual(want);
      expect(out.missing).toEqual([]);
      expect(out.duplicated).toEqual([]);
      expect(stats.failed).toBe(0);
    },
  );
});
