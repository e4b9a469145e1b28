/**
 * Detached jobs when things break, with nobody attached: the worker
 * coordinating a job is killed (SIGKILL) twice mid-job and replaced; and
 * RabbitMQ is restarted mid-job. Each time another worker (or the same one,
 * reconnected) takes the job over from its records: only items with no
 * recorded result run again, `join` runs once, the output is eager's. Then
 * twenty jobs of three tasks at once on two workers, and a 10-item job
 * submitted behind a 20,000-item one, which finishes first.
 *
 *   npx vitest run --project reliability test/reliability/detached-crash.test.ts
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { attach, listJobs, run, submit } from '../../src/index.js';
import { brokerAvailable, deleteQueues, findRabbitmqctl } from '../helpers/broker.js';
import { tcpAnswers } from '../helpers/services.js';
import { attempts, rerun } from '../helpers/run-log.js';
import { waitFor } from '../helpers/wait.js';
import { CHAOS, expected, lineCount, recording, scenario } from './harness.js';

const available = await brokerAvailable();
const ALIGN = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', '..', 'examples', 'align.json'), 'utf8'),
) as Record<string, unknown>;
const COMMAND = 'npx vitest run --project reliability test/reliability/detached-crash.test.ts';
const ctl = findRabbitmqctl('detached broker-restart');

/** The pid of the process coordinating `jobId` now (its status record's `coordinatorHost` is `<host>:<pid>`). */
async function coordinatorPid(jobId: string, store: string): Promise<number | undefined> {
  const view = await (await attach(jobId, { store })).status();
  if (view.state !== 'running' || !view.coordinatorHost) return undefined;
  const pid = Number(view.coordinatorHost.split(':').at(-1));
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

describe.runIf(available)('detached jobs: the coordinating worker killed, the broker restarted', () => {
  const { dir, store, pool } = scenario('detached-crash', async () => {
    if (ctl && !(await tcpAnswers('127.0.0.1', 5672))) await promisify(execFile)(ctl, ['start_app']).catch(() => {});
    await deleteQueues(`${pool.queue}.jobs`).catch(() => {});
  });

  it('kill -9 of the coordinating worker, twice: another takes over, only unrecorded items run again, join runs once, output is eager’s', async () => {
    const rec = recording('detached job: coordinating worker kill -9 twice', COMMAND);
    const joinLog = join(dir, 'join-kill.log');
    const runLog = join(dir, 'runs-kill.log');
    const input = { n: 1200, ms: 10, joinLog, runLog };
    rec.items = input.n;
    const want = await expected(input);
    await pool.start(3);
    const stopSupervising = pool.supervise(3);
    try {
      const job = await submit(CHAOS, input, { store, queue: pool.queue, label: 'kill test' });
      const killedPids: number[] = [];
      // When the job first started: kept through both takeovers (STARTED, and the duration the end is logged with).
      const firstStarted = await waitFor('the job to start', async () => (await job.status()).started, 90_000, 100);
      let lastKill = 0;
      for (const atLeast of [250, 700]) {
        const pid = await waitFor(
          `${atLeast} results and a coordinator to kill`,
          async () => {
            const v = await job.status();
            const p = await coordinatorPid(job.id, store);
            return v.done >= atLeast && p && !killedPids.includes(p) ? p : undefined;
          },
          90_000,
          100,
        );
        process.kill(pid, 'SIGKILL');
        lastKill = Date.now();
        killedPids.push(pid);
        pool.killed.push(pid);
      }
      const t = Date.now();
      const output = await job.result({ timeoutMs: 120_000 });
      rec.recoverMs = Date.now() - t;
      expect(output).toEqual(want);
      expect(lineCount(readFileSync(joinLog, 'utf8'))).toBe(1); // join ran once, by the last coordinator
      const again = rerun(runLog);
      // Items run again are those whose results were not recorded when a worker died: at most what two workers held and the window had out.
      expect(again.length).toBeLessThan(input.n / 2);
      rec.faults = `the coordinating worker killed (SIGKILL) twice, at >= 250 and >= 700 results; replacements started`;
      rec.recovered = `${attempts(runLog).length} attempts for ${input.n} items (${again.length} run again)`;
      rec.lost = (output as typeof want).missing.length;
      rec.duplicated = (output as typeof want).duplicated.length;
      expect(pool.logs()).toContain(`job ${job.id} (chaos, "kill test"): coordinating`);
      // The result record is written before the coordinator deletes the results queue and logs the end: the log line may come a moment after.
      const took = await waitFor(
        'the last coordinator to log the end',
        () => new RegExp(`job ${job.id}: succeeded in (\\d+) ms`).exec(pool.logs())?.[1],
        10_000,
      );
      // The job's duration counts from its first start, not from the last takeover.
      expect((await job.status()).started).toBe(firstStarted);
      expect(Number(took)).toBeGreaterThan(lastKill - firstStarted);
    } finally {
      await stopSupervising();
    }
  }, 240_000);

  it.runIf(ctl)(
    'RabbitMQ restarted mid-job with no client attached: the job completes, join once, output is eager’s',
    async () => {
      const rec = recording('detached job: RabbitMQ restart, no client attached', COMMAND);
      const joinLog = join(dir, 'join-restart.log');
      const runLog = join(dir, 'runs-restart.log');
      const input = { n: 800, ms: 10, joinLog, runLog };
      rec.items = input.n;
      const want = await expected(input);
      if (pool.alive.length < 2) await pool.start(2 - pool.alive.length);
      const job = await submit(CHAOS, input, { store, queue: pool.queue });
      const at = await waitFor(
        '200 results',
        async () => {
          const v = await job.status();
          return v.done >= 200 ? v.done : undefined;
        },
        60_000,
        100,
      );
      await promisify(execFile)(ctl!, ['stop_app']);
      await new Promise((r) => setTimeout(r, 2000));
      await promisify(execFile)(ctl!, ['start_app']);
      const t = Date.now();
      const output = await job.result({ timeoutMs: 180_000 });
      rec.recoverMs = Date.now() - t;
      rec.faults = `rabbitmqctl stop_app after ${at} results, start_app 2 s later; no fj process attached to the job`;
      expect(output).toEqual(want);
      expect(lineCount(readFileSync(joinLog, 'utf8'))).toBe(1);
      rec.lost = (output as typeof want).missing.length;
      rec.duplicated = (output as typeof want).duplicated.length;
      rec.recovered = `${rerun(runLog).length} item(s) run again`;
    },
    240_000,
  );

  it('twenty jobs of three tasks at once on two workers all finish right; a 10-item job behind a 20,000-item job finishes first', async () => {
    if (pool.alive.length < 2) await pool.start(2 - pool.alive.length);
    const docs = (k: number) => ({ documents: Array.from({ length: 30 }, (_, i) => `w${i % 7} x${k} y${i % 3}`) });
    const jobs = await Promise.all(
      Array.from({ length: 20 }, (_, k) => {
        const [task, input] =
          k % 3 === 0 ? ['wordcount', docs(k)] : k % 3 === 1 ? [CHAOS, { n: 50 + k }] : ['align', ALIGN];
        return submit(task, input, { store, queue: pool.queue, label: `batch ${k}` }).then(async (h) => ({
          h,
          want: await run(task, input, { executor: 'eager' }),
        }));
      }),
    );
    for (const { h, want } of jobs) expect(await h.result({ timeoutMs: 120_000 })).toEqual(want);
    const listed = await listJobs({ store, limit: 100 });
    expect(listed.jobs.filter((j) => j.label.startsWith('batch ')).every((j) => j.state === 'succeeded')).toBe(true);

    const big = await submit(CHAOS, { n: 20_000, ms: 1 }, { store, queue: pool.queue, label: 'big' });
    await waitFor('the big job to run', async () => ((await big.status()).done > 0 ? true : undefined), 60_000, 100);
    const small = await submit(CHAOS, { n: 10 }, { store, queue: pool.queue, label: 'small' });
    await small.result({ timeoutMs: 60_000 });
    const bigNow = await big.status();
    expect(bigNow.state).toBe('running');
    expect(bigNow.done).toBeLessThan(20_000);
    expect(await big.result({ timeoutMs: 180_000 })).toEqual(await expected({ n: 20_000 }));
  }, 400_000);
});
