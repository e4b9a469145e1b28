/**
 * Input validation with ajv. Schemas are trusted code (ajv compiles them to
 * JavaScript), so they come only from the task's own files, never from input.
 * Options and fj's edits to the generated code are in ./codegen.ts; errors
 * are collected up to MAX_COUNTED_PROBLEMS and reported up to MAX_PROBLEMS
 * by ./validator.ts, which also caches compiled code on disk. This module
 * loads ajv: it is imported only when a schema must be compiled.
 *
 * Hostile input: time and memory stay linear in the input's size. ajv keeps
 * one object per violation, so collection stops at MAX_COUNTED_PROBLEMS (an
 * array of ten million wrong items would otherwise take minutes and
 * gigabytes). `pattern`s run on the backtracking RegExp engine, so schemas
 * with a pattern that can take exponential time, like `(a+)+` or `(a|aa)+$`,
 * are refused when compiled (see ./regex-safety.ts).
 */
import { Ajv, type ValidateFunction } from 'ajv';
// A CommonJS module: its default import is module.exports, whose .default is the function.
import standalone from 'ajv/dist/standalone/index.js';
import { UsageError } from '../core/errors.js';
import { findUnsafePattern } from './regex-safety.js';
import { AJV_OPTIONS, limitErrors } from './codegen.js';
import { validatorFrom, type CompiledSchema, type Compiler, type InputValidator } from './validator.js';

export type { InputValidator };

const ajv = new Ajv(AJV_OPTIONS);

/** Compiles `schema` (from `origin`, named in errors when the schema itself is broken). */
export function compileSchema(schema: object, origin: string): InputValidator {
  return validatorFrom(compile(schema, origin));
}

/** The compiler validator.ts calls when its cache cannot help. */
export const compiler: Compiler = {
  compile,
  standalone(schema: object, origin: string): string {
    // ajv generates the standalone module from the code before code.process: edit it the same way.
    return limitErrors(standalone.default(ajv, compile(schema, origin) as ValidateFunction));
  },
};

function compile(schema: object, origin: string): CompiledSchema {
  const unsafe = findUnsafePattern(schema);
  if (unsafe) {
    throw new UsageError(
      `invalid JSON schema ${origin}: the pattern at ${unsafe.path}, ${JSON.stringify(unsafe.pattern)}, can take exponential time: ` +
        'it repeats a group that itself only repeats, like (a+)+. Give each repetition a mandatory part, e.g. ^[a-z]+(-[a-z]+)*$',
    );
  }
  try {
    return ajv.compile(schema) as CompiledSchema;
  } catch (err) {
    throw new UsageError(`invalid JSON schema ${origin}: ${(err as Error).message}`, { cause: err });
  }
}
