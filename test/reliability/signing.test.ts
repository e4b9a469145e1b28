/**
 * Signing (FJ_SIGNING_KEY): with a key on the coordinator and every worker,
 * jobs run as before; a work message without a good signature is
 * dead-lettered, a forged result is dropped, a tampered job record is
 * refused, and a worker without the key makes the job fail at once, naming
 * it, instead of answering unsigned.
 *
 *   npx vitest run --project reliability test/reliability/signing.test.ts
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { encode } from '../../src/codec.js';
import { encodeBody } from '../../src/transport/messages.js';
import { BROKER_URL, brokerAvailable, deleteQueues, startWorkerProc, stopWorkerProc, type WorkerProc } from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';
import { CHAOS, expected, fj, scratch } from './harness.js';

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
  });

  async function worker(q: string, env: NodeJS.ProcessEnv): Promise<WorkerProc> {
    const w = await startWorkerProc(['--queue', q, '--store', store, '-c', '1', '--tasks', CHAOS], env);
    workers.push(w);
    return w;
  }

  it('a signed job runs as before; a forged result and an unsigned work message count for nothing', async () => {
    const w = await worker(queue, signed);
    const input = { n: 60, ms: 30 };
    const want = await expected(input);
    const file = join(dir, 'input.json');
    writeFileSync(file, JSON.stringify(input));
    const jobId = `signed-${Date.now()}`;
    const run = fj(['run', CHAOS, file, '-e', 'amqp', '--queue', queue, '--job-id', jobId, '--store', store, '--keep'], signed);
    const statusFile = join(fileURLToPath(store), jobId, 'meta-status');
    const runTag = await waitFor('the status record', () => {
      try {
        return (JSON.parse((JSON.parse(readFileSync(statusFile, 'utf8')) as { record: string }).record) as { run: string }).run;
      } catch {
        return undefined;
      }
    }, 30_000, 50);

    const conn = await amqp.connect(BROKER_URL);
    const ch = await conn.createConfirmChannel();
    // a result for an id this run never issued, unsigned: dropped
    ch.sendToQueue(`fj.results.${jobId}`, encodeBody({ first: 5, results: [encode({ i: 5, v: 1e9 }, { hook: 'process' })] }), {
      correlationId: `${jobId}:${runTag}:999999`,
      headers: { 'fj-protocol': 1, 'fj-job': jobId, 'fj-status': 'ok', 'fj-worker': 'mallory' },
    });
    // a work message copied from the job's shape, unsigned: dead-lettered by the worker
    const params = readFileSync(join(fileURLToPath(store), jobId, 'meta-manifest'), 'utf8');
    const paramsRef = (JSON.parse((JSON.parse(params) as { record: string }).record) as { paramsRef: string }).paramsRef;
    ch.sendToQueue(queue, encodeBody({ first: 3, items: [encode(3, { hook: 'setup' })] }), {
      messageId: `${jobId}:${runTag}:888888`,
      headers: { 'fj-protocol': 1, 'fj-job': jobId, 'fj-task': 'chaos', 'fj-code': '0'.repeat(16), 'fj-params': paramsRef, 'fj-first': 3, 'fj-count': 1 },
    });
    await ch.waitForConfirms();
    await conn.close();

    expect(await run.exited, run.stderr()).toBe(0);
    expect(JSON.parse(run.stdout())).toEqual(want);
    expect(run.stderr()).toMatch(/dropped a result from mallory that is not signed with the signing key/);
    await waitFor('the worker to dead-letter the unsigned message', () => /not signed with the pool's signing key/.test(w.log()), 10_000);

    // The kept records are signed: one tampered with is refused.
    const manifestFile = join(fileURLToPath(store), jobId, 'meta-manifest');
    const sealed = JSON.parse(readFileSync(manifestFile, 'utf8')) as { record: string; sig: string };
    writeFileSync(manifestFile, JSON.stringify({ ...sealed, record: sealed.record.replace('"retryDelayMs":1000', '"retryDelayMs":1') }));
    const resumed = fj(['resume', jobId, '--task', CHAOS, '--store', store], signed);
    expect(await resumed.exited).not.toBe(0);
    expect(resumed.stderr()).toMatch(/record manifest of job .* is not signed with this process's signing key: refused/);
  });

  it('a worker without the key: the job fails at once naming it (exit 2), it does not count unsigned answers', async () => {
    const q = `${queue}.nokey`;
    await worker(q, { FJ_SIGNING_KEY: '' });
    const file = join(dir, 'input-nokey.json');
    writeFileSync(file, JSON.stringify({ n: 20 }));
    const run = fj(['run', CHAOS, file, '-e', 'amqp', '--queue', q, '--store', store], signed);
    expect(await run.exited).toBe(2);
    expect(run.stderr()).toMatch(/answered without a valid signature: every worker of the pool needs the job's signing key/);
  });
});
