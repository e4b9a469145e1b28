/**
 * A check of the `pattern`s in a schema for exponential backtracking. ajv
 * tests them with JavaScript's backtracking RegExp engine, on strings from
 * the input: `^(a+)+$` against 30 `a`s and a `!` takes seconds, 40 takes
 * hours. Such a pattern is refused when the schema is compiled, so a hostile
 * input cannot hang validation through it.
 *
 * The check is recheck's ("the trustworthy ReDoS checker": an automaton
 * analysis, with fuzzing where the automaton would be too big), run with its
 * pure-JavaScript backend in this thread: no native binary, no Java, the same
 * answer on every machine. It replaced a shape heuristic that passed
 * overlapping alternatives such as `(a|aa)+$` and `(.*a)+$`; the comparison
 * on a corpus of timed-vulnerable and safe patterns is in bench/redos/.
 * recheck is loaded on the first pattern checked (about 0.6 s), so a schema
 * without patterns, a cached validator and `import 'fj'` never load it.
 *
 * Refused: what recheck finds exponential. Polynomial patterns (`\s+$` on a
 * long run of spaces) pass, as before: bound strings with `maxLength`. A
 * pattern recheck cannot decide within {@link CHECK_TIMEOUT_MS} passes too.
 */
import { createRequire } from 'node:module';

/** How long recheck may take over one pattern before it answers "unknown". */
export const CHECK_TIMEOUT_MS = 5000;

/**
 * recheck's fuzzer counts an attack string as found when matching it reads this many characters
 * (recheck's default 1.5e9, and 25,000 while incubating), with no time limit per attack: each attack is
 * judged by the work it takes, not by the clock. With its defaults the fuzzer answered "unknown" (passed)
 * for `^(a{1,30}){1,30}$` whenever the machine was busy; with these it flags it in about 0.5 s of CPU on an
 * idle machine. On bench/redos's corpus: no safe pattern refused (as before), 72 of the 80 exponential
 * ones found (71 before), 4 "unknown" (12 before), half the time.
 *
 * The whole check still has {@link CHECK_TIMEOUT_MS} of wall-clock time, so the verdict is not independent
 * of load: on 2026-12-07, at a load average of 12-17 on the 2-core machine, `^(a{1,30}){1,30}$` took 1.8 s
 * of CPU and 4.7 s of wall time (flagged), and once ran out (unknown: passed; test/reliability/
 * hostile-input.test.ts failed). Without the wall-clock limit the corpus gives 73 of 80 found, none
 * unknown, no safe pattern refused, but one safe pattern takes 13.5 s of CPU to check (5 s and "unknown"
 * now): a trade of compile time for a verdict that does not depend on load, not made here.
 */
const FUZZ_LIMITS = { attackLimit: 1e7, incubationLimit: 1e5, attackTimeout: null, incubationTimeout: null };

/** What recheck says (the part fj reads): see recheck's index.d.ts. */
interface Diagnostics {
  status: 'safe' | 'vulnerable' | 'unknown';
  complexity?: { type: string };
}

type CheckSync = (
  source: string,
  flags: string,
  params?: { timeout?: number | null } & Partial<Record<keyof typeof FUZZ_LIMITS, number | null>>,
) => Diagnostics;

const requireHere = createRequire(import.meta.url);
let checkSync: CheckSync | undefined;

/**
 * Identifies the rules: recheck's version and what is refused. The validator
 * cache keys on it, so a validator cached under other rules is compiled (and
 * checked) again; its package.json is read, not recheck itself.
 */
export function regexRules(): string {
  let version = 'unknown';
  try {
    version = (requireHere('recheck/package.json') as { version: string }).version;
  } catch {
    // not installed: the first check says so
  }
  return `recheck@${version}:exponential:attack-1e7`;
}

/** The first pattern in `schema` that can take exponential time and where it is (a JSON pointer), or undefined when every pattern passes. */
export function findUnsafePattern(schema: unknown): { path: string; pattern: string } | undefined {
  let found: { path: string; pattern: string } | undefined;
  const visit = (node: unknown, path: string): void => {
    if (found || node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) return node.forEach((v, i) => visit(v, `${path}/${i}`));
    for (const [key, value] of Object.entries(node)) {
      const at = `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      // Data, not schemas: a "pattern" in there is just a value.
      if (key === 'enum' || key === 'const' || key === 'default' || key === 'examples') continue;
      if (key === 'pattern' && typeof value === 'string' && isCatastrophic(value))
        found ??= { path: at, pattern: value };
      if (key === 'patternProperties' && value && typeof value === 'object') {
        for (const p of Object.keys(value as object))
          if (!found && isCatastrophic(p)) found ??= { path: at, pattern: p };
      }
      visit(value, at);
    }
  };
  visit(schema, '');
  return found;
}

/** True when `source` (compiled with the `u` flag, as ajv does) can take exponential time on some input. */
export function isCatastrophic(source: string): boolean {
  try {
    new RegExp(source, 'u');
  } catch {
    return false; // not a pattern ajv accepts: ajv's own error says why
  }
  const d = recheck()(source, 'u', { timeout: CHECK_TIMEOUT_MS, ...FUZZ_LIMITS });
  return d.status === 'vulnerable' && d.complexity?.type === 'exponential';
}

/** recheck's checkSync, loaded on first use, run on the pure-JS backend in this thread. */
function recheck(): CheckSync {
  if (!checkSync) {
    const loaded = requireHere('recheck') as { checkSync: CheckSync };
    checkSync = (source, flags, params) => {
      // recheck reads its backend from the environment on each call; "pure" runs here, synchronously (the default
      // would start a worker that starts a native binary). Set only for the call: nothing else sees it.
      const saved = process.env.RECHECK_SYNC_BACKEND;
      process.env.RECHECK_SYNC_BACKEND = 'pure';
      try {
        return loaded.checkSync(source, flags, params);
      } finally {
        if (saved === undefined) delete process.env.RECHECK_SYNC_BACKEND;
        else process.env.RECHECK_SYNC_BACKEND = saved;
      }
    };
  }
  return checkSync;
}
