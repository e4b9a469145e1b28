/** The pure parts of the newcomer fixes: the typo suggestion, join's JSON check, and CommonJS modules read as ES ones. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { jsonOutputProblem } from '../../src/task/json-output.js';
import { importModule, needsTsx } from '../../src/task/module-loader.js';
import { nearest, taskFile, unknownTask } from '../../src/task/task-lookup.js';

describe('nearest: a typo, not any name', () => {
  it.each([
    ['wordcont', 'wordcount'],
    ['wrodcount', 'wordcount'],
    ['WordCount', 'wordcount'], // the same name in other case: names are case-sensitive, so say which one exists
    ['wordcount', undefined], // the name itself: nothing to suggest
    ['alin', 'align'],
    ['primes', undefined],
    ['x', undefined],
  ])('%s -> %s', (word, expected) => {
    expect(nearest(word, ['align', 'wordcount'])).toBe(expected);
  });
});

describe('unknownTask: what was looked for, as the user wrote it', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'fj-lookup-'));
  mkdirSync(join(cwd, 'tasks'));
  writeFileSync(join(cwd, 'tasks', 'kmers.ts'), '');
  afterAll(() => rmSync(cwd, { recursive: true, force: true }));

  it('a missing path names the file, not ./tasks/<path>.ts', () => {
    const { message } = unknownTask('./tasks/kmer.js', cwd);
    expect(message).toContain(`no such file ${join(cwd, 'tasks', 'kmer.js')}`);
    expect(message).not.toMatch(/tasks\/\.\/tasks|kmer\.js\.ts/);
    expect(message).toContain("did you mean 'kmers'?");
  });

  it('a name in the wrong case gets a did-you-mean', () => {
    const { message } = unknownTask('Kmers', cwd);
    expect(message).toContain("did you mean 'kmers'?");
    expect(message).toContain('no ./tasks/Kmers.ts or .js');
  });

  it('built-in pipelines are found by name and listed beside the tasks, a typo of one suggested', () => {
    expect(taskFile('align-campaign', cwd)).toMatch(/dist[\\/]pipelines[\\/]align-campaign\.js$/);
    const { message } = unknownTask('align-campain', cwd);
    expect(message).toContain("did you mean 'align-campaign'?");
    expect(message).toContain('not a built-in task or pipeline');
    expect(message).toMatch(/; built-in pipelines: align-campaign;/);
  });
});

describe("jsonOutputProblem: join's output must be JSON", () => {
  it.each([
    [{ a: 1, b: [true, null, 'x'] }, undefined],
    [{ when: new Date(0), gone: undefined }, undefined],
    [new Map(), 'value at / is a Map'],
    [undefined, 'value at / is undefined'],
    [[1, undefined], 'value at /1 is undefined'],
    [{ 'a/b': { n: 2n } }, 'value at /a~1b/n is a bigint'],
    [{ x: Infinity }, 'value at /x is Infinity'],
    [{ bytes: new Uint8Array(2) }, 'value at /bytes is a Uint8Array'],
    [new (class Point {})(), 'value at / is an instance of Point'],
  ])('%o', (value, problem) => {
    const got = jsonOutputProblem(value);
    if (problem === undefined) expect(got).toBeUndefined();
    else expect(got).toMatch(new RegExp(`^${problem.replace(/[/.*+?^${}()|[\]\\]/g, '\\$&')}`));
  });

  it('a cycle', () => {
    const a: Record<string, unknown> = {};
    a.self = a;
    expect(jsonOutputProblem(a)).toBe('value at /self contains itself (a cycle)');
  });
});

describe('importModule', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fj-modules-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads a CommonJS module compiled from ES syntax (exports.default) as an ES module's namespace", async () => {
    writeFileSync(join(dir, 'package.json'), '{}');
    writeFileSync(
      join(dir, 'compiled.js'),
      '"use strict";\nObject.defineProperty(exports, "__esModule", { value: true });\nclass T {}\nexports.default = T;\nexports.other = 1;\n',
    );
    const url = pathToFileURL(join(dir, 'compiled.js')).href;
    expect(needsTsx(url)).toBe(true); // a .js of a CommonJS package: either syntax, so through tsx
    const mod = await importModule(url);
    expect(typeof mod.default).toBe('function');
    expect((mod.default as { name: string }).name).toBe('T');
    expect(mod.other).toBe(1);
  });

  it('leaves .mjs, and .js of a "type": "module" package, to node', () => {
    expect(needsTsx(pathToFileURL(join(dir, 'x.mjs')).href)).toBe(false);
    expect(needsTsx(new URL('../../tasks/wordcount.ts', import.meta.url).href)).toBe(true);
    expect(needsTsx(new URL('../../dist/tasks/wordcount.js', import.meta.url).href)).toBe(false);
  });
});
