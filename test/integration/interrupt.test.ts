/**
 * How `fj` ends when its user or its surroundings stop it: Ctrl-C while
 * waiting for a detached job (on a terminal in tmux, and as `kill -INT`)
 * stops the wait with one plain line and exit 130, the job going on;
 * SIGTERM to `fj run -e amqp` cancels the job as Ctrl-C does; a reader that
 * closes the pipe early (`| head -c 200`) ends fj quietly.
 *
 * The waits use a pool of the test's own with no worker on it, so the job
 * stays queued for as long as the test needs. Needs RabbitMQ (skipped without
 * it, failing under CI) and, for the terminal case, tmux (likewise).
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { BROKER_URL, brokerAvailable, CLI } from '../helpers/broker.js';
import { runFj } from '../helpers/cli.js';
import { requireServices } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const SLEEPY = join(import.meta.dirname, '..', 'fixtures', 'sleepy.ts');
const UPPER = join(import.meta.dirname, '..', 'fixtures', 'upper.ts');
const dir = mkdtempSync(join(tmpdir(), 'fj-interrupt-'));
const store = `file://${join(dir, 'store')}`;
const pool = `fj.test.interrupt.${randomUUID().slice(0, 8)}`;
const available = await brokerAvailable();
const input = join(dir, 'input.json');
writeFileSync(input, JSON.stringify({ values: [1, 2, 3], ms: 10 }));

/** The one line a stopped wait prints: what happened, that the job goes on, how to wait again. */
const STOPPED = /^fj: stopped waiting \(Ctrl-C\); job ([0-9a-f-]{36}) goes on: 'fj result \1 --wait' waits again$/m;

function hasTmux(): boolean {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    if (requireServices()) throw new Error('tmux is not installed, and CI=true/FJ_REQUIRE_BROKER=1 requires it');
    console.warn('SKIPPING the terminal Ctrl-C test: tmux is not installed');
    return false;
  }
}

