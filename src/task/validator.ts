/**
 * Running a compiled input validator and reporting what it found — and a
 * disk cache of compiled validators, so `fj run` does not load and run ajv
 * every time (about 100 ms of every run, a third of a small job's).
 *
 * The cache holds the standalone code ajv generates for a schema (see
 * ./schema.ts), keyed by the schema's text, ajv's version, how fj has
 * ajv generate code (./codegen.ts) and the rules its `pattern`s were checked
 * under (./regex-safety.ts): code is cached only after the schema passed
 * that check, so a cached validator is not checked again (which would load
 * the ReDoS checker on every run), and other rules miss the cache.
 *
 * It is code that fj runs, so it is used only when no one but the current
 * user could have written it: the directory and every directory above it must belong to the user or root
 * and not be writable by others (unless sticky, like /tmp: the rule of
 * core/private-dir.ts, which the file store follows too), and the file is
 * opened without following a symlink and checked on its descriptor (a
 * regular file of the user's, writable by no one else). Anything else, or a
 * file that does not load, is ignored and the schema compiled again.
 * Location: `$FJ_CACHE_DIR`, else `$XDG_CACHE_HOME/fj`, else `~/.cache/fj`
 * (relative paths are ignored, as the XDG spec says); `FJ_CACHE_DIR=off`
 * turns the cache off. Writes are atomic (temporary file, then rename) and
 * best effort: a read-only home still runs, only slower.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { basename, isAbsolute, join } from 'node:path';
import { InputError } from '../core/errors.js';
import { printable } from '../core/printable.js';
import { isPrivate, safePath } from '../core/private-dir.js';
import { CODEGEN_FINGERPRINT, MAX_COUNTED_PROBLEMS } from './codegen.js';
import { regexRules } from './regex-safety.js';

/** At most this many violations are listed in one error. */
export const MAX_PROBLEMS = 20;

export { MAX_COUNTED_PROBLEMS };

/** A validator: applies defaults in place, or throws {@link InputError} naming every problem (up to a cap). */
export interface InputValidator {
  (input: unknown, source?: string): void;
}

/** An ajv error, as far as fj reads it. */
export interface SchemaError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** A validate function compiled by ajv (or loaded from its standalone code). */
export type CompiledSchema = ((data: unknown) => boolean) & { errors?: SchemaError[] | null };

/** What compiles a schema when the cache cannot help: schema.ts, loaded only then (it loads ajv). */
export interface Compiler {
  compile(schema: object, origin: string): CompiledSchema;
  /** The same schema's validator as standalone CommonJS code. */
  standalone(schema: object, origin: string): string;
}

/** Wraps a compiled schema: runs it and turns what it collected into an InputError. */
export function validatorFrom(fn: CompiledSchema): InputValidator {
  return (input: unknown, source = 'input') => {
    let errors: SchemaError[];
    let stopped = false;
    try {
      if (fn(input)) return;
      errors = fn.errors ?? [];
    } catch (thrown) {
      // The generated code throws its error list once it holds MAX_COUNTED_PROBLEMS.
      if (!Array.isArray(thrown)) throw thrown;
      errors = thrown as SchemaError[];
      stopped = true;
    }
    const all = problemLines(errors);
    const count = stopped
      ? `over ${MAX_COUNTED_PROBLEMS} problems, stopped counting`
      : `${all.length} problem${all.length === 1 ? '' : 's'}`;
    throw new InputError(`${source} does not match the schema (${count}):`, capProblems(all, stopped));
  };
}

/**
 * The validator for `schema`: from the cache when it holds one, else
 * compiled by `compiler()` (and its standalone code cached for next time).
 * A broken schema throws UsageError from the compiler, naming `origin`.
 */
