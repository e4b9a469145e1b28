/**
 * Running the built `fj` binary (dist/src/cli/main.js) as a user does, in a
 * child process: exit code, stdout and stderr. `FJ_TEST_CLI` points the
 * tests at another build (e.g. the commit before a fix, to see them fail).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export const FJ_CLI = process.env.FJ_TEST_CLI ?? join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');

/** What a run of `fj` did. */
export interface FjResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `fj ...args` in `cwd` with `stdin` piped in (closed when absent); killed (by its PID) after `timeoutMs`, so a hang fails the test. */
export function runFj(
  args: string[],
  options: {
    cwd?: string;
    stdin?: string;
    env?: NodeJS.ProcessEnv;
    timeoutMs?: number;
    /** Called with stderr so far, as it arrives (to wait for a line the child prints). */
    onStderr?: (stderr: string) => void;
  } = {},
): Promise<FjResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FJ_CLI, ...args], {
      cwd: options.cwd,
      env: { ...process.env, NO_COLOR: '1', ...options.env },
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      options.onStderr?.(stderr);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.stdin);
  });
}
