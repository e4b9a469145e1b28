/**
 * Hostile messages against the real RabbitMQ: the whole hostile corpus
 * (test/helpers/hostile-corpus.ts, 500+ messages) goes to a fresh work queue
 * served by (a) an `fj worker` process and (b) a worker in this process.
 * Every message must be dead-lettered on its first delivery; the worker must
 * stay up, publish nothing (not to replyTo, not to any job's results queue),
 * leave Object.prototype alone, and still run a normal job correctly.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { isDeepStrictEqual as isEqual } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import amqp from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { decode } from '../../src/core/codec.js';
import { run } from '../../src/index.js';
import { loadAllTasks } from '../../src/task/registry.js';
import { assertResultsQueue, resultsQueue } from '../../src/broker/amqp.js';
import { startWorker } from '../../src/worker/start-worker.js';
import { BROKER_URL, brokerAvailable, deleteQueues, startWorkerProc, stopWorkerProc } from '../helpers/broker.js';
import { hostileCorpus, trapQueues, type HostileMessage } from '../helpers/hostile-corpus.js';

const available = await brokerAvailable();
const MAX_BYTES = 1 << 20;
/** A header naming the corpus entry, so a missing or extra dead letter can be traced to its `why`. */
const INDEX = 'x-corpus-index';

const storeDir = mkdtempSync(join(tmpdir(), 'fj-hostile-'));
const storeUrl = pathToFileURL(storeDir).href;
afterAll(() => rmSync(storeDir, { recursive: true, force: true }));

interface Setup {
  queue: string;
  corpus: HostileMessage[];
  traps: string[];
}

/**
 * Builds the corpus for a queue its worker already serves. A real job runs
 * first and keeps its data: its params are then in the store AND in the
 * worker's params cache, so hostile messages naming that job (or reusing its
 * params hash under another job id) meet a worker that has them at hand.
 */
async function prepare(queue: string): Promise<Setup> {
  const [wordcount] = await loadAllTasks('wordcount');
  const job = `known-${randomUUID().slice(0, 8)}`;
  await normalJob(queue, job, true);
  // The params are the stored payload that decodes to wordcount's params.
  const stored = readdirSync(join(storeDir, job)).filter(
    (f) => /^[0-9a-f]{64}$/.test(f) && isEqual(decode(readFileSync(join(storeDir, job, f))), { delimiter: ' ' }),
  );
  expect(stored, 'the kept job stored its params once').toHaveLength(1);
  const paramsRef = `${job}/${stored[0]}`;
  const tag = `hostile-${randomUUID().slice(0, 8)}`;
  const replyTraps = [`${queue}.trap-a`, `${queue}.trap-b`];
  const opts = {
    queue,
    tag,
    task: { name: 'wordcount', code: wordcount.codeHash },
    knownJob: { job, paramsRef },
    replyTraps,
    maxMessageBytes: MAX_BYTES,
  };
  const corpus = hostileCorpus(opts);
  return { queue, corpus, traps: trapQueues(corpus, opts) };
}

/** Declares the traps, publishes the corpus (confirmed), waits until every message is dead-lettered, and checks what happened. */
async function attack({ queue, corpus, traps }: Setup, alive: () => boolean): Promise<void> {
  const conn = await amqp.connect(BROKER_URL);
  try {
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => {}); // a failed check closes the channel; the awaited call reports it
    for (const t of traps) {
      // Results queues with the coordinator's own arguments, so a worker that declares one does not fail on a mismatch.
      if (t.startsWith('fj.results.')) await assertResultsQueue(ch, t.slice('fj.results.'.length));
      else await ch.assertQueue(t, { durable: false });
    }
    corpus.forEach((m, i) => {
      const headers = { ...m.headers, [INDEX]: i };
      // Keep a `__proto__` header an own property, as the corpus built it (a spread would drop it).
      if (Object.hasOwn(m.headers, '__proto__'))
        Object.defineProperty(headers, '__proto__', { value: m.headers.__proto__, enumerable: true });
      ch.sendToQueue(queue, m.content, { ...m.properties, headers, persistent: false });
    });
    await ch.waitForConfirms();

    const dead = `${queue}.dead`;
    // Wait for all of them, or until nothing has moved for 10 s (a message stuck unacked, or answered instead).
    let count = 0;
    for (let still = 0; count < corpus.length && still < 10_000 && alive(); still += 200) {
      await new Promise((r) => setTimeout(r, 200));
      const now = (await ch.checkQueue(dead)).messageCount;
      if (now !== count) [count, still] = [now, 0];
    }
    expect(alive(), 'the worker is still running').toBe(true);
    // Anything the corpus made the worker publish is in its queue before this: the worker settled every
    // corpus message before taking the barrier's work, and publishes on one channel, in order.
    await barrier(queue);

    // Read the dead letters back: each corpus entry exactly once, each rejected (not expired, not dropped).
    const seen = new Map<number, number>();
    const reasons = new Set<string>();
    const strays: string[] = [];
    for (;;) {
      const msg = await ch.get(dead, { noAck: true });
      if (!msg) break;
      const i = msg.properties.headers?.[INDEX];
      if (typeof i !== 'number')
        strays.push(`${msg.properties.type ?? 'untyped'} message ${msg.properties.correlationId ?? ''}`);
      else seen.set(i, (seen.get(i) ?? 0) + 1);
      reasons.add(String(msg.properties.headers?.['x-first-death-reason']));
    }
    const leftovers: string[] = [];
    for (const q of [queue, ...traps]) {
      const { messageCount } = await ch.checkQueue(q);
      if (messageCount) leftovers.push(`${q}: ${messageCount}`);
    }
    // One assertion, so a failure shows every kind of problem at once.
    expect({
      'not dead-lettered (still queued, unacked, or answered instead)': corpus
        .map((m, i) => (seen.has(i) ? '' : `#${i} [${m.stage}] ${m.why}`))
        .filter(Boolean),
      'dead-lettered more than once': [...seen].filter(([, n]) => n > 1).map(([i]) => `#${i} ${corpus[i].why}`),
      'in the dead-letter queue but not from the corpus (a result published there?)': strays,
      'dead-letter reasons': [...reasons],
      'messages where a hostile message must never make a worker publish': leftovers,
    }).toEqual({
      'not dead-lettered (still queued, unacked, or answered instead)': [],
      'dead-lettered more than once': [],
      'in the dead-letter queue but not from the corpus (a result published there?)': [],
      'dead-letter reasons': ['rejected'],
      'messages where a hostile message must never make a worker publish': [],
    });
  } finally {
    const ch = await conn.createChannel();
    ch.on('error', () => {});
    for (const t of traps) await ch.deleteQueue(t).catch(() => {});
    await conn.close().catch(() => {});
  }
}