export async function loadValidator(
  schema: object,
  origin: string,
  compiler: () => Promise<Compiler>,
): Promise<InputValidator> {
  const dir = cacheDir();
  const text = JSON.stringify(schema);
  // The regex rules are in the key: a schema fj now refuses (a newer fj's rules) misses the cache and is refused by compile.
  const key = `${CODEGEN_FINGERPRINT}\0${ajvVersion()}\0${regexRules()}\0${text}`;
  const file = dir && join(dir, `${createHash('sha256').update(key).digest('hex')}.cjs`);
  const cached = file ? readCached(dir, file) : undefined;
  if (cached) return validatorFrom(cached);
  const c = await compiler();
  const fn = c.compile(schema, origin); // throws for a broken schema: nothing is cached
  if (dir && file) writeCached(dir, file, () => c.standalone(schema, origin));
  return validatorFrom(fn);
}

/** The cache directory; undefined when it is turned off (or set to a relative path). */
export function cacheDir(): string | undefined {
  const env = process.env.FJ_CACHE_DIR;
  if (env === 'off') return undefined;
  if (env) return isAbsolute(env) ? env : undefined;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.cache'), 'fj');
}

const requireHere = createRequire(import.meta.url);

function ajvVersion(): string {
  try {
    return (requireHere('ajv/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Loads a cached validator; undefined when there is none or it must not or cannot be used. */
function readCached(dir: string, file: string): CompiledSchema | undefined {
  let fd: number | undefined;
  try {
    const real = realpathSync(dir);
    if (!isPrivate(statSync(real)) || !safePath(real)) return undefined;
    fd = openSync(join(real, basename(file)), constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
    const st = fstatSync(fd);
    if (!st.isFile() || !isPrivate(st)) return undefined;
    const code = readFileSync(fd, 'utf8');
    const module = { exports: {} as unknown };
    // eslint-disable-next-line @typescript-eslint/no-implied-eval, @typescript-eslint/no-unsafe-call -- ajv's standalone module, read from our private cache dir (checked above)
    new Function('module', 'exports', 'require', code)(module, module.exports, requireHere);
    const fn = module.exports as CompiledSchema;
    return typeof fn === 'function' ? fn : undefined;
  } catch {
    return undefined; // missing, unreadable or broken: compile again (and overwrite it)
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function writeCached(dir: string, file: string, code: () => string): void {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!isPrivate(statSync(dir)) || !safePath(realpathSync(dir))) return; // someone else's, or open to others: do not leave code there
    writeFileSync(tmp, code(), { mode: 0o600, flag: 'wx' });
    renameSync(tmp, file);
  } catch {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing was written
    }
  }
}

/** The first {@link MAX_PROBLEMS} lines, then `... and N more`. */
function capProblems(lines: string[], stopped: boolean): string[] {
  if (lines.length <= MAX_PROBLEMS && !stopped) return lines;
  return [...lines.slice(0, MAX_PROBLEMS), stopped ? '... and more' : `... and ${lines.length - MAX_PROBLEMS} more`];
}

/** A JSON pointer token for a property name (RFC 6901). */
const pointerToken = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * A path fit for one line of a terminal: control characters escaped (a key
 * may hold a newline), and at most 200 characters (a key may be megabytes).
 */
function printablePath(path: string): string {
  const clean = printable(path);
  return clean.length <= 200 ? clean : `${clean.slice(0, 120)}…${clean.slice(-60)} (${clean.length} characters)`;
}

/** ajv errors as `"/documents/1: must be string"` lines, one per distinct problem, uncapped (the count in the message is the real one). */
function problemLines(errors: SchemaError[]): string[] {
  // A Set: an input with 100,000 bad items gives 100,000 errors.
  const lines = new Set<string>();
  for (const e of errors) {
    let path = e.instancePath || '/';
    let message = e.message ?? 'is invalid';
    if (e.keyword === 'additionalProperties') {
      const extra = (e.params as { additionalProperty: string }).additionalProperty;
      path = `${e.instancePath}/${pointerToken(extra)}`;
      message = 'is not allowed here (unknown property)';
    } else if (e.keyword === 'required') {
      const missing = (e.params as { missingProperty: string }).missingProperty;
      path = `${e.instancePath}/${pointerToken(missing)}`;
      message = 'is required';
    } else if (e.keyword === 'enum') {
      message += `: ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)}`;
    }
    lines.add(`${printablePath(path)}: ${message}`);
  }
  return [...lines];
}
