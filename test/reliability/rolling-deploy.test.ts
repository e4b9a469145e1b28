/**
 * A rolling deploy under a running job: three workers serve a task, a job
 * of 2,000 items starts, the task's file is edited (new code: each item
 * now gives 3x instead of 2x), and each worker in turn is stopped (SIGTERM:
 * it drains what it holds) and replaced by one that loads the new code.
 *
 * A job's items go only to workers that run its code (their code queue), so
 * no item is refused or dead-lettered, and none runs on other code than
 * the job's unless the job allows it:
 * - by default the job ends with its own code's output (its code kept
 *   serving it), or, once no worker runs its code, fails within seconds
 *   naming the versions the pool runs;
 * - with `--on-code-change follow` it finishes, saying it moved to the new
 *   code; every item ran on one version or the other.
 *
 *   npx vitest run --project reliability test/reliability/rolling-deploy.test.ts
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { status } from '../../src/index.js';
import { BROKER_URL, brokerAvailable, deleteQueues, startWorkerProc, stopWorkerProc } from '../helpers/broker.js';
import type { WorkerProc } from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';
import { clean, fj, recording, scratch, versionedTaskSource } from './harness.js';

const available = await brokerAvailable();
const COMMAND = 'npx vitest run --project reliability test/reliability/rolling-deploy.test.ts';
const ITEMS = 2000;

/** The task's module, version `factor` (2 or 3). */
const taskSource = (factor: number): string => versionedTaskSource('deployed', 'Deployed', factor);

async function deadLetters(queue: string): Promise<number> {
  const conn = await amqp.connect(BROKER_URL);
  try {
    const ch = await conn.createChannel();
    return (await ch.checkQueue(`${queue}.dead`)).messageCount;
  } finally {
    await conn.close();
  }
}

describe.runIf(available)('a rolling deploy under a running job', () => {
  const { dir, store } = scratch('rolling-deploy');
  const file = join(dir, 'deployed.ts');
  const inputFile = join(dir, 'input.json');
  const values = Array.from({ length: ITEMS }, (_, i) => i);
  writeFileSync(inputFile, JSON.stringify({ values, ms: 15 }));
  const workers: WorkerProc[] = [];
  const queues: string[] = [];
  afterAll(async () => {
    await Promise.all(workers.map((w) => stopWorkerProc(w)));
    for (const q of queues) await deleteQueues(q).catch(() => {});
    clean(dir);
  });

  async function worker(queue: string, name: string): Promise<WorkerProc> {
    const w = await startWorkerProc(['--queue', queue, '--store', store, '--tasks', file, '-c', '1', '--name', name], {
      FJ_BROKER_URL: BROKER_URL,
    });
    workers.push(w);
    return w;
  }

  /** Runs the job on three workers of version 1 and, once it is under way, replaces each with one of version 2. */
  async function deploy(
    extra: string[],
  ): Promise<{ code: number | null; stdout: string; stderr: string; log: string }> {
    writeFileSync(file, taskSource(2));
    const queue = `fj.reliability.deploy.${randomUUID()}`;
    queues.push(queue);
    const old = await Promise.all([1, 2, 3].map((n) => worker(queue, `old-${n}`)));
    const run = fj(['run', file, inputFile, '--executor', 'amqp', '--queue', queue, '--store', store, ...extra]);
    // The job under way on the old code: its coordinator has loaded the task (and taken its code) and items have
    // run. A fixed wait was not enough on a loaded machine: fj run then read the file after the deploy had
    // rewritten it, and the job ran on the new code from its start.
    const id = await waitFor('the job line', () => /fj: job ([0-9a-f-]{36})/.exec(run.stderr())?.[1], 60_000, 50);
    await waitFor(
      'items of the job done on the old code',
      async () => ((await status(id, { store, broker: BROKER_URL }).catch(() => undefined))?.status?.done ?? 0) > 0,
      60_000,
      100,
    );
    writeFileSync(file, taskSource(3)); // the deploy: new code on disk
    const fresh: WorkerProc[] = [];
    for (const [n, w] of old.entries()) {
      await stopWorkerProc(w); // drains what it holds
      fresh.push(await worker(queue, `new-${n + 1}`));
    }
    const code = await run.exited;
    const log = [...old, ...fresh].map((w) => w.log()).join('\n');
    expect(await deadLetters(queue)).toBe(0);
    expect(log).not.toMatch(/refused|dead-lettered/);
    return { code, stdout: run.stdout(), stderr: run.stderr(), log };
  }

  it('default: the job ends with its own code’s output, or fails naming the versions; nothing refused or dead-lettered', async () => {
    const rec = recording('rolling deploy, default (fail)', COMMAND);
    rec.items = ITEMS;
    rec.faults = '3 workers stopped (SIGTERM) one by one and replaced by workers on new code, mid-job';
    const { code, stdout, stderr } = await deploy([]);
    if (code === 0) {
      expect(JSON.parse(stdout)).toEqual(values.map((v) => v * 2));
      rec.recovered = "finished on its own code before the last old worker left: the old code's output";
    } else {
      expect(code).toBe(1);
      expect(stderr).toMatch(
        /no worker on pool \S+ runs task "deployed" with this job's code \([0-9a-f]+\): its workers run [0-9a-f]+ \(new-\d(, new-\d)*\)/,
      );
      expect(stderr).toMatch(/--on-code-change follow/);
      expect(stderr).not.toMatch(/\n\s+at /);
      rec.recovered = 'failed within seconds of the last old worker leaving, naming both versions';
      console.log(`rolling deploy, default policy: ${stderr.trim().split('\n').at(-1)}`);
    }
    rec.lost = rec.duplicated = 0;
  }, 120_000);

  it('--on-code-change follow: the job finishes on the new code and says so; every item ran on one version', async () => {
    const rec = recording('rolling deploy, --on-code-change follow', COMMAND);
    rec.items = ITEMS;
    rec.faults = '3 workers stopped (SIGTERM) one by one and replaced by workers on new code, mid-job';
    const { code, stdout, stderr } = await deploy(['--on-code-change', 'follow']);
    expect(code, stderr).toBe(0);
    const output = JSON.parse(stdout) as number[];
    expect(output).toHaveLength(ITEMS);
    const onNew = output.filter((v, i) => v === values[i] * 3 && v !== values[i] * 2).length;
    expect(output.every((v, i) => v === values[i] * 2 || v === values[i] * 3)).toBe(true);
    expect(stderr).toMatch(/following the code its workers run now, [0-9a-f]+ \(new-\d(, new-\d)*\)/);
    expect(onNew).toBeGreaterThan(0);
    rec.recovered = `finished: ${ITEMS - onNew} item(s) on the old code, ${onNew} on the new`;
    rec.lost = rec.duplicated = 0;
  }, 120_000);
});
