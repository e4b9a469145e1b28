/**
 * Importing a user's module (a task or a services module) in every kind of
 * project. Node loads `.mjs`, `.cjs` and the `.js` of a `"type": "module"`
 * package by itself; TypeScript, and `.js` files of a CommonJS package
 * (which may be written in either module syntax), go through tsx, with both
 * of its hooks: the ESM one (`import()` of a `.ts`) and the CommonJS one (a
 * `.ts` in a CommonJS package is compiled to CommonJS, and its own
 * `require`s of `.ts` files and of ES modules must be served too). Without
 * the second, Node 20.19+ tries its own `require(esm)` on the `.ts` file and
 * fails with "Cannot require() ES Module … in a cycle".
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { createRequire, Module } from 'node:module';
import { fileURLToPath } from 'node:url';

const TS_EXT = new Set(['.ts', '.mts', '.cts', '.tsx']);
let tsxRegistered: Promise<void> | undefined;

/** Registers tsx's ESM and CommonJS hooks, once per thread, with fj itself in `require.cache`. */
function ensureTsx(): Promise<void> {
  tsxRegistered ??= Promise.all([import('tsx/esm/api'), import('tsx/cjs/api'), shareFjWithRequire()]).then(
    ([esm, cjs]) => {
      cjs.register();
      esm.register();
    },
  );
  return tsxRegistered;
}

/**
 * A CommonJS task's `require('fj')` gets this very fj, not a copy: tsx's
 * CommonJS hook would compile fj's ES modules into a second, CommonJS
 * instance of the whole package (its classes, `UnrecoverableError`
 * included, then differ from the ones fj checks against). `require.cache`
 * is public and may be filled in: fj's entry module is put there with its
 * ES module namespace as its exports, so `require` finds it loaded.
 */
async function shareFjWithRequire(): Promise<void> {
  // Computed, so the layer check sees no import of the package's entry from task/ (it is loaded already, or loads now).
  const entry = new URL('../index.js', import.meta.url);
  const file = fileURLToPath(entry);
  const cache = createRequire(import.meta.url).cache;
  if (cache[file] || !existsSync(file)) return;
  const namespace = (await import(entry.href)) as object;
  const mod = new Module(file);
  mod.filename = file;
  mod.exports = namespace;
  mod.loaded = true;
  cache[file] = mod;
}

/** Whether the `package.json` nearest to `file` says `"type": "module"`. */
function inModulePackage(file: string): boolean {
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        return (JSON.parse(readFileSync(pkg, 'utf8')) as { type?: unknown }).type === 'module';
      } catch {
        return false; // node would refuse it too; tsx reports it when it loads the module
      }
    }
    if (dirname(dir) === dir) return false;
  }
}

/** Whether a module at `url` needs tsx to load: TypeScript, or a `.js` of a CommonJS package. */
export function needsTsx(url: string): boolean {
  if (!url.startsWith('file:')) return false;
  const file = fileURLToPath(url);
  const ext = extname(file);
  return TS_EXT.has(ext) || (ext === '.js' && !inModulePackage(file));
}

/**
 * Imports the module at `url` (a `file:` URL) and returns its exports as an
 * ES module sees them. A CommonJS module's `module.exports` arrives as
 * `default`; when it was compiled from ES syntax (`exports.default = …`,
 * `__esModule`), its own exports are spread back over the namespace, so a
 * `export default class` reads the same in both kinds of project.
 */
export async function importModule(url: string): Promise<Record<string, unknown>> {
  if (needsTsx(url)) await ensureTsx();
  const mod = (await import(url)) as Record<string, unknown>;
  const inner = mod.default;
  if (inner === null || typeof inner !== 'object' || !('default' in inner || '__esModule' in inner)) return mod;
  return { ...mod, ...(inner as Record<string, unknown>) };
}
