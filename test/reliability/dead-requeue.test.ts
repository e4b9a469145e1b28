/**
 * `fj dead requeue` on a pool that runs two versions of a task: a job's
 * item messages are dead-lettered (rejected from its code queue), then sent
 * back. They go to the code queue their headers name (task and code hash),
 * where only workers running that code take them, never to the pool's own
 * queue, where a worker on other code would refuse them (and so end the job).
 * With no live worker running that code they stay in the dead-letter queue,
 * and the command says which code and who runs what.
 *
 *   npx vitest run --project reliability test/reliability/dead-requeue.test.ts
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { BROKER_URL, brokerAvailable, deleteQueue, deleteQueues, startWorkerProc } from '../helpers/broker.js';
import { stopWorkerProc, type WorkerProc } from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';
import { clean, codeQueueOf, fj, scratch, versionedTaskSource } from './harness.js';

const available = await brokerAvailable();
const ITEMS = 60;

/** The task's module, version `factor` (2 or 3). */
const taskSource = (factor: number): string => versionedTaskSource('requeued', 'Requeued', factor);

describe.runIf(available)('fj dead requeue: item messages go back to their code', () => {
  const { dir, store } = scratch('dead-requeue');
  const mine = join(dir, 'requeued-v1.ts');
  const other = join(dir, 'requeued-v2.ts');
  writeFileSync(mine, taskSource(2));
  writeFileSync(other, taskSource(3));
  const inputFile = join(dir, 'input.json');
  const values = Array.from({ length: ITEMS }, (_, i) => i);
  writeFileSync(inputFile, JSON.stringify({ values, ms: 100 }));
  const queue = `fj.reliability.requeue.${randomUUID()}`;
  const dead = `${queue}.dead`;
  const workers: WorkerProc[] = [];
  let conn: amqp.ChannelModel | undefined;
  afterAll(async () => {
    await Promise.all(workers.map((w) => stopWorkerProc(w)));
    await conn?.close().catch(() => {});
    await deleteQueues(queue).catch(() => {});
    for (const f of [mine, other]) await deleteQueue(await codeQueueOf(queue, f)).catch(() => {});
    clean(dir);
  });

  async function worker(file: string, name: string): Promise<WorkerProc> {
    const w = await startWorkerProc(['--queue', queue, '--store', store, '--tasks', file, '-c', '1', '--name', name], {
      FJ_BROKER_URL: BROKER_URL,
    });
    workers.push(w);
    return w;
  }

  it('no worker runs the code: the messages stay, named; then they reach a worker with their code, never one with other code', async () => {
    conn = await amqp.connect(BROKER_URL);
    const ch = await conn.createChannel();
    await ch.assertQueue(dead, { durable: true });
    const c = conn;
    /** Messages in `q`, 0 when there is no such queue (a check of its own: a failed one closes its channel). */
    const depth = async (q: string): Promise<number> => {
      const own = await c.createChannel();
      own.on('error', () => {});
      try {
        return (await own.checkQueue(q)).messageCount;
      } catch {
        return 0;
      } finally {
        await own.close().catch(() => {});
      }
    };
    const code = await codeQueueOf(queue, mine);
    const codeHash = code.split('.').at(-1)!;
    // The job waits for a worker (the pool has none); its first messages wait in its code queue.
    const run = fj(['run', mine, inputFile, '--executor', 'amqp', '--queue', queue, '--store', store]);
    await waitFor(
      'the job’s messages in its code queue',
      async () => (await depth(code)) >= 3 || (run.child.exitCode !== null && run.stderr()),
      30_000,
    );
    expect(run.child.exitCode, run.stderr()).toBe(null);
    // Two of them dead-lettered by the broker, as a worker's reject would.
    for (let i = 0; i < 2; i++) {
      const m = await ch.get(code, { noAck: false });
      expect(m).toBeTruthy();
      ch.nack(m as amqp.GetMessage, false, false);
    }
    await waitFor('two dead letters', async () => (await depth(dead)) === 2);

    const none = fj(['dead', 'requeue', '--queue', queue, '--store', store]);
    expect(await none.exited, none.stderr()).toBe(2);
    expect(none.stderr()).toContain(`fj: 0 message(s) from ${dead} sent back for another try`);
    expect(none.stderr()).toMatch(
      new RegExp(
        `2 message\\(s\\) of job \\S+ \\(task "requeued", code ${codeHash}\\) left in ${dead.replace(/\./g, '\\.')}: no live worker of pool \\S+ runs that code`,
      ),
    );
    expect(none.stderr()).toMatch(/the pool has no live worker/);
    expect(await depth(dead)).toBe(2);
    expect(await depth(queue)).toBe(0);

    // Both versions on the pool: the job's own, and another (a rolling deploy half done).
    await Promise.all([worker(mine, 'v1'), worker(other, 'v2')]);
    const back = fj(['dead', 'requeue', '--queue', queue, '--store', store]);
    expect(await back.exited, back.stderr()).toBe(0);
    expect(back.stderr()).toBe(`fj: 2 message(s) from ${dead} sent back for another try: 2 to ${code}\n`);
    expect(await run.exited, run.stderr()).toBe(0);
    expect(JSON.parse(run.stdout())).toEqual(values.map((v) => v * 2));
    expect(await depth(dead)).toBe(0);
    expect(workers.map((w) => w.log()).join('\n')).not.toMatch(/refused|dead-lettered/);
  }, 120_000);
});
