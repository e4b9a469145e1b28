/**
 * Several broker URLs (`--broker`, `FJ_BROKER_URL`, the `broker` option: a
 * comma-separated list of RabbitMQ nodes), with real `fj worker` processes,
 * the real `fj` CLI and the real RabbitMQ. The nodes are TCP proxies to the
 * one broker (test/helpers/tcp-proxy.ts), so "losing a node" is cutting its
 * proxy, never stopping RabbitMQ:
 *
 * - a list whose first node is dead: the worker and `fj run -e amqp` connect
 *   to the second, and say so;
 * - a node lost mid-job: everyone reconnects through the next node, and the
 *   job's output is eager's, no item missing or doubled;
 * - every node dead: one line naming each URL (passwords hidden) and why it
 *   failed, exit 3, no stack; a malformed URL in the list is a usage error
 *   (exit 2) naming it.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runJob } from '../../src/index.js';
import Chaos, { type ChaosOutput } from '../fixtures/chaos.js';
import {
  brokerAvailable,
  BROKER_URL,
  deleteQueues,
  startWorkerProc,
  stopWorkerProc,
  type WorkerProc,
} from '../helpers/broker.js';
import { runFj } from '../helpers/cli.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';

const available = await brokerAvailable();
const CHAOS = join(import.meta.dirname, '..', 'fixtures', 'chaos.ts');
const host = new URL(BROKER_URL).hostname;
const port = Number(new URL(BROKER_URL).port || 5672);
/** Port 1: nothing listens there, so a connection is refused at once. */
const DEAD = 'amqp://fjuser:s3cr3t-pw@127.0.0.1:1';
/** Port 2: refused as well, a second dead node. */
const DEAD_TOO = 'amqp://fjuser:0ther-pw@127.0.0.1:2';

async function eager(input: { n: number; ms?: number }): Promise<ChaosOutput> {
  return (await runJob(Chaos, input, { executor: 'eager' })).output as ChaosOutput;
}

