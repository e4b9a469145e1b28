/**
 * The README as a newcomer follows it, in a project of their own. fj is
 * packed (`npm pack`, as a user installs a tarball), installed into a temp
 * copy of examples/ (its own package.json, tasks/, schemas/, input.json and
 * a vitest test), and the README's steps run there: `npx fj run` of a
 * TypeScript task by path and by name (local threads, eager, and amqp with
 * an `fj worker --tasks` of the project), `fj tasks --dir`, a pipeline of
 * the project's own (`fj run ./pipelines/count-primes.ts`), and the
 * project's own vitest tests importing built-in tasks through the package's
 * exports and running that pipeline eagerly.
 * Twice: as an ES module project and as a CommonJS one (`npm init -y`, no
 * "type"), which share one installed node_modules.
 *
 * Every README block marked `<!-- file: examples/… -->` must be that file,
 * word for word: when the README and the code disagree, this fails.
 */
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerAvailable, deleteQueues } from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';

const root = join(import.meta.dirname, '..', '..');
const examples = join(root, 'examples');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'fj-readme-'));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
const available = await brokerAvailable();

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command in `cwd` (killed after 120 s); resolves with its exit code and output, never rejects on a non-zero exit. */
async function sh(cmd: string, args: string[], cwd: string): Promise<Result> {
  try {
    const { stdout, stderr } = await promisify(execFile)(cmd, args, {
      cwd,
      timeout: 120_000,
      env: { ...process.env, NO_COLOR: '1', npm_config_update_notifier: 'false' },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string; message: string };
    return {
      code: typeof e.code === 'number' ? e.code : -1,
      stdout: e.stdout ?? '',
      stderr: `${e.stderr ?? ''}${e.message}`,
    };
  }
}

/** The README's code blocks that follow a `<!-- file: PATH -->` line, by path. */
function readmeFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const m of readme.matchAll(/<!-- file: (\S+) -->\s*\n```\w*\n([\s\S]*?)```/g)) files.set(m[1], m[2]);
  return files;
}

/** The project files a newcomer writes, copied from examples/ into `to`. */
function copyProject(to: string): void {
  mkdirSync(to, { recursive: true });
  for (const part of ['tasks', 'schemas', 'test', 'pipelines', 'input.json', 'count-primes.json'])
    cpSync(join(examples, part), join(to, part), { recursive: true });
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the README', () => {
  it('shows examples/ as it is: every marked block is that file', () => {
    const files = readmeFiles();
    expect([...files.keys()].sort()).toEqual([
      'examples/input.json',
      'examples/pipelines/count-primes.ts',
      'examples/schemas/primes.schema.json',
      'examples/tasks/primes.ts',
      'examples/test/pipelines.test.ts',
      'examples/test/tasks.test.ts',
    ]);
    for (const [path, text] of files) expect(text, path).toBe(readFileSync(join(root, path), 'utf8'));
    // Pasted as is, a schema block must parse (no `// file name` comment in JSON).
    for (const path of ['examples/schemas/primes.schema.json', 'examples/input.json'])
      expect(() => JSON.parse(files.get(path)!), path).not.toThrow();
  });
});

