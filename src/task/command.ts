/**
 * Running a program for one item: spawned from an argv array (never through
 * a shell, so an item's data is never read as code), in a process group of
 * its own, killed with that group when the item's signal aborts (an item
 * timeout, a cancel) or its own timeout passes, its stdout bounded, and any
 * way it can fail — not found, a non-zero exit, a signal, too much output —
 * turned into an error that names the program and ends with its stderr.
 * `CommandTask` (./command-task.ts) runs one per item; a hook of any task may
 * call {@link runCommand} itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { CancelledError, UnrecoverableError } from '../core/errors.js';

/** What to run for one item. */
export interface Command {
  /**
   * The program and its arguments: `['python3', 'align.py', item.path]`.
   * `argv[0]` is looked up on `PATH` unless it holds a `/`. No shell reads
   * them: `;`, `$()`, `*` and spaces in an argument are passed as they are.
   */
  argv: readonly string[];
  /** Written to the program's standard input, which is then closed. Default: none (it reads end of file). */
  stdin?: string | Uint8Array;
  /** The directory it runs in. Default: the worker's current directory. */
  cwd?: string;
  /**
   * Variables set (or, with `undefined`, removed) on top of the worker's
   * environment. Default: the worker's environment as it is.
   */
  env?: Record<string, string | undefined>;
  /**
   * Kills the program (its whole process group) and fails the item when it
   * runs longer than this, in ms. Default: none — the item timeout
   * (`--item-timeout`, a stage's `itemTimeoutMs`) still applies.
   */
  timeoutMs?: number;
  /**
   * The most bytes of standard output read; a program that prints more is
   * killed and the item fails (pass large results by file, see the README's
   * "Stages that run programs"). Default {@link DEFAULT_MAX_STDOUT_BYTES}.
   */
  maxStdoutBytes?: number;
}

/** What a program that exited with code 0 printed. */
export interface CommandOutput {
  /** Its standard output, decoded as UTF-8. */
  stdout: string;
  /** The last {@link STDERR_TAIL_BYTES} bytes of its standard error (decoded as UTF-8). */
  stderrTail: string;
  /** How long it ran, in ms. */
  ms: number;
}

/** Options of {@link runCommand}. */
export interface RunCommandOptions {
  /** Kills the program (its process group) when aborted; `runCommand` then rejects with the signal's reason. Pass the hook's `ctx.signal`. */
  signal?: AbortSignal;
}

/** {@link Command.maxStdoutBytes}'s default: 64 MiB. */
export const DEFAULT_MAX_STDOUT_BYTES = 64 * 1024 * 1024;
/** How much of a program's stderr an error quotes (its end: where the reason usually is). */
export const STDERR_TAIL_BYTES = 2048;

/** Process groups of the programs running in this thread, killed if it exits with them still running. */
const running = new Set<ChildProcess>();
let exitHook = false;

/**
 * Runs `command` and resolves to what it printed when it exits with code 0.
 *
 * Rejects with an `Error` naming the program when it exits with another
 * code, dies of a signal, or outlives `timeoutMs` (the message ends with its
 * stderr's last 2 KB; another attempt may succeed), and with
 * `UnrecoverableError` when it cannot be started (no such program, not
 * executable, no such `cwd`) or prints more than `maxStdoutBytes`. When
 * `options.signal` aborts, the program's process group is killed and the
 * promise rejects with the signal's reason.
 *
 * The program runs in a process group of its own (on POSIX systems), so
 * killing it kills what it started too (a script's own subprocesses); it is
 * killed with SIGKILL, with no chance to clean up, so a program should write
 * its output files under a temporary name and rename them when complete.
 */
