/** The code hash covers what a task really runs: its local imports, recursively, and its packages' versions. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { codeHashOf, importGraphHash } from '../../src/task/code-hash.js';

const dir = mkdtempSync(join(tmpdir(), 'fj-code-hash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function tree(files: Record<string, string>): string {
  const base = mkdtempSync(join(dir, 't-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(base, name, '..'), { recursive: true });
    writeFileSync(join(base, name), text);
  }
  return base;
}

describe('task code hash', () => {
  it('changes when a helper the task imports changes, however deep', () => {
    const t = tree({
      'task.ts': "import { a } from './lib/a.js';\nexport default a;\n",
      'lib/a.ts': "export { b as a } from './deep/b';\n",
      'lib/deep/b.ts': 'export const b = 1;\n',
      'unrelated.ts': 'export const x = 1;\n',
    });
    const task = join(t, 'task.ts');
    const before = importGraphHash(task);
    writeFileSync(join(t, 'unrelated.ts'), 'export const x = 2;\n');
    expect(importGraphHash(task)).toBe(before);
    writeFileSync(join(t, 'lib/deep/b.ts'), 'export const b = 2;\n');
    const after = importGraphHash(task);
    expect(after).not.toBe(before);
    writeFileSync(join(t, 'lib/a.ts'), "export { b as a } from './deep/b';\n// edited\n");
    expect(importGraphHash(task)).not.toBe(after);
  });

  it('follows dynamic imports, require, index files and .js names of .mts files', () => {
    const t = tree({
      'task.mts': "const m = await import('./dyn.mjs');\nconst r = require('./req');\nexport default [m, r];\n",
      'dyn.mts': 'export const d = 1;\n',
      'req/index.js': 'module.exports = 1;\n',
    });
    const task = join(t, 'task.mts');
    const before = importGraphHash(task);
    writeFileSync(join(t, 'dyn.mts'), 'export const d = 2;\n');
    const mid = importGraphHash(task);
    expect(mid).not.toBe(before);
    writeFileSync(join(t, 'req/index.js'), 'module.exports = 2;\n');
    expect(importGraphHash(task)).not.toBe(mid);
  });

  it('changes with the version of a package the task imports, and ignores node built-ins', () => {
    const t = tree({
      'task.ts':
        "import { x } from '@acme/thing/sub';\nimport fs from 'node:fs';\nimport path from 'path';\nexport default [x, fs, path];\n",
      'node_modules/@acme/thing/package.json': '{"name":"@acme/thing","version":"1.0.0"}',
    });
    const task = join(t, 'task.ts');
    const before = importGraphHash(task);
    writeFileSync(join(t, 'node_modules/@acme/thing/package.json'), '{"name":"@acme/thing","version":"1.0.1"}');
    expect(importGraphHash(task)).not.toBe(before);
  });

  it('is computed once per process: what was loaded is what runs', () => {
    const t = tree({ 'task.ts': "import './h.js';\n", 'h.ts': '1;\n' });
    const task = join(t, 'task.ts');
    const first = codeHashOf(task);
    writeFileSync(join(t, 'h.ts'), '2;\n');
    expect(codeHashOf(task)).toBe(first);
    expect(importGraphHash(task)).not.toBe(first);
  });

  it('survives import cycles', () => {
    const t = tree({ 'task.ts': "import './a.js';\n", 'a.ts': "import './task.js';\n" });
    expect(importGraphHash(join(t, 'task.ts'))).toMatch(/^[0-9a-f]{16}$/);
  });
});
