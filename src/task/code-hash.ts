/**
 * The fingerprint of the code a task runs: its module file, every local
 * module it imports (relative specifiers, followed recursively), and the
 * `name@version` of every package it imports. A worker compares it with the
 * job's, so a worker still holding an old helper module in memory refuses
 * the job ("restart the worker") instead of answering with the old code.
 *
 * Resolution follows what node and tsx do for a relative specifier: the file
 * as named; for `.js`/`.mjs`/`.cjs`/`.jsx`, also the TypeScript file of the
 * same name (tsx serves `./x.ts` for `./x.js`), and both are hashed when both
 * exist; for a name without an extension, the first of `.ts .tsx .mts .cts
 * .js .mjs .cjs .jsx .json`, then the same under `index`. Specifiers are
 * found by scanning the source for `import … from '…'`, `import '…'`,
 * `export … from '…'`, `import('…')` and `require('…')` with a literal
 * argument; a computed `import(name)` cannot be seen, and a specifier inside
 * a comment or a string is followed too (it only makes the hash stricter).
 * A bare specifier (`lodash`, `@scope/pkg/sub`) counts as the package's name
 * and version from the nearest `node_modules/<pkg>/package.json` (or the
 * enclosing package itself, for a self-reference); packages are not entered,
 * `node:` and built-in modules are skipped.
 *
 * The result is cached per entry file for the life of the process: what a
 * process hashed when it loaded a task is what it runs, whatever the files
 * hold later.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, extname, join, relative, resolve } from 'node:path';

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)(['"])([^'"\n]+)\1/g;
const TS_FOR_JS: Record<string, string[]> = {
  '.js': ['.ts', '.tsx'],
  '.jsx': ['.tsx'],
  '.mjs': ['.mts'],
  '.cjs': ['.cts'],
};
const EXTENSIONS = ['.ts', '.tsx', '.mts', '.cts', '.js', '.mjs', '.cjs', '.jsx', '.json'];
const BUILTIN = new Set(builtinModules);

const cache = new Map<string, string>();
/** What codeHashOf learned about each file, shared by every task of the process (tasks share most of their graph). */
const facts = new Map<string, FileFacts>();

/** One file of an import graph: its content's digest (null when unreadable) and what it imports. */
interface FileFacts {
  digest: string | null;
  /** Local files it may load, resolved. */
  locals: string[];
  /** `name@version` of the packages it imports. */
  packages: string[];
}

/** The code hash of the task module at `file` (16 hex digits), computed once per process. */
export function codeHashOf(file: string): string {
  const abs = resolve(file);
  let hash = cache.get(abs);
  if (hash === undefined) {
    hash = graphHash(abs, facts);
    cache.set(abs, hash);
  }
  return hash;
}

/** The code hash of `file` as the files are now, never cached (see {@link codeHashOf}). */
export function importGraphHash(file: string): string {
  return graphHash(resolve(file), new Map());
}

function graphHash(entry: string, known: Map<string, FileFacts>): string {
  const root = dirname(entry);
  const files = new Set<string>([entry]);
  const packages = new Set<string>();
  for (const current of files) {
    let f = known.get(current);
    if (!f) known.set(current, (f = factsOf(current)));
    for (const l of f.locals) files.add(l);
    for (const p of f.packages) packages.add(p);
  }
  const h = createHash('sha256');
  // Paths relative to the task's directory: the same tree checked out elsewhere hashes the same.
  for (const f of [...files].sort()) h.update(`file ${relative(root, f)}\0${known.get(f)!.digest ?? '(missing)'}\0`);
  for (const p of [...packages].sort()) h.update(`package ${p}\0`);
  return h.digest('hex').slice(0, 16);
}

function factsOf(file: string): FileFacts {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch {
    return { digest: null, locals: [], packages: [] }; // vanished between resolving and reading: hashed as missing
  }
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (extname(file) === '.json') return { digest, locals: [], packages: [] };
  const locals: string[] = [];
  const packages: string[] = [];
  for (const m of bytes.toString('utf8').matchAll(SPECIFIER)) {
    const spec = m[2];
    if (spec.startsWith('./') || spec.startsWith('../')) locals.push(...resolveLocal(resolve(dirname(file), spec)));
    else if (
      !spec.startsWith('node:') &&
      !BUILTIN.has(spec) &&
      !/^[a-z][a-z0-9+.-]*:/i.test(spec) &&
      !spec.startsWith('/') &&
      !spec.startsWith('#')
    ) {
      packages.push(packageVersion(spec, dirname(file)));
    }
  }
  return { digest, locals, packages };
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The files a relative specifier may load (see the module comment). */
function resolveLocal(path: string): string[] {
  const ext = extname(path);
  const found = isFile(path) ? [path] : [];
  for (const alt of TS_FOR_JS[ext] ?? []) {
    const candidate = path.slice(0, -ext.length) + alt;
    if (isFile(candidate)) found.push(candidate);
  }
  if (found.length) return found;
  for (const base of [path, join(path, 'index')]) {
    for (const e of EXTENSIONS) if (isFile(base + e)) return [base + e];
  }
  return [];
}

/** `name@version` of the package a bare specifier names, as seen from `dir`; `name@?` when it cannot be found. */
function packageVersion(spec: string, dir: string): string {
  const parts = spec.split('/');
  const name = spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  for (let d = dir; ; d = dirname(d)) {
    for (const pj of [join(d, 'node_modules', name, 'package.json'), join(d, 'package.json')]) {
      try {
        const pkg = JSON.parse(readFileSync(pj, 'utf8')) as { name?: unknown; version?: unknown };
        if (pj.endsWith(join('node_modules', name, 'package.json')) || pkg.name === name)
          return `${name}@${String(pkg.version)}`;
      } catch {
        // not here
      }
    }
    if (dirname(d) === d) return `${name}@?`;
  }
}
