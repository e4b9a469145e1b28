/**
 * Hostile input: every malformed input file gives exit 2 with a message that
 * names where the problem is (a JSON pointer, a line and column, or the file),
 * never a stack trace, and nothing on stdout; validation stays fast on
 * adversarial input. Runs the CLI in-process (runCli) on ~1,200 generated bad
 * inputs, and the built binary on a sample of them.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import { UsageError } from '../../src/core/errors.js';
import { compileSchema } from '../../src/task/schema.js';
import { badInputs, type BadInput } from '../helpers/bad-inputs.js';

const root = join(import.meta.dirname, '..', '..');
const CLI = join(root, 'dist', 'src', 'cli', 'main.js');
const dir = join(root, 'test', '.tmp', `hostile-input-${process.pid}`);
const STACK = /\n\s+at /;
const COUNT = 1200;
const cases = badInputs(20_240_601, COUNT);

beforeAll(() => {
  mkdirSync(dir, { recursive: true });
  for (const c of cases) {
    if (c.content === 'dir') mkdirSync(join(dir, c.name));
    else if (c.content) writeFileSync(join(dir, c.name), c.content);
  }
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A stream stand-in that keeps what is written. */
function sink(): { write(s: string): boolean; text: string } {
  return {
    text: '',
    write(s: string) {
      this.text += s;
      return true;
    },
  };
}

/** Runs `fj run` in this process with the case's environment. */
async function runInProcess(c: BadInput): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = sink();
  const stderr = sink();
  const saved = { ...process.env };
  Object.assign(process.env, c.env);
  try {
    const code = await runCli(['run', c.task, join(dir, c.name), '--executor', 'eager'], { stdout, stderr });
    return { code, stdout: stdout.text, stderr: stderr.text };
  } finally {
    for (const key of Object.keys(c.env ?? {})) if (saved[key] === undefined) delete process.env[key];
    Object.assign(process.env, saved);
  }
}

function checkResult(c: BadInput, r: { code: number | null; stdout: string; stderr: string }): string[] {
  const failures: string[] = [];
  const file = join(dir, c.name);
  if (r.code !== 2) failures.push(`exit ${r.code}, not 2`);
  if (r.stdout !== '') failures.push(`stdout not empty: ${r.stdout.slice(0, 200)}`);
  if (STACK.test(r.stderr)) failures.push('stderr has a stack trace');
  if (!r.stderr.startsWith('fj: ')) failures.push('stderr does not start with "fj: "');
  if (r.stderr.includes('is not valid JSON')) failures.push("stderr echoes the input (V8's context snippet)");
  for (const want of c.expect)
    if (!r.stderr.includes(want.replaceAll('{file}', file))) failures.push(`stderr lacks ${JSON.stringify(want)}`);
  return failures.length
    ? [`${c.name}: ${failures.join('; ')}\n  stderr: ${JSON.stringify(r.stderr.slice(0, 600))}`]
    : [];
}

describe('hostile input', () => {
  it(`generates at least 1,000 distinct bad inputs of every kind (${cases.length})`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(1000);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
    const kinds = new Set(cases.map((c) => c.kind));
    for (const kind of [
      'wrong-type',
      'missing',
      'extra',
      'bad-value',
      'huge-number',
      'duplicate-key',
      'long-string',
      'many',
      'not-object',
      'truncated',
      'syntax',
      'trailing-comma',
      'bad-utf8',
      'control-char',
      'bom',
      'deep',
      'whitespace',
      'oversized',
    ]) {
      expect(kinds).toContain(kind);
    }
  });

  it('fj run (in-process): exit 2, a message naming the path, no stack trace, nothing on stdout — for every one', async () => {
    const failures: string[] = [];
    for (const c of cases) failures.push(...checkResult(c, await runInProcess(c)));
    expect(failures.slice(0, 10).join('\n'), `${failures.length} of ${cases.length} failed`).toBe('');
    // Nothing reached a prototype through a "__proto__" key.
    expect(({} as Record<string, unknown>).x).toBeUndefined();
    expect(Object.keys(Object.prototype)).toEqual([]);
  });

  it('the built binary: exit 2 and no stack trace for a sample of 20', async () => {
    const step = Math.floor(cases.length / 20);
    const sample = cases.filter((_, i) => i % step === 0).slice(0, 20);
    const results = await Promise.all(sample.map((c) => spawnFj(c)));
    const failures = sample.flatMap((c, i) => checkResult(c, results[i]));
    expect(failures.join('\n')).toBe('');
  });
});

