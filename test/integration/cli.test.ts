/**
 * The `fj` command as a user runs it: the built dist/src/cli/main.js in a
 * child process (test/global-setup.ts builds it). Checks stdout (nothing but
 * the output JSON), stderr and the exit codes: 0 ok, 1 a hook failed, 2 usage
 * or input error, 3 broker trouble. The amqp cases run against the real
 * RabbitMQ with an `fj worker` process of their own.
 */
import { spawn } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BROKER_URL,
  brokerAvailable,
  deleteQueues,
  startWorkerProc,
  stopWorkerProc,
  type WorkerProc,
} from '../helpers/broker.js';
import { EXAMPLE_COUNTS } from '../helpers/expected.js';
import { waitFor } from '../helpers/wait.js';

const root = join(import.meta.dirname, '..', '..');
const CLI = join(root, 'dist', 'src', 'cli', 'main.js');
const EXAMPLE = join(root, 'examples', 'wordcount.json');
const THROWS = join(root, 'test', 'fixtures', 'throws.ts');
const SLEEPY = join(root, 'test', 'fixtures', 'sleepy.ts');
const dir = mkdtempSync(join(tmpdir(), 'fj-cli-test-'));
const available = await brokerAvailable();

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `fj ...args` in the temp dir, with `stdin` piped in (closed when absent); killed (by its PID) after 30 s, so a hang fails the test instead of outliving it. */
function fj(args: string[], stdin?: string, env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: dir, env: { ...process.env, NO_COLOR: '1', ...env } });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', () => clearTimeout(timer));
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

/** Writes a file in the temp dir and returns its name (relative to the CLI's cwd). */
function file(name: string, content: string): string {
  writeFileSync(join(dir, name), content);
  return name;
}

const EXPECTED = { word_count: EXAMPLE_COUNTS };
const EXPECTED_TEXT = `${JSON.stringify(EXPECTED, null, 2)}\n`;

