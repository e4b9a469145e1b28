/**
 * One job keeps every worker slot busy, however many there are: against the
 * real RabbitMQ, two `fj worker` processes with 40 threads each (80 slots,
 * more than the 64 messages the coordinator once kept in flight at most)
 * run items that block their thread. The items report when they ran; the
 * most running at one moment must exceed 64, and approach the 80 slots.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BROKER_URL,
  CLI,
  brokerAvailable,
  deleteQueues,
  startWorkerProc,
  stopWorkerProc,
  type WorkerProc,
} from '../helpers/broker.js';

const available = await brokerAvailable();
// JavaScript on the build, run by `fj run` from the build: 80 threads loading a TypeScript task through tsx take most of a minute here.
const spans = join(import.meta.dirname, '..', 'fixtures', 'spans.mjs');
const WORKERS = 2;
const THREADS = 40;
const SLOTS = WORKERS * THREADS;

/** The most intervals `[start, end)` that hold at one moment. */
function mostAtOnce(intervals: [number, number][]): number {
  const edges = intervals
    .flatMap(([s, e]) => [[s, 1] as const, [e, -1] as const])
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let most = 0;
  for (const [, d] of edges) most = Math.max(most, (now += d));
  return most;
}

describe.runIf(available)('a job on a large pool', () => {
  const queue = `fj.test.${randomUUID()}`;
  const dir = mkdtempSync(join(tmpdir(), 'fj-scale-test-'));
  let workers: WorkerProc[] = [];

  beforeAll(async () => {
    workers = await Promise.all(
      Array.from({ length: WORKERS }, (_, n) =>
        startWorkerProc(['--queue', queue, '--tasks', spans, '--concurrency', String(THREADS), '--name', `s${n}`]),
      ),
    );
  }, 60_000);

  afterAll(async () => {
    for (const w of workers) await stopWorkerProc(w);
    await deleteQueues(queue);
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps more than 64 slots busy at once: the window follows the pool', async () => {
    const input = join(dir, 'input.json');
    writeFileSync(input, JSON.stringify({ items: SLOTS * 4, ms: 500 }));
    const { stdout } = await promisify(execFile)(process.execPath, [
      CLI,
      'run',
      spans,
      input,
      '--executor',
      'amqp',
      '--queue',
      queue,
      '--broker',
      BROKER_URL,
      '--no-progress',
    ]);
    const ran = JSON.parse(stdout) as [number, number][];
    expect(ran).toHaveLength(SLOTS * 4);
    const most = mostAtOnce(ran);
    expect(most).toBeGreaterThan(64);
    expect(most).toBeLessThanOrEqual(SLOTS);
  }, 60_000);
});
