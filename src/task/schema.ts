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
    const problems = formatErrors(fn.errors ?? []);
    throw new InputError(`${source} does not match the schema (${problems.length} problem${problems.length === 1 ? '' : 's'}):`, problems);
  };
}

/** Turns ajv errors into `"/documents/1: must be string"` lines, capped at {@link MAX_PROBLEMS}. */
export function formatErrors(errors: ErrorObject[]): string[] {
  const lines: string[] = [];
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
    const line = `${path}: ${message}`;
    if (!lines.includes(line)) lines.push(line);
  }
  if (lines.length > MAX_PROBLEMS) {
    const more = lines.length - MAX_PROBLEMS;
    return [...lines.slice(0, MAX_PROBLEMS), `... and ${more} more`];
  }
  return lines;
}
