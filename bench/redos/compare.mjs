/**
 * Three ReDoS checkers on corpus.json (built and timed by confirm.mjs):
 *  - fj's heuristic, src/task/regex-safety.ts as of commit 3c6a885 (read from
 *    git and transpiled, so this still runs after the file changed);
 *  - recheck (pure-JS backend, in this thread: checkSync with
 *    RECHECK_SYNC_BACKEND=pure; no native binary, no Java);
 *  - redos-detector (isSafePattern, unicode).
 * Each gets the same time budget per pattern (BUDGET_MS). Prints precision
 * and recall (vulnerable = positive), the exponential subset's recall, check
 * time per pattern (median, p90, max) and the load time, then every pattern.
 *
 * Run: npm install --no-save redos-detector (recheck is a dependency of fj)
 *      node bench/redos/compare.mjs [--rows]
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import ts from 'typescript';

const BUDGET_MS = 5000;
const HEURISTIC_AT = '3c6a885';
const require = createRequire(import.meta.url);
const { corpus } = JSON.parse(readFileSync(new URL('./corpus.json', import.meta.url), 'utf8'));
const showRows = process.argv.includes('--rows');

async function loadHeuristic() {
  const root = new URL('../..', import.meta.url).pathname;
  const source = execFileSync('git', ['-C', root, 'show', `${HEURISTIC_AT}:src/task/regex-safety.ts`], {
    encoding: 'utf8',
  });
  const js = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  const { isCatastrophic } = await import(`data:text/javascript,${encodeURIComponent(js)}`);
  return (p) => (isCatastrophic(p) ? { verdict: 'vulnerable' } : { verdict: 'safe' });
}

async function loadRecheck() {
  process.env.RECHECK_SYNC_BACKEND = 'pure';
  const { checkSync } = require('recheck');
  return (p) => {
    const d = checkSync(p, 'u', { timeout: BUDGET_MS });
    if (d.status === 'vulnerable') return { verdict: 'vulnerable', detail: d.complexity.type };
    if (d.status === 'safe') return { verdict: 'safe', detail: d.complexity.type };
    return { verdict: 'unknown', detail: d.error.kind };
  };
}

async function redosDetectorInProcess() {
  const { isSafePattern } = await import('redos-detector');
  return (p) => {
    const r = isSafePattern(p, { unicode: true, timeout: BUDGET_MS });
    if (r.safe) return { verdict: 'safe' };
    // hitMaxScore: more backtracking than its limit (the finding); hitMaxSteps and timedOut: it gave up.
    return r.error === 'hitMaxScore'
      ? { verdict: 'vulnerable', detail: r.score.infinite ? 'infinite' : `score ${r.score.value}` }
      : { verdict: 'unknown', detail: r.error };
  };
}

/**
 * redos-detector in a child process per pattern: in one process its memory
 * grows with every pattern that runs to the budget (3.2 GB after 35 of this
 * corpus, then out of memory). The time is the check's, measured in the child.
 */
async function loadRedosDetector() {
  const t = performance.now();
  await import('redos-detector');
  const loadMs = performance.now() - t;
  const check = (p) => {
    const out = execFileSync(process.execPath, [new URL(import.meta.url).pathname, '--child-redos', p], {
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    });
    return JSON.parse(out);
  };
  check.loadMs = loadMs;
  return check;
}

if (process.argv[2] === '--child-redos') {
  const check = await redosDetectorInProcess();
  const t = performance.now();
  const r = check(process.argv[3]);
  console.log(JSON.stringify({ ...r, ms: performance.now() - t, rssMb: Math.round(process.memoryUsage().rss / 1e6) }));
  process.exit(0);
}

const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7);
const checkers = [
  ['fj heuristic', loadHeuristic],
  ['recheck 4.5 (pure JS)', loadRecheck],
  ['redos-detector 6', loadRedosDetector],
].filter(([name]) => !only || name.startsWith(only));

