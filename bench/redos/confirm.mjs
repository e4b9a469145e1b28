/**
 * Builds corpus.json from candidates.mjs, confirming each label by timing the
 * real pattern in Node (the `u` flag and `.test()`, as ajv runs a schema's
 * `pattern`) in a worker thread that is killed after TIMEOUT_MS:
 *  - a vulnerable candidate is kept when its attack string
 *    (`prefix + pump × n + suffix`, n growing) makes one test() take at least
 *    SLOW_MS; it is marked exponential when n ≤ 64 pumps sufficed, else
 *    polynomial. Unconfirmed candidates are listed and left out.
 *  - a safe candidate is kept when the attack string recheck finds for it (if
 *    any, at that size and 4× and 16× the pumps) stays under SLOW_MS; one that
 *    does not is moved to the vulnerable side (its label was wrong).
 *
 * Run: node bench/redos/confirm.mjs   (a few minutes; writes bench/redos/corpus.json)
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { safe, vulnerable } from './candidates.mjs';

const SLOW_MS = 1000;
const TIMEOUT_MS = 3000;
const PUMPS = [8, 16, 24, 32, 40, 48, 64, 256, 1000, 3000, 10_000, 30_000, 100_000];
const MAX_CHARS = 200_000;

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const re = new RegExp(workerData.source, 'u');
parentPort.on('message', (s) => { const t = performance.now(); re.test(s); parentPort.postMessage(performance.now() - t); });
`;

/** Times test() on each string in turn, stopping at the first that takes SLOW_MS (or is killed at TIMEOUT_MS). */
function timeStrings(source, strings) {
  return new Promise((resolve) => {
    const w = new Worker(WORKER, { eval: true, workerData: { source } });
    let i = 0;
    const done = (result) => {
      clearTimeout(timer);
      void w.terminate();
      resolve(result);
    };
    let timer;
    const next = () => {
      if (i === strings.length) return done({ slow: false, ms: undefined, index: -1 });
      timer = setTimeout(() => done({ slow: true, ms: TIMEOUT_MS, killed: true, index: i }), TIMEOUT_MS);
      w.postMessage(strings[i]);
    };
    w.on('message', (ms) => {
      clearTimeout(timer);
      if (ms >= SLOW_MS) return done({ slow: true, ms, index: i });
      i++;
      next();
    });
    w.on('error', (err) => done({ error: String(err) }));
    next();
  });
}

const build = ({ prefix, pump, suffix }, n) => prefix + pump.repeat(n) + suffix;

const corpus = [];
const dropped = [];
for (const [pattern, expected, attack, source] of vulnerable) {
  const sizes = PUMPS.filter((n) => n * attack.pump.length <= MAX_CHARS);
  const r = await timeStrings(
    pattern,
    sizes.map((n) => build(attack, n)),
  );
  if (r.error) {
    dropped.push({ pattern, source, why: r.error });
  } else if (!r.slow) {
    dropped.push({ pattern, source, why: `not confirmed: ${sizes.at(-1)} pumps stayed under ${SLOW_MS} ms` });
  } else {
    const n = sizes[r.index];
    const kind = n <= 64 ? 'exponential' : 'polynomial';
    corpus.push({
      pattern,
      label: 'vulnerable',
      kind,
      expected,
      source,
      attack: { ...attack, n, chars: build(attack, n).length, ms: Math.round(r.ms), killed: !!r.killed },
    });
  }
  process.stderr.write('.');
}

const require = createRequire(import.meta.url);
process.env.RECHECK_SYNC_BACKEND = 'pure';
const { checkSync } = require('recheck');
for (const [pattern, source] of safe) {
  try {
    new RegExp(pattern, 'u');
  } catch (err) {
    dropped.push({ pattern, source, why: String(err) });
    continue;
  }
  const d = checkSync(pattern, 'u');
  if (d.status === 'vulnerable') {
    const pumps = d.attack.pumps;
    const sized = (k) =>
      pumps
        .map(
          (p) =>
            p.prefix +
            p.pump.repeat(
              Math.min(Math.ceil(d.attack.base * k), Math.floor(MAX_CHARS / Math.max(1, p.pump.length) / pumps.length)),
            ),
        )
        .join('') + d.attack.suffix;
    const strings = [1, 4, 16].map(sized);
    const r = await timeStrings(pattern, strings);
    if (r.slow) {
      corpus.push({
        pattern,
        label: 'vulnerable',
        kind: d.complexity.type,
        expected: 'safe',
        source,
        attack: { recheck: d.attack.pattern, chars: strings[r.index].length, ms: Math.round(r.ms), killed: !!r.killed },
      });
      process.stderr.write('!');
      continue;
    }
    corpus.push({
      pattern,
      label: 'safe',
      source,
      probed: { recheck: d.attack.pattern, maxChars: strings.at(-1).length },
    });
  } else corpus.push({ pattern, label: 'safe', source });
  process.stderr.write('.');
}
process.stderr.write('\n');

writeFileSync(
  new URL('./corpus.json', import.meta.url),
  `${JSON.stringify({ slowMs: SLOW_MS, timeoutMs: TIMEOUT_MS, flags: 'u', corpus, dropped }, null, 1)}\n`,
);
const count = (f) => corpus.filter(f).length;
console.log(
  `vulnerable ${count((e) => e.label === 'vulnerable')} (exponential ${count((e) => e.kind === 'exponential')}, polynomial ${count((e) => e.label === 'vulnerable' && e.kind !== 'exponential')}), safe ${count((e) => e.label === 'safe')}, dropped ${dropped.length}`,
);
for (const d of dropped) console.log(`dropped ${JSON.stringify(d.pattern)} (${d.source}): ${d.why}`);
for (const e of corpus.filter((e) => e.expected && e.expected !== (e.label === 'safe' ? 'safe' : e.kind)))
  console.log(
    `relabelled ${JSON.stringify(e.pattern)} (${e.source}): expected ${e.expected}, measured ${e.label} ${e.kind ?? ''}`,
  );
