/**
 * Workers die (kill -9) at random moments during a 1,000-item job; a
 * supervisor starts replacements. The broker redelivers what the dead ones
 * held; the output must be identical to the eager executor's, nothing lost,
 * nothing counted twice.
 *
 *   npx vitest run --project reliability test/reliability/worker-kill.test.ts
 */
import { describe, expect, it } from 'vitest';
import { runJob } from '../../src/index.js';
import Chaos, { type ChaosOutput } from '../fixtures/chaos.js';
import ChaosCombined from '../fixtures/chaos-combined.js';
import { BROKER_URL, brokerAvailable } from '../helpers/broker.js';
import { expected, record, scenario } from './harness.js';

const available = await brokerAvailable();

describe.runIf(available)('worker crash (kill -9) mid-job', () => {
  const { store, pool } = scenario('worker-kill');

  /** Awaits `job` while 4 workers are killed at random moments and a supervisor keeps 3 alive. */
  async function withKills<T>(job: Promise<T>): Promise<T> {
    const stopSupervisor = pool.supervise(3);
    const killer = (async () => {
      for (let k = 0; k < 4; k++) {
        await new Promise((r) => setTimeout(r, 200 + Math.random() * 500));
        await pool.killOne();
      }
    })();
    try {
      return await job;
    } finally {
      await killer;
      await stopSupervisor();
    }
  }

  it('1,000 items, 4 kills at random moments, replacements started: output identical to eager, nothing lost or doubled', async () => {
    const input = { n: 1000, ms: 10 };
    const want = await expected(input);
    await pool.start(3);
    const options = { executor: 'amqp' as const, broker: BROKER_URL, queue: pool.queue, store };

    // A fault-free run first: the baseline for "time to recover".
    const base = await runJob(Chaos, input, options);
    expect(base.output).toEqual(want);

    const { output, stats } = await withKills(runJob(Chaos, input, options));
    const out = output as ChaosOutput;
    expect(pool.kills).toBe(4);
    expect(out).toEqual(want);
    expect(out.missing).toEqual([]);
    expect(out.duplicated).toEqual([]);
    expect(stats.failed).toBe(0);
    record({
      scenario: 'worker kill -9',
      items: 1000,
      lost: 1000 - out.items,
      duplicated: out.duplicated.length,
      recovered: 'redelivered by the broker',
      recoverMs: stats.wallMs - base.stats.wallMs,
      faults: `${pool.kills} workers killed (SIGKILL) at random moments, 3 kept alive`,
      command: 'npx vitest run --project reliability test/reliability/worker-kill.test.ts',
    });
  });

  it('the same with combine: merged results of redelivered batches are counted once, none lost', async () => {
    const input = { n: 1000, ms: 10 };
    const want = await expected(input);
    const options = { executor: 'amqp' as const, broker: BROKER_URL, queue: pool.queue, store };
    const { output, stats } = await withKills(runJob(ChaosCombined, input, options));
    const out = output as ChaosOutput;
    expect(out).toEqual(want);
    expect(out.missing).toEqual([]);
    expect(out.duplicated).toEqual([]);
    expect(stats.failed).toBe(0);
  });
});