export function runCommand(command: Command, options: RunCommandOptions = {}): Promise<CommandOutput> {
  const argv = checkCommand(command);
  const name = describeArgv(argv);
  const maxStdout = command.maxStdoutBytes ?? DEFAULT_MAX_STDOUT_BYTES;
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(abortReason(signal));

  return new Promise<CommandOutput>((resolve, reject) => {
    const started = performance.now();
    const child = spawn(argv[0], argv.slice(1), {
      cwd: command.cwd,
      env: command.env ? mergeEnv(command.env) : process.env,
      stdio: [command.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      // Its own process group: killing -pid reaches whatever it started, and a
      // terminal's Ctrl-C reaches fj, which cancels, rather than every program at once.
      detached: process.platform !== 'win32',
      windowsHide: true,
    });
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    const stderr = new TailBuffer(STDERR_TAIL_BYTES);
    /** Why fj killed it, when it did: what the promise rejects with. */
    let killedFor: Error | undefined;
    let timer: NodeJS.Timeout | undefined;

    const kill = (why: Error) => {
      if (killedFor) return;
      killedFor = why;
      killGroup(child);
    };
    const onAbort = () => kill(abortReason(signal!));
    const settle = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      running.delete(child);
    };

    child.once('error', (err: NodeJS.ErrnoException) => {
      settle();
      // Spawning failed (the child never ran): ENOENT for a missing program or cwd, EACCES for one not executable.
      reject(killedFor ?? startError(err, argv, command.cwd));
    });
    child.stdout!.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > maxStdout) {
        kill(
          new UnrecoverableError(
            `${name} printed more than ${maxStdout} bytes on stdout (maxStdoutBytes) and was killed: ` +
              'write a large result to a file and print its path, or raise maxStdoutBytes',
          ),
        );
        return;
      }
      stdout.push(chunk);
    });
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
    if (child.stdin) {
      // A program that exits without reading its stdin closes the pipe: not an error of ours.
      child.stdin.on('error', () => {});
      child.stdin.end(command.stdin);
    }
    if (child.pid === undefined) return; // 'error' follows
    running.add(child);
    if (!exitHook) {
      exitHook = true;
      process.once('exit', () => running.forEach(killGroup));
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    if (command.timeoutMs !== undefined)
      timer = setTimeout(
        () => kill(new Error(`${name} ran longer than its timeout of ${formatMs(command.timeoutMs!)} and was killed`)),
        command.timeoutMs,
      );

    child.once('close', (code, sig) => {
      settle();
      const ms = performance.now() - started;
      const tail = stderr.text();
      if (killedFor) {
        if (!(killedFor instanceof UnrecoverableError) && !isCancel(killedFor, signal))
          killedFor.message += stderrNote(tail);
        return reject(killedFor);
      }
      if (code === 0) return resolve({ stdout: Buffer.concat(stdout).toString('utf8'), stderrTail: tail, ms });
      const how = sig ? `was killed by ${sig}` : `exited with code ${code}`;
      reject(new Error(`${name} ${how}${stderrNote(tail)}`));
    });
  });
}

/** `argv` checked: a non-empty array of strings (a message naming what is wrong otherwise). */
function checkCommand(command: Command): string[] {
  if (typeof command !== 'object' || command === null)
    throw new TypeError(`a command must be an object { argv: [program, ...args] }, got ${String(command)}`);
  const { argv } = command;
  if (!Array.isArray(argv) || argv.length === 0 || argv.some((a) => typeof a !== 'string'))
    throw new TypeError(
      `a command's argv must be a non-empty array of strings ([program, ...args]), got ${JSON.stringify(argv)}`,
    );
  if (!argv[0]) throw new TypeError('a command names no program: argv[0] is empty');
  const { timeoutMs, maxStdoutBytes } = command;
  if (timeoutMs !== undefined && !(Number.isInteger(timeoutMs) && timeoutMs > 0))
    throw new TypeError(`a command's timeoutMs must be a positive integer (ms), got ${String(timeoutMs)}`);
  if (maxStdoutBytes !== undefined && !(Number.isInteger(maxStdoutBytes) && maxStdoutBytes >= 0))
    throw new TypeError(`a command's maxStdoutBytes must be a non-negative integer, got ${String(maxStdoutBytes)}`);
  return argv as string[];
}

/** Why a program could not be started, with what to do about it. */
function startError(err: NodeJS.ErrnoException, argv: string[], cwd: string | undefined): Error {
  const program = JSON.stringify(argv[0]);
  if (err.code === 'ENOENT' && cwd !== undefined && !existsSync(cwd))
    return new UnrecoverableError(`cannot run ${program}: its cwd ${JSON.stringify(cwd)} does not exist`);
  if (err.code === 'ENOENT')
    return new UnrecoverableError(
      argv[0].includes('/')
        ? `cannot run ${program}: no such file (relative paths start from ${cwd ?? process.cwd()})`
        : `cannot run ${program}: no such program on this worker's PATH; install it there, or give its full path as argv[0]`,
    );
  if (err.code === 'EACCES')
    return new UnrecoverableError(`cannot run ${program}: permission denied (is it executable? chmod +x)`);
  return new UnrecoverableError(`cannot run ${program}: ${err.message}`);
}

/** Kills a program's process group (POSIX) or the program itself; a group already gone is no error. */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    if (process.platform === 'win32') child.kill('SIGKILL');
    else process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL'); // the group is gone (ESRCH): the child alone, if still there
  }
}

function mergeEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new CancelledError();
}

function isCancel(err: Error, signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true && (err === signal.reason || err instanceof CancelledError);
}

function stderrNote(tail: string): string {
  const t = tail.trimEnd();
  return t ? `; its stderr ended with:\n${t}` : ' (its stderr was empty)';
}

/**
 * A program's argv as a reader would type it (arguments with spaces or
 * quotes JSON-quoted), shortened to 200 characters, in backquotes.
 */
export function describeArgv(argv: readonly string[]): string {
  const text = argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
  return `\`${text.length > 200 ? `${text.slice(0, 199)}…` : text}\``;
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** The last `limit` bytes written to it. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private bytes = 0;
  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    while (this.chunks.length > 1 && this.bytes - this.chunks[0].length >= this.limit)
      this.bytes -= this.chunks.shift()!.length;
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    const cut = all.length > this.limit ? all.subarray(all.length - this.limit) : all;
    // A cut through a UTF-8 character decodes to U+FFFD at the start: drop it.
    const text = cut.toString('utf8').replace(/^\uFFFD+/, '');
    return all.length > this.limit ? `…${text}` : text;
  }
}