/**
 * A job published after the corpus was dead-lettered, waited for: once its
 * results are back, whatever the worker published while handling the corpus
 * has reached its queues (no fixed sleep standing in for that).
 */
async function barrier(queue: string): Promise<void> {
  const documents = ['barrier b', 'b'];
  const done = run(
    'wordcount',
    { documents },
    { executor: 'amqp', queue, store: storeUrl, broker: BROKER_URL, jobId: `barrier-${randomUUID()}` },
  );
  const deadline = new Promise<never>((_, reject) =>
    setTimeout(
      () => reject(new Error('the worker did not answer a normal job within 30 s after the corpus')),
      30_000,
    ).unref(),
  );
  expect(await Promise.race([done, deadline])).toEqual({ word_count: { b: 2, barrier: 1 } });
}

/** A normal word count through the pool gives the eager output, and leaves nothing dead. */
async function normalJob(queue: string, jobId = `normal-${randomUUID()}`, keep = false): Promise<void> {
  const documents = Array.from({ length: 200 }, (_, i) => `doc ${i % 13} __proto__ constructor w${i % 7}`);
  const eager = await run('wordcount', { documents }, { executor: 'eager' });
  const dist = await run(
    'wordcount',
    { documents },
    { executor: 'amqp', queue, store: storeUrl, broker: BROKER_URL, jobId, keep },
  );
  expect(dist).toEqual(eager);
  const conn = await amqp.connect(BROKER_URL);
  try {
    const ch = await conn.createChannel();
    ch.on('error', () => {}); // the 404 below closes the channel
    expect((await ch.checkQueue(`${queue}.dead`)).messageCount).toBe(0);
    await ch.checkQueue(resultsQueue(jobId)).then(
      () => expect.unreachable('the job deletes its results queue'),
      () => {},
    );
  } finally {
    await conn.close().catch(() => {});
  }
}

describe.runIf(available)('hostile messages are dead-lettered on first delivery', () => {
  it('by an fj worker process, which keeps running and then completes a normal job', { timeout: 180_000 }, async () => {
    const queue = `fj.test.hostile.${randomUUID()}`;
    const w = await startWorkerProc([
      '--queue',
      queue,
      '--store',
      storeUrl,
      '--concurrency',
      '2',
      '--max-message-bytes',
      String(MAX_BYTES),
    ]);
    try {
      await attack(await prepare(queue), () => w.child.exitCode === null && w.child.signalCode === null);
      await normalJob(queue);
      expect(w.child.exitCode).toBe(null);
    } catch (err) {
      (err as Error).message += `\n--- worker log (tail) ---\n${w.log().slice(-4000)}`;
      throw err;
    } finally {
      await stopWorkerProc(w);
      await deleteQueues(queue);
    }
  });

  it('by a worker in this process, leaving Object.prototype untouched', { timeout: 180_000 }, async () => {
    const queue = `fj.test.hostile.${randomUUID()}`;
    const before = {
      object: Object.getOwnPropertyNames(Object.prototype).sort(),
      array: Object.getOwnPropertyNames(Array.prototype).sort(),
    };
    const worker = await startWorker({
      queue,
      store: storeUrl,
      broker: BROKER_URL,
      concurrency: 2,
      maxMessageBytes: MAX_BYTES,
      logLevel: 'silent',
    });
    let stopped = false;
    void worker.stopped.then(() => (stopped = true));
    try {
      await attack(await prepare(queue), () => !stopped);
      expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(before.object);
      expect(Object.getOwnPropertyNames(Array.prototype).sort()).toEqual(before.array);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.getPrototypeOf({})).toBe(Object.prototype);
      await normalJob(queue);
      expect(stopped).toBe(false);
    } finally {
      await worker.stop();
      await deleteQueues(queue);
    }
  });
});
