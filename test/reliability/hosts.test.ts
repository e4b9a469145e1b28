/**
 * Several hosts: `fj worker` processes each in a network namespace of its
 * own (their own address, test/helpers/netns.ts), reaching the broker only
 * through the address this side exposes to them (a TCP proxy per host to
 * the shared RabbitMQ, which listens on 127.0.0.1 only), sharing a file
 * store as hosts share an NFS mount. A job coordinated from here runs on
 * them with eager's output; a host added and another removed (SIGTERM, as a
 * deploy stops it) while a job runs fail nothing. The steps of
 * docs/deploy.md's "Adding and removing a worker host".
 *
 *   CI=true npx vitest run --project reliability test/reliability/hosts.test.ts
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/index.js';
import { BROKER_URL, brokerAvailable, CLI, deleteQueues, REQUIRE } from '../helpers/broker.js';
import { netnsProblem, TestHost } from '../helpers/netns.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import HostProbe from '../fixtures/host-probe.js';
import { waitFor } from '../helpers/wait.js';

const PROBE = join(import.meta.dirname, '..', 'fixtures', 'host-probe.ts');
const available = await brokerAvailable();
const problem = netnsProblem();
if (problem && REQUIRE) throw new Error(`hosts.test: ${problem} (CI runs these tests as root)`);
if (problem) console.warn(`hosts.test skipped: ${problem}`);

interface HostWorker {
  pid: number;
  exited: Promise<number | null>;
  log: () => string;
}

describe.runIf(available && !problem)('worker hosts in network namespaces of their own', () => {
  const queue = `fj.test.hosts.${randomUUID()}`;
  const dir = mkdtempSync(join(tmpdir(), 'fj-hosts-'));
  const store = `file://${join(dir, 'store')}`;
  let hosts: TestHost[] = [];
  const proxies: TcpProxy[] = [];
  const workers: HostWorker[] = [];
  /** The worker serving on each host now (by host index). */
  const serving = new Map<number, HostWorker>();

  beforeAll(async () => {
    hosts = TestHost.create(3);
    const broker = new URL(BROKER_URL);
    for (const h of hosts) proxies.push(await TcpProxy.start(broker.hostname, Number(broker.port || 5672), h.gateway));
  });
  afterAll(async () => {
    for (const w of workers) {
      try {
        process.kill(w.pid, 'SIGKILL');
      } catch {
        // exited
      }
    }
    await Promise.all(workers.map((w) => w.exited));
    for (const p of proxies) await p.close();
    for (const h of hosts) h.remove();
    await deleteQueues(queue).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  /** The worker on host `k`, started unless one serves there already. */
  async function ensure(k: number): Promise<HostWorker> {
    return serving.get(k) ?? startOn(k);
  }

  /** Starts `fj worker` in host `k` (0-based), its broker the proxy on that host's gateway. */
  async function startOn(k: number): Promise<HostWorker> {
    const args = ['worker', '--queue', queue, '--store', store, '--broker', proxies[k].via(BROKER_URL)];
    const [cmd, argv] = hosts[k].exec([
      process.execPath,
      CLI,
      ...args,
      '--name',
      `host-${k + 1}`,
      '-c',
      '2',
      '--tasks',
      PROBE,
    ]);
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const w: HostWorker = {
      pid: child.pid!,
      exited: new Promise((r) => child.once('exit', (code) => r(code))),
      log: () => out,
    };
    workers.push(w);
    serving.set(k, w);
    void w.exited.then(() => serving.get(k) === w && serving.delete(k));
    await waitFor(`the worker on host ${k + 1} to serve`, () => /serving /.test(out), 30_000, 100);
    return w;
  }

  it('a host reaches neither RabbitMQ nor Redis of this machine, only what is exposed on its gateway', () => {
    const h = hosts[0];
    const probe = (port: number) =>
      spawnSync(...hosts[0].exec([process.execPath, '-e', connectScript(h.gateway, port)]), { timeout: 10_000 }).status;
    expect(probe(5672)).not.toBe(0); // RabbitMQ listens on 127.0.0.1 here: not on the host's link
    expect(probe(6379)).not.toBe(0); // nor Redis
    expect(probe(proxies[0].port)).toBe(0); // the broker, exposed on the gateway
  });

  it('a job coordinated here runs on the workers of two hosts, with eager’s output', async () => {
    await Promise.all([ensure(0), ensure(1)]);
    const input = { n: 60, ms: 50 };
    const out = await run(HostProbe, input, { executor: 'amqp', queue, store, broker: BROKER_URL, logLevel: 'silent' });
    const want = await run(HostProbe, { ...input, ms: 0 }, { executor: 'eager' }); // the same items, without the sleeps
    expect(out.items).toEqual(want.items);
    expect(Object.keys(out.hosts).sort()).toEqual([hosts[0].address, hosts[1].address].sort());
  }, 120_000);

  it('a host added and another removed (SIGTERM) while a job runs: nothing fails, the new host takes items', async () => {
    const [leaving] = await Promise.all([ensure(0), ensure(1)]);
    const input = { n: 240, ms: 100 };
    const job = run(HostProbe, input, { executor: 'amqp', queue, store, broker: BROKER_URL, logLevel: 'silent' });
    await new Promise((r) => setTimeout(r, 1500));
    await startOn(2);
    process.kill(leaving.pid, 'SIGTERM');
    expect(await leaving.exited).toBe(0); // it finished or gave back what it held
    const out = await job;
    const want = await run(HostProbe, { ...input, ms: 0 }, { executor: 'eager' }); // the same items, without the sleeps
    expect(out.items).toEqual(want.items);
    expect(out.hosts[hosts[2].address]).toBeGreaterThan(0);
    expect(Object.values(out.hosts).reduce((a, b) => a + b, 0)).toBe(input.n);
  }, 180_000);
});

/** A script that exits 0 when a TCP connection to host:port opens within 3 s, else 1. */
function connectScript(host: string, port: number): string {
  return `const s = require('node:net').connect(${port}, ${JSON.stringify(host)});
s.on('connect', () => process.exit(0)); s.on('error', () => process.exit(1)); setTimeout(() => process.exit(1), 3000);`;
}
