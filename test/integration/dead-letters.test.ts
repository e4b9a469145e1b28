/**
 * `fj dead` against the real RabbitMQ and a real `fj worker`: the worker
 * dead-letters what it refuses (a text body with a terminal escape in it,
 * a well-formed message for a job its store does not know, bytes that are
 * not msgpack; and one that workers put back 50 times, no worker serving
 * its task); `fj dead` lists them without taking them, shows one, refuses
 * to purge without `--yes` off a terminal and asks on one (a tmux pane),
 * sends back what is not an item message to the work queue (an item message
 * goes to its code's queue: test/reliability/dead-requeue.test.ts; here no
 * worker runs its code, so it stays, named), and purges.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeChecked } from '../../src/core/codec.js';
import {
  BROKER_URL,
  brokerAvailable,
  deleteQueues,
  startWorkerProc,
  stopWorkerProc,
  type WorkerProc,
} from '../helpers/broker.js';
import { FJ_CLI, runFj } from '../helpers/cli.js';
import { requireServices } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const available = await brokerAvailable();
const queue = `fj.test.dead.${randomUUID().slice(0, 8)}`;
const dead = `${queue}.dead`;
const store = mkdtempSync(join(tmpdir(), 'fj-dead-store-'));
const unknownJob = `gone-${randomUUID()}`;
const env = { FJ_BROKER_URL: BROKER_URL, FJ_QUEUE: queue };

let conn: amqp.ChannelModel;
let ch: amqp.Channel;
let worker: WorkerProc | undefined;

/** Whether tmux is there for the terminal test (under CI it must be: .ci/run installs it). */
function tmuxPresent(): boolean {
  const ok = spawnSync('tmux', ['-V']).status === 0;
  if (!ok && requireServices())
    throw new Error('tmux is not installed, and CI=true/FJ_REQUIRE_BROKER=1 requires the terminal tests to run');
  return ok;
}

const count = async (q: string) => (await ch.checkQueue(q)).messageCount;

