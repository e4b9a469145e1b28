/**
 * Detached jobs' job messages (`<queue>.jobs`) under attack and accident,
 * with real `fj worker` processes and RabbitMQ:
 *
 * - forged declines: copies of a job message, its real signature copied,
 *   carrying `fj-declined-by` in the names of ghosts (and of a worker that
 *   serves the task) do not fail the job;
 * - a poison job, whose setup kills its coordinator: failed after
 *   MAX_JOB_DEATHS (3) deaths, naming why and the last worker, instead of
 *   crash-looping the pool;
 * - a poison job whose setup yields without end (a task without combine):
 *   failed by its first coordinator at `maxResults`, naming the limit,
 *   before the coordinator runs out of memory: no death, no takeover;
 * - a job signed with a key the pool lacks (or signed, to a keyless pool):
 *   its message is dead-lettered with the reason, and a wait ends at once
 *   saying why; `fj dead requeue` sends it back to the jobs queue, where a
 *   worker with the key runs it;
 * - a broker cut while a worker coordinates: the job ends, and its results
 *   queue does not stay behind.
 *
 *   npx vitest run --project reliability test/reliability/job-messages.test.ts
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { attach, submit, type LimitError } from '../../src/index.js';
import { Signer } from '../../src/core/signing.js';
import { listDeadLetters, requeueDeadLetters } from '../../src/broker/dead-letters.js';
import { MAX_JOB_DEATHS } from '../../src/worker/job-takeovers.js';
import {
  BROKER_URL,
  brokerAvailable,
  deleteQueues,
  startWorkerProc,
  stopWorkerProc,
  type WorkerProc,
} from '../helpers/broker.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';
import { CHAOS, clean, expected, recording, ROOT, scratch } from './harness.js';

const available = await brokerAvailable();
const COMMAND = 'npx vitest run --project reliability test/reliability/job-messages.test.ts';
const SLEEPY = join(ROOT, 'test', 'fixtures', 'sleepy.ts');
const POISON = join(ROOT, 'test', 'fixtures', 'poison-setup.ts');
const ENDLESS = join(ROOT, 'test', 'fixtures', 'endless.ts');
const KEY = randomUUID() + randomUUID();
const OTHER_KEY = randomUUID() + randomUUID();

/** The broker's view of a queue; undefined when it does not exist. */
async function queueState(name: string): Promise<{ messageCount: number } | undefined> {
  const conn = await amqp.connect(BROKER_URL);
  try {
    const ch = await conn.createChannel();
    ch.on('error', () => {});
    return await ch.checkQueue(name).catch(() => undefined);
  } finally {
    await conn.close().catch(() => {});
  }
}

