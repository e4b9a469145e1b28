/**
 * A submitted pipeline's stage transition, seen from outside: once the
 * pipeline's status says it is at stage N, stage N's job exists (its
 * manifest is in the store), so `fj status PIPELINE.N` or `attach()` finds
 * it. The worker that ended stage N-1 writes both; a slow store write of
 * stage N's manifest (a slow disk, a busy Redis) must not let the pipeline's
 * status run ahead of it. The transition runs here, on a real file store
 * and a real RabbitMQ, through a store that delays that one write.
 *
 *   CI=true npx vitest run --project main test/integration/pipeline-transition.test.ts
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import amqp from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { pipeline, submitPipeline } from '../../src/index.js';
import { jobsQueue, resultsQueue } from '../../src/broker/amqp.js';
import { continuePipeline } from '../../src/pipeline/continue-pipeline.js';
import { readManifest, readStatus, writeOutcome, type JobOutcome } from '../../src/store/job-records.js';
import { openStore } from '../../src/store/open.js';
import type { PayloadStore } from '../../src/store/store.js';
import { BROKER_URL, brokerAvailable, deleteQueue } from '../helpers/broker.js';
import { Scale, Squares, Total } from '../fixtures/pipeline-stages.js';

const available = await brokerAvailable();
const dir = mkdtempSync(join(tmpdir(), 'fj-pipeline-transition-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `store`, except that writing job `slowJob`'s manifest takes `ms` longer; `onStatus` sees each status record written for `watched`. */
function slowManifest(
  store: PayloadStore,
  slowJob: string,
  ms: number,
  watched: string,
  onStatus: () => Promise<void>,
): PayloadStore {
  return new Proxy(store, {
    get(target, key, receiver) {
      if (key === 'setMeta')
        return async (jobId: string, name: string, bytes: Uint8Array) => {
          if (jobId === slowJob && name === 'manifest') await sleep(ms);
          if (jobId === watched && name === 'status') await onStatus();
          return target.setMeta(jobId, name, bytes);
        };
      const v = Reflect.get(target, key, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

describe.runIf(available)('a submitted pipeline going on to its next stage', () => {
  it("writes the pipeline's status at stage 2 only once stage 2's job is recorded", async () => {
    const storeUrl = pathToFileURL(join(dir, 'store')).href;
    const queue = `fj.test.transition.${randomUUID()}`;
    const p = pipeline(Squares).pipe(Scale).pipe(Total);
    const handle = await submitPipeline(p, { count: 4 }, { store: storeUrl, queue, broker: BROKER_URL });
    const store = await openStore(storeUrl);
    const conn = await amqp.connect(BROKER_URL);
    try {
      // Stage 1 ended, as a worker records it: its output stored (JSON text), its result record written.
      const stage1 = `${handle.id}.1`;
      const output = new TextEncoder().encode(JSON.stringify({ values: [0, 1, 4, 9], ranOn: {} }));
      const outputRef = await store.put(stage1, output);
      const outcome: JobOutcome = { state: 'succeeded', outputRef, coordinator: 'test', finished: Date.now() };
      await writeOutcome(store, stage1, outcome);
      const stage2 = `${handle.id}.2`;
      const seen: { stage2Recorded: boolean; status: string | undefined }[] = [];
      const slow = slowManifest(store, stage2, 300, handle.id, async () => {
        seen.push({
          stage2Recorded: (await store.getMeta(stage2, 'manifest')) !== undefined,
          status: (await readStatus(store, handle.id))?.stage,
        });
      });
      await continuePipeline(
        { store: slow, conn, coordinator: 'test' },
        await readManifest(store, stage1),
        outcome,
        stage1,
      );
      // One status write, for stage 2, and stage 2's manifest was there when it was written.
      expect(seen).toHaveLength(1);
      expect(seen[0].stage2Recorded).toBe(true);
      expect((await readStatus(store, handle.id))?.stage).toBe('2/3 scale');
      expect((await readManifest(store, stage2)).pipeline).toMatchObject({ id: handle.id, stage: 2 });
    } finally {
      await conn.close();
      await store.close();
      for (const q of [jobsQueue(queue), resultsQueue(`${handle.id}.1`), resultsQueue(`${handle.id}.2`)])
        await deleteQueue(q).catch(() => {});
    }
  });
});
