/**
 * Signing (FJ_SIGNING_KEY): with a key on the coordinator and every worker,
 * jobs run as before; a work message without a good signature is
 * dead-lettered (a captured one with a header changed too), a forged result
 * (even one answering a real in-flight message) is dropped, a tampered job record is
 * refused, and a worker without the key makes the job fail at once, naming
 * it, instead of answering unsigned.
 *
 *   npx vitest run --project reliability test/reliability/signing.test.ts
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import amqp, { type Channel, type ChannelModel, type GetMessage } from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { encode } from '../../src/core/codec.js';
import { encodeBody } from '../../src/broker/messages.js';
import { show } from '../../src/broker/inspect.js';
import {
  BROKER_URL,
  brokerAvailable,
  deleteQueues,
  startWorkerProc,
  stopWorkerProc,
  type WorkerProc,
} from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';
import { CHAOS, clean, codeQueueOf, exitWithin, expected, fj, scratch } from './harness.js';

const available = await brokerAvailable();
const KEY = randomUUID() + randomUUID();
const signed = { FJ_SIGNING_KEY: KEY };

describe.runIf(available)('signed messages and records', () => {
  const { dir, store } = scratch('signing');
  const queue = `fj.signing.${randomUUID()}`;
  const workers: WorkerProc[] = [];
  afterAll(async () => {
    await Promise.all(workers.map(stopWorkerProc));
    await deleteQueues(queue).catch(() => {});
    await deleteQueues(`${queue}.nokey`).catch(() => {});
    await deleteQueues(`${queue}.forged`).catch(() => {});
    clean(dir);
  });

  /** Takes one of the job's work messages from `q` (unacked, on a channel of its own); waits for one. */
  async function capture(conn: ChannelModel, q: string): Promise<{ getter: Channel; captured: GetMessage }> {
    return waitFor(
      `a work message in ${q}`,
      async () => {
        // A channel per try: a get on a queue not declared yet closes its channel.
        const c = await conn.createChannel();
        c.on('error', () => {});
        const m = await c.get(q);
        if (m) return { getter: c, captured: m };
        await c.close();
        return undefined;
      },
      30_000,
      50,
    );
  }

  async function worker(q: string, env: NodeJS.ProcessEnv): Promise<WorkerProc> {
    const w = await startWorkerProc(['--queue', q, '--store', store, '-c', '1', '--tasks', CHAOS], env);
    workers.push(w);
    return w;
  }

  it('a signed job runs as before; a tampered copy of its message and an unsigned work message are dead-lettered', async () => {
    const input = { n: 60, ms: 30 };
    const want = await expected(input);
    const file = join(dir, 'input.json');
    writeFileSync(file, JSON.stringify(input));
    const jobId = `signed-${Date.now()}`;
    // No worker yet: the job's first messages wait in the queue, where the test takes one.
    const run = fj(
      ['run', CHAOS, file, '-e', 'amqp', '--queue', queue, '--job-id', jobId, '--store', store, '--keep'],
      signed,
    );
    const conn = await amqp.connect(BROKER_URL);
    const ch = await conn.createConfirmChannel();
    const code = await codeQueueOf(queue);
    const { getter, captured } = await capture(conn, code);
    const id = captured.properties.messageId as string;
    const headers = captured.properties.headers as Record<string, unknown>;
    const first = headers['fj-first'] as number;
    expect(id.startsWith(`${jobId}:`)).toBe(true);
    expect(headers['fj-sig']).toMatch(/^[0-9a-f]{64}$/);

    // The captured message again with fj-first changed, its signature kept: dead-lettered, never run.
    const props = {
      messageId: id,
      contentType: captured.properties.contentType as string | undefined,
      persistent: true,
    };
    ch.sendToQueue(queue, captured.content, { ...props, headers: { ...headers, 'fj-first': first + 1 } });
    // And with fj-timeout changed (a header the body does not repeat): only the signature can refuse it.
    ch.sendToQueue(queue, captured.content, { ...props, headers: { ...headers, 'fj-timeout': 1 } });
    // Then the genuine message, back where it was, so the job can finish.
    ch.sendToQueue(code, captured.content, { ...props, headers });
    getter.ack(captured);
    // A work message copied from the job's shape, unsigned: dead-lettered by the worker.
    const statusRecord = readFileSync(join(fileURLToPath(store), jobId, 'meta-status'), 'utf8');
    const runTag = (JSON.parse((JSON.parse(statusRecord) as { record: string }).record) as { run: string }).run;
    const params = readFileSync(join(fileURLToPath(store), jobId, 'meta-manifest'), 'utf8');
    const paramsRef = (JSON.parse((JSON.parse(params) as { record: string }).record) as { paramsRef: string })
      .paramsRef;
    ch.sendToQueue(queue, encodeBody({ first: 3, items: [encode(3, { hook: 'setup' })] }), {
      messageId: `${jobId}:${runTag}:888888`,
      headers: {
        'fj-protocol': 1,
        'fj-job': jobId,
        'fj-task': 'chaos',
        'fj-code': '0'.repeat(16),
        'fj-params': paramsRef,
        'fj-first': 3,
        'fj-count': 1,
      },
    });
    await ch.waitForConfirms();
    await conn.close();
    const w = await worker(queue, signed);

    expect(await run.exited, run.stderr()).toBe(0);
    expect(JSON.parse(run.stdout())).toEqual(want);
    const deadLettered = (mid: string) =>
      w
        .log()
        .split('\n')
        .some(
          (l) => l.includes(`dead-lettered message ${show(mid)} `) && /not signed with the pool's signing key/.test(l),
        );
    await waitFor(
      'the worker to dead-letter the unsigned message',
      () => deadLettered(`${jobId}:${runTag}:888888`),
      10_000,
    );
    // The tampered copy was dead-lettered, never run (the genuine one ran: the output is right); the body's own
    // `first` disagreeing with the header refuses it before its signature is checked.
    await waitFor(
      'the worker to dead-letter the tampered copy',
      () => w.log().includes(`dead-lettered message ${show(id)} `),
      10_000,
    );
    await waitFor('the worker to dead-letter the copy with fj-timeout changed', () => deadLettered(id), 10_000);

    // The kept records are signed: one tampered with is refused.
    const manifestFile = join(fileURLToPath(store), jobId, 'meta-manifest');
    const sealed = JSON.parse(readFileSync(manifestFile, 'utf8')) as { record: string; sig: string };
    writeFileSync(
      manifestFile,
      JSON.stringify({ ...sealed, record: sealed.record.replace('"retryDelayMs":1000', '"retryDelayMs":1') }),
    );
    const resumed = fj(['resume', jobId, '--task', CHAOS, '--store', store], signed);
    expect(await resumed.exited).not.toBe(0);
    expect(resumed.stderr()).toMatch(
      /record manifest of job .* is not signed with this process's signing key: refused/,
    );
  });

  it('a worker without the key: the job fails at once naming it (exit 2), it does not count unsigned answers', async () => {
    const q = `${queue}.nokey`;
    await worker(q, { FJ_SIGNING_KEY: '' });
    const file = join(dir, 'input-nokey.json');
    writeFileSync(file, JSON.stringify({ n: 20 }));
    const run = fj(['run', CHAOS, file, '-e', 'amqp', '--queue', q, '--store', store], signed);
    expect(await run.exited).toBe(2);
    expect(run.stderr()).toMatch(
      /answered without a valid signature: every worker of the pool needs the job's signing key/,
    );
  });

  it('an unsigned answer to a real in-flight message is dropped, never counted: the job fails at once (exit 2)', async () => {
    const q = `${queue}.forged`;
    const file = join(dir, 'input-forged.json');
    writeFileSync(file, JSON.stringify({ n: 20 }));
    const jobId = `forged-${Date.now()}`;
    // No worker: only the forged answer can answer anything.
    const run = fj(['run', CHAOS, file, '-e', 'amqp', '--queue', q, '--job-id', jobId, '--store', store], signed);
    const conn = await amqp.connect(BROKER_URL);
    try {
      const { captured } = await capture(conn, await codeQueueOf(q));
      const id = captured.properties.messageId as string;
      const headers = captured.properties.headers as Record<string, unknown>;
      const first = headers['fj-first'] as number;
      const count = headers['fj-count'] as number;
      expect(id.startsWith(`${jobId}:`)).toBe(true);
      const ch = await conn.createConfirmChannel();
      ch.sendToQueue(
        `fj.results.${jobId}`,
        encodeBody({
          first,
          results: Array.from({ length: count }, (_, k) => encode({ i: first + k, v: 1e9 }, { hook: 'process' })),
        }),
        {
          correlationId: id,
          headers: { 'fj-protocol': 1, 'fj-job': jobId, 'fj-status': 'ok', 'fj-worker': 'mallory' },
        },
      );
      await ch.waitForConfirms();
      expect(await exitWithin(run, 30_000), run.stderr()).toBe(2);
    } finally {
      await conn.close();
    }
    expect(run.stdout()).toBe('');
    expect(run.stderr()).toMatch(/dropped a result from mallory that is not signed with the signing key/);
    expect(run.stderr()).toMatch(/worker mallory answered without a valid signature/);
  });
});