afterAll(async () => {
  if (available) {
    const conn = await amqp.connect(BROKER_URL);
    try {
      const ch = await conn.createChannel();
      for (const q of [pool, `${pool}.dead`, `${pool}.jobs`]) await ch.deleteQueue(q);
    } finally {
      await conn.close();
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

/** Starts `fj ...args` with its output collected; `exited` resolves to its exit code. */
function startFj(args: string[]) {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, NO_COLOR: '1' } });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  void exited.then(() => clearTimeout(timer));
  return { child, exited, out: () => stdout, err: () => stderr };
}

describe.runIf(available)('stopping a wait', () => {
  it('kill -INT on fj result --wait: one plain line, exit 130, the job goes on', { timeout: 60_000 }, async () => {
    const submitted = await runFj(['submit', SLEEPY, input, '--queue', pool, '--store', store]);
    expect(submitted.code, submitted.stderr).toBe(0);
    const id = submitted.stdout.trim();
    const waiter = startFj(['result', id, '--wait', '--store', store]);
    // The wait has begun once the child has polled a few times: its SIGINT handler is in place from the start.
    await new Promise((r) => setTimeout(r, 1500));
    expect(waiter.child.exitCode).toBeNull();
    waiter.child.kill('SIGINT');
    const code = await waiter.exited;
    expect(waiter.err()).toMatch(STOPPED);
    expect(waiter.err()).not.toMatch(/internal error|AbortError|\n\s+at /);
    // One line besides the one that said it was waiting.
    expect(
      waiter
        .err()
        .trim()
        .split('\n')
        .filter((l) => !/has not ended yet; waiting/.test(l)),
    ).toHaveLength(1);
    expect(code).toBe(130);
    // The job goes on: still queued, waited on again.
    const again = await runFj(['result', id, '--store', store]);
    expect(again.code, again.stderr).toBe(124);
  });

  it.runIf(hasTmux())('Ctrl-C on fj submit --wait in a terminal: what a person sees', { timeout: 60_000 }, async () => {
    const socket = `fj-test-${randomUUID().slice(0, 8)}`;
    const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
    const codeFile = join(dir, 'submit.code');
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const cmd = [process.execPath, CLI, 'submit', SLEEPY, input, '--queue', pool, '--store', store, '--wait']
      .map(q)
      .join(' ');
    try {
      tmux('new-session', '-d', '-s', 'w', '-x', '200', '-y', '20', `${cmd}; echo $? > ${q(codeFile)}; sleep 600`);
      const screen = () => tmux('capture-pane', '-p', '-t', 'w');
      await waitFor('the wait to begin', () => /submitted; waiting/.test(screen()), 30_000, 100);
      await new Promise((r) => setTimeout(r, 1000));
      tmux('send-keys', '-t', 'w', 'C-c');
      const code = await waitFor(
        'fj to end',
        () => existsSync(codeFile) && readFileSync(codeFile, 'utf8').trim() !== '' && readFileSync(codeFile, 'utf8'),
        20_000,
        100,
      );
      const seen = screen();
      expect(seen).toMatch(STOPPED);
      expect(seen).not.toMatch(/internal error|AbortError|caused by|\n\s+at /);
      expect(Number(code), seen).toBe(130);
    } finally {
      try {
        tmux('kill-server');
      } catch {
        // no server left
      }
    }
  });
});

describe.runIf(available)('stopping fj run -e amqp', () => {
  it('SIGTERM cancels the job as Ctrl-C does: exit 130, nothing left running', { timeout: 60_000 }, async () => {
    const run = startFj(['run', SLEEPY, input, '-e', 'amqp', '--queue', pool, '--store', store, '--no-progress']);
    const id = await waitFor('the job line', () => /fj: job ([0-9a-f-]{36})/.exec(run.err())?.[1], 30_000, 50);
    await waitFor('the items to be published', () => /runs task .* yet: start one/.test(run.err()), 30_000, 50);
    run.child.kill('SIGTERM');
    const code = await run.exited;
    expect(run.err()).toMatch(/^fj: terminated \(SIGTERM\): job cancelled$/m);
    expect(run.err()).not.toMatch(/\n\s+at /);
    expect(code).toBe(130);
    // No stale "running" job left behind for someone to cancel by hand.
    const status = await runFj(['status', id, '--store', store]);
    // The job stays listed, ended cancelled (attached jobs are in the index), never "running (stale)".
    expect(status.stdout).not.toMatch(/stale/);
    expect(status.stdout).toMatch(/state: +cancelled/);
    expect(status.code).toBe(0);
  });
});

describe.runIf(available)('a job whose coordinator died (kill -9): status and cancel name its pool', () => {
  it(
    'fj status shows the pool; fj cancel says which messages remain queued, not that they were deleted',
    { timeout: 60_000 },
    async () => {
      const run = startFj(['run', SLEEPY, input, '-e', 'amqp', '--queue', pool, '--store', store, '--no-progress']);
      const id = await waitFor('the job line', () => /fj: job ([0-9a-f-]{36})/.exec(run.err())?.[1], 30_000, 50);
      await waitFor('the items to be published', () => /runs task .* yet: start one/.test(run.err()), 30_000, 50);
      run.child.kill('SIGKILL');
      await run.exited;
      const status = await runFj(['status', id, '--store', store]);
      expect(status.code, status.stderr).toBe(0);
      expect(status.stdout).toMatch(
        new RegExp(`pool: +${pool.replace(/\./g, '\\.')}: [1-9]\\d* message\\(s\\) queued, 0 worker\\(s\\)`),
      );
      const cancel = await runFj(['cancel', id, '--store', store]);
      expect(cancel.code, cancel.stderr).toBe(0);
      expect(cancel.stderr).toMatch(
        new RegExp(`pool ${pool.replace(/\./g, '\\.')} still holds [1-9]\\d* queued message\\(s\\)`),
      );
      expect(cancel.stderr).not.toMatch(/its queue and store data are deleted/);
    },
  );

  it(
    'fj status --queue and fj cancel --queue name the pool when the job’s records no longer do',
    { timeout: 60_000 },
    async () => {
      const run = startFj(['run', SLEEPY, input, '-e', 'amqp', '--queue', pool, '--store', store, '--no-progress']);
      const id = await waitFor('the job line', () => /fj: job ([0-9a-f-]{36})/.exec(run.err())?.[1], 30_000, 50);
      await waitFor('the items to be published', () => /runs task .* yet: start one/.test(run.err()), 30_000, 50);
      run.child.kill('SIGKILL');
      await run.exited;
      // A store without the job's records (expired, or another one): only its results queue says it exists.
      const empty = `file://${mkdtempSync(join(dir, 'empty-store-'))}`;
      // Its items wait in its code's queue, which only its records name: the pool's own queue is what is left to show.
      const status = await runFj(['status', id, '--store', empty, '--queue', pool]);
      expect(status.code, status.stderr).toBe(0);
      expect(status.stdout).toMatch(new RegExp(`pool: +${pool.replace(/\./g, '\\.')}: \\d+ message\\(s\\) queued`));
      const without = await runFj(['status', id, '--store', empty], { env: { FJ_QUEUE: '' } });
      expect(without.stdout).not.toContain(pool);
      const cancel = await runFj(['cancel', id, '--store', empty, '--queue', pool]);
      expect(cancel.code, cancel.stderr).toBe(0);
      expect(cancel.stderr).toMatch(new RegExp(`fj: job ${id} cancelled`));
      expect(cancel.stderr).not.toMatch(/unknown option/);
    },
  );
});

describe('a reader that stops early (| head -c 200)', () => {
  it('fj ends quietly: no EPIPE stack, exit 141 as a program stopped by SIGPIPE', { timeout: 60_000 }, async () => {
    const big = join(dir, 'big.json');
    // 2,000 items of 1 kB: 2 MB of output, far more than a pipe holds.
    writeFileSync(big, JSON.stringify({ items: Array.from({ length: 2000 }, () => 'x'.repeat(1000)) }));
    const child = spawn(process.execPath, [CLI, 'run', UPPER, big, '-e', 'eager'], {
      env: { ...process.env, NO_COLOR: '1' },
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 50_000);
    // Read the first bytes, then close our end, as head -c 200 does.
    await new Promise<void>((r) => child.stdout.once('data', () => r()));
    child.stdout.destroy();
    const code = await exited;
    clearTimeout(timer);
    expect(stderr).toBe('');
    expect(code).toBe(141);
  });
});
