/**
 * A rolling deploy under a detached job (`fj submit`): the pool's worker,
 * which coordinates the job, is replaced mid-job by one that loads new code
 * for the task (each item now gives 3x instead of 2x). The job honours its
 * `onCodeChange` as an attached run does:
 * - by default it fails, once no worker has run its code for the grace,
 *   naming the versions the pool runs and `--on-code-change follow`;
 * - with `onCodeChange: 'follow'` (recorded in its signed manifest) the new
 *   worker coordinates it on the new code, says so, and it finishes: every
 *   item ran on one version or the other.
 *
 *   npx vitest run --project reliability test/reliability/detached-deploy.test.ts
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { submit } from '../../src/index.js';
import type { SubmitOptions } from '../../src/detached/submit.js';
import { BROKER_URL, brokerAvailable, deleteQueues, startWorkerProc, stopWorkerProc } from '../helpers/broker.js';
import type { WorkerProc } from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';
import { clean, recording, scratch, versionedTaskSource } from './harness.js';

const available = await brokerAvailable();
const COMMAND = 'npx vitest run --project reliability test/reliability/detached-deploy.test.ts';
const ITEMS = 300;

/** The task's module, version `factor` (2 or 3). */
const taskSource = (factor: number): string => versionedTaskSource('detached-deployed', 'DetachedDeployed', factor);

describe.runIf(available)('a rolling deploy under a detached job', () => {
  const { dir, store } = scratch('detached-deploy');
  const values = Array.from({ length: ITEMS }, (_, i) => i);
  const workers: WorkerProc[] = [];
  const queues: string[] = [];
  afterAll(async () => {
    await Promise.all(workers.map((w) => stopWorkerProc(w)));
    for (const q of queues) await deleteQueues(q).catch(() => {});
    for (const q of queues) await deleteQueues(`${q}.jobs`).catch(() => {});
    clean(dir);
  });

  /** Submits the job to a worker on version 1 and, once it is under way, replaces the worker with one on version 2. */
  async function deploy(
    options: SubmitOptions,
  ): Promise<{ result: Promise<unknown>; log: () => string; stopped: number }> {
    const file = join(dir, `deployed-${randomUUID().slice(0, 8)}.ts`);
    writeFileSync(file, taskSource(2));
    const queue = `fj.reliability.detached-deploy.${randomUUID()}`;
    queues.push(queue);
    // Names of their own: a worker's heartbeat is kept under its name, and the other test's workers still run.
    const tag = randomUUID().slice(0, 4);
    const worker = async (name: string) => {
      const w = await startWorkerProc(
        ['--queue', queue, '--store', store, '--tasks', file, '-c', '1', '--name', `${name}-${tag}`],
        { FJ_BROKER_URL: BROKER_URL },
      );
      workers.push(w);
      return w;
    };
    const old = await worker('old-1');
    const job = await submit(file, { values, ms: 20 }, { store, queue, broker: BROKER_URL, ...options });
    await waitFor('the job under way', async () => (await job.status()).done >= 30, 60_000, 100);
    writeFileSync(file, taskSource(3)); // the deploy: new code on disk
    const fresh = await worker('new-1');
    await stopWorkerProc(old); // drains what it holds; the job goes back to the jobs queue
    const stopped = Date.now();
    const result = job.result({ timeoutMs: 90_000 });
    result.catch(() => {});
    return { result, log: () => [old, fresh].map((w) => w.log()).join('\n'), stopped };
  }

  it('default: the job fails naming the versions the pool runs, once no worker has run its code for the grace', async () => {
    const rec = recording('detached job, rolling deploy, default (fail)', COMMAND);
    rec.items = ITEMS;
    rec.faults =
      'the coordinating worker stopped (SIGTERM) mid-job and replaced by one on new code; time = from its stop to the end';
    const { result, stopped } = await deploy({});
    const err = await result.then<Error, Error>(
      () => new Error('the job succeeded'),
      (e: Error) => e,
    );
    expect(err.message).toMatch(
      /no worker on pool \S+ runs task "detached-deployed" with this job's code \([0-9a-f]+\): its workers run [0-9a-f]+ \(new-1-[0-9a-f]{4}\)/,
    );
    expect(err.message).toMatch(/--on-code-change follow/);
    // The grace (5 s): a worker restarted on the job's code would have taken it.
    expect(Date.now() - stopped).toBeGreaterThanOrEqual(5000);
    rec.recovered = 'failed after the grace, naming both versions';
    rec.recoverMs = Date.now() - stopped;
    rec.lost = rec.duplicated = 0;
  }, 120_000);

  it("onCodeChange 'follow': the new worker coordinates the job on the new code, says so, and it finishes", async () => {
    const rec = recording('detached job, rolling deploy, follow', COMMAND);
    rec.items = ITEMS;
    rec.faults =
      'the coordinating worker stopped (SIGTERM) mid-job and replaced by one on new code; time = from its stop to the end';
    const { result, log, stopped } = await deploy({ onCodeChange: 'follow' });
    const output = (await result) as number[];
    rec.recoverMs = Date.now() - stopped;
    expect(output).toHaveLength(ITEMS);
    expect(output.every((v, i) => v === values[i] * 2 || v === values[i] * 3)).toBe(true);
    const onNew = output.filter((v, i) => v === values[i] * 3 && v !== values[i] * 2).length;
    expect(onNew).toBeGreaterThan(0);
    expect(log()).toMatch(/following the code this worker runs, [0-9a-f]+, as onCodeChange 'follow' allows/);
    rec.recovered = `finished: ${ITEMS - onNew} item(s) on the old code, ${onNew} on the new`;
    rec.lost = rec.duplicated = 0;
  }, 120_000);
});
