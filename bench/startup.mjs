/**
 * `fj run`'s start-up, whole process (spawn to exit): the word count on the
 * six documents of examples/wordcount.json and align with one edit (one
 * item: the issue's figure), eager and local, beside a bare
 * `node -e 0` and a bare program that starts two threads and imports fj's
 * entry in each (the floor of what local pays for its threads). `--against
 * DIR`: another built checkout's `fj` runs the same commands, in the same
 * rounds (its before/after figures). Every command once per round, order
 * rotating; median (and minimum) of `--rounds`.
 *
 *   node bench/startup.mjs [--rounds 30] [--against DIR]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CLI, ROOT, fmt, median, table, timeSpawn } from './lib.mjs';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '30' }, against: { type: 'string' } } });
const rounds = Number(values.rounds);
const input = join(ROOT, 'examples', 'wordcount.json');
const index = join(ROOT, 'dist', 'src', 'index.js');
const threads = `const { Worker } = require('node:worker_threads');
let n = 2; for (let i = 0; i < 2; i++) { const w = new Worker("import(" + JSON.stringify(${JSON.stringify(index)}) + ").then(() => require('node:worker_threads').parentPort.postMessage(1))", { eval: true });
w.once('message', () => { w.terminate(); }); }`;
// The figure: align with one edit (one item).
const align1 = join(mkdtempSync(join(tmpdir(), 'fj-startup-')), 'align-1.json');
writeFileSync(
  align1,
  execFileSync(process.execPath, [
    join(ROOT, 'scripts', 'gen-align.mjs'),
    ...['--reference-length', '20000', '--edits', '1', '--edit-length', '200', '--seed', '7'],
  ]),
);
const commands = [
  { name: 'node -e 0', args: ['-e', '0'] },
  { name: 'bare: 2 threads import fj', args: ['-e', threads] },
  { name: 'eager', args: [CLI, 'run', 'wordcount', input, '-e', 'eager'] },
  { name: 'local', args: [CLI, 'run', 'wordcount', input] },
  { name: 'align, 1 edit: eager', args: [CLI, 'run', 'align', align1, '-e', 'eager'] },
  { name: 'align, 1 edit: local', args: [CLI, 'run', 'align', align1] },
];
if (values.against) {
  const other = join(resolve(values.against), 'dist', 'src', 'cli', 'main.js');
  commands.push(
    { name: `eager (${values.against})`, args: [other, 'run', 'wordcount', input, '-e', 'eager'] },
    { name: `local (${values.against})`, args: [other, 'run', 'wordcount', input] },
    { name: `align, 1 edit: eager (${values.against})`, args: [other, 'run', 'align', align1, '-e', 'eager'] },
    { name: `align, 1 edit: local (${values.against})`, args: [other, 'run', 'align', align1] },
  );
}
const times = commands.map(() => []);
for (let r = 0; r < rounds; r++)
  for (let k = 0; k < commands.length; k++) {
    const i = (k + r) % commands.length;
    times[i].push((await timeSpawn(process.execPath, commands[i].args)).ms);
  }
const eagerOf = (name) => median(times[commands.findIndex((c) => c.name === name)]);
table(
  `fj run start-up, whole process: word count of examples/wordcount.json and align of 1 edit, median of ${rounds} (rotating order); minus eager: against the same command's eager run`,
  ['command', 'median', 'min', 'minus eager'],
  commands.map((c, i) => [
    c.name,
    fmt.ms(median(times[i])),
    fmt.ms(Math.min(...times[i])),
    fmt.ms(
      median(times[i]) - eagerOf(/\b(local|eager)\b/.test(c.name) ? c.name.replace(/\blocal\b/, 'eager') : 'eager'),
    ),
  ]),
);
