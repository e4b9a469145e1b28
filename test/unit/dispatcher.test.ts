/**
 * The dispatcher's rules, driven exactly through the in-memory fake
 * transport (test/helpers/fake-transport.ts): no threads, no broker. Each
 * test answers batches the way a real transport can (late, twice, in parts,
 * merged, lost, from an earlier run) and checks what the job records.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Dispatcher } from '../../src/dispatch/dispatcher.js';
import type { Batch } from '../../src/dispatch/transport.js';
import {
  CancelledError,
  TaskError,
  UsageError,
  type JobStats,
  type RunOptions,
  type TaskClass,
} from '../../src/index.js';
import { startJob } from '../../src/job/lifecycle.js';
import Combined, { type CombinedOutput, type Part } from '../fixtures/combined.js';
import Sum from '../fixtures/sum.js';
import { FakeTransport, type FakeOptions } from '../helpers/fake-transport.js';

const dir = mkdtempSync(join(tmpdir(), 'fj-dispatcher-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Starts a job on a fresh fake transport; returns the job and the fake once it exists. */
async function start(task: TaskClass, input: unknown, fakeOptions: FakeOptions = {}, options: RunOptions = {}) {
  let made: (f: FakeTransport) => void;
  const fake = new Promise<FakeTransport>((r) => (made = r));
  let stats: JobStats | undefined;
  const job = startJob(
    task,
    { value: input },
    { logLevel: 'silent', retryDelayMs: 1, ...options, onStats: (s) => (stats = s) },
    {
      async map(plan) {
        const t = new FakeTransport(plan, fakeOptions);
        made(t);
        await new Dispatcher(plan, t).run();
      },
    },
  );
  job.catch(() => {});
  return { job, fake: await fake, stats: () => stats! };
}

/** Waits until `fake` has sent `n` batches (or fails the test after 2 s). */
async function sent(fake: FakeTransport, n: number): Promise<Batch[]> {
  const deadline = Date.now() + 2000;
  while (fake.sent.length < n) {
    if (Date.now() > deadline) throw new Error(`expected ${n} batches sent, got ${fake.sent.length}`);
    await new Promise((r) => setImmediate(r));
  }
  return fake.sent;
}

const double = (v: unknown) => (v as number) * 2;

