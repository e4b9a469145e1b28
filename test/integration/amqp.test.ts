/**
 * Distributed mode against the real RabbitMQ (and the file store): two
 * `fj worker` processes, the coordinator in this process.
 */
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode, encodeChecked } from '../../src/core/codec.js';
import { isResumable } from '../../src/core/errors.js';
import { run, TransportError, type JobStats } from '../../src/index.js';
import { hashBytes } from '../../src/store/memory.js';
import { connect, reconnect } from '../../src/broker/amqp.js';
import { fromWire, toWire } from '../../src/core/wire-error.js';
import {
  BROKER_URL,
  CLI,
  brokerAvailable,
  deleteQueues,
  startWorkerProc,
  stopWorkerProc,
  type WorkerProc,
} from '../helpers/broker.js';
import { attempts } from '../helpers/run-log.js';
import { waitFor } from '../helpers/wait.js';

const available = await brokerAvailable();
const root = join(import.meta.dirname, '..', '..');
const sleepy = join(root, 'test', 'fixtures', 'sleepy.ts');
const throws = join(root, 'test', 'fixtures', 'throws.ts');
const upper = join(root, 'test', 'fixtures', 'upper.ts');
const chaos = join(root, 'test', 'fixtures', 'chaos.ts');
/** The largest payload that travels inline by default (--inline-limit): 64 KiB, encoded. */
const INLINE_LIMIT = 65_536;

