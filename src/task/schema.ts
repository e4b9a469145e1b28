/**
 * Input validation with ajv. Schemas are trusted code (ajv compiles them to
 * JavaScript), so they come only from the task's own files, never from input.
 * Options: strict mode (unknown keywords are errors), no `$data`, all errors
 * collected (up to MAX_COUNTED_PROBLEMS, reported up to MAX_PROBLEMS: see
 * ./validator.ts, which runs the compiled code, reports its problems and
 * caches it on disk), defaults applied. This module loads ajv: it is
 * imported only when a schema must be compiled.
 *
 * Hostile input: time and memory stay linear in the input's size. ajv keeps
 * one object per violation, so collection stops at MAX_COUNTED_PROBLEMS (an
 * array of ten million wrong items would otherwise take minutes and
 * gigabytes). `pattern`s run on the backtracking RegExp engine, so schemas
 * with the classic catastrophic shape, `(a+)+`, are refused when compiled
 * (see ./regex-safety.ts); patterns must match in linear time.
 */
import { Ajv, type ValidateFunction } from 'ajv';
// A CommonJS module: its default import is module.exports, whose .default is the function.
import standalone from 'ajv/dist/standalone/index.js';
import { UsageError } from '../errors.js';
import { findUnsafePattern } from './regex-safety.js';
import { MAX_COUNTED_PROBLEMS, validatorFrom, type CompiledSchema, type Compiler, type InputValidator } from './validator.js';

export type { InputValidator };

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

// code.source keeps the generated code, for the standalone copy cached by validator.ts.
// Changing these options or limitErrors means changing validator.ts's CODEGEN.
const ajv = new Ajv({ strict: true, allErrors: true, useDefaults: true, $data: false, allowUnionTypes: true, code: { process: limitErrors, source: true } });

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
