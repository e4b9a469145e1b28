// ESLint (flat config): typescript-eslint's type-checked rules over src/, tasks/ and test/; plain JS rules over the
// benchmarks, scripts and the dashboard page. Layout is Prettier's (npm run format): no formatting rule here.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    // examples/ is a user's project of its own (it imports 'fj' from its package.json); *.d.mts are declarations.
    ignores: ['dist/', 'node_modules/', 'bench/out/', 'test/.tmp/', '.fj-tmp/', 'examples/', '**/*.d.mts'],
  },
  js.configs.recommended,
  {
    rules: {
      // Measured on the formatted tree (2026-12-06): 9 functions over 30 and 5 over 100 lines, each marked where it
      // stands. Both limits flag outliers, not the parsers and option checks whose many short branches are flat.
      complexity: ['error', 30],
      'max-lines-per-function': ['error', { max: 100, skipBlankLines: true, skipComments: true }],
      // fj escapes, counts and strips control characters on purpose (terminal output, dead letters, JSON paths).
      'no-control-regex': 'off',
      // A variable its closures read before its one assignment (a timer a callback clears) stays `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      // Each file is checked with the nearest tsconfig.json: the root one (src, tasks), test/ and test/types/.
      parserOptions: {
        projectService: { allowDefaultProject: ['vitest.config.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      // `const { verbose: _, ...rest } = flags` leaves a field out of the rest on purpose.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true, argsIgnorePattern: '^_' }],
      // isJobId(id) on a string narrows it to `never` where the check fails; the message still names the bad id.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNever: true }],
      // An async method that does not await still turns a throw into a rejection, as the seams it implements
      // (Store, Transport) promise; the memory store and the thread transport are such methods.
      '@typescript-eslint/require-await': 'off',
      // `String(value)` echoes a caller's bad value in an option error (p-queue's habit); '[object Object]' is an
      // honest echo of an object there.
      '@typescript-eslint/no-base-to-string': 'off',
      // `unknown | Promise<unknown>` tells the reader a hook may answer either way, though the types absorb it.
      '@typescript-eslint/no-redundant-type-constituents': 'off',
      // A rejection passes on what it was given: an AbortSignal's reason, a callback's error, a thread's error.
      '@typescript-eslint/prefer-promise-reject-errors': [
        'error',
        { allowThrowingAny: true, allowThrowingUnknown: true },
      ],
    },
  },
  {
    // The task generics: `TaskBase<any, ...>` is the type every task of any type parameters is assignable to.
    files: ['src/task/fork-join-task.ts', 'src/job/lifecycle.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // commander hands an action its arguments as any; the option declarations above each action are their types.
    files: ['src/cli/program.ts', 'src/cli/schedule-program.ts'],
    rules: { '@typescript-eslint/no-unsafe-argument': 'off' },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests parse JSON output and read its fields; the assertion on them is the check.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      // A describe() or it() callback is as long as its list of cases.
      'max-lines-per-function': 'off',
    },
  },
  {
    // Type tests declare values to read their types with expectTrue<Equal<typeof x, T>>.
    files: ['test/types/**/*.ts'],
    rules: { '@typescript-eslint/no-unused-vars': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { ...globals.node } },
  },
  {
    files: ['dashboard-page/**/*.js'],
    languageOptions: { globals: { ...globals.browser } },
  },
);