const results = {};
const summary = [];
for (const [name, load] of checkers) {
  const t0 = performance.now();
  const check = await load();
  const loadMs = check.loadMs ?? performance.now() - t0;
  const rows = corpus.map((e) => {
    const t = performance.now();
    let r;
    try {
      r = check(e.pattern);
    } catch (err) {
      r = { verdict: 'unknown', detail: `threw ${err.message}` };
    }
    process.stderr.write(r.verdict === 'unknown' ? '?' : '.');
    if (process.env.TRACE)
      process.stderr.write(
        ` ${e.pattern} ${(performance.now() - t).toFixed(0)}ms ${Math.round(process.memoryUsage().rss / 1e6)}MB\n`,
      );
    return { ...r, ms: r.ms ?? performance.now() - t };
  });
  process.stderr.write(` ${name}\n`);
  results[name] = rows;
  // Unknown counts as a refusal (the safe way to use a checker that gave up) and, separately, as an acceptance.
  const score = (unknownIsVulnerable) => {
    let tp = 0,
      fp = 0,
      fn = 0,
      tn = 0,
      expHit = 0,
      exp = 0;
    corpus.forEach((e, i) => {
      const says = rows[i].verdict === 'vulnerable' || (unknownIsVulnerable && rows[i].verdict === 'unknown');
      const is = e.label === 'vulnerable';
      if (is && says) tp++;
      else if (is) fn++;
      else if (says) fp++;
      else tn++;
      if (e.kind === 'exponential') {
        exp++;
        if (says) expHit++;
      }
    });
    return { tp, fp, fn, tn, precision: tp / (tp + fp), recall: tp / (tp + fn), expRecall: expHit / exp };
  };
  const ms = rows.map((r) => r.ms).sort((a, b) => a - b);
  const q = (f) => ms[Math.min(ms.length - 1, Math.floor(f * ms.length))];
  summary.push({
    name,
    loadMs,
    refuse: score(true),
    accept: score(false),
    unknown: rows.filter((r) => r.verdict === 'unknown').length,
    median: q(0.5),
    p90: q(0.9),
    max: ms.at(-1),
    total: ms.reduce((a, b) => a + b, 0),
  });
}

const vuln = corpus.filter((e) => e.label === 'vulnerable');
console.log(
  `corpus: ${vuln.length} vulnerable (${vuln.filter((e) => e.kind === 'exponential').length} exponential, ${vuln.filter((e) => e.kind !== 'exponential').length} polynomial, each confirmed by timing), ${corpus.length - vuln.length} safe; budget ${BUDGET_MS} ms a pattern\n`,
);
console.log(
  '| checker | unknown | TP | FP | FN | TN | precision | recall | exponential recall | median ms | p90 ms | max ms | total s | load ms |',
);
console.log('| --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |');
const pct = (x) => `${(100 * x).toFixed(0)}%`;
for (const s of summary) {
  for (const [how, sc] of [
    ['unknown = refuse', s.refuse],
    ['unknown = accept', s.accept],
  ]) {
    if (how === 'unknown = accept' && s.unknown === 0) continue;
    console.log(
      `| ${s.name}${s.unknown ? ` (${how})` : ''} | ${s.unknown} | ${sc.tp} | ${sc.fp} | ${sc.fn} | ${sc.tn} | ${pct(sc.precision)} | ${pct(sc.recall)} | ${pct(sc.expRecall)} | ${s.median.toFixed(1)} | ${s.p90.toFixed(1)} | ${s.max.toFixed(0)} | ${(s.total / 1000).toFixed(1)} | ${s.loadMs.toFixed(0)} |`,
    );
  }
}
// As fj uses a checker: refuse what can take exponential time. Positive: measured exponential; negative: safe and polynomial.
// recheck tells the two apart (its complexity type); the heuristic and redos-detector give one verdict, taken as a refusal.
console.log('\nAs fj refuses patterns (exponential only; polynomial ones pass, as before):\n');
console.log('| checker | refused exponential | refused other (safe or polynomial) | precision | recall |');
console.log('| --- | --: | --: | --: | --: |');
for (const [name] of checkers) {
  const rows = results[name];
  const refuses = (r) => r.verdict === 'vulnerable' && (!name.startsWith('recheck') || r.detail === 'exponential');
  let tp = 0,
    fp = 0,
    exp = 0;
  corpus.forEach((e, i) => {
    const isExp = e.kind === 'exponential';
    exp += isExp;
    if (refuses(rows[i])) isExp ? tp++ : fp++;
  });
  console.log(
    `| ${name} | ${tp} of ${exp} | ${fp} of ${corpus.length - exp} | ${pct(tp / (tp + fp))} | ${pct(tp / exp)} |`,
  );
}

if (showRows) {
  console.log(`\n| pattern | label | ${checkers.map(([n]) => n).join(' | ')} |`);
  console.log(`| --- | --- | ${checkers.map(() => '---').join(' | ')} |`);
  corpus.forEach((e, i) => {
    const cell = (n) => {
      const r = results[n][i];
      const wrong = (r.verdict === 'vulnerable') !== (e.label === 'vulnerable') ? ' ✗' : '';
      return `${r.verdict}${r.detail ? ` (${r.detail})` : ''}${wrong} ${r.ms.toFixed(1)} ms`;
    };
    console.log(
      `| \`${e.pattern.replace(/\|/g, '\\|').replace(/`/g, '\\`')}\` | ${e.label}${e.kind ? ` ${e.kind}` : ''} | ${checkers.map(([n]) => cell(n)).join(' | ')} |`,
    );
  });
}
