/**
 * What a newcomer ran into (issue 12), through the built `fj` binary:
 * `--version`, a typo's "did you mean", tasks of one's own listed and found
 * by name, a job line that fits 120 columns, the errors hooks' wrong return
 * values get (a BigInt, a `join` output that is not JSON, a null `setup`),
 * `--stats` totals with `--on-failure collect`, and `fj worker` started
 * before its broker.
 */
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BROKER_URL, brokerAvailable, deleteQueues } from '../helpers/broker.js';
import { FJ_CLI, runFj } from '../helpers/cli.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';
import { FailuresError, run } from '../../src/index.js';

const root = join(import.meta.dirname, '..', '..');
const fixture = (name: string) => join(root, 'test', 'fixtures', name);
const WRONG = fixture('wrong-returns.ts');
const dir = mkdtempSync(join(tmpdir(), 'fj-newcomer-'));
const available = await brokerAvailable();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fj = (args: string[], stdin?: string) => runFj(args, { cwd: dir, stdin });

describe('the command line', () => {
  it('fj --version prints the package version', async () => {
    const r = await fj(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version}\n`);
  });

  it("a close typo of a task name: exit 2, did you mean 'wordcount'?", async () => {
    const r = await fj(['run', 'wordcont', '-'], '{}');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^fj: unknown task 'wordcont' \(did you mean 'wordcount'\?\)/);
    const far = await fj(['run', 'zzz', '-'], '{}');
    expect(far.stderr).not.toMatch(/did you mean/);
  });

  it('fj tasks MODULE and fj tasks --dir DIR list tasks of ones own; fj run NAME finds ./tasks/NAME.ts', async () => {
    mkdirSync(join(dir, 'tasks'), { recursive: true });
    writeFileSync(join(dir, 'tasks', 'adder.ts'), `export { default } from ${JSON.stringify(fixture('sum.ts'))};\n`);
    const one = await fj(['tasks', fixture('throws.ts')]);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toBe('throws  test fixture: a hook that throws\n');
    const inDir = await fj(['tasks', '--dir', 'tasks']);
    expect(inDir.code, inDir.stderr).toBe(0);
    expect(inDir.stdout).toBe('adder  test fixture: sum of doubled integers\n');
    const byName = await fj(['run', 'adder', '-', '-e', 'local', '-c', '1'], JSON.stringify({ count: 4 }));
    expect(byName.code, byName.stderr).toBe(0);
    expect(JSON.parse(byName.stdout)).toEqual(12);
    const builtins = await fj(['tasks']);
    expect(builtins.stdout).toMatch(/^wordcount /m);
    expect(builtins.stderr).toBe("fj: ./tasks holds 1 task module(s) too: 'fj tasks --dir tasks' lists them\n");
    const empty = await fj(['tasks', '--dir', 'nowhere']);
    expect(empty.code).toBe(2);
  });

  it.skipIf(!available)('-e amqp: the job line fits a 120-column terminal', async () => {
    // A pool with no worker: the job waits once it exists (its line printed), then Ctrl-C cancels it.
    const queue = `fj.test.newcomer.${randomUUID().slice(0, 8)}`;
    const child = spawn(process.execPath, [FJ_CLI, 'run', 'wordcount', '-', '-e', 'amqp', '--queue', queue], {
      cwd: dir,
      env: { ...process.env, NO_COLOR: '1' },
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    child.stdin.end('{"documents": ["a b"]}');
    try {
      await waitFor('the job line', () => stderr.includes('\n'), 20_000);
    } finally {
      child.kill('SIGINT');
      await exited;
      await deleteQueues(queue);
    }
    const r = { stderr };
    const line = r.stderr.split('\n')[0];
    expect(line).toMatch(/^fj: job [0-9a-f-]{36} \(fj status \| cancel \| resume [0-9a-f-]{36}\)$/);
    expect(line.length).toBeLessThanOrEqual(120);
  });
});

describe("hooks' wrong return values: exit 1 naming the hook, never an internal error", () => {
  const input = (mode: string) => JSON.stringify({ n: 5, at: 2, mode });
  it.each(['eager', 'local'])('-e %s: process returning a BigInt names process and the item', async (executor) => {
    const r = await fj(['run', WRONG, '-', '-e', executor, '-c', '1'], input('bigint-result'));
    expect(r.code).toBe(1);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.stderr).toMatch(/^fj: wrong-returns\.process on item 2: value at \/ cannot be serialized: a bigint/);
    expect(r.stdout).toBe('');
  });

  it.each([
    ['map-join', /value at \/ is a Map/],
    ['undefined-join', /value at \/ is undefined/],
    ['function-join', /value at \/ is a function/],
    ['nan-join', /value at \/mean is NaN/],
  ])('join returning %s: exit 1 naming join, no output (also with -o)', async (mode, what) => {
    const r = await fj(['run', WRONG, '-', '-e', 'eager'], input(mode));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^fj: wrong-returns\.join failed: join must return JSON data \(the job's output\): /);
    expect(r.stderr).toMatch(what);
    const out = join(dir, `${mode}.json`);
    const withFile = await fj(['run', WRONG, '-', '-e', 'eager', '-o', out], input(mode));
    expect(withFile.code).toBe(1);
    expect(existsSync(out)).toBe(false);
  });

  it('setup returning null is reported as null', async () => {
    const r = await fj(['run', WRONG, '-', '-e', 'eager'], input('null-setup'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^fj: wrong-returns\.setup failed: setup must return an array, an iterable or an async iterable, got null\n/,
    );
  });

  it('--on-failure collect --stats: total, succeeded and failed', async () => {
    const stats = join(dir, 'stats.json');
    const r = await fj(
      ['run', fixture('throws.ts'), '-', '-e', 'eager', '--on-failure', 'collect', '--stats', stats],
      JSON.stringify({ n: 10, at: 3 }),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(stats, 'utf8'))).toMatchObject({ total: 10, succeeded: 9, failed: 1 });
  });
  it('past the failure limit: fj names its flag --max-failures, the API its option maxFailures', async () => {
    const r = await fj(
      ['run', fixture('throws.ts'), '-', '-e', 'eager', '--on-failure', 'collect', '--max-failures', '0'],
      JSON.stringify({ n: 5, at: 3 }),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^fj: 1 of 5 items failed, more than the 0 allowed \(--max-failures\):\n {2}item 3: /);
    expect(r.stderr).not.toContain('maxFailures');
    const json = await fj(
      [
        'run',
        fixture('throws.ts'),
        '-',
        '-e',
        'eager',
        '--on-failure',
        'collect',
        '--max-failures',
        '0',
        '--log-format',
        'json',
      ],
      JSON.stringify({ n: 5, at: 3 }),
    );
    expect(JSON.parse(json.stderr.trim().split('\n').at(-1)!)).toMatchObject({
      msg: expect.stringContaining('(--max-failures)'),
    });
    const { default: Throws } = await import('../fixtures/throws.js');
    const thrown = await run(
      Throws,
      { n: 5, at: 3 },
      { executor: 'eager', onFailure: 'collect', maxFailures: 0 },
    ).catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(FailuresError);
    expect((thrown as Error).message).toMatch(/^1 of 5 items failed, more than the 0 allowed \(maxFailures\):\n/);
    expect((thrown as Error).message).not.toContain('--max-failures');
  });
});

describe.skipIf(!available)('fj worker started before its broker', () => {
  const queue = `fj.test.wait.${randomUUID().slice(0, 8)}`;
  afterAll(() => deleteQueues(queue));

  /** Starts `fj worker` with `args`; its output so far and its exit. */
  function worker(args: string[]) {
    const child = spawn(process.execPath, [FJ_CLI, 'worker', '--queue', queue, '-c', '1', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    return { child, out: () => out, exited };
  }

  it('waits, logging each attempt, and serves once the broker answers', async () => {
    const u = new URL(BROKER_URL);
    const proxy = await TcpProxy.start(u.hostname, Number(u.port || 5672));
    proxy.cut(); // the broker is "down": connections are accepted and closed at once
    const w = worker(['--broker', proxy.via(BROKER_URL)]);
    try {
      await waitFor(
        'two logged attempts',
        () => (w.out().match(/waiting for the broker \(attempt \d+/g)?.length ?? 0) >= 2,
        20_000,
      );
      proxy.restore();
      await waitFor('the worker to serve', () => /serving /.test(w.out()), 30_000);
      w.child.kill('SIGTERM');
      expect(await w.exited).toBe(0);
    } finally {
      w.child.kill('SIGKILL');
      await proxy.close();
    }
  });

  it('stops at SIGTERM while waiting (exit 0); --no-wait-broker exits 3 at once', async () => {
    const down = 'amqp://guest:guest@127.0.0.1:1';
    const w = worker(['--broker', down]);
    await waitFor('a logged attempt', () => /waiting for the broker \(attempt 1/.test(w.out()), 20_000);
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    expect(w.out()).toMatch(/SIGTERM while waiting for the broker: stopped/);
    const started = Date.now();
    const now = await runFj(['worker', '--queue', queue, '-c', '1', '--broker', down, '--no-wait-broker']);
    expect(now.code).toBe(3);
    expect(now.stderr).toMatch(/^fj: cannot connect to RabbitMQ at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:1/);
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});
