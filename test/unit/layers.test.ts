/**
 * The layer rule of docs/architecture.md, checked: a file of src/ imports
 * only its own folder and the folders of lower layers (static, type-only and
 * dynamic imports alike), and nothing in src/ imports the public API file.
 * The order is written here once; the docs restate it, checked against it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** Lowest first. Folders on one line are side by side: neither imports the other. */
export const LAYERS: readonly (readonly string[])[] = [
  ['core'],
  ['task', 'store'],
  ['broker', 'runtime'],
  ['dispatch'],
  ['executors'],
  ['job'],
  ['detached'],
  ['pipeline'],
  ['worker', 'dashboard'],
  ['cli'],
];

const src = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');
const rank = new Map(LAYERS.flatMap((folders, i) => folders.map((f) => [f, i] as const)));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Every relative module a file names: `import … from`, `export … from`, `import type`, `import '…'`, `import('…')`. */
function imports(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"](\.[^'"]+)['"]/g)) found.push(m[1]);
  for (const m of text.matchAll(/\bimport\s*\(\s*['"](\.[^'"]+)['"]\s*\)/g)) found.push(m[1]);
  for (const m of text.matchAll(/(?:^|\n)\s*import\s*['"](\.[^'"]+)['"]/g)) found.push(m[1]);
  return found;
}

const folderOf = (file: string) => relative(src, file).split(sep)[0];

describe('layers', () => {
  const files = sources(src);

  it('every folder of src/ has a layer', () => {
    const folders = new Set(files.map(folderOf).filter((f) => !f.endsWith('.ts')));
    expect([...folders].filter((f) => !rank.has(f))).toEqual([]);
  });

  it('docs/architecture.md states this order, in its drawing and in its sentence', () => {
    const doc = readFileSync(join(src, '..', 'docs', 'architecture.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## Layers'));
    const drawing = /```\n([\s\S]*?)```/
      .exec(section)![1]
      .trim()
      .split('\n')
      .map((line) => line.replace(/\(.*\)/, '').trim())
      .reverse();
    const sentence = /`(core <[^`]*)`/.exec(section)![1].replace(/\s+/g, ' ');
    const order = LAYERS.map((folders) => folders.join(', '));
    expect(drawing).toEqual(order);
    expect(sentence).toBe(order.join(' < '));
  });

  it("docs/architecture.md's map names every file of src/", () => {
    const doc = readFileSync(join(src, '..', 'docs', 'architecture.md'), 'utf8');
    const map = doc.slice(doc.indexOf('## Where things are'), doc.indexOf('## Layers'));
    const named = new Set(map.match(/(?<![\w./-])[\w-]+\.ts(?![\w-])/g));
    const missing = files
      .map((file) => relative(src, file))
      .filter((path) => !named.has(path.slice(path.lastIndexOf(sep) + 1)));
    expect(missing).toEqual([]);
  });

  it('no two files of src/ share a name (a name says which file it is)', () => {
    const byName = new Map<string, string[]>();
    for (const file of files) {
      const name = file.slice(file.lastIndexOf(sep) + 1);
      byName.set(name, [...(byName.get(name) ?? []), relative(src, file)]);
    }
    expect([...byName.values()].filter((paths) => paths.length > 1)).toEqual([]);
  });

  it('no file imports a higher layer, a folder beside its own, or the public API file', () => {
    const wrong: string[] = [];
    for (const file of files) {
      const from = folderOf(file);
      if (from === 'index.ts') continue;
      for (const spec of imports(readFileSync(file, 'utf8'))) {
        const target = normalize(join(dirname(file), spec));
        const to = folderOf(target);
        const at = `${relative(src, file)} -> ${relative(src, target)}`;
        if (to === 'index.js' || to === 'index.ts') wrong.push(`${at}: the public API file`);
        else if (to !== from && rank.get(to)! >= rank.get(from)!) wrong.push(`${at}: ${from} may not import ${to}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