describe('adversarial input validates fast', () => {
  const big = (name: string, content: string) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };
  // 20 MB each: big enough that quadratic or per-violation costs would show (before the limits, 10 million
  // violations took 46 s and 3 GB), small enough that JSON.parse stays well inside the bound on a loaded 2-core machine.
  const MB = 20 * 1024 * 1024;

  it.each([
    ['10 million violations', 'wordcount', () => `{"documents":[${'1,'.repeat(MB / 2)}1]}`, 'over 100000 problems'],
    [
      'a 20 MB string against the reference pattern',
      'align',
      () => `{"reference":"${'A'.repeat(MB)}!","edits":[]}`,
      '/reference: must match pattern',
    ],
    [
      '20 million unclosed brackets',
      'wordcount',
      () => '['.repeat(MB),
      'nesting deeper than 1000 levels at line 1, column 1001',
    ],
    ['a stray token after 20 MB', 'wordcount', () => `{"documents":[${'"ab",'.repeat(MB / 5)}x]}`, 'Unexpected token'],
  ])('%s: exit 2 in under 10 s', async (_, task, content, message) => {
    const path = big(`big-${task}.json`, content());
    const stdout = sink();
    const stderr = sink();
    const started = performance.now();
    const code = await runCli(['run', task, path, '--executor', 'eager'], { stdout, stderr });
    const ms = performance.now() - started;
    rmSync(path);
    expect(code).toBe(2);
    expect(stderr.text).toContain(message);
    expect(stderr.text).not.toMatch(STACK);
    expect(ms).toBeLessThan(10_000);
  });
});

describe('schemas against hostile input', () => {
  it('a recursive $ref schema reports 200,000 bad items fast (no quadratic error merging), capped at 100,000', () => {
    const validate = compileSchema(
      {
        type: 'object',
        properties: { nodes: { type: 'array', items: { $ref: '#/definitions/node' } } },
        definitions: {
          node: {
            type: 'object',
            properties: { v: { type: 'string' }, kids: { type: 'array', items: { $ref: '#/definitions/node' } } },
            required: ['v'],
          },
        },
      },
      'tree.schema.json',
    );
    const started = performance.now();
    expect(() => validate({ nodes: Array.from({ length: 200_000 }, () => ({ v: 1 })) }, 'tree.json')).toThrow(
      /^tree\.json does not match the schema \(over 100000 problems, stopped counting\):\n {2}\/nodes\/0\/v: must be string\n/,
    );
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  // '^(a{1,30}){1,30}$': bounded repeats, nested (28 `a`s and a `!` take 25 s); recheck finds it with its attack limits lowered.
  it.each(['^(a+)+$', '^(\\w+\\s?)*$', '(a*)*b', '^((ab)+)+$', '(?:[a-z]+|x)*!', '^(a{1,30}){1,30}$'])(
    'refuses the catastrophic pattern %s, naming where it is',
    (pattern) => {
      const schema = { type: 'object', properties: { name: { type: 'string', pattern } } };
      expect(() => compileSchema(schema, 'evil.schema.json')).toThrow(UsageError);
      expect(() => compileSchema(schema, 'evil.schema.json')).toThrow(
        /^invalid JSON schema evil\.schema\.json: the pattern at \/properties\/name\/pattern, .* can take exponential time/,
      );
    },
  );

  // Overlapping alternatives, which the shape heuristic regex-safety.ts used before recheck passed: each takes over a second on 41 characters or fewer (bench/redos/corpus.json).
  it.each(['(a|aa)+$', '(.*a)+$', '^(a|a?)+$', '((\\d|\\w)*)"'])(
    'refuses the catastrophic pattern %s, whose alternatives overlap',
    (pattern) => {
      const schema = { type: 'object', properties: { name: { type: 'string', pattern } } };
      expect(() => compileSchema(schema, 'evil.schema.json')).toThrow(
        /^invalid JSON schema evil\.schema\.json: the pattern at \/properties\/name\/pattern, .* can take exponential time/,
      );
    },
  );

  it.each(['^[ACGTNacgtn]+$', '^[a-z]+(-[a-z]+)*$', '^(\\d{3}-)*\\d+$', '^\\p{L}+$', '^(a|b)*$'])(
    'accepts the linear pattern %s',
    (pattern) => {
      expect(() => compileSchema({ type: 'string', pattern }, 'fine.schema.json')).not.toThrow();
    },
  );
});

function spawnFj(c: BadInput): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'run', c.task, join(dir, c.name), '--executor', 'eager'], {
      env: { ...process.env, ...c.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
