/**
 * A job's results queue is writable by anyone with broker access. While a
 * real job runs, a stranger publishes forged and malformed answers to it:
 * results for message ids the job never issued, a result slot that is a
 * number, a body nested 200,000 deep, an index of 2^31, a ref into another
 * job, a cancel and a refusal not naming the coordinator's run. The job must
 * count none of them, never wedge or reconnect in a loop, and print exactly
 * eager's output.
 *
 *   npx vitest run --project reliability test/reliability/hostile-results.test.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { describe, expect, it } from 'vitest';
import { encodeBody } from '../../src/broker/messages.js';
import { encode } from '../../src/core/codec.js';
import { BROKER_URL, brokerAvailable } from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';
import { CHAOS, expected, fj, scenario } from './harness.js';

const available = await brokerAvailable();

/** msgpack of an array nested `depth` deep, built by hand (the codec refuses to write it). */
function deepBody(depth: number): Buffer {
  // { first: 0, results: [[[[...]]]] } : map of 2, "first", 0, "results", then depth array headers and an empty array
  const head = Buffer.from([0x82, 0xa5, ...Buffer.from('first'), 0x00, 0xa7, ...Buffer.from('results')]);
  return Buffer.concat([head, Buffer.alloc(depth, 0x91), Buffer.from([0x90])]);
}

describe.runIf(available)('hostile result messages on a running job', () => {
  const { dir, store, pool } = scenario('hostile-results');

  it('counts none of them: exit 0, eager’s output, no reconnect loop', async () => {
    await pool.start(1);
    const input = { n: 80, ms: 40 };
    const want = await expected(input);
    const file = join(dir, 'input.json');
    writeFileSync(file, JSON.stringify(input));
    const jobId = `hostile-results-${Date.now()}`;
    const run = fj([
      'run',
      CHAOS,
      file,
      '--executor',
      'amqp',
      '--queue',
      pool.queue,
      '--job-id',
      jobId,
      '--store',
      store,
      '--verbose',
    ]);
    const statusFile = join(fileURLToPath(store), jobId, 'meta-status');
    const runTag = await waitFor(
      'the status record naming the run',
      () => {
        try {
          return (JSON.parse(readFileSync(statusFile, 'utf8')) as { run?: string }).run || undefined;
        } catch {
          return undefined;
        }
      },
      30_000,
      50,
    );

    const conn = await amqp.connect(BROKER_URL);
    const ch = await conn.createConfirmChannel();
    const q = `fj.results.${jobId}`;
    const ok = { 'fj-protocol': 1, 'fj-job': jobId, 'fj-status': 'ok', 'fj-worker': 'mallory' };
    const result = (first: number, value: unknown) =>
      encodeBody({ first, results: [encode(value, { hook: 'process' })] });
    const forged: [string, Buffer, Record<string, unknown>, string?][] = [
      ['unknown id', result(15, { i: 15, v: 999_999 }), ok, 'x'],
      ['our run tag, a seq never issued', result(15, { i: 15, v: 999_999 }), ok, `${jobId}:${runTag}:999999`],
      ['an earlier run that never was', result(15, { i: 15, v: 999_999 }), ok, `${jobId}:${'0'.repeat(24)}:0`],
      [
        'a slot that is a number',
        Buffer.from(encode({ first: 0, results: [123] }, { hook: 'process' })),
        ok,
        `${jobId}:${runTag}:0`,
      ],
      ['nested 200,000 deep', deepBody(200_000), ok, `${jobId}:${runTag}:0`],
      ['index 2^31', result(2 ** 31, { i: 0, v: 1 }), ok, `${jobId}:${runTag}:1`],
      [
        'a ref into another job',
        encodeBody({ first: 0, results: [`other/${'a'.repeat(64)}`] }),
        ok,
        `${jobId}:${runTag}:0`,
      ],
      [
        'a refusal naming no message of the job',
        encodeBody({ first: 0, count: 1, error: { code: 'FJ_WORKER_REFUSED', message: 'forged' } }),
        { ...ok, 'fj-status': 'refused' },
        'x',
      ],
    ];
    for (const [, body, headers, correlationId] of forged)
      ch.sendToQueue(q, body, { headers, correlationId, type: 'fj.result' });
    ch.sendToQueue(q, Buffer.alloc(0), { type: 'fj.cancel' }); // a cancel not naming the run
    ch.sendToQueue(q, Buffer.alloc(0), { type: 'fj.cancel', correlationId: 'guess' });
    await ch.waitForConfirms();
    await conn.close();

    const code = await run.exited;
    expect(code, run.stderr()).toBe(0);
    expect(JSON.parse(run.stdout())).toEqual(want);
    const log = run.stderr();
    expect(log).not.toMatch(/reconnect/i);
    expect(log).not.toMatch(/\n\s+at /);
    expect(log.match(/dropped a result from mallory for a message this job never sent/g)?.length).toBe(4);
    expect(log).toMatch(
      /dropped a malformed result message from mallory: results\[0\]: 123 is neither bytes, a ref nor null/,
    );
    expect(log).toMatch(/dropped a malformed result message from mallory: body: .*(deep|depth)/i);
    expect(log).toMatch(
      /dropped a malformed result message from mallory: results\[0\]: ref "other\/a+.*" is outside job/,
    );
    expect(log.match(/ignored a cancel message/g)?.length).toBe(2);
  });
});
