/**
 * Input validation with ajv. Schemas are trusted code (ajv compiles them to
 * JavaScript), so they come only from the task's own files, never from input.
 * Options: strict mode (unknown keywords are errors), no `$data`, all errors
 * collected (up to {@link MAX_COUNTED_PROBLEMS}, reported up to
 * {@link MAX_PROBLEMS}), defaults applied.
 *
 * Hostile input: time and memory stay linear in the input's size. ajv keeps
 * one object per violation, so collection stops at MAX_COUNTED_PROBLEMS (an
 * array of ten million wrong items would otherwise take minutes and
 * gigabytes). `pattern`s run on the backtracking RegExp engine, so schemas
 * with the classic catastrophic shape, `(a+)+`, are refused when compiled
 * (see ./regex-safety.ts); patterns must match in linear time.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { InputError, UsageError } from '../errors.js';
import { findUnsafePattern } from './regex-safety.js';

/** At most this many violations are listed in one error. */
export const MAX_PROBLEMS = 20;

/** Validation stops collecting violations after this many; the error then says "over N problems". */
export const MAX_COUNTED_PROBLEMS = 100_000;

/** Injected after each place ajv's generated code counts an error: throws the collected errors, caught below. */
const STOP = `if(vErrors!==null&&vErrors.length>${MAX_COUNTED_PROBLEMS})throw vErrors;`;

/**
 * Two edits to the code ajv generates (if a new ajv generates other code they
 * stop matching, and test/reliability/hostile-input.test.ts fails): stop at
 * MAX_COUNTED_PROBLEMS, and append the errors of a separately compiled
 * subschema (a recursive `$ref`) in place — ajv's `vErrors.concat(...)` copies
 * the whole list per failing item, quadratic: 50,000 bad items took 50 s.
 */
function limitErrors(code: string): string {
  return code
    .replace(
      /vErrors = vErrors === null \? ([\w.$]+)\.errors : vErrors\.concat\(\1\.errors\);/g,
      'if(vErrors === null){vErrors = $1.errors;}else{for(const e of $1.errors)vErrors.push(e);}',
    )
    .replaceAll('errors++;', `errors++;${STOP}`)
    .replaceAll('errors = vErrors.length;', `errors = vErrors.length;${STOP}`);
}

const ajv = new Ajv({ strict: true, allErrors: true, useDefaults: true, $data: false, allowUnionTypes: true, code: { process: limitErrors } });

/** A compiled schema: `validate(input)` applies defaults in place or throws {@link InputError}. */
export interface InputValidator {
  (input: unknown, source?: string): void;
}

/** Compiles `schema` (from `origin`, named in errors when the schema itself is broken). */
export function compileSchema(schema: object, origin: string): InputValidator {
  const unsafe = findUnsafePattern(schema);
  if (unsafe) {
    throw new UsageError(
      `invalid JSON schema ${origin}: the pattern at ${unsafe.path}, ${JSON.stringify(unsafe.pattern)}, can take exponential time: ` +
        'it repeats a group that itself only repeats, like (a+)+. Give each repetition a mandatory part, e.g. ^[a-z]+(-[a-z]+)*$',
    );
  }
  let fn: ValidateFunction;
  try {
    fn = ajv.compile(schema);
  } catch (err) {
    throw new UsageError(`invalid JSON schema ${origin}: ${(err as Error).message}`, { cause: err });
  }
  return (input: unknown, source = 'input') => {
    let errors: ErrorObject[];
    let stopped = false;
    try {
      if (fn(input)) return;
      errors = fn.errors ?? [];
    } catch (thrown) {
      if (!Array.isArray(thrown)) throw thrown;
      errors = thrown as ErrorObject[];
      stopped = true;
    }
    const all = problemLines(errors);
    const count = stopped ? `over ${MAX_COUNTED_PROBLEMS} problems, stopped counting` : `${all.length} problem${all.length === 1 ? '' : 's'}`;
    throw new InputError(`${source} does not match the schema (${count}):`, capProblems(all, stopped));
  };
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
  const clean = path.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return clean.length <= 200 ? clean : `${clean.slice(0, 120)}…${clean.slice(-60)} (${clean.length} characters)`;
}

/** ajv errors as `"/documents/1: must be string"` lines, one per distinct problem, uncapped (the count in the message is the real one). */
function problemLines(errors: ErrorObject[]): string[] {
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
