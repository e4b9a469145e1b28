/**
 * The progress bar on a real terminal: `fj run` in a tmux pane (a pty, so
 * stderr is a TTY), the screen read with `tmux capture-pane -p` while the job
 * runs. The bar shows there, and with `--no-progress` it never does. A tmux
 * server of the test's own (`-L`), ended by its socket, never anyone else's.
 *
 * Needs tmux: skipped with a warning where it is missing, except under CI
 * (CI=true or FJ_REQUIRE_BROKER=1), where that fails; .ci/run installs it.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/broker.js';
import { requireServices } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const SLEEPY = join(import.meta.dirname, '..', 'fixtures', 'sleepy.ts');
const CHATTY = join(import.meta.dirname, '..', 'fixtures', 'chatty.ts');
const ITEMS = 40;
/** The bar's line once the total is known: `<task> <bar> 25% | 10/40 items | 9/s | ETA ...`. */
const BAR = new RegExp(`\\d+% \\| \\d+/${ITEMS} items \\| \\d+/s`);

function hasTmux(): boolean {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    if (requireServices())
      throw new Error(
        'tmux is not installed, and CI=true/FJ_REQUIRE_BROKER=1 requires the terminal tests to run (.ci/run installs it)',
      );
    console.warn('SKIPPING progress bar tests: tmux is not installed');
    return false;
  }
}

