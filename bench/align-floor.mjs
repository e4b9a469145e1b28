/**
 * align on many edits, whole process: fj eager and fj local beside the two
 * bare programs under them, in the same rounds. The bare programs call the
 * align task's own hooks with no fj in between: read and parse the input,
 * then `process` every edit in this thread (`bare: 1 thread`), or in two
 * worker threads that take the next edit from a shared counter as they free
 * (`bare: 2 threads`: no batching, no messages but the results, the least
 * a 2-slot program does). `bare 1 / bare 2` is what this machine's two cores
 * give this work; fj local's ratio to eager is measured against it.
 *
 * Every command once per round, order rotating; ratios are taken within a
 * round, then the median of the rounds.
 *
 *   node bench/align-floor.mjs [--rounds 7] [--edits 160] [--reference 50000]
 *   node bench/align-floor.mjs --bare 1|2 input.json   (one bare run; used by the rounds)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

const ALIGN = fileURLToPath(new URL('../dist/tasks/align.js', import.meta.url));

/** The task, its params, and the edits of one input file, as the CLI would have them (schema defaults applied). */
async function load(file) {
  const { default: Align } = await import(ALIGN);
  const input = { match: 2, mismatch: -1, gap: -2, ...JSON.parse(readFileSync(file, 'utf8')) };
  const task = new Align();
  return { task, params: task.params(input), edits: task.setup(input) };
}

if (!isMainThread) {
  // A bare slot: takes edit indices from the shared counter until none are left, then posts its results.
  const { file, counter } = workerData;
  const { task, params, edits } = await load(file);
  const next = new Int32Array(counter);
  const results = [];
  for (let i = Atomics.add(next, 0, 1); i < edits.length; i = Atomics.add(next, 0, 1))
    results.push([i, task.process(edits[i], params)]);
  parentPort.postMessage(results);
} else {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      bare: { type: 'string' },
      rounds: { type: 'string', default: '7' },
      edits: { type: 'string', default: '160' },
      reference: { type: 'string', default: '50000' },
    },
  });
  if (values.bare) await bare(Number(values.bare), positionals[0]);
  else await rounds(values);
}

/** One bare run: every edit in this thread (slots 1) or in `slots` threads taking edits as they free; then `join`. */
async function bare(slots, file) {
  let output;
  if (slots === 1) {
    const { task, params, edits } = await load(file);
    output = task.join(
      edits.map((e) => task.process(e, params)),
      params,
    );
  } else {
    const counter = new SharedArrayBuffer(4);
    const parts = await Promise.all(
      Array.from(
        { length: slots },
        () =>
          new Promise((resolve, reject) => {
            const w = new Worker(fileURLToPath(import.meta.url), { workerData: { file, counter } });
            w.once('message', resolve).once('error', reject);
          }),
      ),
    );
    const { task, params } = await load(file);
    const byIndex = parts.flat().sort((a, b) => a[0] - b[0]);
    output = task.join(
      byIndex.map(([, r]) => r),
      params,
    );
  }
  process.stdout.write(JSON.stringify(output.summary) + '\n');
}

async function rounds(values) {
  const { CLI, ROOT, fmt, machine, median, saveResult, table, timeSpawn } = await import('./lib.mjs');
  const input = join(mkdtempSync(join(tmpdir(), 'fj-align-floor-')), 'align.json');
  writeFileSync(
    input,
    execFileSync(process.execPath, [
      join(ROOT, 'scripts', 'gen-align.mjs'),
      ...['--reference-length', values.reference, '--edits', values.edits, '--edit-length', '200', '--seed', '7'],
    ]),
  );
  const self = fileURLToPath(import.meta.url);
  const commands = [
    { name: 'fj eager', args: [CLI, 'run', 'align', input, '-e', 'eager'] },
    { name: 'fj local -c 2', args: [CLI, 'run', 'align', input, '-c', '2'] },
    { name: 'bare: 1 thread', args: [self, '--bare', '1', input] },
    { name: 'bare: 2 threads', args: [self, '--bare', '2', input] },
  ];
  const n = Number(values.rounds);
  const times = commands.map(() => []);
  console.log(
    `align, ${values.edits} edits on ${values.reference} bases, ${n} rounds (${machine().cpu}, ${machine().nproc} cores)`,
  );
  for (let r = 0; r < n; r++) {
    for (let k = 0; k < commands.length; k++) {
      const i = (k + r) % commands.length;
      times[i].push((await timeSpawn(process.execPath, commands[i].args)).ms);
    }
    console.log(`round ${r + 1}: ${commands.map((c, i) => `${c.name} ${fmt.ms(times[i][r])}`).join(', ')}`);
  }
  const ratio = (a, b) => median(times[a].map((t, r) => t / times[b][r]));
  table(
    'align, whole process (median of rounds)',
    ['command', 'median', 'min'],
    commands.map((c, i) => [c.name, fmt.ms(median(times[i])), fmt.ms(Math.min(...times[i]))]),
  );
  const figures = {
    fjLocalSpeedup: ratio(0, 1),
    bareSpeedup: ratio(2, 3),
    fjLocalOverBare2: ratio(1, 3),
    fjEagerOverBare1: ratio(0, 2),
  };
  table(
    'ratios (median of per-round ratios)',
    ['figure', 'value'],
    [
      ['fj eager / fj local (goal ≥ 1.8x)', fmt.x(figures.fjLocalSpeedup)],
      ['bare 1 thread / bare 2 threads: the machine', fmt.x(figures.bareSpeedup)],
      ['fj local / bare 2 threads', fmt.x(figures.fjLocalOverBare2)],
      ['fj eager / bare 1 thread', fmt.x(figures.fjEagerOverBare1)],
    ],
  );
  saveResult('align-floor', {
    edits: Number(values.edits),
    reference: Number(values.reference),
    rounds: n,
    times,
    figures,
  });
}