describe.each(['module', 'commonjs'] as const)('a newcomer project (%s)', (kind) => {
  const project = join(dir, kind);

  beforeAll(async () => {
    if (kind === 'module') {
      // Packed without scripts: dist/ is built already (test/global-setup.ts), and a rebuild would race the other test files.
      const packed = await sh(npm, ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], root);
      expect(packed.code, packed.stderr).toBe(0);
      const tarball = join(dir, packed.stdout.trim().split('\n').pop()!);
      copyProject(project);
      cpSync(join(examples, 'package.json'), join(project, 'package.json'));
      // From npm's cache (the main project installed the same versions): no registry round trips.
      const version = (name: string) =>
        (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string })
          .version;
      const installed = await sh(
        npm,
        [
          'install',
          '--prefer-offline',
          '--no-audit',
          '--no-fund',
          '--ignore-scripts',
          tarball,
          `vitest@${version('vitest')}`,
          `@types/node@${version('@types/node')}`, // the README's `npm install -D vitest @types/node`
        ],
        project,
      );
      expect(installed.code, installed.stderr).toBe(0);
    } else {
      // `npm init -y`: "type" commonjs or none, so .js and .ts files are CommonJS. The ES module project's node_modules serves it too.
      mkdirSync(project, { recursive: true });
      const init = await sh(npm, ['init', '-y'], project);
      expect(init.code, init.stderr).toBe(0);
      expect(JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')).type ?? 'commonjs').toBe('commonjs'); // npm 11 writes "commonjs", older ones nothing
      copyProject(project);
      symlinkSync(join(dir, 'module', 'node_modules'), join(project, 'node_modules'), 'dir');
    }
  }, 180_000);

  it('npx fj run ./tasks/primes.ts input.json prints the output (local executor: worker threads load the .ts)', async () => {
    const r = await sh(npx, ['fj', 'run', './tasks/primes.ts', 'input.json', '-c', '2'], project);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ primes: 1229 }); // primes below 10,000
  });

  it('npx fj run primes finds ./tasks/primes.ts by name; fj tasks --dir tasks lists it', async () => {
    const r = await sh(npx, ['fj', 'run', 'primes', 'input.json', '-e', 'eager'], project);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ primes: 1229 });
    const tasks = await sh(npx, ['fj', 'tasks', '--dir', 'tasks'], project);
    expect(tasks.code, tasks.stderr).toBe(0);
    expect(tasks.stdout).toMatch(/^primes +Count the primes in a list of ranges$/m);
  });

  it('npx fj run ./pipelines/count-primes.ts runs a pipeline of its own tasks (named stages) on threads', async () => {
    const r = await sh(npx, ['fj', 'run', './pipelines/count-primes.ts', 'count-primes.json', '-c', '2'], project);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ primes: 1229 });
  });

  it("the project's vitest tests pass (fj/tasks/wordcount through the package's exports; its pipeline, eager)", async () => {
    const r = await sh(npx, ['vitest', 'run', '--reporter=dot'], project);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/2 passed \(2\)/); // test files
    expect(r.stdout).toMatch(/5 passed \(5\)/);
  });

  it("the README's TypeScript type-checks (strict, module nodenext: fj's and fj/tasks/*'s types through the exports)", async () => {
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = await sh(
      process.execPath,
      [
        tsc,
        '--noEmit',
        '--strict',
        '--target',
        'es2022',
        '--module',
        'nodenext',
        '--moduleResolution',
        'nodenext',
        '--skipLibCheck',
        'tasks/primes.ts',
        'tasks/ranges.ts',
        'pipelines/count-primes.ts',
        'test/tasks.test.ts',
        'test/pipelines.test.ts',
      ],
      project,
    );
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
  });

  it('JavaScript tasks load too: ES module syntax in either kind of project, CommonJS syntax in a CommonJS one', async () => {
    const body =
      'extends ForkJoinTask { static schema = { type: "array", items: { type: "integer" } }; setup(xs) { return xs; } process(x) { return 2 * x; } join(ys) { return ys; } }';
    writeFileSync(
      join(project, 'tasks', 'double.js'),
      `import { ForkJoinTask } from 'fj';\nexport default class Double ${body}\n`,
    );
    const files = ['./tasks/double.js'];
    if (kind === 'commonjs') {
      writeFileSync(
        join(project, 'tasks', 'double-cjs.js'),
        `const { ForkJoinTask } = require('fj');\nmodule.exports = class DoubleCjs ${body};\n`,
      );
      files.push('./tasks/double-cjs.js');
    }
    writeFileSync(join(project, 'numbers.json'), '[1, 2, 3]');
    if (kind === 'commonjs') {
      // require('fj') in a CommonJS task is fj itself, not a second copy compiled to CommonJS: one fj module in require.cache.
      const copies = `Object.keys(require.cache).filter((k) => k.includes(${JSON.stringify(`${join('fj', 'dist')}`)})).length`;
      writeFileSync(
        join(project, 'tasks', 'fj-copies.js'),
        `const { ForkJoinTask } = require('fj');\nmodule.exports = class FjCopies extends ForkJoinTask { static schema = {}; setup() { return [1]; } process(x) { return x; } join() { return ${copies}; } };\n`,
      );
      const r = await sh(npx, ['fj', 'run', './tasks/fj-copies.js', 'numbers.json', '-e', 'eager'], project);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toBe(1);
    }
    for (const file of files) {
      const r = await sh(npx, ['fj', 'run', file, 'numbers.json', '-c', '1'], project);
      expect(r.code, `${file}: ${r.stderr}`).toBe(0);
      expect(JSON.parse(r.stdout), file).toEqual([2, 4, 6]);
    }
  });

  it.skipIf(!available)(
    'Scaling out: fj worker --tasks ./tasks/primes.ts serves npx fj run primes -e amqp',
    async () => {
      const queue = `fj.test.readme.${kind}.${randomUUID().slice(0, 8)}`;
      const bin = join(project, 'node_modules', 'fj', 'dist', 'src', 'cli', 'main.js');
      const worker = spawn(
        process.execPath,
        [bin, 'worker', '--queue', queue, '--tasks', './tasks/primes.ts', '-c', '1'],
        { cwd: project, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let log = '';
      worker.stderr.on('data', (d) => (log += d));
      const exited = new Promise((r) => worker.once('exit', r));
      try {
        await waitFor('the worker to serve', () => / serving .*\bprimes\b/.test(log), 30_000);
        const r = await sh(npx, ['fj', 'run', 'primes', 'input.json', '-e', 'amqp', '--queue', queue], project);
        expect(r.code, `${r.stderr}\n${log}`).toBe(0);
        expect(JSON.parse(r.stdout)).toEqual({ primes: 1229 });
      } finally {
        worker.kill('SIGTERM');
        await exited;
        await deleteQueues(queue);
      }
    },
  );

  it('a schema pasted with a comment in it is refused naming its line and column', async () => {
    const copy = join(dir, `${kind}-bad-schema`);
    copyProject(copy);
    writeFileSync(join(copy, 'package.json'), kind === 'module' ? '{ "type": "module" }\n' : '{ "name": "bad" }\n');
    symlinkSync(join(dir, 'module', 'node_modules'), join(copy, 'node_modules'), 'dir');
    const schema = join(copy, 'schemas', 'primes.schema.json');
    writeFileSync(schema, `// schemas/primes.schema.json\n${readFileSync(schema, 'utf8')}`);
    const r = await sh(npx, ['fj', 'validate', './tasks/primes.ts', 'input.json'], copy);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `fj: task primes: schema ${schema} is not valid JSON: Unexpected token '/' at line 1, column 1`,
    );
  });
});
