/**
 * `fj worker` stops on SIGTERM whatever the broker does: a deploy must not
 * hang until a supervisor kills -9. The broker goes silent (its host froze:
 * nothing closes, nothing answers) or away (connections cut, the worker in
 * its reconnect loop) at the moment the signal comes, through a TCP proxy of
 * the test's own (test/helpers/tcp-proxy.ts), never by stopping RabbitMQ.
 * The worker exits within `--shutdown-timeout` plus a short grace, says why,
 * and never takes new work after the signal. When the store goes silent
 * instead (a Redis through a proxy), the worker's own stop cannot end: the
 * last-resort exit at `--shutdown-timeout` plus `SHUTDOWN_GRACE_MS` does.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { brokerAvailable, BROKER_URL, deleteQueues, startWorkerProc, type WorkerProc } from '../helpers/broker.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { redisAvailable, requireServices } from '../helpers/services.js';
import { SHUTDOWN_GRACE_MS } from '../../src/cli/worker.js';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const available = await brokerAvailable();
const REDIS_URL = process.env.FJ_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
// Without Redis the store case is skipped, except under CI (CI=true or FJ_REQUIRE_BROKER=1), where it runs and fails.
const redisUp = (await redisAvailable(REDIS_URL)) || requireServices();

/** How long past --shutdown-timeout a worker may take to exit, at most. */
const GRACE_MS = 8000;

describe.runIf(available)('fj worker: SIGTERM when the broker goes silent or away', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  async function workerThroughProxy(): Promise<{ proxy: TcpProxy; w: WorkerProc; queue: string }> {
    const proxy = await TcpProxy.start(new URL(BROKER_URL).hostname, Number(new URL(BROKER_URL).port || 5672));
    const queue = `fj.test.shutdown.${randomUUID()}`;
    const dir = mkdtempSync(join(tmpdir(), 'fj-shutdown-'));
    cleanup.push(
      () => proxy.close(),
      () => deleteQueues(queue).catch(() => {}),
      () => deleteQueues(`${queue}.jobs`).catch(() => {}),
      () => rmSync(dir, { recursive: true, force: true }),
    );
    const w = await startWorkerProc(['--queue', queue, '--store', `file://${dir}`, '--shutdown-timeout', '2'], {
      FJ_BROKER_URL: proxy.via(BROKER_URL),
    });
    cleanup.push(() => {
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    });
    return { proxy, w, queue };
  }

  /** Sends SIGTERM and measures how long the worker takes to exit (rejects past the bound, naming its log). */
  async function exitTime(
    w: WorkerProc,
    boundMs: number,
    signal = true,
    t = Date.now(),
  ): Promise<{ ms: number; code: number | null }> {
    if (signal) w.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the worker did not exit within ${boundMs} ms of SIGTERM; its log:\n${w.log()}`)),
        boundMs,
      );
    });
    try {
      const code = await Promise.race([w.exited, late]);
      return { ms: Date.now() - t, code };
    } finally {
      clearTimeout(timer);
    }
  }

  it('the broker goes silent as SIGTERM comes: the worker exits within --shutdown-timeout and a grace, saying it stopped', async () => {
    const { proxy, w } = await workerThroughProxy();
    proxy.stall();
    const { ms } = await exitTime(w, 2000 + GRACE_MS + 5000);
    expect(ms).toBeLessThan(2000 + GRACE_MS);
    expect(w.log()).toMatch(/stopping/);
    // Ended by its own bounded steps, not by the last-resort exit.
    expect(w.log()).toMatch(/\bstopped\b/);
    expect(w.log()).not.toMatch(/did not end within/);
  }, 30_000);

  it('the broker cut as SIGTERM comes (the worker reconnecting): it exits at once and never connects again', async () => {
    const { proxy, w } = await workerThroughProxy();
    proxy.cut();
    const before = proxy.passed;
    await new Promise((r) => setTimeout(r, 300)); // the worker notices and starts reconnecting
    const { ms } = await exitTime(w, 2000 + GRACE_MS + 5000);
    proxy.restore();
    expect(ms).toBeLessThan(2000 + GRACE_MS);
    expect(proxy.passed).toBe(before);
    expect(w.log()).not.toMatch(/reconnected to RabbitMQ/);
  }, 30_000);

  it('the broker cut, then SIGTERM, then the broker back: the worker does not take new work', async () => {
    const { proxy, w } = await workerThroughProxy();
    proxy.stall();
    const t = Date.now();
    w.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    proxy.restore();
    const { ms } = await exitTime(w, 2000 + GRACE_MS + 5000, false, t);
    expect(ms).toBeLessThan(2000 + GRACE_MS);
    expect(w.log()).not.toMatch(/started here/);
  }, 30_000);

  it.runIf(redisUp)(
    'the store goes silent as SIGTERM comes: the last-resort exit ends the worker at --shutdown-timeout and the grace, saying so',
    async () => {
      // A Redis store through a proxy of the test's own, under a key prefix of its own: nothing of anyone else's is touched.
      const redis = new URL(REDIS_URL);
      const proxy = await TcpProxy.start(redis.hostname, Number(redis.port || 6379));
      const queue = `fj.test.shutdown.${randomUUID()}`;
      cleanup.push(
        () => proxy.close(),
        () => deleteQueues(queue).catch(() => {}),
        () => deleteQueues(`${queue}.jobs`).catch(() => {}),
      );
      const store = `${proxy.via(REDIS_URL).replace(/\/$/, '')}?prefix=fj-shutdown-${randomUUID().slice(0, 8)}`;
      const w = await startWorkerProc(['--queue', queue, '--store', store, '--shutdown-timeout', '2'], {
        FJ_BROKER_URL: BROKER_URL,
      });
      cleanup.push(() => {
        if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
      });
      proxy.stall();
      const { ms } = await exitTime(w, 2000 + SHUTDOWN_GRACE_MS + 10_000);
      expect(ms).toBeLessThan(2000 + SHUTDOWN_GRACE_MS + 2000);
      expect(w.log()).toMatch(/stopping/);
      expect(w.log()).toMatch(/the shutdown did not end within 7 s of SIGTERM/);
    },
    40_000,
  );
});