describe.runIf(available)('several broker URLs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fj-broker-urls-'));
  const store = `file://${join(dir, 'store')}`;
  const INPUT = join(dir, 'input.json');
  writeFileSync(INPUT, JSON.stringify({ n: 5 }));
  const cleanup: Array<() => Promise<unknown> | unknown> = [];
  afterAll(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
    rmSync(dir, { recursive: true, force: true });
  });
  function pool(): string {
    const queue = `fj.test.urls.${randomUUID()}`;
    cleanup.push(
      () => deleteQueues(queue).catch(() => {}),
      () => deleteQueues(`${queue}.jobs`).catch(() => {}),
    );
    return queue;
  }
  async function worker(queue: string, brokers: string, name: string): Promise<WorkerProc> {
    const w = await startWorkerProc(['--queue', queue, '--store', store, '--tasks', CHAOS, '-c', '2', '--name', name], {
      FJ_BROKER_URL: brokers,
    });
    cleanup.push(() => (w.child.exitCode === null ? stopWorkerProc(w) : undefined));
    return w;
  }

  it('first node dead, second live: a real worker and `fj run -e amqp` connect to the second and complete', async () => {
    const queue = pool();
    const list = `${DEAD},${BROKER_URL}`;
    const w = await worker(queue, list, 'urls-first-dead');
    const live = BROKER_URL.replace(/:[^:@/]*@/, ':***@');
    expect(w.log()).toContain(`RabbitMQ at ${live}`);
    const input = { n: 40 };
    const file = join(dir, 'input-1.json');
    writeFileSync(file, JSON.stringify(input));
    const r = await runFj(
      ['run', CHAOS, file, '-e', 'amqp', '--broker', list, '--queue', queue, '--store', store, '--verbose'],
      { timeoutMs: 60_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(await eager(input));
    expect(r.stderr).toContain(`connected to RabbitMQ at ${live}`);
    expect(r.stderr).not.toContain('s3cr3t-pw');
    expect(w.log()).not.toContain('s3cr3t-pw');
  }, 90_000);

  it('a node lost mid-job: coordinator and workers reconnect through the next one; output is eager’s, nothing lost or doubled', async () => {
    const a = await TcpProxy.start(host, port);
    const b = await TcpProxy.start(host, port);
    cleanup.push(
      () => a.close(),
      () => b.close(),
    );
    const list = `${a.via(BROKER_URL)},${b.via(BROKER_URL)}`;
    const queue = pool();
    const workers = [await worker(queue, list, 'urls-failover-1'), await worker(queue, list, 'urls-failover-2')];
    expect(b.passed).toBe(0); // everyone starts on the first node
    const input = { n: 200, ms: 20 };
    let done = 0;
    const job = runJob(Chaos, input, {
      executor: 'amqp',
      broker: list,
      queue,
      store,
      onProgress: (p) => (done = p.done),
    });
    let finished = false;
    void job.finally(() => (finished = true)).catch(() => {});
    await waitFor('40 items done before cutting node A', () => done >= 40 || finished, 60_000, 10);
    expect(finished).toBe(false);
    const onA = a.connections;
    a.cut();
    const result = await job;
    const output = result.output as ChaosOutput;
    expect(output).toEqual(await eager(input));
    expect(output.missing).toEqual([]);
    expect(output.duplicated).toEqual([]);
    expect(onA).toBeGreaterThan(0);
    // A refuses every connection since the cut: whoever reconnected did so through B.
    expect(b.passed).toBeGreaterThan(0);
    const nodeB = b.via(BROKER_URL).replace(/:[^:@/]*@/, ':***@');
    for (const w of workers)
      await waitFor(`${w.log().split('\n')[0]}: reconnected through B`, () =>
        w.log().includes(`reconnected to RabbitMQ at ${nodeB}`) ? true : undefined,
      );
    // Everything now goes through B: nothing is left on A.
    expect(a.connections).toBe(0);
  }, 120_000);

  it('every node dead: one line naming each URL (passwords hidden) and why, exit 3, no stack', async () => {
    const r = await runFj(['run', CHAOS, INPUT, '-e', 'amqp', '--broker', `${DEAD}, ${DEAD_TOO}`]);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stdout).toBe('');
    const lines = r.stderr.split('\n');
    expect(lines.at(-2)).toMatch(
      /^fj: cannot connect to RabbitMQ at any of its 2 nodes: amqp:\/\/fjuser:\*\*\*@127\.0\.0\.1:1\b.*: .*ECONNREFUSED.*; amqp:\/\/fjuser:\*\*\*@127\.0\.0\.1:2\b.*: .*ECONNREFUSED/,
    );
    expect(lines.at(-1)).toBe('');
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.stderr).not.toMatch(/s3cr3t-pw|0ther-pw/);

    // fj worker alike (told not to wait for the broker).
    const w = await runFj(['worker', '--broker', `${DEAD},${DEAD_TOO}`, '--no-wait-broker'], {
      timeoutMs: 30_000,
    });
    expect(w.code, w.stderr).toBe(3);
    expect(w.stderr).toMatch(
      /cannot connect to RabbitMQ at any of its 2 nodes: .*127\.0\.0\.1:1\b.*; .*127\.0\.0\.1:2\b/,
    );
    expect(w.stderr).not.toMatch(/s3cr3t-pw|0ther-pw/);
  }, 60_000);

  it('a malformed URL in the list is a usage error naming it (exit 2), before anything connects', async () => {
    for (const args of [
      ['run', CHAOS, INPUT, '-e', 'amqp', '--broker', `${BROKER_URL},http://fjuser:s3cr3t-pw@127.0.0.1:5672`],
      ['worker', '--broker', `${BROKER_URL},http://fjuser:s3cr3t-pw@127.0.0.1:5672`],
    ]) {
      const r = await runFj(args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/"http:\/\/fjuser:\*\*\*@127\.0\.0\.1:5672\/?": its scheme http:\/\/ is neither/);
      expect(r.stderr).not.toContain('s3cr3t-pw');
      expect(r.stderr).not.toMatch(/^\s+at /m);
    }
    const empty = await runFj(['run', CHAOS, INPUT, '-e', 'amqp', '--broker', `${BROKER_URL},,${BROKER_URL}`]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/empty entry/);
  }, 60_000);
});
