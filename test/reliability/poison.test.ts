/**
 * Poison items, through the real CLI and real workers: one that always
 * throws, and one that kills its worker process every time. Under fail-fast
 * the job exits 1 quickly, naming the item and the hook, and the workers drop
 * the rest of the job; under collect every other item completes.
 *
 *   npx vitest run --project reliability test/reliability/poison.test.ts
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROKER_URL, brokerAvailable } from '../helpers/broker.js';
import { CHAOS, clean, fj, record, scratch, WorkerPool } from './harness.js';

const available = await brokerAvailable();

async function queueDepth(queue: string): Promise<number> {
  const conn = await amqp.connect(BROKER_URL);
  try {
    return (await (await conn.createChannel()).checkQueue(queue)).messageCount;
  } finally {
    await conn.close();
  }
}

async function drained(queue: string, withinMs: number): Promise<boolean> {
  const end = Date.now() + withinMs;
  while (Date.now() < end) {
    if ((await queueDepth(queue)) === 0) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

describe.runIf(available)('poison items', () => {
  const { dir, store } = scratch('poison');
  const pool = new WorkerPool(store);
  let stopSupervisor: () => Promise<void>;
  beforeAll(async () => {
    await pool.start(3);
    stopSupervisor = pool.supervise(3); // killed workers are replaced, as systemd would
  });
  afterAll(async () => {
    await stopSupervisor();
    await pool.stop();
    clean(dir);
  });

  function input(name: string, value: object): string {
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(value));
    return file;
  }
  const amqpArgs = () => ['--executor', 'amqp', '--queue', pool.queue, '--store', store, '--retry-delay', '50'];

  it('an item that always throws, fail-fast: exit 1 within seconds naming item and hook; the rest of the job is dropped', async () => {
    const started = Date.now();
    const p = fj(['run', CHAOS, input('throw-ff', { n: 2000, ms: 5, throwAt: [150] }), ...amqpArgs(), '--retries', '1']);
    expect(await p.exited).toBe(1);
    const took = Date.now() - started;
    expect(p.stderr()).toMatch(/chaos\.process on item 150 failed: item 150 always throws \(after 2 attempts\)/);
    expect(p.stderr()).not.toMatch(/\n\s+at /);
    expect(p.stdout()).toBe('');
    expect(await drained(pool.queue, 10_000)).toBe(true); // no orphaned work
    record({ scenario: 'poison item (throws), fail-fast', items: 2000, lost: 0, duplicated: 0, recovered: '-', recoverMs: took, faults: 'item 150 always throws; --retries 1; time = to exit 1', command: 'npx vitest run --project reliability test/reliability/poison.test.ts' });
  });

  it('an item that always throws, collect: every other item completes; the failure is on stderr and in --stats', async () => {
    const stats = join(dir, 'collect-stats.json');
    const p = fj(['run', CHAOS, input('throw-c', { n: 500, ms: 2, throwAt: [77] }), ...amqpArgs(), '--retries', '1', '--on-failure', 'collect', '--stats', stats]);
    expect(await p.exited, p.stderr()).toBe(0);
    const out = JSON.parse(p.stdout()) as { items: number; missing: number[] };
    expect(out.items).toBe(499);
    expect(out.missing).toEqual([77]);
    expect(p.stderr()).toMatch(/1 item\(s\) failed[\s\S]*item 77 \(2 attempt\(s\)\): .*item 77 always throws/);
  });

  it('an item that kills its worker process every time, collect: it fails after 2 deaths, every other item completes', async () => {
    const started = Date.now();
    const killed = () => pool.workers.filter((w) => w.child.signalCode === 'SIGKILL').length;
    const killsBefore = killed();
    const p = fj(['run', CHAOS, input('kill-c', { n: 300, ms: 2, killAt: [123] }), ...amqpArgs(), '--on-failure', 'collect']);
    expect(await p.exited, p.stderr()).toBe(0);
    const out = JSON.parse(p.stdout()) as { items: number; missing: number[] };
    expect(out.items).toBe(299);
    expect(out.missing).toEqual([123]);
    expect(p.stderr()).toMatch(/item 123 .*worker process died/);
    const deaths = killed() - killsBefore;
    expect(deaths).toBeGreaterThanOrEqual(2);
    expect(deaths).toBeLessThanOrEqual(3);
    record({ scenario: 'poison item (kills its worker), collect', items: 300, lost: 0, duplicated: 0, recovered: `299 completed; the poison item failed after ${deaths} worker deaths`, recoverMs: Date.now() - started, faults: `item 123 SIGKILLs its worker process every time (${deaths} workers died, replaced)`, command: 'npx vitest run --project reliability test/reliability/poison.test.ts' });
  });
});