describe.runIf(available)('amqp executor with fj worker processes', () => {
  const queue = `fj.test.${randomUUID()}`;
  const storeDir = mkdtempSync(join(tmpdir(), 'fj-amqp-test-'));
  const store = pathToFileURL(storeDir).href;
  const opts = { executor: 'amqp' as const, queue, store, broker: BROKER_URL };
  let workers: WorkerProc[] = [];

  beforeAll(async () => {
    workers = await Promise.all(
      [1, 2].map((n) =>
        startWorkerProc([
          '--queue',
          queue,
          '--store',
          store,
          '--tasks',
          sleepy,
          throws,
          upper,
          chaos,
          '--concurrency',
          '2',
          '--name',
          `w${n}`,
        ]),
      ),
    );
  });

  afterAll(async () => {
    for (const w of workers) await stopWorkerProc(w);
    await deleteQueues(queue);
    rmSync(storeDir, { recursive: true, force: true });
  });

  it('word count gives the same output as eager and local, and cleans up its job data', async () => {
    const input = JSON.parse(readFileSync(join(root, 'examples', 'wordcount.json'), 'utf8'));
    const docs = Array.from({ length: 3000 }, (_, i) => `doc ${i % 17} word${i % 5} ${'x'.repeat(i % 3)}`);
    for (const inp of [input, { documents: docs, delimiter: ' ' }]) {
      const eager = await run('wordcount', inp, { executor: 'eager' });
      const local = await run('wordcount', inp, { executor: 'local', concurrency: 2 });
      let stats: JobStats | undefined;
      const jobId = `wc-${randomUUID()}`;
      const dist = await run('wordcount', inp, { ...opts, jobId, onStats: (s) => (stats = s) });
      expect(dist).toEqual(eager);
      expect(JSON.stringify(dist)).toBe(JSON.stringify(local));
      expect(stats!.items).toBe(inp.documents.length);
      expect(stats!.messages).toBeGreaterThan(0);
      // Its payloads (input, params, stored items) are gone; what stays is its records, which list the ended job.
      const left = existsSync(join(storeDir, jobId)) ? readdirSync(join(storeDir, jobId)) : [];
      expect(left.filter((f) => !f.startsWith('meta-'))).toEqual([]);
    }
  });

  it('bytes planted in the store under the params hash are never used: the job gives the true answer', async () => {
    const input = { documents: ['work hard', 'hard work pays'] };
    const jobId = `planted-${randomUUID()}`;
    const params = encode({ delimiter: ' ' }, { task: 'wordcount', hook: 'params' });
    const hash = createHash('sha256').update(params).digest('hex');
    mkdirSync(join(storeDir, jobId), { recursive: true, mode: 0o700 });
    // Same length, different bytes: what someone who can write the store could leave there before the job.
    writeFileSync(join(storeDir, jobId, hash), encode({ delimiter: 'r' }, { task: 'wordcount', hook: 'params' }));
    const out = await run('wordcount', input, { ...opts, jobId });
    expect(out).toEqual(await run('wordcount', input, { executor: 'eager' }));
  });

  /** Whether the file store holds `bytes` for the job (it names a payload by its sha256). */
  const inStore = (jobId: string, bytes: Uint8Array) => existsSync(join(storeDir, jobId, hashBytes(bytes)));

  it('with --inline-limit 64 on coordinator and workers, every item and every result travels by store reference', async () => {
    // Workers of their own: the shared ones keep the default limit (the boundary test below needs it).
    const small = `fj.test.${randomUUID()}`;
    const w = await startWorkerProc([
      '--queue',
      small,
      '--store',
      store,
      '--tasks',
      upper,
      '--concurrency',
      '2',
      '--inline-limit',
      '64',
    ]);
    try {
      const limit64 = { ...opts, queue: small, inlineLimit: 64, keep: true };
      // Word count: items and combined results through the store give eager's output.
      const documents = Array.from({ length: 60 }, (_, i) =>
        Array.from({ length: 40 }, (_, j) => `w${(i * j) % 23}`).join(' '),
      );
      expect(await run('wordcount', { documents }, limit64)).toEqual(
        await run('wordcount', { documents }, { executor: 'eager' }),
      );

      // One result per item (no combine): each item and each result is in the job's store, by its hash.
      const items = Array.from({ length: 30 }, (_, i) => `item ${i} ${'abcdefghij'.repeat(8 + i)}`);
      const jobId = `limit64-${randomUUID()}`;
      let stats: JobStats | undefined;
      const out = await run(upper, { items }, { ...limit64, jobId, onStats: (st) => (stats = st) });
      const results = items.map((it) => it.toUpperCase());
      expect(out).toEqual(results);
      const encoded = { items: items.map((v) => encodeChecked(v)), results: results.map((v) => encodeChecked(v)) };
      for (const b of [...encoded.items, ...encoded.results]) expect(b.length).toBeGreaterThan(64);
      expect(
        items.filter((_, i) => !inStore(jobId, encoded.items[i])),
        'items sent inline',
      ).toEqual([]);
      expect(
        results.filter((_, i) => !inStore(jobId, encoded.results[i])),
        'results sent inline',
      ).toEqual([]);
      const sum = (bs: Uint8Array[]) => bs.reduce((n, b) => n + b.length, 0);
      expect(stats!.bytesStored).toBeGreaterThanOrEqual(sum(encoded.items) + sum(encoded.results));
    } finally {
      await stopWorkerProc(w);
      await deleteQueues(small);
    }
  });

  it(`the inline limit (${INLINE_LIMIT} bytes by default): a payload of exactly ${INLINE_LIMIT} bytes travels inline, one byte more by store reference`, async () => {
    // A string of n < 65,536 ASCII characters encodes as str16: n + 3 bytes.
    const sized = (bytes: number) => 'x'.repeat(bytes - 3);
    for (const [size, inline] of [
      [INLINE_LIMIT, true],
      [INLINE_LIMIT + 1, false],
    ] as const) {
      const item = sized(size);
      const encoded = { item: encodeChecked(item), result: encodeChecked(item.toUpperCase()) };
      expect([encoded.item.length, encoded.result.length]).toEqual([size, size]);
      const jobId = `boundary-${size}-${randomUUID()}`;
      let stats: JobStats | undefined;
      // The coordinator's and the workers' limits both at their default.
      const out = await run(upper, { items: [item] }, { ...opts, jobId, keep: true, onStats: (st) => (stats = st) });
      expect(out).toEqual([item.toUpperCase()]);
      const why = `${size} bytes`;
      expect(inStore(jobId, encoded.item), `${why}: item stored`).toBe(!inline);
      expect(inStore(jobId, encoded.result), `${why}: result stored`).toBe(!inline);
      // Inline, the work message and the result message each carry the payload; by reference, neither does.
      if (inline) expect(stats!.bytesPublished, why).toBeGreaterThanOrEqual(2 * size);
      else expect(stats!.bytesPublished, why).toBeLessThan(size);
      if (!inline) expect(stats!.bytesStored, why).toBeGreaterThanOrEqual(2 * size);
    }
  });

  it('alignment: same output as eager, and the reference is fetched once per worker process', async () => {
    const input = JSON.parse(readFileSync(join(root, 'examples', 'align.json'), 'utf8'));
    const before = workers.map((w) => (w.log().match(/fetched params/g) ?? []).length);
    const eager = await run('align', input, { executor: 'eager' });
    const dist = await run('align', input, opts);
    expect(dist).toEqual(eager);
    const after = workers.map((w) => (w.log().match(/fetched params/g) ?? []).length);
    // one params object (the reference) for this job: at most one fetch per worker, at least one in all
    const fetched = after.map((n, i) => n - before[i]);
    expect(Math.max(...fetched)).toBeLessThanOrEqual(1);
    expect(fetched.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1);
  });

  it('spreads items over both workers and keeps the item order', async () => {
    const values = Array.from({ length: 40 }, (_, i) => i);
    // Only what the workers log from here on: earlier tests' jobs must not count.
    const from = workers.map((w) => w.log().length);
    const out = await run(sleepy, { values, ms: 20 }, opts);
    expect(out).toEqual(values.map((v) => v * 2));
    // Each worker fetched this job's params: each ran some of its items.
    workers.forEach((w, i) =>
      expect(w.log().slice(from[i]), `worker w${i + 1} ran none of the job's items`).toMatch(/fetched params/),
    );
  });

  it('items slower than a batch target start on every worker slot at once: the batch-size ramp never holds them back', async () => {
    // 2 workers x 2 threads = 4 slots. While batch sizes ramp up, the coordinator keeps only a few
    // one-item batches in flight until answers say how long items take; items of seconds answer late,
    // so the ramp must end when no answer comes within a batch's target time (it used to wait for one).
    const runLog = join(storeDir, `slow-${randomUUID()}.runs`);
    const job = run(chaos, { n: 8, ms: 2500, runLog }, opts);
    const started = await waitFor(
      '4 items running at once',
      () => (attempts(runLog).length >= 4 ? attempts(runLog) : undefined),
      2000,
    );
    expect(new Set(started.map((a) => a.pid)).size).toBe(2);
    const out = (await job) as { items: number; missing: number[] };
    expect(out.items).toBe(8);
    expect(out.missing).toEqual([]);
  });

  it('a hook failure fails the job with the item index and the original message', async () => {
    const err = await run(throws, { n: 20, at: 7, hook: 'process' }, opts).catch((e) => e);
    expect(err.name).toBe('TaskError');
    expect(err.code).toBe('FJ_TASK');
    expect(err.index).toBe(7);
    expect(err.hook).toBe('process');
    expect(err.cause.message).toBe('item 7 is cursed');
    expect(err.cause.stack).toMatch(/explode/);
  });

  it('dead-letters a garbage message and still completes the job', async () => {
    const conn = await amqp.connect(BROKER_URL);
    const ch = await conn.createChannel();
    ch.sendToQueue(queue, Buffer.from('this is not an fj message'), { persistent: true });
    ch.sendToQueue(queue, Buffer.from([0xc1, 0xc1, 0xc1]), {
      persistent: true,
      headers: { 'fj-protocol': 1, 'fj-task': 'wordcount' },
    });
    const out = await run('wordcount', { documents: ['a b', 'b'] }, opts);
    expect(out).toEqual({ word_count: { a: 1, b: 2 } });
    let dead = 0;
    for (let i = 0; i < 50 && dead < 2; i++) {
      dead = (await ch.checkQueue(`${queue}.dead`)).messageCount;
      if (dead < 2) await new Promise((r) => setTimeout(r, 100));
    }
    expect(dead).toBe(2);
    await ch.purgeQueue(`${queue}.dead`);
    await conn.close();
    expect(workers.map((w) => w.child.exitCode)).toEqual([null, null]);
  });
});