describe.runIf(hasTmux())('fj run on a terminal (tmux)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fj-progress-'));
  const socket = `fj-test-${randomUUID().slice(0, 8)}`;
  const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
  writeFileSync(
    join(dir, 'input.json'),
    JSON.stringify({ values: Array.from({ length: ITEMS }, (_, i) => i), ms: 100 }),
  );

  afterAll(() => {
    try {
      tmux('kill-server');
    } catch {
      // no session left
    }
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Starts `fj run` (one thread, 40 items of 100 ms: about 4 s) in a pane of
   * its own; the output goes to a file, so the screen shows only stderr. The
   * exit code lands in `<name>.code`, and the pane stays open afterwards.
   */
  function start(
    name: string,
    flags: string[],
    task = SLEEPY,
    input = join(dir, 'input.json'),
  ): { screen: () => string; code: () => number | undefined; out: string } {
    const out = join(dir, `${name}.json`);
    const codeFile = join(dir, `${name}.code`);
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const cmd = [
      process.execPath,
      CLI,
      'run',
      task,
      input,
      '-e',
      'local',
      '-c',
      task === SLEEPY ? '1' : '2',
      '--out',
      out,
      ...flags,
    ]
      .map(q)
      .join(' ');
    tmux('new-session', '-d', '-s', name, '-x', '160', '-y', '16', `${cmd}; echo $? > ${q(codeFile)}; sleep 600`);
    return {
      screen: () => tmux('capture-pane', '-p', '-t', name),
      code: () =>
        existsSync(codeFile) && readFileSync(codeFile, 'utf8').trim()
          ? Number(readFileSync(codeFile, 'utf8'))
          : undefined,
      out,
    };
  }

  const expected = Array.from({ length: ITEMS }, (_, i) => i * 2);

  it('shows the progress bar while the job runs, and clears it at the end', { timeout: 60_000 }, async () => {
    const job = start('bar', []);
    const seen = await waitFor(
      'the progress bar on the screen',
      () => {
        const s = job.screen();
        return BAR.test(s) && s;
      },
      30_000,
      100,
    );
    expect(job.code(), `the bar showed only after the job ended:\n${seen}`).toBeUndefined();
    const code = await waitFor('the job to end', () => job.code(), 30_000, 100);
    expect(code, job.screen()).toBe(0);
    expect(JSON.parse(readFileSync(job.out, 'utf8'))).toEqual(expected);
    expect(job.screen()).not.toMatch(BAR);
  });

  it('--no-progress: no bar at any time while the job runs', { timeout: 60_000 }, async () => {
    const job = start('quiet', ['--no-progress']);
    const screens: string[] = [];
    const code = await waitFor(
      'the job to end',
      () => {
        const c = job.code();
        if (c === undefined) screens.push(job.screen());
        return c;
      },
      30_000,
      100,
    );
    expect(code, job.screen()).toBe(0);
    expect(JSON.parse(readFileSync(job.out, 'utf8'))).toEqual(expected);
    // Looked at the screen all along the run (about 4 s), not only after it.
    expect(screens.length).toBeGreaterThan(10);
    expect(screens.filter((s) => s.trim() !== '')).toEqual([]);
  });

  /** A task's log lines, whole: `fj warn [chatty local.1] reached item 250, ...`. */
  const LOG =
    /^fj (info|warn) \[chatty [^\]]+\] (first item|reached item \d+, a long line of text so that a torn line would show)$/;
  const CHATTY_ITEMS = 1000;
  const SUMMARY = new RegExp(`^fj: chatty: ${CHATTY_ITEMS} items, 0 failed, 0 retried, \\d+\\.\\d s$`);

  /** Runs chatty (a generator setup, a warn every 250 items, 2 threads) and looks at every screen while it runs. */
  async function chatty(name: string, hint: boolean, bar: RegExp): Promise<{ screens: string[]; last: string }> {
    const input = join(dir, `${name}.input.json`);
    writeFileSync(input, JSON.stringify({ count: CHATTY_ITEMS, ms: 5, hint }));
    const job = start(name, [], CHATTY, input);
    const screens: string[] = [];
    const code = await waitFor(
      'the job to end',
      () => {
        const c = job.code();
        if (c === undefined) screens.push(job.screen());
        return c;
      },
      30_000,
      50,
    );
    const last = job.screen();
    expect(code, last).toBe(0);
    expect(JSON.parse(readFileSync(job.out, 'utf8'))).toBe(CHATTY_ITEMS);
    const withBar = screens.filter((s) => bar.test(s));
    expect(withBar.length, `the bar never showed:\n${screens.at(-1)}`).toBeGreaterThan(2);
    // Once a generator is exhausted (its last items in flight) the total is known, and the bar says so.
    const TOTAL_BAR = /^chatty \S+ \d+% \| \d+\/\d+ items \| \d+\/s \| ETA \S+( s)?$/;
    for (const s of screens) {
      const lines = s.split('\n').filter((l) => l.trim() !== '');
      // every line is a whole log line, but the last, which may be the bar (or the summary, as the job ends)
      lines.forEach((l, k) => {
        // The bar also names the phase around the items: `chatty setup…` before them, and once every
        // item is in, `chatty join…` or the last bar with `| join…` in place of the rate.
        const PHASE = /^chatty ((setup|join)…|.* \| \d+(\/\d+)? items \| join…)$/;
        if (k === lines.length - 1 && (bar.test(l) || TOTAL_BAR.test(l) || SUMMARY.test(l) || PHASE.test(l))) return;
        expect(l, `a torn or stale line on the screen:\n${s}`).toMatch(LOG);
      });
    }
    return { screens, last };
  }

  /** What stays once the job is over: every log line whole, no bar, one summary line. */
  function expectEnd(last: string, bar: RegExp): void {
    const lines = last.split('\n').filter((l) => l.trim() !== '');
    expect(
      lines.filter((l) => /^fj warn /.test(l)),
      last,
    ).toHaveLength(CHATTY_ITEMS / 250);
    // a task's own info line shows without -v
    expect(
      lines.filter((l) => /^fj info .*first item$/.test(l)),
      last,
    ).toHaveLength(1);
    expect(last).not.toMatch(bar);
    expect(lines.at(-1), last).toMatch(SUMMARY);
    expect(
      lines.slice(0, -1).every((l) => LOG.test(l)),
      last,
    ).toBe(true);
  }

  it(
    'logs print above the bar, whole; the bar is labelled with the task name; a summary line stays',
    { timeout: 60_000 },
    async () => {
      // no hint: done and rate, no total
      const bar = /^chatty \d+ items \| \d+\/s$/m;
      const { last } = await chatty('logs', false, bar);
      expectEnd(last, bar);
    },
  );

  it(
    'a generator setup that calls ctx.expectItems gets a total, a percentage and an ETA',
    { timeout: 60_000 },
    async () => {
      const bar = new RegExp(`^chatty \\S+ \\d+% \\| \\d+/${CHATTY_ITEMS} items \\| \\d+/s \\| ETA \\S+( s)?$`, 'm');
      const { last } = await chatty('hint', true, bar);
      expectEnd(last, bar);
    },
  );
});
