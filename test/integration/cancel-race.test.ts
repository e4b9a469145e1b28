/**
 * A cancel that comes while a job's coordinator is attaching: its results
 * queue already has the coordinator as consumer, but the manifest does not
 * name the coordinator's run yet, so the cancel message can name no run and
 * the coordinator ignores it (it heeds only a cancel naming its own run). The
 * cancel must not be lost: it leaves its record, which the coordinator reads
 * once its run is recorded (executors/amqp/coordinator.ts, onAttached).
 * Before 2026-12-07 it left none there, and the job ran to its end: CI's
 * dashboard test saw a job cancelled right after it was resubmitted go on
 * for over 30 s.
 *
 * The coordinator is played by this test (a consumer of the job's results
 * queue that has not recorded a run), on a real RabbitMQ and file store.
 *
 *   CI=true npx vitest run --project main test/integration/cancel-race.test.ts
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp, { type ConsumeMessage } from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { cancel, submit } from '../../src/index.js';
import { resultsQueue } from '../../src/broker/amqp.js';
import { readCancel } from '../../src/store/cancel-record.js';
import { openStore } from '../../src/store/open.js';
import { BROKER_URL, brokerAvailable, deleteQueues } from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';

const available = await brokerAvailable();
const SLEEPY = join(import.meta.dirname, '..', 'fixtures', 'sleepy.ts');

describe.runIf(available)('a cancel while the coordinator attaches', () => {
  const queue = `fj.test.cancel-race.${randomUUID()}`;
  const dir = mkdtempSync(join(tmpdir(), 'fj-cancel-race-'));
  const store = `file://${join(dir, 'store')}`;
  afterAll(async () => {
    await deleteQueues(queue).catch(() => {});
    await deleteQueues(`${queue}.jobs`).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  it('leaves its record, so the coordinator stops once its run is recorded, though the message named no run', async () => {
    // Queued on a pool with no worker: the records and the results queue exist, no run yet.
    const h = await submit(SLEEPY, { values: [1, 2, 3] }, { store, broker: BROKER_URL, queue });
    const conn = await amqp.connect(BROKER_URL);
    try {
      const ch = await conn.createChannel();
      const seen: ConsumeMessage[] = [];
      await ch.consume(resultsQueue(h.id), (m) => m && seen.push(m), { noAck: true });
      const cancelled = cancel(h.id, { store, broker: BROKER_URL, queue });
      await waitFor('the cancel message', () => seen.length > 0, 10_000);
      expect(seen[0].properties.type).toBe('fj.cancel');
      expect(seen[0].properties.correlationId ?? '').toBe(''); // no run to name: the coordinator ignores it
      // What the coordinator reads once it has recorded its run.
      const s = await openStore(store);
      try {
        expect(await readCancel(s, h.id)).toEqual({ by: 'api' });
      } finally {
        await s.close();
      }
      // The coordinator stops: its results queue goes, and cancel() returns.
      await ch.deleteQueue(resultsQueue(h.id));
      expect(await cancelled).toMatchObject({ coordinator: true });
    } finally {
      await conn.close();
    }
  }, 30_000);
});
