/**
 * Jobs on a three-node RabbitMQ cluster (scripts/rabbit-cluster.sh: each node
 * in a network namespace of its own) with a quorum pool: real `fj worker`
 * processes, each given the three nodes' URLs, and a coordinator (this
 * process, `runJob`) given them too. Mid-job, a node is killed (kill -9) or
 * cut off by taking its link down; every job must end with eager's output,
 * no item lost, none duplicated. Rows go to docs/reliability.md.
 *
 * Needs root (ip netns) and rabbitmq-server: under CI=true (or
 * FJ_REQUIRE_BROKER=1) a cluster that cannot start fails the file; elsewhere
 * it is skipped with a message.
 *
 *   npx vitest run --project cluster test/cluster/cluster.test.ts
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runJob, submit } from '../../src/index.js';
import { codeQueue } from '../../src/broker/amqp.js';
import { loadAllTasks } from '../../src/task/registry.js';
import Chaos, { type ChaosOutput } from '../fixtures/chaos.js';
import { REQUIRE, startWorkerProc, stopWorkerProc, type WorkerProc } from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';
import { CHAOS, ROOT, clean, expected, recording, scratch } from '../reliability/harness.js';

const exec = promisify(execFile);
const SCRIPT = join(ROOT, 'scripts', 'rabbit-cluster.sh');
const COMMAND = 'npx vitest run --project cluster test/cluster/cluster.test.ts';

/** Why the cluster cannot run here, or undefined when it can. */
function missing(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  if (!existsSync('/usr/sbin/ip') && !existsSync('/sbin/ip')) return 'the ip command (iproute2) is not installed';
  if (!existsSync('/usr/lib/rabbitmq/bin/rabbitmq-server') && !process.env.FJ_RABBITMQ_BIN)
    return 'rabbitmq-server is not installed (set FJ_RABBITMQ_BIN to its bin directory)';
  return undefined;
}

const why = missing();
if (why && REQUIRE)
  throw new Error(`the cluster tests cannot run (${why}), and CI=true/FJ_REQUIRE_BROKER=1 requires them`);
if (why) console.warn(`SKIPPING the cluster tests: ${why}`);

async function cluster(...args: string[]): Promise<string> {
  const { stdout } = await exec(SCRIPT, args, { timeout: 200_000 });
  return stdout.trim();
}

/** The nodes' URLs, starting from node `first` (a client connects to the first that answers). */
function urlsFrom(urls: string[], first: number): string {
  return [...urls.slice(first - 1), ...urls.slice(0, first - 1)].join(',');
}

