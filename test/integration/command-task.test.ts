/**
 * CommandTask and runCommand (src/task/command*.ts): real programs (`node
 * -e`, `sh -c`, python3) run per item on eager and local; the failure
 * message of each way a program can fail; a program and what it started
 * killed when its timeout passes, the item timeout passes or the job is
 * cancelled (checked by PID); and a pipeline whose middle stage runs a
 * python3 script on files the first stage wrote, here and with that stage
 * on a pool of `fj worker` processes.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { codeQueue } from '../../src/broker/amqp.js';
import { describeTask } from '../../src/task/registry.js';
import {
  BROKER_URL,
  brokerAvailable,
  deleteQueue,
  deleteQueues,
  startWorkerProc,
  stopWorkerProc,
  type WorkerProc,
} from '../helpers/broker.js';
import { CancelledError, pipeline, run, runCommand, runPipeline, type RunOptions } from '../../src/index.js';
import { Files, Programs, PyStats, Sum, type ProgramItem } from '../fixtures/command-stages.js';

const dir = mkdtempSync(join(tmpdir(), 'fj-command-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Whether a process is running (a zombie awaiting its reaper counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function waitFor(check: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return check();
}

let pidFiles: string[] = [];
let programs = 0;
/** A `sh -c` item that writes its own PID and its background `sleep`'s to a file, then waits: a program with a child. */
function stuckWithChild(): { item: ProgramItem; pids: () => number[] } {
  const file = join(dir, `pids-${++programs}`);
  pidFiles.push(file);
  const pids = () => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number) : []);
  return { item: { argv: ['sh', '-c', 'echo $$ > "$1"; sleep 30 & echo $! >> "$1"; wait', 'sh', file] }, pids };
}
afterEach(() => {
  // A failing test must not leave sleeps behind.
  for (const file of pidFiles)
    if (existsSync(file))
      for (const pid of readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number))
        if (alive(pid)) process.kill(pid, 'SIGKILL');
  pidFiles = [];
});

const node = (script: string, ...args: string[]): ProgramItem => ({ script, args });
const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as Error,
  );

describe.each([
  ['eager', { executor: 'eager' }],
  ['local', { executor: 'local', concurrency: 2 }],
] as const)('a CommandTask on %s', (_name, options: RunOptions) => {
  it('runs a program per item and parses the JSON it prints; arguments reach it verbatim, with no shell', async () => {
    const out = await run(
      Programs,
      {
        items: [
          node('console.log(JSON.stringify({ n: Number(process.argv[1]) * 2 }))', '21'),
          node('process.stdout.write(JSON.stringify(process.argv.slice(1)))', '$(touch pwned); *', 'it\'s "quoted"'),
          {
            ...node(
              'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.stringify(s.toUpperCase())))',
            ),
            stdin: 'from stdin',
          },
          {
            ...node('console.log(JSON.stringify([process.cwd(), process.env.FJ_CMD_VAR]))'),
            cwd: dir,
            env: { FJ_CMD_VAR: 'set' },
          },
        ],
      },
      options,
    );
    expect(out).toEqual([{ n: 42 }, ['$(touch pwned); *', 'it\'s "quoted"'], 'FROM STDIN', [dir, 'set']]);
    expect(existsSync('pwned')).toBe(false);
  });

  it('a non-zero exit fails the item with its exit code and the last 2 KB of its stderr', async () => {
    const err = await failure(
      run(
        Programs,
        { items: [node('process.stderr.write("x".repeat(5000) + "\\nthe real reason\\n"); process.exit(3)')] },
        options,
      ),
    );
    expect(err?.message).toMatch(
      /^programs\.process on item 0 failed: `\S+ -e .*` exited with code 3; its stderr ended with:\n…x+\nthe real reason$/,
    );
    expect(err!.message.length).toBeLessThan(2400);
  });

  it('a program killed by a signal fails the item naming the signal', async () => {
    const err = await failure(run(Programs, { items: [node('process.kill(process.pid, "SIGSEGV")')] }, options));
    expect(err?.message).toContain('was killed by SIGSEGV');
  });

  it('stdout that is not JSON fails the item naming it and quoting the start of stdout', async () => {
    const err = await failure(
      run(Programs, { items: [node('console.log("Score: 12 (not json)")', 'seq-7')] }, { ...options, retries: 2 }),
    );
    expect(err?.message).toContain('the program\'s stdout for item "{\\"script\\":');
    expect(err?.message).toContain('seq-7');
    expect(err?.message).toContain('it begins "Score: 12 (not json)\\n"');
    expect(err?.message).toContain('print one JSON value on stdout and logs on stderr, or override parse()');
  });

  it('a missing program fails the item naming argv[0] (not retried)', async () => {
    const started = Date.now();
    const err = await failure(
      run(
        Programs,
        { items: [{ argv: ['fj-no-such-program', '--help'] }] },
        { ...options, retries: 3, retryDelayMs: 2000 },
      ),
    );
    expect(err?.message).toContain(
      'cannot run "fj-no-such-program": no such program on this worker\'s PATH; install it there, or give its full path as argv[0]',
    );
    expect(Date.now() - started).toBeLessThan(2000); // no retry waited for
  });

  it('stdout over maxStdoutBytes kills the program and fails the item', async () => {
    const err = await failure(
      run(
        Programs,
        {
          items: [{ ...node('setInterval(() => process.stdout.write("y".repeat(4096)), 1)'), maxStdoutBytes: 100_000 }],
        },
        options,
      ),
    );
    expect(err?.message).toContain('printed more than 100000 bytes on stdout (maxStdoutBytes) and was killed');
  });

  it("the command's own timeout kills the program and what it started", async () => {
    const stuck = stuckWithChild();
    const err = await failure(run(Programs, { items: [{ ...stuck.item, timeoutMs: 700 }] }, options));
    expect(err?.message).toMatch(
      /`sh -c .*` ran longer than its timeout of 700 ms and was killed \(its stderr was empty\)$/,
    );
    expect(stuck.pids()).toHaveLength(2);
    expect(await waitFor(() => !stuck.pids().some(alive), 2000)).toBe(true);
  });

  it('the item timeout kills the program and what it started', async () => {
    const stuck = stuckWithChild();
    const err = await failure(run(Programs, { items: [stuck.item] }, { ...options, itemTimeoutMs: 700 }));
    expect(err?.message).toContain('timed out after 700 ms');
    expect(stuck.pids()).toHaveLength(2);
    expect(await waitFor(() => !stuck.pids().some(alive), 3000)).toBe(true);
  });

  it('a cancel kills the program and what it started', async () => {
    const stuck = stuckWithChild();
    const abort = new AbortController();
    const job = failure(run(Programs, { items: [stuck.item] }, { ...options, signal: abort.signal }));
    expect(await waitFor(() => stuck.pids().length === 2, 10_000)).toBe(true);
    abort.abort();
    expect(await job).toBeInstanceOf(CancelledError);
    expect(await waitFor(() => !stuck.pids().some(alive), 3000)).toBe(true);
  });
});