describe('fj run', () => {
  it.each(['local', 'eager'])('-e %s: exit 0, stdout is exactly the output JSON, stderr empty', async (executor) => {
    const r = await fj(['run', 'wordcount', EXAMPLE, '-e', executor, '-c', '2']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(EXPECTED_TEXT);
  });

  it('every line a task writes to stderr in a worker thread is out, whole, before the command exits', async () => {
    // The threads' writes travel to the main thread's stderr asynchronously: a command that ended
    // without waiting for its threads to exit lost the last ones (3,000-6,300 of these 20,000 lines
    // made it, in 5 tries of 6).
    const r = await fj([
      'run',
      join(root, 'test', 'fixtures', 'stderr-lines.ts'),
      file('lines.json', '{"n": 20000}'),
      '-c',
      '2',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('20000\n');
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(20_000);
    expect(lines.every((l) => /^line \d+ x{1000}$/.test(l))).toBe(true);
    expect(new Set(lines).size).toBe(20_000);
  });

  it("reads the input from standard input with '-'", async () => {
    const r = await fj(['run', 'wordcount', '-', '-e', 'eager'], JSON.stringify({ documents: ['to be or not to be'] }));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ word_count: { be: 2, not: 1, or: 1, to: 2 } });
  });

  it('--out FILE writes the output there and nothing on stdout', async () => {
    const r = await fj(['run', 'wordcount', EXAMPLE, '--out', 'out.json', '-c', '1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('');
    expect(readFileSync(join(dir, 'out.json'), 'utf8')).toBe(EXPECTED_TEXT);
  });

  it('--stats FILE writes the job figures as JSON', async () => {
    const r = await fj(['run', 'wordcount', EXAMPLE, '--stats', 'stats.json', '-c', '2']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(EXPECTED_TEXT);
    const stats = JSON.parse(readFileSync(join(dir, 'stats.json'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(stats).sort()).toEqual([
      'bytesPublished',
      'bytesStored',
      'failed',
      'failures',
      'items',
      'messages',
      'retried',
      'succeeded',
      'total',
      'wallMs',
    ]);
    expect(stats).toMatchObject({ total: 6, succeeded: 6, failed: 0, failures: [], retried: 0 });
    expect(stats.items).toBe(6);
    expect(stats.messages).toBeGreaterThan(0);
    expect(stats.bytesPublished).toBeGreaterThan(0);
    expect(stats.bytesStored).toBe(0);
    expect(stats.wallMs).toEqual(expect.any(Number));
  });

  // Root could write anywhere: only the owner check keeps fj from running or leaving code in another user's cache.
  it.runIf(process.getuid?.() === 0)(
    'a validator cache owned by another user (nobody): the run works and leaves the cache untouched',
    async () => {
      const theirs = join(dir, 'nobodys-cache');
      mkdirSync(theirs, { mode: 0o755 });
      chownSync(theirs, 65534, 65534);
      const r = await fj(['run', 'wordcount', EXAMPLE, '-e', 'eager'], undefined, { FJ_CACHE_DIR: theirs });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(EXPECTED_TEXT);
      expect(readdirSync(theirs)).toEqual([]);
    },
  );

  it("--log-format json: every stderr line is a JSON log object (task logs from the threads, fj's own lines, errors), the output unchanged on stdout", async () => {
    const chatty = join(root, 'test', 'fixtures', 'chatty.ts');
    const input = file('chatty.json', JSON.stringify({ count: 300 }));
    const parse = (stderr: string) =>
      stderr
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { time: string; level: string; scope: string; msg: string; exitCode?: number });
    const r = await fj(['run', chatty, input, '-c', '2', '--log-format', 'json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toBe(300);
    const lines = parse(r.stderr);
    for (const l of lines) {
      expect(Object.keys(l).sort()).toEqual(['level', 'msg', 'scope', 'time']);
      expect(new Date(l.time).toISOString()).toBe(l.time);
    }
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 'info',
        msg: 'first item',
        scope: expect.stringMatching(/^chatty thread\.\d$/),
      }),
    );
    expect(lines.filter((l) => l.level === 'warn' && l.msg.startsWith('reached item'))).toHaveLength(2); // items 0 and 250

    const missing = await fj(['run', 'wordcount', 'no-such.json', '--log-format', 'json']);
    expect(missing.code).toBe(2);
    expect(parse(missing.stderr)).toEqual([
      { time: expect.any(String), level: 'error', scope: 'fj', msg: 'input file not found: no-such.json', exitCode: 2 },
    ]);
  });

  it('passes the delimiter from the input', async () => {
    const input = file('commas.json', JSON.stringify({ documents: ['a,b', 'b,,c'], delimiter: ',' }));
    const r = await fj(['run', 'wordcount', input, '-e', 'eager']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ word_count: { a: 1, b: 2, c: 1 } });
  });

  describe('exit 2: usage and input errors, nothing on stdout', () => {
    it('a missing input file, named in the message', async () => {
      const r = await fj(['run', 'wordcount', 'no-such-input.json']);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe('fj: input file not found: no-such-input.json\n');
    });

    it('invalid JSON, naming the file, the line and the column', async () => {
      const bad = file('trailing-comma.json', '{\n  "documents": [\n    "a",\n  ]\n}\n');
      const r = await fj(['run', 'wordcount', bad]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe("fj: trailing-comma.json: invalid JSON: Unexpected token ']' at line 4, column 3\n");
    });

    it('truncated JSON, at its end', async () => {
      const bad = file('truncated.json', '{"documents": ["a"');
      const r = await fj(['run', 'wordcount', bad]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^fj: truncated\.json: invalid JSON: .* at line 1, column 19\n$/);
    });

    it('schema violations, each with its JSON path', async () => {
      const bad = file('violations.json', JSON.stringify({ documents: ['ok', 2], color: 'red' }));
      const r = await fj(['run', 'wordcount', bad]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(
        'fj: violations.json does not match the schema (2 problems):\n' +
          '  /color: is not allowed here (unknown property)\n' +
          '  /documents/1: must be string\n',
      );
    });

    it('an unknown task, listing the known ones', async () => {
      const r = await fj(['run', 'no-such-task', EXAMPLE]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^fj: unknown task 'no-such-task'/);
      expect(r.stderr).toMatch(/built-in tasks: .*\bwordcount\b/);
    });

    it('an unknown task before a bad input: the file is read while the task loads, but the task is named first', async () => {
      for (const input of [file('broken.json', '{"documents": ['), join(dir, 'missing.json')]) {
        const r = await fj(['run', 'no-such-task', input]);
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/^fj: unknown task 'no-such-task'/);
        expect(r.stderr).not.toMatch(/broken\.json|missing\.json/);
      }
    });

    it.each([
      [['-c', '0'], /--concurrency must be an integer from 1 and up, got '0'/],
      [['--concurrency', 'many'], /--concurrency must be an integer from 1 and up, got 'many'/],
      [['-e', 'cloud'], /argument 'cloud' is invalid\. Allowed choices are eager, local, amqp/],
      [['--inline-limit', '-5'], /--inline-limit must be an integer from 1 and up, got '-5'/],
      [['--no-such-flag'], /unknown option '--no-such-flag'/],
    ])('a bad option %j, naming the option and the value', async (flags, message) => {
      const r = await fj(['run', 'wordcount', EXAMPLE, ...flags]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(message);
    });
  });

  describe('-o and --stats targets are checked before any work', () => {
    // Items that would take 20 s: a check made after the work would show in the time taken.
    const slow = file('slow.json', JSON.stringify({ values: [1], ms: 20_000 }));

    it.each([
      ['-o', '/no/such/dir/out.json', 'no such directory'],
      ['--stats', '/no/such/dir/s.json', 'no such directory'],
      ['-o', '.', 'is a directory'],
      ['--stats', 'plain-file.txt/s.json', 'not a directory'],
    ])('%s %s: exit 2 at once, naming the path, no stack', async (flag, target, why) => {
      file('plain-file.txt', 'x');
      const started = Date.now();
      const r = await fj(['run', SLEEPY, slow, '-e', 'eager', flag, target]);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(target === '.' ? dir : target);
      expect(r.stderr).toContain(why);
      expect(r.stderr).toMatch(new RegExp(`^fj: cannot write ${flag === '-o' ? 'the output' : 'the stats'} to `));
      expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    });

    it('fj resume checks them too, before looking for the job', async () => {
      const r = await fj(['resume', 'no-such-job', '-o', '/no/such/dir/out.json']);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        'fj: cannot write the output to /no/such/dir/out.json: no such directory (checked before running the job)\n',
      );
    });

    it('when writing still fails after the work, the output is kept in a file next to the cwd and the message says where', async () => {
      const sub = join(dir, 'vanishing');
      mkdirSync(sub, { recursive: true });
      const started = join(dir, 'vanishing-started');
      const input = file('half-second.json', JSON.stringify({ values: [1, 2], ms: 1500, started }));
      const running = fj([
        'run',
        SLEEPY,
        input,
        '-e',
        'eager',
        '-o',
        'vanishing/out.json',
        '--stats',
        'vanishing/stats.json',
      ]);
      await waitFor('the first item to start (the targets were checked before it)', () => existsSync(started), 20_000);
      rmSync(sub, { recursive: true, force: true }); // gone after the check, before the write
      const r = await running;
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
      const saved = /cannot write the output to \S+: .*; it was saved to (\S+) instead/.exec(r.stderr);
      expect(saved, r.stderr).not.toBeNull();
      expect(JSON.parse(readFileSync(saved![1], 'utf8'))).toEqual([2, 4]);
      const stats = /cannot write the stats to \S+: .*; they were saved to (\S+) instead/.exec(r.stderr);
      expect(stats, r.stderr).not.toBeNull();
      expect(JSON.parse(readFileSync(stats![1], 'utf8'))).toMatchObject({ items: 2 });
    });
  });

  describe('exit 1: a hook threw', () => {
    const input = file('throws.json', JSON.stringify({ n: 20, at: 7 }));

    it.each(['eager', 'local'])('-e %s: names the hook and the item, no stack trace', async (executor) => {
      const r = await fj(['run', THROWS, input, '-e', executor, '-c', '2']);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(
        'fj: throws.process on item 7 failed: item 7 is cursed\n(run with --verbose for the stack trace)\n',
      );
    });

    /** The hook's own stack: the error, its cause, and the frame in the task that threw. */
    function expectHookStack(r: Result): void {
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('fj: throws.process on item 7 failed: item 7 is cursed\n');
      expect(r.stderr).toContain('caused by: RangeError: item 7 is cursed\n');
      expect(r.stderr).toMatch(/\n\s+at explode \(.*test\/fixtures\/throws\.ts:\d+:\d+\)/);
      expect(r.stderr).not.toContain('(run with --verbose');
    }

    it.each(['eager', 'local'])(
      '-e %s --verbose prints the stack, down to the line in the task that threw',
      async (executor) => {
        expectHookStack(await fj(['run', THROWS, input, '-e', executor, '-c', '2', '--verbose']));
      },
    );

    describe.runIf(available)('-e amqp, items run by an fj worker process', () => {
      const queue = `fj.test.cli.${randomUUID()}`;
      let worker: WorkerProc;
      beforeAll(async () => {
        worker = await startWorkerProc(['--queue', queue, '--tasks', THROWS, '--concurrency', '2'], {
          FJ_BROKER_URL: BROKER_URL,
        });
      });
      afterAll(async () => {
        await stopWorkerProc(worker);
        await deleteQueues(queue);
      });
      const amqp = () => ['-e', 'amqp', '--broker', BROKER_URL, '--queue', queue];

      it('names the hook and the item, no stack trace', async () => {
        const r = await fj(['run', THROWS, input, ...amqp()]);
        expect(r.code).toBe(1);
        expect(r.stdout).toBe('');
        expect(r.stderr).toMatch(
          /^fj: job \S+ \(fj status .*\)\nfj: throws\.process on item 7 failed: item 7 is cursed\n\(run with --verbose for the stack trace\)\n$/,
        );
      });

      it('--verbose prints the stack thrown in the worker process, down to the line in the task', async () => {
        expectHookStack(await fj(['run', THROWS, input, ...amqp(), '--verbose']));
      });
    });
  });

  describe('exit 3: broker trouble', () => {
    // Port 1: nothing listens there (only root could), so the connection is refused at once.
    const unreachable = 'amqp://fjuser:s3cr3t-pw@127.0.0.1:1';

    it('an unreachable broker: one line naming it (password hidden), no stack, nothing on stdout', async () => {
      const r = await fj(['run', 'wordcount', EXAMPLE, '-e', 'amqp', '--broker', unreachable]);
      expect(r.code).toBe(3);
      expect(r.stdout).toBe('');
      const lines = r.stderr.split('\n');
      expect(lines.at(-2)).toMatch(
        /^fj: cannot connect to RabbitMQ at amqp:\/\/fjuser:\*\*\*@127\.0\.0\.1:1\b.*ECONNREFUSED/,
      );
      expect(lines.at(-1)).toBe('');
      expect(r.stderr).not.toMatch(/^\s+at /m);
      expect(r.stderr).not.toContain('s3cr3t-pw');
    });

    it('--verbose adds the stack, still without the password', async () => {
      const r = await fj(['run', 'wordcount', EXAMPLE, '-e', 'amqp', '--broker', unreachable, '--verbose']);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/^fj: cannot connect to RabbitMQ at amqp:\/\/fjuser:\*\*\*@127\.0\.0\.1:1\b/m);
      expect(r.stderr).toMatch(/^TransportError: cannot connect to RabbitMQ/m);
      expect(r.stderr).toMatch(/^\s+at /m);
      expect(r.stderr).not.toContain('s3cr3t-pw');
    });
  });
});

describe('bad queue names and broker URLs: exit 2 before connecting, no stack', () => {
  const long = 'q'.repeat(300);
  const cases: [string, string[], RegExp][] = [
    ['an empty queue name', ['--queue', ''], /queue name .*empty/],
    ["a queue name starting with 'amq.'", ['--queue', 'amq.x'], /'amq\.' .*reserved/],
    ['a 300-character queue name', ['--queue', long], /300 .*at most 250/],
    ['a queue name with a newline', ['--queue', 'a\nb'], /queue name/],
    ['a broker port out of range', ['--broker', 'amqp://guest:guest@127.0.0.1:99999'], /port 99999 .*1-65535/],
    [
      'a bad %-escape in the broker URL',
      ['--broker', 'amqp://gu%zzest:s3cret@127.0.0.1:5672'],
      /percent-encoding .*user name/,
    ],
    ['an http:// broker URL', ['--broker', 'http://127.0.0.1:15672'], /neither amqp:\/\/ nor amqps:\/\//],
    ['a broker URL that is not a URL', ['--broker', 'not a url'], /broker URL/],
  ];
  const commands: [string, string[], (extra: string[]) => boolean][] = [
    ['fj worker', ['worker'], () => true],
    ['fj run -e amqp', ['run', 'wordcount', EXAMPLE, '-e', 'amqp'], () => true],
    ['fj status', ['status', 'some-job'], (extra) => extra[0] === '--broker'],
    ['fj cancel', ['cancel', 'some-job'], (extra) => extra[0] === '--broker'],
    ['fj resume', ['resume', 'some-job'], (extra) => extra[0] === '--broker'],
  ];
  for (const [cmd, args, applies] of commands) {
    for (const [what, extra, message] of cases) {
      if (!applies(extra)) continue;
      it(`${cmd}: ${what}`, async () => {
        const started = Date.now();
        const r = await fj([...args, ...extra]);
        expect(r.code, r.stderr).toBe(2);
        expect(Date.now() - started).toBeLessThan(10_000);
        expect(r.stdout).toBe('');
        expect(r.stderr).toMatch(/^fj: /);
        expect(r.stderr).toMatch(message);
        expect(r.stderr).not.toMatch(/internal error|\n\s+at |s3cret/);
        expect(r.stderr.length).toBeLessThan(600); // names the bad value, without echoing 300 characters of it
      });
    }
  }
});

describe('fj tasks', () => {
  it('lists wordcount with its description', async () => {
    const r = await fj(['tasks']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^wordcount +Count the words in a list of documents$/m);
  });

  it('lists the built-in pipelines with their stages', async () => {
    const r = await fj(['tasks']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^align-campaign +pipeline: prepare \| align \| summary; on error: failure-record$/m);
  });
});

describe('fj validate', () => {
  it('accepts a good input: exit 0', async () => {
    const r = await fj(['validate', 'wordcount', EXAMPLE]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${EXAMPLE}: valid input for wordcount\n`);
  });

  it('accepts a good input from standard input', async () => {
    const r = await fj(['validate', 'wordcount', '-'], '{"documents": []}');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('standard input: valid input for wordcount\n');
  });

  it('rejects a bad input: exit 2 with the problems and their paths', async () => {
    const bad = file('bad-validate.json', JSON.stringify({ documents: [1], delimiter: '' }));
    const r = await fj(['validate', 'wordcount', bad]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      'fj: bad-validate.json does not match the schema (2 problems):\n' +
        '  /documents/0: must be string\n' +
        '  /delimiter: must NOT have fewer than 1 characters\n',
    );
  });
});

describe('fj --help', () => {
  it('prints usage with the commands, exit 0', async () => {
    const r = await fj(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: fj /);
    for (const command of ['run', 'tasks', 'validate']) expect(r.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
  });

  it('run --help lists the options, exit 0', async () => {
    const r = await fj(['run', '--help']);
    expect(r.code).toBe(0);
    for (const flag of ['--executor', '--concurrency', '--out', '--stats', '--verbose'])
      expect(r.stdout).toContain(flag);
  });
});