describe.skipIf(why)('a three-node RabbitMQ cluster, quorum pool', () => {
  let urls: string[] = [];
  const { dir, store } = scratch('cluster');
  const queue = `fj.cluster.${Date.now().toString(36)}`;
  const workers: WorkerProc[] = [];
  let codeQ = '';

  beforeAll(async () => {
    const t = Date.now();
    urls = (await cluster('start')).split(',');
    console.log(`cluster started in ${Date.now() - t} ms`);
    const [chaos] = await loadAllTasks(CHAOS);
    codeQ = codeQueue(queue, chaos.name, chaos.codeHash);
    // Three workers, one per node at first (each tries the nodes in another order).
    for (const first of [1, 2, 3])
      workers.push(
        await startWorkerProc(
          ['--queue', queue, '--queue-type', 'quorum', '--store', store, '--tasks', CHAOS, '-c', '2'],
          { FJ_BROKER_URL: urlsFrom(urls, first) },
        ),
      );
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => stopWorkerProc(w)));
    await cluster('stop');
    clean(dir);
  });

  const input = { n: 1500, ms: 30 };
  let want: ChaosOutput;
  /** A fault-free run's wall time (ms): what each faulty run is measured against. */
  let baseMs = 0;

  function jobOptions(coordinatorFirst: number, onProgress?: (done: number) => void) {
    return {
      executor: 'amqp' as const,
      broker: urlsFrom(urls, coordinatorFirst),
      queue,
      queueType: 'quorum' as const,
      store,
      logLevel: 'warn' as const,
      onProgress: onProgress && ((p: { done: number }) => onProgress(p.done)),
    };
  }

  it('a fault-free job on the quorum pool (the baseline)', async () => {
    want = await expected({ n: input.n }); // the output does not depend on ms
    const { output, stats } = await runJob(Chaos, input, jobOptions(1));
    expect(output).toEqual(want);
    baseMs = stats.wallMs;
  });

  /**
   * Runs a job through the cluster, with `fault` started once `startAt` items
   * are done; checks it, and records it with the time from the fault's start
   * to the job having made 20 more items' progress.
   */
  async function faultyJob(
    name: string,
    coordinatorFirst: number,
    startAt: number,
    fault: () => Promise<string>,
  ): Promise<void> {
    const rec = recording(name, COMMAND);
    rec.items = input.n;
    expect(baseMs).toBeGreaterThan(0);
    let done = 0;
    let finished = false;
    const progress: Array<[number, number]> = [];
    const job = runJob(
      Chaos,
      input,
      jobOptions(coordinatorFirst, (d) => {
        done = d;
        progress.push([Date.now(), d]);
      }),
    );
    void job.finally(() => (finished = true)).catch(() => {});
    let faultAt = 0;
    let doneAtFault = 0;
    const faulted = (async () => {
      await waitFor(`${startAt} items done before the fault`, () => done >= startAt || finished, 120_000, 20);
      if (finished) throw new Error(`the job ended after ${done} items, before the fault`);
      faultAt = Date.now();
      doneAtFault = done;
      return `${await fault()} after ${doneAtFault} of ${input.n} items`;
    })();
    const { output, stats } = await job;
    rec.faults = await faulted;
    const out = output as ChaosOutput;
    rec.lost = out.missing.length;
    rec.duplicated = out.duplicated.length;
    const resumed = progress.find(([t, d]) => t > faultAt && d >= doneAtFault + 20);
    rec.recovered = `unacked work redelivered by the queues' new leaders, results counted once; 20 more items done ${resumed ? `${resumed[0] - faultAt} ms` : 'never'} after the fault`;
    rec.recoverMs = stats.wallMs - baseMs;
    console.log(`${name}: ${rec.faults}; ${rec.recovered}; ${stats.wallMs} ms against ${baseMs} ms fault-free`);
    expect(out).toEqual(want);
    expect(out.missing).toEqual([]);
    expect(out.duplicated).toEqual([]);
  }

  it('kill -9 of the node leading the work queue, mid-job', async () => {
    const leader = Number(await cluster('leader', codeQ));
    // The coordinator on another node: this scenario loses the queue's leader, not the coordinator's node.
    const coordinatorFirst = (leader % 3) + 1;
    await faultyJob('cluster: work queue leader killed', coordinatorFirst, 300, async () => {
      await cluster('kill', String(leader));
      return `kill -9 of node ${leader} (work queue leader; coordinator on node ${coordinatorFirst})`;
    });
    await cluster('restart', String(leader));
  });

  it("kill -9 of the coordinator's node, mid-job", async () => {
    const node = 2;
    await faultyJob("cluster: coordinator's node killed", node, 300, async () => {
      await cluster('kill', String(node));
      return `kill -9 of node ${node} (the coordinator's)`;
    });
    await cluster('restart', String(node));
  });

  it('a partition cutting one node away for 20 s, mid-job', async () => {
    const leader = Number(await cluster('leader', codeQ));
    const coordinatorFirst = (leader % 3) + 1;
    await faultyJob('cluster: partition of one node (20 s)', coordinatorFirst, 200, async () => {
      await cluster('partition', String(leader));
      await new Promise((r) => setTimeout(r, 20_000));
      await cluster('heal', String(leader));
      return `node ${leader} (work queue leader) cut off for 20 s, then reconnected`;
    });
    // The healed node rejoins (pause_minority paused it): the cluster has its three nodes again.
    await waitFor(`node ${leader} back in the cluster`, async () => (await runningNodes()) === 3, 90_000, 1000);
  });

  it("a partition cutting the coordinator's node away for 20 s, mid-job", async () => {
    const node = 3;
    await faultyJob("cluster: partition of the coordinator's node (20 s)", node, 200, async () => {
      await cluster('partition', String(node));
      await new Promise((r) => setTimeout(r, 20_000));
      await cluster('heal', String(node));
      return `node ${node} (the coordinator's) cut off for 20 s, then reconnected`;
    });
    await waitFor(`node ${node} back in the cluster`, async () => (await runningNodes()) === 3, 90_000, 1000);
  });

  /** How many nodes node 1 sees running. */
  async function runningNodes(): Promise<number> {
    const seen = (await cluster('status')).split('\n').find((l) => l.startsWith('seen from node 1:')) ?? '';
    return ['11', '12', '13'].filter((n) => seen.includes(`rabbit@10.77.0.${n}`)).length;
  }

  it('a rolling restart of all three nodes during a detached job', async () => {
    const rec = recording('cluster: rolling restart of all three nodes, detached job', COMMAND);
    const big = { n: 4000, ms: 30 };
    rec.items = big.n;
    const wantBig = await expected({ n: big.n });
    const handle = await submit(CHAOS, big, { broker: urlsFrom(urls, 1), queue, queueType: 'quorum', store });
    await waitFor('the job to start', async () => (await handle.status()).done > 100, 60_000, 100);
    const t = Date.now();
    for (const node of [1, 2, 3]) {
      await cluster('restart', String(node)); // a graceful stop, then a start; it waits for the node to be back
      await waitFor(`node ${node} back in the cluster`, async () => (await runningNodes()) === 3, 90_000, 500);
    }
    const restartsMs = Date.now() - t;
    const out = (await handle.result({ timeoutMs: 180_000 }).catch((e: unknown) => {
      // What each worker said is the only account of a stuck detached job: print it with the failure.
      workers.forEach((w, i) => console.log(`--- worker ${i + 1} log (tail) ---\n${w.log().slice(-6000)}`));
      throw e;
    })) as ChaosOutput;
    rec.faults = `nodes 1, 2, 3 restarted in turn (rabbitmqctl stop, start, rejoined), ${Math.round(restartsMs / 1000)} s in all, mid-job`;
    rec.lost = out.missing.length;
    rec.duplicated = out.duplicated.length;
    rec.recovered = 'every client moved to a live node each time; the job kept its records and ended once';
    rec.recoverMs = `${Date.now() - t} ms from the first restart to the result`;
    console.log(`rolling restart: ${rec.faults}; result ${rec.recoverMs}`);
    expect(out).toEqual(wantBig);
  }, 400_000);

  it('a detached job running longer than consumer_timeout keeps its one coordinator', async () => {
    const rec = recording('cluster: detached job past consumer_timeout', COMMAND);
    const pool = `${queue}.long`;
    const long = { n: 300, ms: 500 };
    rec.items = long.n;
    const wantLong = await expected({ n: long.n });
    // The broker checks about once a minute for deliveries older than the timeout; leases renewed every second here.
    for (const n of [1, 2, 3])
      await cluster('_ctl', String(n), 'eval', 'application:set_env(rabbit, consumer_timeout, 5000).');
    const pair: WorkerProc[] = [];
    try {
      for (const first of [1, 2])
        pair.push(
          await startWorkerProc(
            ['--queue', pool, '--queue-type', 'quorum', '--store', store, '--tasks', CHAOS, '-c', '1', '--verbose'],
            { FJ_BROKER_URL: urlsFrom(urls, first), FJ_LEASE_RENEW_MS: '1000' },
          ),
        );
      const t = Date.now();
      const handle = await submit(CHAOS, long, { broker: urlsFrom(urls, 1), queue: pool, queueType: 'quorum', store });
      const out = (await handle.result({ timeoutMs: 240_000 })) as ChaosOutput;
      const took = Date.now() - t;
      const logs = pair.map((w) => w.log()).join('\n');
      rec.faults = `consumer_timeout 5 s on every node; a ${Math.round(took / 1000)} s detached job on 2 workers`;
      rec.lost = out.missing.length;
      rec.duplicated = out.duplicated.length;
      rec.recovered = 'one coordinator throughout; its job message taken from the jobs queue once';
      rec.recoverMs = 'none needed (no takeover)';
      expect(out).toEqual(wantLong);
      expect(took).toBeGreaterThan(65_000);
      expect(
        logs.match(new RegExp(`job ${handle.id} \\(chaos, "[^"]*"\\): coordinating`, 'g')) ?? [],
        logs,
      ).toHaveLength(1);
      expect(logs).not.toMatch(/RabbitMQ closed the jobs channel/);
      expect(logs.match(new RegExp(`job ${handle.id}: taken from the jobs queue`, 'g')) ?? [], logs).toHaveLength(1);
    } finally {
      for (const n of [1, 2, 3])
        await cluster('_ctl', String(n), 'eval', 'application:unset_env(rabbit, consumer_timeout).').catch(() => '');
      await Promise.all(pair.map((w) => stopWorkerProc(w)));
    }
  }, 400_000);

  it('kill -9 of the node leading the jobs queue while a detached job waits there, not started', async () => {
    const rec = recording('cluster: jobs queue leader killed, job queued', COMMAND);
    const pool = `${queue}.later`; // no worker yet: the job waits in this pool's jobs queue
    const small = { n: 300, ms: 5 };
    rec.items = small.n;
    const want300 = await expected({ n: small.n });
    const handle = await submit(CHAOS, small, { broker: urlsFrom(urls, 1), queue: pool, queueType: 'quorum', store });
    const leader = Number(await cluster('leader', `${pool}.jobs`));
    await cluster('kill', String(leader));
    const t = Date.now();
    // A worker arrives while the node is still down (its URLs start with a live node).
    workers.push(
      await startWorkerProc(
        ['--queue', pool, '--queue-type', 'quorum', '--store', store, '--tasks', CHAOS, '-c', '2'],
        { FJ_BROKER_URL: urlsFrom(urls, (leader % 3) + 1) },
      ),
    );
    const out = (await handle.result({ timeoutMs: 120_000 })) as ChaosOutput;
    rec.faults = `kill -9 of node ${leader} (leader of the jobs queue) with the job queued, then a worker started`;
    rec.lost = out.missing.length;
    rec.duplicated = out.duplicated.length;
    rec.recovered = 'the job message, confirmed before the kill, taken from the new leader and run';
    rec.recoverMs = `${Date.now() - t} ms from the kill to the result (worker start included)`;
    expect(out).toEqual(want300);
    await cluster('restart', String(leader));
  });
});
