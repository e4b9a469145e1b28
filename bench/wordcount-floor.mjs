/**
 * The floor under any executor's word count: the built-in task's own hooks
 * called directly in one thread, no fj in between — read and parse the
 * corpus, then per 1,000 documents `seed` and `fold` each (a FoldTask; the
 * time is `processMs`) or `process` each and `combine` them, then `join`.
 * Prints one JSON line of milliseconds; `bound2` is what two perfectly
 * parallel slots could reach: start-up + read + (process + combine) / 2 + join.
 * With `--two-threads`, after that: `fold2Ms` is what two bare worker
 * threads take folding half the documents each at once (the documents posted
 * to them before the clock starts), the machine's own 2-slot scaling of this
 * work, which `bound2` takes to be 2x; and `measured2` the floor with it:
 * start-up + read + fold2 + join.
 *
 *   node bench/wordcount-floor.mjs corpus.json [--two-threads]
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';

if (!isMainThread) {
  // A bare folding thread: keeps the batches it is sent, folds them all on 'go', answers the milliseconds.
  const { default: WordCount } = await import(fileURLToPath(new URL('../dist/tasks/wordcount.js', import.meta.url)));
  const task = new WordCount();
  const batches = [];
  parentPort.on('message', (m) => {
    if (m !== 'go') return void batches.push(m);
    const t = performance.now();
    for (const b of batches) {
      let acc = task.seed({ delimiter: ' ' }, {});
      for (const d of b) acc = task.fold(acc, d, { delimiter: ' ' }, {});
    }
    parentPort.postMessage(performance.now() - t);
  });
  parentPort.postMessage('ready');
}

/** Two bare threads folding half the documents each, at once: wall milliseconds from 'go' to both done. */
async function foldInTwoThreads(documents) {
  const ws = [0, 1].map(() => new Worker(new URL(import.meta.url)));
  await Promise.all(ws.map((w) => new Promise((r) => w.once('message', r))));
  const half = Math.ceil(documents.length / 2);
  ws.forEach((w, k) => {
    for (let i = k * half; i < Math.min(documents.length, (k + 1) * half); i += 1000)
      w.postMessage(documents.slice(i, Math.min(i + 1000, (k + 1) * half)));
  });
  await new Promise((r) => setTimeout(r, 50)); // the batches arrive before the clock starts
  const t = performance.now();
  ws.forEach((w) => w.postMessage('go'));
  await Promise.all(ws.map((w) => new Promise((r) => w.once('message', r))));
  const ms = performance.now() - t;
  await Promise.all(ws.map((w) => w.terminate()));
  return ms;
}

if (!isMainThread) await new Promise(() => {}); // a folding thread stops here (it is terminated)
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
const fold2Ms =
  process.argv.includes('--two-threads') && typeof task.fold === 'function'
    ? await foldInTwoThreads(documents)
    : undefined;
const bound2 = boot + readMs + (processMs + combineMs) / 2 + joinMs;
const measured2 = fold2Ms === undefined ? undefined : boot + readMs + fold2Ms + joinMs;
console.log(
  JSON.stringify({
    documents: documents.length,
    words,
    bootMs: boot,
    readMs,
    processMs,
    combineMs,
    joinMs,
    bound2,
    fold2Ms,
    measured2,
  }),
);
