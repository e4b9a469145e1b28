/**
 * The least a whole Node.js process can do to count the corpus's words on
 * two threads: no fj, no validation, no retries, no progress, no fault
 * tolerance. Two worker threads start with the process and import only the
 * built-in task module; the main thread reads and parses the input, posts each
 * thread half the documents (in 4 batches each, so folding starts with the
 * first), each thread folds everything it gets into one accumulator and posts
 * it back once, the main thread sums the two and writes the output JSON.
 *
 * It is the floor an executor on this machine is measured against in the
 * peers harness (the `bare` row): unlike `wordcount-floor.mjs`, whose
 * `measured2` leaves out thread start-up and the hand-off of documents and
 * counts, it pays what every multi-threaded Node program pays, and nothing
 * else.
 *
 *   node bench/wordcount-bare.mjs corpus.json [-o out.json]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';

const taskUrl = new URL('../dist/tasks/wordcount.js', import.meta.url);
const params = { delimiter: ' ' };

if (!isMainThread) {
  const { default: WordCount } = await import(taskUrl);
  const task = new WordCount();
  let acc = task.seed(params, {});
  parentPort.on('message', (batch) => {
    if (batch === 'end') return parentPort.postMessage(acc);
    for (const d of batch) acc = task.fold(acc, d, params, {});
  });
} else {
  const threads = [0, 1].map(() => new Worker(new URL(import.meta.url)));
  const { default: WordCount } = await import(taskUrl);
  const { documents } = JSON.parse(readFileSync(process.argv[2], 'utf8'));
  const half = Math.ceil(documents.length / 2);
  const step = Math.ceil(half / 4);
  const counts = threads.map((w, k) => {
    const answer = new Promise((resolve) => w.once('message', resolve));
    for (let i = k * half; i < Math.min(documents.length, (k + 1) * half); i += step)
      w.postMessage(documents.slice(i, Math.min(i + step, (k + 1) * half)));
    w.postMessage('end');
    return answer;
  });
  const output = new WordCount().join(await Promise.all(counts), params);
  const text = `${JSON.stringify(output, null, 2)}\n`;
  const o = process.argv.indexOf('-o');
  if (o > 0) writeFileSync(process.argv[o + 1], text);
  else process.stdout.write(text);
  await Promise.all(threads.map((w) => w.terminate()));
}