describe('amqp executor errors', () => {
  it('an unreachable broker is a TransportError (exit code 3) without the password', async () => {
    const err = await run(
      'wordcount',
      { documents: ['a'] },
      { executor: 'amqp', broker: 'amqp://fjuser:s3cr3t-pw@127.0.0.1:1' },
    ).catch((e) => e);
    expect(err.name).toBe('TransportError');
    expect(err.exitCode).toBe(3);
    expect(err.message).toContain('127.0.0.1:1');
    expect(err.message).not.toContain('s3cr3t-pw');
    expect(String(err.stack)).not.toContain('s3cr3t-pw');
  });

  it.runIf(available)(
    'a refused password is a TransportError that says the job is not resumable (nothing was started)',
    async () => {
      const url = new URL(BROKER_URL);
      url.password = `wrong-${randomUUID()}`;
      const err = await run(
        'wordcount',
        { documents: ['a'] },
        { executor: 'amqp', broker: url.href, queue: `fj.test.${randomUUID()}` },
      ).catch((e) => e);
      expect(err).toBeInstanceOf(TransportError);
      expect(err.message).toMatch(/ACCESS.REFUSED|403/);
      expect(err.resumable).toBe(false);
      expect(isResumable(err)).toBe(false);
    },
  );

  it('a connection lost for good (reconnect gave up) is resumable; a first connection refused is not', async () => {
    const lost = await reconnect('amqp://127.0.0.1:1', 'test', { giveUpMs: 0 }).catch((e) => e);
    expect(lost).toBeInstanceOf(TransportError);
    expect(lost.resumable).toBe(true);
    const first = await connect('amqp://127.0.0.1:1', 'test').catch((e) => e);
    expect(first).toBeInstanceOf(TransportError);
    expect(first.resumable).toBe(false);
    // and the flag survives the trip from a worker
    expect((fromWire(toWire(first)) as TransportError).resumable).toBe(false);
    expect((fromWire(toWire(lost)) as TransportError).resumable).toBe(true);
  });
});

