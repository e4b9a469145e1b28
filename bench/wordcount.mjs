/**
 * Word count end to end: whole-process wall time of
 *   node dist/src/cli/main.js run wordcount corpus.json --executor eager|local --no-progress > /dev/null
 * on a generated corpus (40,000 documents of 100 words, Zipf over a
 * 5,000-word vocabulary, deterministic). Rounds alternate which executor goes
 * first; median of the rounds. `job` is the run's own wallMs from --stats
 * (validation to output: excludes node start-up, reading and parsing the
 * JSON, and writing the output). `floor` runs the task's own hooks with no fj
 * at all (bench/wordcount-floor.mjs: one thread; its `bound2` is what two
 * perfectly parallel slots could reach), so the table separates the task's
 * cost from the framework's.
 *
 *   node bench/wordcount.mjs [documents] [rounds]
 */
import { readFileSync as readText, statSync } from 'node:fs';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { CLI, fmt, median, saveResult, table, tempDir, timeSpawn, writeCorpus } from './lib.mjs';

const DOCS = Number(process.argv[2] ?? 40_000);
const ROUNDS = Number(process.argv[3] ?? 3);

const { dir, cleanup } = tempDir();
try {
  const corpus = join(dir, 'corpus.json');
  const bytes = await writeCorpus(corpus, { docs: DOCS, words: 100, vocab: 5000, seed: 42 });
  if (statSync(corpus).size !== bytes) throw new Error('corpus size mismatch');
  const statsFile = join(dir, 'stats.json');

  const once = async (executor) => {
    const { ms } = await timeSpawn(process.execPath, [
      CLI,
      'run',
      'wordcount',
      corpus,
      '--executor',
      executor,
      '--no-progress',
      '--stats',
      statsFile,
    ]);
    const stats = JSON.parse(readFileSync(statsFile, 'utf8'));
    if (stats.items !== DOCS) throw new Error(`expected ${DOCS} items, got ${stats.items}`);
    return { ms, jobMs: stats.wallMs };
  };

  const floorOut = join(dir, 'floor.json');
  const floor = async () => {
    const { ms } = await timeSpawn(process.execPath, [join(import.meta.dirname, 'wordcount-floor.mjs'), corpus], {
      stdoutFile: floorOut,
    });
    return { ms, ...JSON.parse(readText(floorOut, 'utf8')) };
  };

  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? ['eager', 'local', 'floor'] : ['floor', 'local', 'eager'];
    const t = {};
    for (const e of order) t[e] = e === 'floor' ? await floor() : await once(e);
    rounds.push({
      eagerMs: t.eager.ms,
      localMs: t.local.ms,
      eagerJobMs: t.eager.jobMs,
      localJobMs: t.local.jobMs,
      ratio: t.eager.ms / t.local.ms,
      floorMs: t.floor.ms,
      bound2Ms: t.floor.bound2,
    });
  }
  const m = (k) => median(rounds.map((r) => r[k]));
  const result = {
    documents: DOCS,
    wordsPerDocument: 100,
    corpusBytes: bytes,
    eagerMs: m('eagerMs'),
    localMs: m('localMs'),
    eagerJobMs: m('eagerJobMs'),
    localJobMs: m('localJobMs'),
    speedup: m('ratio'),
    floorMs: m('floorMs'),
    bound2Ms: m('bound2Ms'),
    localOverBound2: m('localMs') / m('bound2Ms'),
  };
  const rows = rounds.map((r, i) => [
    `round ${i + 1}`,
    fmt.ms(r.eagerMs),
    fmt.ms(r.eagerJobMs),
    fmt.ms(r.localMs),
    fmt.ms(r.localJobMs),
    fmt.x(r.ratio),
    fmt.ms(r.floorMs),
    fmt.ms(r.bound2Ms),
    fmt.x(r.localMs / r.bound2Ms),
  ]);
  rows.push([
    'median',
    fmt.ms(result.eagerMs),
    fmt.ms(result.eagerJobMs),
    fmt.ms(result.localMs),
    fmt.ms(result.localJobMs),
    fmt.x(result.speedup),
    fmt.ms(result.floorMs),
    fmt.ms(result.bound2Ms),
    fmt.x(result.localOverBound2),
  ]);
  table(
    `wordcount: ${fmt.int(DOCS)} documents x 100 words, corpus ${fmt.mb(bytes)}, whole \`fj run\` process (${ROUNDS} rounds)`,
    [
      '',
      'eager (process)',
      'eager (job)',
      'local (process)',
      'local (job)',
      'eager/local',
      'floor: hooks alone, 1 thread',
      'floor: 2 slots',
      'local/floor 2 slots',
    ],
    rows,
  );
  saveResult('wordcount', result);
} finally {
  cleanup();
}