describe('dispatcher rules (fake transport)', () => {
  it('never has more batches in flight than the transport has room for, and pulls setup lazily', async () => {
    const { job, fake } = await start(Sum, { count: 100 }, { window: 2, maxBatch: 8 });
    const [a, b] = await sent(fake, 2);
    await new Promise((r) => setTimeout(r, 20));
    expect(fake.sent.length).toBe(2); // no room: nothing more sent, nothing more pulled
    expect([a.first, a.values.length, b.first]).toEqual([0, 8, 8]);
    for (let k = 0; k < 13; k++) fake.answerAll((await sent(fake, k + 1))[k], double);
    expect(await job).toMatchObject({ output: 99 * 100 });
    expect(fake.maxInFlight).toBe(2);
  });

  it('records each item once: duplicates, parts and late answers with other values are ignored', async () => {
    const { job, fake, stats } = await start(Sum, { count: 8 }, { window: 1, maxBatch: 8 });
    const [batch] = await sent(fake, 1);
    fake.answer({ batch, first: 2, values: [4, 6] }); // a part (a redelivered message split item by item)
    fake.answer({ batch, first: 2, values: [1000, 1000] }); // the same part again, other values
    fake.answerAll(batch, (v) => (v === 0 ? 0 : 5000)); // the whole batch, overlapping the part
    const { output } = await job;
    // items 2 and 3 keep their first answer (4 + 6); the others come from the whole answer
    expect(output).toBe(4 + 6 + 5000 * 5);
    expect(stats()).toMatchObject({ items: 8, retried: 0, failed: 0 });
  });

  it('a merged result overlapping an answered item is dropped; its other items run again, uncharged', async () => {
    const { job, fake, stats } = await start(Combined, { n: 4, dir }, { window: 4, maxBatch: 4 });
    const [batch] = await sent(fake, 1);
    const part = (items: number[]): Part => ({ sum: items.reduce((a, b) => a + b, 0), items });
    fake.answer({ batch, groups: [{ indices: [1], value: part([1]) }] });
    fake.answer({ batch, groups: [{ indices: [0, 1, 2, 3], value: part([0, 1, 2, 3]) }] });
    const again = await sent(fake, 4);
    expect(again.slice(1).map((b) => [b.first, b.values.length])).toEqual([
      [0, 1],
      [2, 1],
      [3, 1],
    ]);
    for (const b of again.slice(1)) fake.answer({ batch: b, groups: [{ indices: [b.first], value: part([b.first]) }] });
    const out = (await job).output as CombinedOutput;
    expect(out).toMatchObject({ sum: 6, items: [0, 1, 2, 3] });
    expect(stats()).toMatchObject({ items: 4, retried: 0 });
  });

  it('a lost batch charges the item that was running; the others run again, uncharged', async () => {
    const { job, fake, stats } = await start(Sum, { count: 5 }, { window: 4, maxBatch: 5 }, { onFailure: 'collect' });
    const [batch] = await sent(fake, 1);
    fake.answer({ batch, first: 0, values: [0] }); // item 0 answered before the loss
    fake.events.lost(batch, 2, 'its worker thread exited');
    const runs = (await sent(fake, 3)).slice(1);
    expect(runs.map((b) => b.values)).toEqual([[1], [3, 4]]);
    for (const b of runs) fake.answerAll(b, double);
    const { output } = await job;
    expect(output).toBe(0 + 2 + 6 + 8);
    expect(stats()).toMatchObject({ items: 4, failed: 1, retried: 0 });
    expect(stats().failures[0]).toMatchObject({
      index: 2,
      error: { message: expect.stringMatching(/item 2 failed: its worker thread exited/) },
    });
  });

  it('a failed attempt is retried per the policy, after its backoff', async () => {
    const { job, fake, stats } = await start(Sum, { count: 3 }, { window: 4, maxBatch: 3 }, { retries: 1 });
    const [batch] = await sent(fake, 1);
    fake.answer({
      batch,
      first: 0,
      values: [0, 2],
      failures: [{ index: 2, error: new TaskError({ hook: 'process', index: 2 }, new Error('flaky')) }],
    });
    const [, retry] = await sent(fake, 2);
    expect([retry.first, retry.values]).toEqual([2, [2]]);
    fake.answerAll(retry, double);
    expect((await job).output).toBe(6);
    expect(stats()).toMatchObject({ items: 3, retried: 1 });
  });

  it('answers from an earlier run count once for items of the job; indices outside it are ignored', async () => {
    const { job, fake } = await start(Sum, { count: 4 }, { window: 1, maxBatch: 4 });
    const [batch] = await sent(fake, 1);
    fake.answer({ batch: undefined, first: 2 ** 31, values: [1] }); // far outside: ignored, no page allocated
    fake.answer({ batch: undefined, first: 3, values: [6] }); // item 3 from an earlier run
    fake.answer({ batch: undefined, failures: [{ index: 1, error: new Error('old failure') }] }); // earlier failures do not count
    fake.answer({ batch, first: 0, values: [0, 2, 4, 999] }); // item 3 already has its result
    expect((await job).output).toBe(12);
  });

  it('an answer for items outside its batch is ignored', async () => {
    const { job, fake } = await start(Sum, { count: 4 }, { window: 4, maxBatch: 2 });
    const [a, b] = await sent(fake, 2);
    fake.answer({ batch: a, first: 2, values: [1000, 1000] }); // b's items, claimed by a's answer
    fake.answerAll(a, double);
    fake.answerAll(b, double);
    expect((await job).output).toBe(12);
  });

  it('a whole batch failing with an error retrying cannot mend ends the job, and the transport is closed with it', async () => {
    const { job, fake } = await start(Sum, { count: 4 }, { window: 4, maxBatch: 4 }, { retries: 3 });
    const [batch] = await sent(fake, 1);
    fake.events.failed(batch, 0, 4, new UsageError("task 'sum' is not served here"));
    await expect(job).rejects.toBeInstanceOf(UsageError);
    expect(fake.closed).toBeInstanceOf(UsageError);
  });

  it('cancelling through the signal ends the job with CancelledError; later answers change nothing', async () => {
    const controller = new AbortController();
    const { job, fake } = await start(Sum, { count: 40 }, { window: 1, maxBatch: 4 }, { signal: controller.signal });
    const [batch] = await sent(fake, 1);
    controller.abort();
    await expect(job).rejects.toBeInstanceOf(CancelledError);
    fake.answerAll(batch, double); // too late
    expect(fake.closed).toBeInstanceOf(CancelledError);
    expect(fake.sent.length).toBe(1);
  });

  it('a batch lost before it started: every item runs again, none charged', async () => {
    const { job, fake, stats } = await start(Sum, { count: 3 }, { window: 4, maxBatch: 3 });
    const [batch] = await sent(fake, 1);
    fake.events.lost(batch, undefined, 'no live worker thread');
    const [, again] = await sent(fake, 2);
    expect(again.values).toEqual([0, 1, 2]);
    fake.answerAll(again, double);
    expect((await job).output).toBe(6);
    expect(stats()).toMatchObject({ items: 3, retried: 0, failed: 0 });
  });
});