describe.runIf(available)('fj worker safety', () => {
  // A store of its own (the workers' beacons, the jobs' data), never the shared default one.
  const storeDir = mkdtempSync(join(tmpdir(), 'fj-amqp-safety-'));
  const store = pathToFileURL(storeDir).href;
  afterAll(() => rmSync(storeDir, { recursive: true, force: true }));

  it('a coordinator consumes its results queue exclusively: the broker refuses any other consumer', async () => {
    const queue = `fj.test.${randomUUID()}`;
    const jobId = `exclusive-${randomUUID()}`;
    const results = `fj.results.${jobId}`;
    // No worker: the job stays attached, waiting.
    const abort = new AbortController();
    const job = run(sleepy, { values: [1, 2, 3] }, { executor: 'amqp', queue, store, jobId, signal: abort.signal });
    const conn = await amqp.connect(BROKER_URL);
    try {
      // A channel per try: a check on a queue not declared yet closes its channel.
      const channel = async () => {
        const ch = await conn.createChannel();
        ch.on('error', () => {});
        return ch;
      };
      await waitFor(
        'the coordinator to consume its results queue',
        async () => (await (await channel()).checkQueue(results)).consumerCount === 1,
        30_000,
        50,
      );
      // Whatever fj itself checks first, the broker alone keeps a second consumer out.
      for (const exclusive of [false, true]) {
        const err = await (await channel()).consume(results, () => {}, { noAck: false, exclusive }).catch((e) => e);
        expect((err as { code?: number }).code, String(err)).toBe(403);
      }
    } finally {
      abort.abort();
      await job.catch(() => {});
      await conn.close();
      await deleteQueues(queue);
    }
  });

  it('refuses a task whose code differs from the job’s (no stale code)', async () => {
    const queue = `fj.test.${randomUUID()}`;
    const dir = join(root, 'test', '.tmp', randomUUID());
    mkdirSync(dir, { recursive: true });
    const mod = join(dir, 'stale.ts');
    const source = readFileSync(sleepy, 'utf8').replace("'../../src/index.js'", "'fj'");
    writeFileSync(mod, source);
    const w = await startWorkerProc(['--queue', queue, '--store', store, '--tasks', mod]);
    try {
      writeFileSync(mod, `${source}\n// version 2\n`);
      const err = await run(mod, { values: [1, 2, 3] }, { executor: 'amqp', queue, store }).catch((e) => e);
      expect(err.code).toBe('FJ_WORKER_REFUSED');
      // Its items go only to workers with its code: the worker never sees them, and the job fails naming both versions.
      expect(err.message).toMatch(/runs task "stale" with this job's code \([0-9a-f]+\): its workers run [0-9a-f]+/);
      expect(w.log()).not.toMatch(/refused|dead-lettered/);
    } finally {
      await stopWorkerProc(w);
      rmSync(dir, { recursive: true, force: true });
      await deleteQueues(queue);
    }
  });

  it('refuses a job after a helper module the task imports changed (the hash covers the import graph)', async () => {
    const queue = `fj.test.${randomUUID()}`;
    const dir = join(root, 'test', '.tmp', randomUUID());
    mkdirSync(join(dir, 'lib'), { recursive: true });
    const mod = join(dir, 'uses-helper.ts');
    const helper = join(dir, 'lib', 'helper.ts');
    const input = join(dir, 'input.json');
    writeFileSync(helper, 'export const factor = 2;\n');
    writeFileSync(
      mod,
      readFileSync(sleepy, 'utf8')
        .replace("'../../src/index.js'", "'fj';\nimport { factor } from './lib/helper.js'")
        .replace('return value * 2;', 'return value * factor;'),
    );
    writeFileSync(input, JSON.stringify({ values: [1, 2, 3] }));
    const w = await startWorkerProc(['--queue', queue, '--store', store, '--tasks', mod]);
    // The coordinator is a fresh `fj run` each time, as a user would start it: it hashes the code as it is now.
    const fjRun = () => cliRun(['run', mod, input, '-e', 'amqp', '--queue', queue, '--store', store, '--no-progress']);
    try {
      const first = await fjRun();
      expect(first.stderr).not.toMatch(/error/i);
      expect(JSON.parse(first.stdout)).toEqual([2, 4, 6]);
      writeFileSync(helper, 'export const factor = 3;\n');
      const second = await fjRun();
      expect(second.stdout).toBe(''); // never the stale answer [2, 4, 6]
      expect(second.code).not.toBe(0);
      expect(second.stderr).toMatch(/with this job's code \([0-9a-f]+\): its workers run [0-9a-f]+/);
    } finally {
      await stopWorkerProc(w);
      rmSync(dir, { recursive: true, force: true });
      await deleteQueues(queue);
    }
  });

  it('warm shutdown: SIGTERM finishes the work in hand, exits 0, and the job loses nothing', async () => {
    const queue = `fj.test.${randomUUID()}`;
    const workers: WorkerProc[] = [];
    // A step failing below leaves the job running: cancel it then, so it deletes its results queue.
    const abort = new AbortController();
    let job: Promise<number[]> | undefined;
    try {
      const w1 = await startWorkerProc(['--queue', queue, '--store', store, '--tasks', sleepy, '--concurrency', '2']);
      workers.push(w1);
      const values = Array.from({ length: 30 }, (_, i) => i);
      let done = 0;
      job = run(
        sleepy,
        { values, ms: 100 },
        { executor: 'amqp', queue, store, signal: abort.signal, onProgress: (p) => (done = p.done) },
      );
      await waitFor('4 items done before the SIGTERM', () => done >= 4, 30_000, 20);
      const code = await stopWorkerProc(w1);
      expect(code).toBe(0);
      expect(w1.log()).toMatch(/stopping: finishing/);
      workers.push(
        await startWorkerProc(['--queue', queue, '--store', store, '--tasks', sleepy, '--concurrency', '4']),
      );
      expect(await job).toEqual(values.map((v) => v * 2));
    } finally {
      abort.abort();
      await job?.catch(() => {});
      for (const w of workers) await stopWorkerProc(w);
      await deleteQueues(queue);
    }
  });
});

/** Runs the built `fj` CLI; resolves with its exit code and output. */
function cliRun(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
