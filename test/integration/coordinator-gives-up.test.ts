/**
 * A coordinator that loses RabbitMQ for good gives up after
 * FJ_RECONNECT_GIVE_UP_MS (5 minutes by default; 3 s here), exits 3 with one
 * line saying so, and leaves the job resumable: `fj resume` then finishes it.
 *
 * The shared RabbitMQ is never stopped: the coordinator (`fj run`) reaches it
 * through a TCP proxy of the test's own (test/helpers/tcp-proxy.ts), and the
 * test cuts the proxy. The `fj worker` connects to RabbitMQ directly and keeps
 * answering into the job's results queue meanwhile.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import amqp from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { readManifest, readStatus } from '../../src/store/job-records.js';
import { openStore } from '../../src/store/open.js';
import { resultsQueue } from '../../src/broker/amqp.js';
import { BROKER_URL, brokerAvailable, CLI, deleteQueues, startWorkerProc, stopWorkerProc } from '../helpers/broker.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';
import { spawn } from 'node:child_process';

const available = await brokerAvailable();
const SLEEPY = join(import.meta.dirname, '..', 'fixtures', 'sleepy.ts');
const GIVE_UP_MS = 3000;

/** `fj ...args`, its output collected; `exited` resolves to the exit code and when it came. */
function fj(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; at: number }>((r) =>
    child.once('exit', (code) => r({ code, at: Date.now() })),
  );
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

describe.runIf(available)('a coordinator that loses RabbitMQ for good', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fj-give-up-'));
  const store = pathToFileURL(join(dir, 'store')).href;
  const queue = `fj.test.give-up.${randomUUID()}`;
  const jobId = `give-up-${randomUUID()}`;
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    await deleteQueues(queue).catch(() => {});
    // The results queue outlives a job that gave up; the resume below deletes it, unless the test failed first.
    const conn = await amqp.connect(BROKER_URL);
    await (await conn.createChannel()).deleteQueue(resultsQueue(jobId)).catch(() => {});
    await conn.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    `gives up after FJ_RECONNECT_GIVE_UP_MS (${GIVE_UP_MS} ms) with exit 3, and 'fj resume' finishes the job`,
    { timeout: 120_000 },
    async () => {
      const broker = new URL(BROKER_URL);
      const proxy = await TcpProxy.start(broker.hostname, Number(broker.port || 5672));
      cleanups.push(() => proxy.close());
      const worker = await startWorkerProc(
        ['--queue', queue, '--store', store, '--tasks', SLEEPY, '--concurrency', '2'],
        { FJ_BROKER_URL: BROKER_URL },
      );
      cleanups.push(() => stopWorkerProc(worker));

      const values = Array.from({ length: 80 }, (_, i) => i);
      const input = join(dir, 'input.json');
      writeFileSync(input, JSON.stringify({ values, ms: 100 })); // 80 × 100 ms on 2 threads: about 4 s of work
      const common = ['--store', store, '--no-progress'];
      const coordinator = fj(
        [
          'run',
          SLEEPY,
          input,
          '-e',
          'amqp',
          '--broker',
          proxy.via(BROKER_URL),
          '--queue',
          queue,
          '--job-id',
          jobId,
          ...common,
        ],
        {
          FJ_RECONNECT_GIVE_UP_MS: String(GIVE_UP_MS),
        },
      );
      cleanups.push(async () => coordinator.child.exitCode === null && coordinator.child.kill('SIGKILL'));

      // Cut once the job is under way: results recorded, and not all of them.
      const jobStore = await openStore(store);
      cleanups.push(() => jobStore.close());
      const before = await waitFor(
        'the job to record a few results',
        async () => {
          const s = await readStatus(jobStore, jobId);
          return s && s.done >= 4 && s;
        },
        30_000,
      );
      expect(before.done, 'the job finished before the cut: nothing left to resume').toBeLessThan(values.length);
      expect(proxy.connections, 'the coordinator talks to RabbitMQ through the proxy').toBeGreaterThan(0);
      const cutAt = Date.now();
      proxy.cut();

      const { code, at } = await Promise.race([
        coordinator.exited,
        new Promise<never>((_, reject) =>
          setTimeout(
            () =>
              reject(
                new Error(
                  `the coordinator had not given up ${GIVE_UP_MS + 20_000} ms after the cut:\n${coordinator.stderr()}`,
                ),
              ),
            GIVE_UP_MS + 20_000,
          ),
        ),
      ]);
      const tookMs = at - cutAt;
      expect(code, coordinator.stderr()).toBe(3);
      expect(tookMs, 'gave up before FJ_RECONNECT_GIVE_UP_MS had passed').toBeGreaterThanOrEqual(GIVE_UP_MS);
      expect(proxy.refused, 'it kept trying to reconnect until then').toBeGreaterThan(1);
      expect(coordinator.stdout()).toBe('');
      // The last line is the error: it gave up, after how long, and the broker it could not reach (through the proxy).
      expect(coordinator.stderr().split('\n').at(-2)).toMatch(
        new RegExp(
          `^fj: lost RabbitMQ and could not reconnect within 3 s \\(FJ_RECONNECT_GIVE_UP_MS\\): cannot connect to RabbitMQ at amqp://\\S*@127\\.0\\.0\\.1:${proxy.port}\\b`,
        ),
      );
      expect(coordinator.stderr()).toContain(`resume it with 'fj resume ${jobId}' once RabbitMQ is back`);
      expect(coordinator.stderr()).not.toMatch(/^\s+at /m); // no stack without --verbose

      // Resumable: its records and its results queue are still there, with no coordinator attached.
      expect((await readManifest(jobStore, jobId)).queue).toBe(queue);
      expect((await readStatus(jobStore, jobId))?.state).toBe('failed');
      const conn = await amqp.connect(BROKER_URL);
      try {
        const ch = await conn.createChannel();
        expect((await ch.checkQueue(resultsQueue(jobId))).consumerCount).toBe(0);
      } finally {
        await conn.close();
      }

      const resumed = fj(['resume', jobId, '--task', SLEEPY, '--broker', BROKER_URL, ...common]);
      const end = await resumed.exited;
      expect(end.code, resumed.stderr()).toBe(0);
      expect(JSON.parse(resumed.stdout())).toEqual(values.map((v) => v * 2));
    },
  );
});
