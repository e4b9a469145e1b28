/**
 * How fj has ajv generate validation code: ajv's options and fj's edits to
 * the generated code. Kept apart from ajv itself (./schema.ts) so the
 * validator cache (./validator.ts) can tell, without loading ajv, whether
 * cached code was generated the way this fj would generate it: its key
 * includes {@link CODEGEN_FINGERPRINT}, a hash of everything here.
 */
import { createHash } from 'node:crypto';

/** Validation stops collecting violations after this many; the error then says "over N problems". */
export const MAX_COUNTED_PROBLEMS = 100_000;

/** Injected after each place ajv's generated code counts an error: throws the collected errors (validator.ts catches them). */
const STOP = `if(vErrors!==null&&vErrors.length>${MAX_COUNTED_PROBLEMS})throw vErrors;`;

/**
 * Two edits to the code ajv generates (if a new ajv generates other code they
 * stop matching, and test/reliability/hostile-input.test.ts fails): stop at
 * MAX_COUNTED_PROBLEMS, and append the errors of a separately compiled
 * subschema (a recursive `$ref`) in place — ajv's `vErrors.concat(...)` copies
 * the whole list per failing item, quadratic: 50,000 bad items took 50 s.
 */
export function limitErrors(code: string): string {
  return code
    .replace(
      /vErrors = vErrors === null \? ([\w.$]+)\.errors : vErrors\.concat\(\1\.errors\);/g,
      'if(vErrors === null){vErrors = $1.errors;}else{for(const e of $1.errors)vErrors.push(e);}',
    )
    .replaceAll('errors++;', `errors++;${STOP}`)
    .replaceAll('errors = vErrors.length;', `errors = vErrors.length;${STOP}`);
}

/**
 * ajv's options: strict mode (unknown keywords are errors), all errors
 * collected, defaults applied, no `$data`; `code.source` keeps the generated
 * code for the standalone copy the cache holds.
 */
export const AJV_OPTIONS = {
  strict: true,
  allErrors: true,
  useDefaults: true,
  $data: false,
  allowUnionTypes: true,
  code: { process: limitErrors, source: true },
} as const;

/** A hash of the options and edits above: cached code made any other way is not used. */
export const CODEGEN_FINGERPRINT = createHash('sha256')
  .update(JSON.stringify(AJV_OPTIONS))
  .update(limitErrors.toString())
  .update(STOP)
  .digest('hex')
  .slice(0, 16);
