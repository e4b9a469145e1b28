/**
 * Commands that point the right way: every command finds the store, broker
 * and pool by one rule (option, else $FJ_STORE_URL / $FJ_BROKER_URL /
 * $FJ_QUEUE, else the default); flags a command ignores are said to be
 * ignored; durations are bounded where they are parsed; error messages say
 * each thing once. The built `fj` in child processes, as a user runs it.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { runFj } from '../helpers/cli.js';
import { brokerAvailable, deleteQueues } from '../helpers/broker.js';
import { submit } from '../../src/detached/submit.js';

const root = join(import.meta.dirname, '..', '..');
const EXAMPLE = join(root, 'examples', 'wordcount.json');
const dir = mkdtempSync(join(tmpdir(), 'fj-location-'));
const available = await brokerAvailable();
/** A pool of this test's own: a submit that wrongly goes through must not leave a job on anyone's pool. */
const pool = `fj.test.location.${randomUUID().slice(0, 8)}`;

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (available) await deleteQueues(`${pool}.jobs`);
});

describe('one rule for where a command looks', () => {
  it('fj rerun reads $FJ_STORE_URL, and its message names no other command', async () => {
    const store = `file://${join(dir, 'env-store')}`;
    const id = randomUUID();
    const r = await runFj(['rerun', id], { env: { FJ_STORE_URL: store } });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`no job '${id}' in the store ${store}`);
    expect(r.stderr).not.toMatch(/resume/);
  });

  it.runIf(available)('fj status and fj cancel take --queue (the pool a job runs on)', async () => {
    for (const command of ['status', 'cancel']) {
      const r = await runFj([command, randomUUID(), '--queue', 'fj.test.location', '--store', `file://${dir}/s`]);
      expect(r.stderr, command).not.toMatch(/unknown option/);
    }
  });
});

describe('what a command says about its flags', () => {
  it('a broker URL of the wrong scheme says what it expects once', async () => {
    const r = await runFj(['run', 'wordcount', EXAMPLE, '-e', 'amqp', '--broker', 'http://127.0.0.1:5672']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.match(/amqp:\/\/ nor amqps:\/\//g)).toHaveLength(1);
  });

  it('--broker on a local run is said to be ignored', async () => {
    for (const executor of ['local', 'eager']) {
      const r = await runFj(['run', 'wordcount', EXAMPLE, '-e', executor, '--broker', 'amqp://elsewhere:5672']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(
        new RegExp(`^fj: --broker is ignored: -e ${executor} runs on this host without a broker`, 'm'),
      );
    }
  });
});

describe('failed items, said once', () => {
  it('collect with a retry: each failed item is listed once with its attempts, not twice', async () => {
    const input = join(dir, 'throws.json');
    writeFileSync(input, JSON.stringify({ n: 5, at: 2 }));
    const throws = join(root, 'test', 'fixtures', 'throws.ts');
    const r = await runFj([
      'run',
      throws,
      input,
      '-e',
      'eager',
      '--on-failure',
      'collect',
      '--retries',
      '1',
      '--retry-delay',
      '0',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^ {2}item 2: .*\(after 2 attempts\)$/m);
    expect(r.stderr).not.toMatch(/attempt\(s\)/);
  });
});

describe.runIf(available)('a broker URL naming a vhost the broker lacks', () => {
  it("names the vhost and the fix, not amqplib's ConnectionOpenOk", async () => {
    const r = await runFj(['status', randomUUID(), '--broker', 'amqp://guest:guest@127.0.0.1:5672/fj-no-such-vhost']);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/vhost 'fj-no-such-vhost'/);
    expect(r.stderr).toMatch(/rabbitmqctl add_vhost fj-no-such-vhost/);
    expect(r.stderr).not.toMatch(/ConnectionOpenOk/);
  });
});

describe('the job line', () => {
  it('with the broker down, no job line: there is no job to look at', async () => {
    const r = await runFj([
      'run',
      'wordcount',
      EXAMPLE,
      '-e',
      'amqp',
      '--broker',
      'amqp://127.0.0.1:1',
      '--store',
      `file://${dir}/down`,
    ]);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/cannot connect/);
    expect(r.stderr).not.toMatch(/fj: job /);
  });
});

describe('durations are bounded where they are parsed', () => {
  it.each(['100000000000d', '1000000000000'])(
    'fj submit --result-ttl %s: a usage error naming the flag and the maximum, nothing written',
    async (ttl) => {
      const store = join(dir, `ttl-${ttl}`);
      const r = await runFj([
        'submit',
        'wordcount',
        EXAMPLE,
        '--result-ttl',
        ttl,
        '--store',
        `file://${store}`,
        '--queue',
        pool,
      ]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/--result-ttl .*at most 3650d/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(existsSync(store) ? readdirSync(store) : []).toEqual([]);
    },
  );

  it('--item-timeout beyond what a timer can wait is refused, not fired at once', async () => {
    const r = await runFj(['run', 'wordcount', EXAMPLE, '--item-timeout', '1e12']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/--item-timeout .*at most/);
  });

  it('submit() with resultTtlMs 1e300 rejects with a clear error naming the option, before anything is written', async () => {
    const store = join(dir, 'api-ttl');
    await expect(
      submit('wordcount', { documents: ['a'] }, { store: `file://${store}`, queue: pool, resultTtlMs: 1e300 }),
    ).rejects.toThrow(/resultTtlMs.*at most/);
    expect(existsSync(store) ? readdirSync(store) : []).toEqual([]);
  });
});
