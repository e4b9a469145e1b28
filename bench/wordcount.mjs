/**
 * Word count end to end: whole-process wall time of
 *   node dist/src/cli/main.js run wordcount corpus.json --executor eager|local --no-progress > /dev/null
 * on a generated corpus (40,000 documents of 100 words, Zipf over a
 * 5,000-word vocabulary, deterministic). Rounds alternate which executor goes
 * first; median of the rounds. `job` is the run's own wallMs from --stats
 * (validation to output: excludes node start-up, reading and parsing the
 * JSON, and writing the output).
 *
 *   node bench/wordcount.mjs [documents] [rounds]
 */
import { statSync } from 'node:fs';
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
    const { ms } = await timeSpawn(process.execPath, [CLI, 'run', 'wordcount', corpus, '--executor', executor, '--no-progress', '--stats', statsFile]);
    const stats = JSON.parse(readFileSync(statsFile, 'utf8'));
    if (stats.items !== DOCS) throw new Error(`expected ${DOCS} items, got ${stats.items}`);
    return { ms, jobMs: stats.wallMs };
  };

  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? ['eager', 'local'] : ['local', 'eager'];
    const t = {};
    for (const e of order) t[e] = await once(e);
    rounds.push({ eagerMs: t.eager.ms, localMs: t.local.ms, eagerJobMs: t.eager.jobMs, localJobMs: t.local.jobMs, ratio: t.eager.ms / t.local.ms });
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
  };
  const rows = rounds.map((r, i) => [`round ${i + 1}`, fmt.ms(r.eagerMs), fmt.ms(r.eagerJobMs), fmt.ms(r.localMs), fmt.ms(r.localJobMs), fmt.x(r.ratio)]);
  rows.push(['median', fmt.ms(result.eagerMs), fmt.ms(result.eagerJobMs), fmt.ms(result.localMs), fmt.ms(result.localJobMs), fmt.x(result.speedup)]);
  table(
    `wordcount: ${fmt.int(DOCS)} documents x 100 words, corpus ${fmt.mb(bytes)}, whole \`fj run\` process (${ROUNDS} rounds)`,
    ['', 'eager (process)', 'eager (job)', 'local (process)', 'local (job)', 'eager/local'],
    rows,
  );
  saveResult('wordcount', result);
} finally {
  cleanup();
}
