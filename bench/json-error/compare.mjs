/**
 * fj's JSON error messages (src/core/json-error.ts: V8's reason, its position
 * turned into line and column, and a syntax-only scan where V8 gives none)
 * against @humanwhocodes/momoa's parser errors, used on the error path only
 * (JSON.parse first; the other parser only when the input is bad), on broken
 * inputs: what each says, where, and what it costs.
 *
 * Run: npm run build && npm install --no-save @humanwhocodes/momoa && node bench/json-error/compare.mjs
 * (momoa is not a dependency of fj: this script is how it was judged.)
 */
import { describeJsonError } from '../../dist/src/core/json-error.js';

let momoa;
try {
  momoa = await import('@humanwhocodes/momoa');
} catch {
  console.error('momoa is not installed: npm install --no-save @humanwhocodes/momoa');
  process.exit(1);
}

const big = (tail) =>
  `{"documents": [${Array.from({ length: 400_000 }, (_, i) => `"document number ${i} with some words in it"`).join(',\n')}${tail}`;
/** [name, text, the true place of the error as a person would point at it: line:column] */
const cases = [
  ['truncated', '{"documents": ["a"', '1:19'],
  ['truncated in a string', '{"documents": ["a', '1:18'],
  ['trailing comma', '{\n  "documents": [\n    "a",\n  ]\n}\n', '4:3'],
  ['trailing comma in object', '{"a": 1,}', '1:9'],
  ['bad escape', '{"a": "x\\qy"}', '1:10'],
  ['bad unicode escape', '["\\u12"]', '1:7'],
  ['NaN', '{"a": NaN}', '1:7'],
  ['Infinity', '[-Infinity]', '1:3'],
  ['single quotes', "{'a': 1}", '1:2'],
  ['unquoted key', '{a: 1}', '1:2'],
  ['BOM', '\ufeff{"a": 1}', '1:1'],
  ['comment', '// c\n{"a": 1}', '1:1'],
  ['missing colon', '{"a" 1}', '1:6'],
  ['missing comma', '[1 2]', '1:4'],
  ['leading zero', '[01]', '1:3'],
  ['"1."', '[1.]', '1:4'],
  ['"tru"', '[tru]', '1:5'],
  ['control char in string', '["a\tb"]', '1:4'],
  ['two values', '{} {}', '1:4'],
  ['huge, unclosed object (18 MB)', big(']'), 'end'],
  ['huge, truncated (18 MB)', big(''), 'end'],
];

const ours = (text) => {
  try {
    JSON.parse(text);
    return { msg: 'parsed' };
  } catch (err) {
    const t = performance.now();
    const msg = describeJsonError(text, err.message);
    return { msg, ms: performance.now() - t };
  }
};
const theirs = (text) => {
  try {
    JSON.parse(text);
    return { msg: 'parsed' };
  } catch {
    const t = performance.now();
    try {
      momoa.parse(text);
      return { msg: 'parsed!', ms: performance.now() - t };
    } catch (err) {
      return {
        msg: `${err.message.replace(/ \(\d+:\d+\)$/, '')} at line ${err.line}, column ${err.column}`,
        ms: performance.now() - t,
      };
    }
  }
};
const place = (msg) => {
  const m = / at line (\d+), column (\d+)/.exec(msg);
  return m ? `${m[1]}:${m[2]}` : '?';
};

const endOf = (text) => {
  const lines = text.split('\n');
  return `${lines.length}:${lines.at(-1).length + 1}`;
};
const rows = [];
let oursRight = 0;
let theirsRight = 0;
for (const [name, text, at] of cases) {
  const where = at === 'end' ? endOf(text) : at;
  const a = ours(text);
  const b = theirs(text);
  const okA = place(a.msg) === where;
  const okB = place(b.msg) === where;
  oursRight += okA;
  theirsRight += okB;
  const cut = (s) => (s.length > 70 ? `${s.slice(0, 67)}...` : s);
  rows.push(
    `| ${name} | ${where} | ${cut(a.msg)} ${okA ? '' : '✗'} | ${a.ms.toFixed(2)} | ${cut(b.msg)} ${okB ? '' : '✗'} | ${b.ms.toFixed(2)} |`,
  );
}
console.log('| input | error at | fj (json-error.ts) | ms | momoa 3 (error path) | ms |');
console.log('| --- | --- | --- | --: | --- | --: |');
for (const r of rows) console.log(r);
console.log(
  `\nright place: fj ${oursRight}/${cases.length}, momoa ${theirsRight}/${cases.length} (✗: line:column not where the error is)`,
);

// What loading momoa on the error path costs: a fresh process each time, median of 5.
const { execFileSync } = await import('node:child_process');
const loads = Array.from({ length: 5 }, () =>
  Number(
    execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const t = performance.now(); await import('@humanwhocodes/momoa'); console.log(performance.now() - t)",
      ],
      { encoding: 'utf8' },
    ),
  ),
).sort((x, y) => x - y);
console.log(
  `momoa first import: ${loads[2].toFixed(1)} ms (median of 5 fresh processes); fj's json-error.ts is already loaded with cli/input.ts`,
);