describe.skipIf(!available)('fj dead', () => {
  beforeAll(async () => {
    worker = await startWorkerProc(['--queue', queue, '--store', `file://${store}`, '-c', '1'], {
      FJ_BROKER_URL: BROKER_URL,
    });
    conn = await amqp.connect(BROKER_URL);
    ch = await conn.createChannel();
    // 1: not an fj message, with an escape sequence that must not reach a terminal raw.
    ch.sendToQueue(queue, Buffer.from('hello \u001b[31mred'), { messageId: 'text-1' });
    // 2: a well-formed fj message for a job no store knows.
    const headers = {
      'fj-protocol': 1,
      'fj-job': unknownJob,
      'fj-task': 'wordcount',
      'fj-code': '0123456789abcdef',
      'fj-params': `${unknownJob}/${'a'.repeat(64)}`,
      'fj-first': 0,
      'fj-count': 1,
    };
    ch.sendToQueue(queue, Buffer.from(encodeChecked({ first: 0, items: [encodeChecked('to be or not')] })), {
      messageId: `${unknownJob}:r1:0`,
      headers,
    });
    // 3: bytes that are not msgpack.
    ch.sendToQueue(queue, Buffer.from([0xc1, 0xff, 0x00, 0x9b]), {
      messageId: 'bytes-3',
      headers: { 'fj-protocol': 1 },
    });
    await waitFor('the worker to dead-letter the three messages', async () => (await count(dead)) === 3, 20_000);
    // 4: one that workers put back 50 times (no worker serving its task took it), as a worker leaves it there.
    ch.sendToQueue(dead, Buffer.from(encodeChecked({ first: 0, items: [encodeChecked('x')] })), {
      messageId: `${unknownJob}:r1:1`,
      headers: { ...headers, 'fj-task': 'nobody-serves-me', 'fj-declines': 50 },
    });
    await waitFor('the declined message', async () => (await count(dead)) === 4);
  });

  afterAll(async () => {
    if (worker) await stopWorkerProc(worker);
    await ch?.close().catch(() => {});
    await conn?.close().catch(() => {});
    if (available) await deleteQueues(queue);
    rmSync(store, { recursive: true, force: true });
  });

  it('list: the count, then each message with its reason, job, task and a safe preview; nothing taken', async () => {
    const r = await runFj(['dead', 'list'], { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^${dead.replace(/\./g, '\\.')}: 4 message\\(s\\)\n`));
    expect(r.stdout).not.toContain('\u001b'); // escaped, never raw
    // The worker refuses them in its own order; each block is found by its id.
    const block = (id: string) =>
      r.stdout.split(/^(?=#\d)/m).find((b) => b.includes(`id "${id}"`)) ?? `(no block for ${id})`;
    expect(block('text-1')).toMatch(
      /^#\d {2}id "text-1" {2}job missing {2}task missing {2}14 bytes\n {2}reason: {2}header fj-protocol: missing, expected 1 \(not an fj protocol 1 message\) \(rejected from \S+ at \S+\)\n {2}preview: text "hello \\u001b\[31mred"\n$/,
    );
    expect(block(`${unknownJob}:r1:0`)).toContain(`job "${unknownJob}"  task "wordcount"`);
    expect(block(`${unknownJob}:r1:0`)).toContain(
      "reason:  a well-formed fj message, refused for its job (its params are not in the worker's store",
    );
    expect(block(`${unknownJob}:r1:0`)).toContain('preview: 1 item(s): ["to be or not"]');
    expect(block(`${unknownJob}:r1:1`)).toContain(
      'reason:  put back 50 times by workers that do not serve task "nobody-serves-me": no worker of the pool serves it',
    );
    expect(block('bytes-3')).toMatch(
      /reason: {2}header fj-job: missing is not a job id.*\n {2}preview: hex c1 ff 00 9b\n$/,
    );
    expect(await count(dead)).toBe(4);
    // Given back in their order: a second list shows them in the same one.
    const again = await runFj(['dead', 'list', '--json'], { env });
    const list = JSON.parse(again.stdout) as { count: number; letters: { n: number; messageId: string }[] };
    expect(list.count).toBe(4);
    expect(list.letters.map((l) => `#${l.n}  id ${l.messageId}`).join('\n')).toBe(
      r.stdout.match(/^#\d {2}id \S+/gm)!.join('\n'),
    );
    const one = await runFj(['dead', 'list', '--json', '--limit', '1'], { env });
    expect((JSON.parse(one.stdout) as { letters: unknown[] }).letters).toHaveLength(1);
  });

  it('show N: one message with every header; a number past the end is a usage error', async () => {
    const list = JSON.parse((await runFj(['dead', 'list', '--json'], { env })).stdout) as {
      letters: { n: number; job: string }[];
    };
    const n = list.letters.find((l) => l.job === JSON.stringify(unknownJob))!.n;
    const r = await runFj(['dead', 'show', String(n), '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout) as {
      n: number;
      task: string;
      headers: Record<string, string>;
      death: { reason: string; queue: string; count: number };
    };
    expect(d.n).toBe(n);
    expect(d.headers['fj-job']).toBe(JSON.stringify(unknownJob));
    expect(d.death).toMatchObject({ reason: 'rejected', queue, count: 1 });
    const past = await runFj(['dead', 'show', '5'], { env });
    expect(past.code).toBe(2);
    expect(past.stderr).toBe(`fj: ${dead} holds 4 message(s): there is no number 5\n`);
  });

  it('purge off a terminal without --yes: refused, nothing deleted', async () => {
    const r = await runFj(['dead', 'purge'], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/pass --yes/);
    expect(await count(dead)).toBe(4);
  });

  it('requeue: what is not an item message back on the work queue (the worker stopped, they wait there); item messages whose code no worker runs stay, named; purge --yes empties the dead letters', async () => {
    await stopWorkerProc(worker!);
    worker = undefined;
    const r = await runFj(['dead', 'requeue'], { env });
    expect(r.code, r.stderr).toBe(2);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe(`fj: 2 message(s) from ${dead} sent back for another try: 2 to ${queue}`);
    // The two item messages name a code no live worker runs: they stay, each group named with its code and what to do.
    expect(lines[1]).toMatch(
      new RegExp(
        `^fj: 1 message\\(s\\) of job ${unknownJob} \\(task "wordcount", code 0123456789abcdef\\) left in ${dead.replace(/\./g, '\\.')}: no live worker of pool ${queue.replace(/\./g, '\\.')} runs that code \\(there is no queue ${queue.replace(/\./g, '\\.')}\\.code\\.wordcount\\.0123456789abcdef on the broker`,
      ),
    );
    expect(lines[2]).toMatch(/^1 message\(s\) of job \S+ \(task "nobody-serves-me", code 0123456789abcdef\) left in /);
    expect(r.stderr).toMatch(/then run 'fj dead requeue' again/);
    expect(await count(dead)).toBe(2);
    expect(await count(queue)).toBe(2);
    // Each as it was: body, id and headers.
    const back = new Map<string, amqp.GetMessage>();
    for (let m = await ch.get(queue, { noAck: true }); m; m = await ch.get(queue, { noAck: true }))
      back.set(String(m.properties.messageId), m);
    expect([...back.keys()].sort()).toEqual(['bytes-3', 'text-1'].sort());
    expect(back.get('text-1')!.properties.headers).not.toHaveProperty('x-death');
    expect(back.get('text-1')!.content.toString()).toBe('hello \u001b[31mred');
    expect(back.get('bytes-3')!.properties.headers).toMatchObject({ 'fj-protocol': 1 });

    ch.sendToQueue(dead, Buffer.from('x'));
    await waitFor('the message to reach the dead-letter queue', async () => (await count(dead)) === 3);
    const purged = await runFj(['dead', 'purge', '--yes'], { env });
    expect(purged.code, purged.stderr).toBe(0);
    expect(purged.stderr).toBe(`fj: 3 message(s) purged from ${dead}\n`);
    expect(await count(dead)).toBe(0);
  });

  it.runIf(tmuxPresent())('purge on a terminal asks first: "n" keeps the messages, "y" deletes them', async () => {
    ch.sendToQueue(dead, Buffer.from('x'));
    ch.sendToQueue(dead, Buffer.from('y'));
    await waitFor('two dead letters', async () => (await count(dead)) === 2);
    const socket = `fj-test-${randomUUID().slice(0, 8)}`;
    const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
    const q = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;
    const purge = (name: string) => {
      const cmd = ['env', `FJ_BROKER_URL=${BROKER_URL}`, `FJ_QUEUE=${queue}`, process.execPath, FJ_CLI, 'dead', 'purge']
        .map(q)
        .join(' ');
      tmux('new-session', '-d', '-s', name, '-x', '160', '-y', '12', `${cmd}; echo "exit $?"; sleep 600`);
      return () => tmux('capture-pane', '-p', '-t', name);
    };
    try {
      const first = purge('no');
      await waitFor(
        'the question',
        () => first().includes(`delete the 2 message(s) in ${dead} for good? [y/N]`),
        20_000,
        100,
      );
      tmux('send-keys', '-t', 'no', 'n', 'Enter');
      await waitFor('the answer to be taken', () => /fj: nothing purged\nexit 0/.test(first()), 20_000, 100);
      expect(await count(dead)).toBe(2);
      const second = purge('yes');
      await waitFor('the question', () => second().includes('for good? [y/N]'), 20_000, 100);
      tmux('send-keys', '-t', 'yes', 'y', 'Enter');
      await waitFor(
        'the purge',
        () => new RegExp(`fj: 2 message\\(s\\) purged from ${dead.replace(/\./g, '\\.')}\\nexit 0`).test(second()),
        20_000,
        100,
      );
      expect(await count(dead)).toBe(0);
    } finally {
      try {
        tmux('kill-server');
      } catch {
        // no session left
      }
    }
  });

  it('a pool with no dead-letter queue: a usage error naming it', async () => {
    const r = await runFj(['dead', 'list', '--queue', `fj.test.none.${randomUUID().slice(0, 8)}`], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^fj: no dead-letter queue fj\.test\.none\.\S+\.dead on the broker/);
  });
});
