#!/usr/bin/env node
/**
 * Generates an input for the `align` task: a random reference and edits cut
 * from it, each mutated by substitutions, insertions and deletions, so every
 * edit has a true place on the reference. Deterministic: the same flags give
 * the same file (mulberry32 PRNG). No dependencies.
 *
 *   node scripts/gen-align.mjs --reference-length 100000 --edits 200 --edit-length 200 > input.json
 */
import { parseArgs } from 'node:util';
import { mulberry32 } from './prng.mjs';

const USAGE = `Usage: node scripts/gen-align.mjs [options] > input.json

Writes an input for the fj align task to stdout.

Options:
  --reference-length <n>  bases in the reference (default 100000)
  --edits <n>             number of edits (default 200)
  --edit-length <n>       bases cut from the reference for each edit, before
                          mutation (default 200; at most the reference length)
  --seed <n>              PRNG seed, 0 to 4294967295; the same seed gives the
                          same file (default 1)
  --mutation-rate <r>     chance, per base, of a mutation: a substitution (70%),
                          an insertion (15%) or a deletion (15%); 0 to 1 (default 0.05)
  -h, --help              show this help
`;

const OPTIONS = {
  'reference-length': { type: 'string' },
  edits: { type: 'string' },
  'edit-length': { type: 'string' },
  seed: { type: 'string' },
  'mutation-rate': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

function fail(message) {
  process.stderr.write(`gen-align: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function integer(values, name, fallback, min, max = Number.MAX_SAFE_INTEGER) {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max)
    fail(`--${name} must be an integer from ${min} to ${max}, got '${raw}'`);
  return n;
}

const BASES = 'ACGT';

function main() {
  let values;
  try {
    ({ values } = parseArgs({ options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (err) {
    fail(err.message);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const referenceLength = integer(values, 'reference-length', 100000, 1);
  const editCount = integer(values, 'edits', 200, 0);
  const editLength = integer(values, 'edit-length', 200, 1);
  const seed = integer(values, 'seed', 1, 0, 0xffffffff);
  const rateRaw = values['mutation-rate'];
  const rate = rateRaw === undefined ? 0.05 : Number(rateRaw);
  if (rateRaw !== undefined && (rateRaw.trim() === '' || !Number.isFinite(rate) || rate < 0 || rate > 1)) {
    fail(`--mutation-rate must be a number from 0 to 1, got '${rateRaw}'`);
  }
  if (editLength > referenceLength)
    fail(`--edit-length (${editLength}) must not exceed --reference-length (${referenceLength})`);

  const random = mulberry32(seed);
  const base = () => BASES[Math.floor(random() * 4)];
  const ref = new Array(referenceLength);
  for (let i = 0; i < referenceLength; i++) ref[i] = base();
  const reference = ref.join('');

  const edits = [];
  const width = Math.max(6, String(editCount).length);
  for (let e = 1; e <= editCount; e++) {
    const from = Math.floor(random() * (referenceLength - editLength + 1));
    const out = [];
    for (let i = from; i < from + editLength; i++) {
      const original = reference[i];
      if (random() >= rate) {
        out.push(original);
        continue;
      }
      const kind = random();
      if (kind < 0.7) {
        // A substitution always changes the base.
        out.push(BASES[(BASES.indexOf(original) + 1 + Math.floor(random() * 3)) % 4]);
      } else if (kind < 0.85) {
        out.push(original, base());
      }
      // else: a deletion, nothing pushed.
    }
    // Deletions may have eaten a very short edit; keep it valid (minLength 1).
    const sequence = out.length > 0 ? out.join('') : reference.slice(from, from + editLength);
    edits.push({ id: `edit-${String(e).padStart(width, '0')}`, sequence });
  }

  const lines = [
    '{',
    `  "reference": ${JSON.stringify(reference)},`,
    '  "edits": [',
    edits.map((edit) => `    ${JSON.stringify(edit)}`).join(',\n'),
    '  ]',
    '}',
  ];
  process.stdout.write(`${lines.filter((l) => l !== '').join('\n')}\n`);
}

// A closed pipe (`| head`) is not an error worth a stack trace.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});
main();
