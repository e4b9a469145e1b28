/**
 * The floor under any executor's word count: the built-in task's own hooks
 * called directly in one thread, no fj in between — read and parse the
 * corpus, then per 1,000 documents `seed` and `fold` each (a FoldTask; the
 * time is `processMs`) or `process` each and `combine` them, then `join`.
 * Prints one JSON line of milliseconds; `bound2` is what two perfectly
 * parallel slots could reach: start-up + read + (process + combine) / 2 + join.
 *
 *   node bench/wordcount-floor.mjs corpus.json
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const boot = performance.now(); // node start-up until here, as measured by node itself
const t0 = performance.now();
const { default: WordCount } = await import(fileURLToPath(new URL('../dist/tasks/wordcount.js', import.meta.url)));
const { documents } = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const t1 = performance.now();
const task = new WordCount();
const params = { delimiter: ' ' };
const merged = [];
let processMs = 0;
let combineMs = 0;
for (let i = 0; i < documents.length; i += 1000) {
  const a = performance.now();
  const batch = documents.slice(i, i + 1000);
  if (typeof task.fold === 'function') {
    // a FoldTask: one accumulator per batch, no partial per document (the whole batch's time is process time)
    let acc = task.seed(params, {});
    for (const d of batch) acc = task.fold(acc, d, params, {});
    merged.push(acc);
    processMs += performance.now() - a;
    continue;
  }
  const parts = batch.map((d) => task.process(d, params));
  const b = performance.now();
  merged.push(task.combine(parts, params));
  combineMs += performance.now() - b;
  processMs += b - a;
}
const t2 = performance.now();
const out = task.join(merged, params);
const joinMs = performance.now() - t2;
const words = Object.values(out.word_count).reduce((a, b) => a + b, 0);
const readMs = t1 - t0;
console.log(JSON.stringify({ documents: documents.length, words, bootMs: boot, readMs, processMs, combineMs, joinMs, bound2: boot + readMs + (processMs + combineMs) / 2 + joinMs }));
