/**
 * Input validation with ajv. Schemas are trusted code (ajv compiles them to
 * JavaScript), so they come only from the task's own files, never from input.
 * Options: strict mode (unknown keywords are errors), no `$data`, all errors
 * collected (reported up to {@link MAX_PROBLEMS}), defaults applied.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { InputError, UsageError } from '../errors.js';

/** At most this many violations are listed in one error. */
export const MAX_PROBLEMS = 20;

const ajv = new Ajv({ strict: true, allErrors: true, useDefaults: true, $data: false, allowUnionTypes: true });

/** A compiled schema: `validate(input)` applies defaults in place or throws {@link InputError}. */
export interface InputValidator {
  (input: unknown, source?: string): void;
}

/** Compiles `schema` (from `origin`, named in errors when the schema itself is broken). */
export function compileSchema(schema: object, origin: string): InputValidator {
  let fn: ValidateFunction;
  try {
    fn = ajv.compile(schema);
  } catch (err) {
    throw new UsageError(`invalid JSON schema ${origin}: ${(err as Error).message}`, { cause: err });
  }
  return (input: unknown, source = 'input') => {
    if (fn(input)) return;
    const all = problemLines(fn.errors ?? []);
    throw new InputError(`${source} does not match the schema (${all.length} problem${all.length === 1 ? '' : 's'}):`, capProblems(all));
  };
}

/** The first {@link MAX_PROBLEMS} lines, then `... and N more`. */
function capProblems(lines: string[]): string[] {
  if (lines.length <= MAX_PROBLEMS) return lines;
  return [...lines.slice(0, MAX_PROBLEMS), `... and ${lines.length - MAX_PROBLEMS} more`];
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
      path = `${e.instancePath}/${extra}`;
      message = 'is not allowed here (unknown property)';
    } else if (e.keyword === 'required') {
      const missing = (e.params as { missingProperty: string }).missingProperty;
      path = `${e.instancePath}/${missing}`;
      message = 'is required';
    } else if (e.keyword === 'enum') {
      message += `: ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)}`;
    }
    lines.add(`${path}: ${message}`);
  }
  return [...lines];
}