describe('runCommand', () => {
  it('resolves to stdout and the tail of stderr, and rejects at once on an aborted signal', async () => {
    const out = await runCommand({ argv: ['sh', '-c', 'echo out; echo err >&2'] });
    expect(out.stdout).toBe('out\n');
    expect(out.stderrTail).toBe('err\n');
    await expect(
      runCommand({ argv: ['true'] }, { signal: AbortSignal.abort(new CancelledError()) }),
    ).rejects.toBeInstanceOf(CancelledError);
  });

  it('refuses an argv that is not a non-empty array of strings, and names a missing cwd', async () => {
    expect(() => runCommand({ argv: [] })).toThrow(/argv must be a non-empty array of strings/);
    expect(() => runCommand({ argv: 'ls -l' as never })).toThrow(/argv must be a non-empty array of strings/);
    await expect(runCommand({ argv: ['true'], cwd: join(dir, 'nope') })).rejects.toThrow(
      `cannot run "true": its cwd "${join(dir, 'nope')}" does not exist`,
    );
  });
});

describe('a pipeline with a stage that runs a python3 script', () => {
  it('passes files by path: stage 1 writes them, stage 2 runs a script on each, stage 3 adds up', async () => {
    const shared = join(dir, 'shared');
    const p = pipeline(Files).pipe(PyStats).pipe(Sum);
    const r = await runPipeline(p, { count: 30, dir: shared }, { executor: 'local', concurrency: 2 });
    // File i holds 1..i+1: its sum is (i+1)(i+2)/2.
    let expected = 0;
    for (let i = 0; i < 30; i++) expected += ((i + 1) * (i + 2)) / 2;
    expect(r.output).toEqual({ total: expected, programs: 30 });
    expect(r.stages.map((s) => [s.stage, s.stats.items, s.stats.failed])).toEqual([
      ['files', 30, 0],
      ['pystats', 30, 0],
      ['sum', 30, 0],
    ]);
  });
});

const available = await brokerAvailable();

describe.runIf(available)('a CommandTask on amqp (a real fj worker)', () => {
  const pool = `fj.test.command.${randomUUID()}`;
  const store = pathToFileURL(mkdtempSync(join(dir, 'store-'))).href;
  const opts = { executor: 'amqp' as const, queue: pool, broker: BROKER_URL, store };
  let worker: WorkerProc;

  beforeAll(async () => {
    worker = await startWorkerProc(
      [
        '--queue',
        pool,
        '--store',
        store,
        '--tasks',
        join(import.meta.dirname, '..', 'fixtures', 'command-stages.ts'),
        '-c',
        '2',
      ],
      { FJ_BROKER_URL: BROKER_URL },
    );
  }, 60_000);

  afterAll(async () => {
    await stopWorkerProc(worker);
    await deleteQueues(pool);
    for (const cls of [Programs, PyStats]) {
      const info = describeTask(cls);
      await deleteQueue(codeQueue(pool, info.name, info.codeHash)).catch(() => {});
    }
  });

  it('the item timeout and a cancel kill the program the worker started, and what it started', async () => {
    const timedOut = stuckWithChild();
    const err = await failure(run(Programs, { items: [timedOut.item] }, { ...opts, itemTimeoutMs: 1000 }));
    expect(err?.message).toContain('timed out after 1 s');
    expect(timedOut.pids()).toHaveLength(2);
    expect(await waitFor(() => !timedOut.pids().some(alive), 3000)).toBe(true);

    const cancelled = stuckWithChild();
    const abort = new AbortController();
    const job = failure(run(Programs, { items: [cancelled.item] }, { ...opts, signal: abort.signal }));
    expect(await waitFor(() => cancelled.pids().length === 2, 20_000)).toBe(true);
    abort.abort();
    expect(await job).toBeInstanceOf(CancelledError);
    expect(await waitFor(() => !cancelled.pids().some(alive), 3000)).toBe(true);
  });

  it('a pipeline whose python3 stage runs on the pool, the others here', async () => {
    const p = pipeline(Files, { executor: 'local' }).pipe(PyStats).pipe(Sum, { executor: 'local' });
    const r = await runPipeline(p, { count: 12, dir: join(dir, 'shared-amqp') }, opts);
    let expected = 0;
    for (let i = 0; i < 12; i++) expected += ((i + 1) * (i + 2)) / 2;
    expect(r.output).toEqual({ total: expected, programs: 12 });
  });
});
