/**
 * A warm pool: a real `fj worker` has every thread import the task modules it
 * serves before it takes a message, and a thread that replaces a dead one
 * imports them before it takes a batch (the warm-probe fixture writes when
 * each thread imported it and ran each item); its heartbeat says `warming`
 * until then, and `fj workers` shows it.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BROKER_URL, brokerAvailable, deleteQueues, startWorkerProc, stopWorkerProc } from '../helpers/broker.js';
import { runFj } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';
import { runJob } from '../../src/index.js';

const PROBE = join(import.meta.dirname, '..', 'fixtures', 'warm-probe.ts');
const TMP = join(import.meta.dirname, '..', '.tmp', `worker-warm-${randomUUID().slice(0, 8)}`);
const withBroker = await brokerAvailable();

interface ProbeEvent {
  event: 'import' | 'item';
  thread: number;
  t: number;
}

/** The probe's events so far. */
function events(log: string): ProbeEvent[] {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ProbeEvent);
}

/** When each thread imported the probe (thread id -> ms since the epoch). */
function imports(log: string): Map<number, number> {
  return new Map(events(log).flatMap((e) => (e.event === 'import' ? [[e.thread, e.t] as const] : [])));
}

describe.runIf(withBroker)('fj worker: a warm pool', () => {
  mkdirSync(TMP, { recursive: true });
  afterAll(() => rmSync(TMP, { recursive: true, force: true }));

  it(
    'every thread imports the tasks before the first job; a thread that replaces a dead one, before it takes a batch',
    { timeout: 60_000 },
    async () => {
      const log = join(TMP, `probe-${randomUUID().slice(0, 8)}.log`);
      const store = `file://${join(TMP, 'store-a')}`;
      const queue = `fj.test.worker-warm.${randomUUID()}`;
      const worker = await startWorkerProc(
        ['--broker', BROKER_URL, '--queue', queue, '--store', store, '--concurrency', '2', '--tasks', PROBE],
        { FJ_WARM_PROBE_LOG: log },
      );
      try {
        // Serving, with no job sent yet: both threads have imported the task.
        const atStart = imports(log);
        expect([...atStart.keys()], worker.log()).toHaveLength(2);

        // A job whose first item ends its thread: the item runs again elsewhere, the pool replaces the thread.
        const first = await runJob(
          PROBE,
          { items: [{ exit: true }, {}, {}, {}] },
          { executor: 'amqp', broker: BROKER_URL, queue, store },
        );
        expect(first.output).toBe(4);
        expect(existsSync(`${log}.exited`)).toBe(true);
        // The replacement imports the task with no work in sight.
        const [fresh] = await waitFor(
          'the replacement thread to import the task',
          () => {
            const now = [...imports(log)].filter(([thread]) => !atStart.has(thread));
            return now.length > 0 && now;
          },
          10_000,
        );
        const [, freshAt] = fresh;

        // The next job finds every thread it runs on warm: each imported the task before the job was sent.
        const sent = Date.now();
        const second = await runJob(
          PROBE,
          { items: Array.from({ length: 12 }, () => ({})) },
          { executor: 'amqp', broker: BROKER_URL, queue, store },
        );
        expect(second.output).toBe(12);
        const all = imports(log);
        const ran = events(log).filter((e) => e.event === 'item' && e.t >= sent);
        expect(ran).toHaveLength(12);
        for (const e of ran) expect(all.get(e.thread)!, `thread ${e.thread}`).toBeLessThan(sent);
        expect(freshAt).toBeLessThan(sent);
        expect(all.size).toBe(3); // the two threads of the start and the replacement: no thread imported it late
        expect(worker.log()).toMatch(/lost a worker thread/);
      } finally {
        await stopWorkerProc(worker);
        await deleteQueues(queue);
      }
    },
  );

  it(
    'fj workers shows a worker warming while its threads import its tasks, then ready',
    { timeout: 60_000 },
    async () => {
      const log = join(TMP, `probe-${randomUUID().slice(0, 8)}.log`);
      const storeUrl = `file://${join(TMP, 'store-b')}`;
      const queue = `fj.test.worker-warm.${randomUUID()}`;
      const name = `warm-${randomUUID().slice(0, 8)}`;
      const stateOf = async (): Promise<string | undefined> => {
        const r = await runFj(['workers', '--store', storeUrl, '--json']);
        expect(r.code, r.stderr).toBe(0);
        return (JSON.parse(r.stdout) as { name: string; state?: string }[]).find((w) => w.name === name)?.state;
      };
      // Importing the task takes each thread 3 s: long enough to see the worker warming.
      const starting = startWorkerProc(
        [
          '--broker',
          BROKER_URL,
          '--queue',
          queue,
          '--store',
          storeUrl,
          '--name',
          name,
          '--concurrency',
          '2',
          '--tasks',
          PROBE,
        ],
        { FJ_WARM_PROBE_LOG: log, FJ_WARM_PROBE_SLOW_MS: '3000' },
      );
      starting.catch(() => {}); // awaited below
      try {
        expect(await waitFor('a first heartbeat', stateOf, 15_000, 100)).toBe('warming');
        const worker = await starting; // it says `serving` once warm
        try {
          expect(imports(log).size).toBe(2);
          expect(await stateOf()).toBe('ready');
          const table = await runFj(['workers', '--store', storeUrl]);
          expect(table.stdout).toMatch(/^NAME\s+POOL\s+STATE\s+BUSY/);
          expect(table.stdout).toMatch(new RegExp(`^${name}\\s+${queue.replaceAll('.', '\\.')}\\s+ready\\s+0/2`, 'm'));
        } finally {
          await stopWorkerProc(worker);
        }
      } finally {
        await starting.then(stopWorkerProc, () => {});
        await deleteQueues(queue);
      }
    },
  );
});