describe.runIf(available)('job messages: forged declines, poison jobs, foreign keys, broker cuts', () => {
  const { dir, store } = scratch('job-messages');
  const workers: WorkerProc[] = [];
  const queues: string[] = [];
  const pool = () => {
    const q = `fj.jobmsg.${randomUUID()}`;
    queues.push(q, `${q}.jobs`);
    return q;
  };
  async function worker(queue: string, tasks: string[], env: NodeJS.ProcessEnv, more: string[] = []) {
    const w = await startWorkerProc(['--queue', queue, '--store', store, '-c', '1', '--tasks', ...tasks, ...more], {
      FJ_BROKER_URL: BROKER_URL,
      ...env,
    });
    workers.push(w);
    return w;
  }
  afterAll(async () => {
    await Promise.all(workers.filter((w) => w.child.exitCode === null).map(stopWorkerProc));
    for (const q of queues) await deleteQueues(q).catch(() => {});
    clean(dir);
  });

  it('forged declines (real signature copied, ghosts and a worker that serves the task named) do not fail a queued job', async () => {
    const queue = pool();
    // The worker that serves the task takes one job at a time, and is busy with a first one: the second waits, queued.
    const a = await worker(queue, [CHAOS], { FJ_SIGNING_KEY: KEY }, ['--name', 'jm-serves', '--max-jobs', '1']);
    const b = await worker(queue, [SLEEPY], { FJ_SIGNING_KEY: KEY }, ['--name', 'jm-lacks']);
    const first = await submit(CHAOS, { n: 200, ms: 40 }, { store, queue, signingKey: KEY, label: 'keeps it busy' });
    await waitFor(
      'the first job to run',
      async () => ((await first.status()).done > 0 ? true : undefined),
      30_000,
      100,
    );
    const input = { n: 30 };
    const job = await submit(CHAOS, input, { store, queue, signingKey: KEY, label: 'forged declines' });

    const conn = await amqp.connect(BROKER_URL);
    try {
      const ch = await conn.createConfirmChannel();
      const sig = new Signer(KEY).sign('job', job.id); // what fj submit put on the real message
      const forged = [
        ['ghost-1 lacks the task', 'ghost-2 lacks the task'],
        [
          { by: 'ghost-3', why: 'lacks the task' },
          { by: 'jm-serves', why: 'lacks the task', sig: 'ab'.repeat(32) },
        ],
      ];
      for (let i = 0; i < 4; i++)
        ch.sendToQueue(`${queue}.jobs`, Buffer.from(JSON.stringify({ job: job.id })), {
          persistent: true,
          messageId: job.id,
          type: 'fj.job',
          headers: { 'fj-sig': sig, 'fj-declined-by': forged[i % 2] },
        });
      await ch.waitForConfirms();
    } finally {
      await conn.close();
    }
    expect(await job.result({ timeoutMs: 90_000 })).toEqual(await expected(input));
    expect((await job.status()).state).toBe('succeeded');
    expect(await first.result({ timeoutMs: 60_000 })).toEqual(await expected({ n: 200, ms: 40 }));
    await waitFor('the lacking worker to take a forged copy', () => /ignored declines/.test(b.log()), 30_000, 100);
    expect(b.log()).toMatch(/ignored declines in the name of (ghost-\d|jm-serves)/);
    expect(a.log() + b.log()).not.toMatch(/no worker on pool/);

    // Real declines still count: with the serving worker gone, two live workers that lack the task fail a job, naming both.
    await stopWorkerProc(a);
    await worker(queue, [SLEEPY], { FJ_SIGNING_KEY: KEY }, ['--name', 'jm-lacks-too']);
    const nobody = await submit(CHAOS, input, { store, queue, signingKey: KEY, label: 'nobody serves it' });
    const err = await nobody.result({ timeoutMs: 60_000 }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/no worker on pool .* can coordinate task chaos/);
    expect(err?.message).toMatch(/jm-lacks lacks the task/);
    expect(err?.message).toMatch(/jm-lacks-too lacks the task/);
  }, 150_000);

  it(`a poison job (its setup kills the coordinator) fails after ${MAX_JOB_DEATHS} deaths, naming why`, async () => {
    const rec = recording('poison job (its setup kills the coordinator)', COMMAND);
    const queue = pool();
    const live = () => workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
    const mine: WorkerProc[] = [];
    let on = true;
    const supervisor = (async () => {
      while (on) {
        if (mine.filter((w) => live().includes(w)).length < 2)
          // (A worker that takes the job before it says it serves dies unseen: counted by the message below, not here.)
          await worker(queue, [POISON], {}, ['--name', `jm-poison-${mine.length}`]).then(
            (w) => mine.push(w),
            () => {},
          );
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      await waitFor('two workers', () => (mine.length >= 2 ? true : undefined), 30_000, 100);
      const t = Date.now();
      const job = await submit(POISON, { n: 10 }, { store, queue, label: 'poison' });
      const err = await job.result({ timeoutMs: 120_000 }).then(
        () => undefined,
        (e: Error) => e,
      );
      rec.recoverMs = Date.now() - t;
      expect(err?.message).toMatch(
        new RegExp(
          `its coordinator died ${MAX_JOB_DEATHS} times while coordinating it \\(last on worker jm-poison-\\d+\\)`,
        ),
      );
      const died = mine.filter((w) => w.child.signalCode === 'SIGKILL').length;
      expect(died).toBeGreaterThan(0);
      expect(died).toBeLessThanOrEqual(MAX_JOB_DEATHS);
      expect((await (await attach(job.id, { store })).status()).state).toBe('failed');
      rec.items = 10;
      rec.lost = '-';
      rec.duplicated = '-';
      rec.recovered = `job failed after ${died} coordinator deaths, naming the last worker`;
      rec.faults =
        "the job's setup SIGKILLs the worker coordinating it every time; a supervisor keeps 2 workers alive; time = from submit to the failure";
    } finally {
      on = false;
      await supervisor;
    }
  }, 180_000);

  it('a job whose setup yields without end fails at maxResults on its first coordinator, which lives on', async () => {
    const rec = recording('poison job (its setup yields without end)', COMMAND);
    const queue = pool();
    const coordinators = [
      await worker(queue, [ENDLESS], {}, ['--name', 'jm-endless-0']),
      await worker(queue, [ENDLESS], {}, ['--name', 'jm-endless-1']),
    ];
    const t = Date.now();
    const limit = 50_000;
    const job = await submit(ENDLESS, {}, { store, queue, label: 'endless', maxResults: limit });
    const err = await job.result({ timeoutMs: 60_000 }).then(
      () => undefined,
      (e: Error) => e,
    );
    rec.recoverMs = Date.now() - t;
    // (A detached job's error comes back as an FjError with its code.)
    expect((err as LimitError | undefined)?.code).toBe('FJ_LIMIT');
    expect(err?.message).toMatch(new RegExp(`setup yielded more than ${limit} items`));
    expect(err?.message).toMatch(/--max-results/);
    // No coordinator died, so nothing took the job over: the first one failed it.
    for (const w of coordinators) expect(w.child.exitCode === null && w.child.signalCode === null).toBe(true);
    const status = await (await attach(job.id, { store })).status();
    expect(status.state).toBe('failed');
    rec.items = limit;
    rec.lost = '-';
    rec.duplicated = '-';
    rec.recovered = 'job failed by its first coordinator with LimitError (maxResults); no coordinator died';
    rec.faults =
      'a task without combine whose setup yields without end, maxResults 50000; 2 workers; time = from submit to the failure';
  }, 120_000);

  it('a job signed with a key the pool lacks is dead-lettered with the reason, its wait ends saying why, and a requeue runs it', async () => {
    const rec = recording('job signed with a key the pool lacks', COMMAND);
    const queue = pool();
    queues.push(`${queue}.dead`);
    const input = { n: 20 };
    // Submitted before the worker starts: with the worker live, fj submit refuses the job outright
    // (store-trust.test.ts); a worker that joins later is the one that must refuse its message.
    const job = await submit(CHAOS, input, { store, queue, signingKey: KEY, label: 'foreign key' });
    const w = await worker(queue, [CHAOS], { FJ_SIGNING_KEY: OTHER_KEY }, ['--name', 'jm-other-key']);
    const t = Date.now();
    const err = await job.result({ timeoutMs: 60_000 }).then(
      () => undefined,
      (e: Error) => e,
    );
    rec.recoverMs = Date.now() - t;
    expect(err?.message).toMatch(
      new RegExp(
        `job ${job.id} is queued, and worker jm-other-key of pool .* refused a message for it unrun: not signed with the pool's signing key`,
      ),
    );
    expect(err?.message).toContain(`'fj dead requeue --queue ${queue}'`);
    expect(w.log()).toMatch(new RegExp(`job ${job.id}: its message is not signed .*dead-lettered to ${queue}\\.dead`));
    const dead = await listDeadLetters({ broker: BROKER_URL, queue });
    expect(dead.count).toBe(1);
    expect(dead.letters[0].job).toBe(JSON.stringify(job.id));
    expect(dead.letters[0].reason).toMatch(/a job message .* refused unrun: jm-other-key: not signed/);

    // A keyless worker and a signed job: refused alike (it could not sign the job's records).
    const keyless = pool();
    queues.push(`${keyless}.dead`);
    const signed = await submit(CHAOS, input, { store, queue: keyless, signingKey: KEY });
    await worker(keyless, [CHAOS], {}, ['--name', 'jm-no-key']);
    await expect(signed.result({ timeoutMs: 60_000 })).rejects.toThrow(
      /worker jm-no-key .* refused a message for it unrun: the job is signed .* this worker has no signing key/,
    );

    // The pool gets the key: the message goes back to the jobs queue and the job runs.
    await stopWorkerProc(w);
    await worker(queue, [CHAOS], { FJ_SIGNING_KEY: KEY }, ['--name', 'jm-right-key']);
    expect((await requeueDeadLetters({ broker: BROKER_URL, queue, store })).requeued).toBe(1);
    expect(await job.result({ timeoutMs: 60_000 })).toEqual(await expected(input));
    rec.items = input.n;
    rec.lost = 0;
    rec.duplicated = 0;
    rec.recovered = 'the wait ended naming the reason; after fj dead requeue to a worker with the key, the job ran';
    rec.faults =
      "fj submit with one signing key, then the pool’s only worker starts holding another; time = from the worker's start to the wait's end";
  }, 150_000);

  it('a broker cut while a worker coordinates: the job ends, nothing logged as "could not coordinate", no results queue left', async () => {
    const queue = pool();
    const proxy = await TcpProxy.start('127.0.0.1', Number(new URL(BROKER_URL).port || 5672));
    try {
      const w = await worker(queue, [CHAOS], { FJ_BROKER_URL: proxy.via(BROKER_URL) }, ['-c', '2', '--name', 'jm-cut']);
      const input = { n: 300, ms: 20 };
      const job = await submit(CHAOS, input, { store, queue, label: 'broker cut' });
      await waitFor('60 results', async () => ((await job.status()).done >= 60 ? true : undefined), 30_000, 100);
      proxy.cut();
      await new Promise((r) => setTimeout(r, 1500));
      proxy.restore();
      expect(await job.result({ timeoutMs: 120_000 })).toEqual(await expected(input));
      await waitFor(
        'the results queue to be deleted',
        async () => ((await queueState(`fj.results.${job.id}`)) ? undefined : true),
        20_000,
        250,
      ).catch(() => {});
      expect(await queueState(`fj.results.${job.id}`)).toBeUndefined();
      expect(w.log()).not.toContain('could not coordinate it');
      expect(w.log()).toContain(`job ${job.id}: succeeded`);
    } finally {
      await proxy.close();
    }
  }, 150_000);
});
