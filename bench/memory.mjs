/**
 * Peak memory of `fj run` on the local executor when setup is a generator of
 * N items (bench/tasks/noop.mjs). Goal: < 200 MB, flat as N grows.
 *
 *   /usr/bin/time -v node dist/src/cli/main.js run bench/tasks/noop.mjs input.json --no-progress
 *
 * reading "Maximum resident set size". Worker threads live in the same
 * process, so their memory is included. N = 0 gives the floor (node, fj, two
 * threads). Without /usr/bin/time, a wrapper process runs the CLI and reports
 * its own process.resourceUsage().maxRSS.
 *
 *   node bench/memory.mjs [N ...]      (default 0 100000 1000000 2000000)
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, BENCH_DIR, fmt, saveResult, table, tempDir, timeSpawn } from './lib.mjs';

const SIZES = process.argv.length > 2 ? process.argv.slice(2).map(Number) : [0, 100_000, 1_000_000, 2_000_000];
const TIME = process.env.BENCH_NO_TIME ? '/nonexistent/time' : '/usr/bin/time'; // BENCH_NO_TIME=1 tests the fallback
const task = join(BENCH_DIR, 'tasks', 'noop.mjs');

const { dir, cleanup } = tempDir();
try {
  const rows = [];
  const figures = [];
  for (const n of SIZES) {
    const input = join(dir, `input-${n}.json`);
    writeFileSync(input, JSON.stringify({ n }));
    const args = [CLI, 'run', task, input, '--no-progress']; // output to /dev/null
    let rssKb;
    let ms;
    if (existsSync(TIME)) {
      const r = await timeSpawn(TIME, ['-v', process.execPath, ...args]);
      rssKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1]);
      ms = r.ms;
    } else {
      // Fallback: run the CLI inside a small wrapper process that prints its own maxRSS on exit.
      const argv = [CLI, ...args.slice(1)].map((a) => JSON.stringify(a)).join(', ');
      const wrapper = join(dir, 'maxrss.mjs');
      writeFileSync(
        wrapper,
        `process.argv = [process.argv[0], ${argv}];\nprocess.on('exit', () => process.stderr.write('Maximum resident set size (kbytes): ' + process.resourceUsage().maxRSS + '\\n'));\nawait import(${JSON.stringify(CLI)});\n`,
      );
      const r = await timeSpawn(process.execPath, [wrapper]);
      rssKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1]);
      ms = r.ms;
    }
    if (!rssKb) throw new Error(`no maximum RSS reported for N = ${n}`);
    const mb = (rssKb * 1024) / 1e6;
    figures.push({ n, maxRssMB: mb, wallMs: ms });
    rows.push([fmt.int(n), `${mb.toFixed(0)} MB`, fmt.s(ms), n ? `${((ms * 1000) / n).toFixed(2)} µs` : '-']);
  }
  table(
    'memory: peak RSS of `fj run bench/tasks/noop.mjs` (generator setup, local executor; goal < 200 MB, flat)',
    ['N items', 'max RSS', 'wall (process)', 'wall/item'],
    rows,
  );
  const worst = Math.max(...figures.map((f) => f.maxRssMB));
  console.log(`peak ${worst.toFixed(0)} MB: goal < 200 MB ${worst < 200 ? 'MET' : 'MISSED'}`);
  saveResult('memory', {
    method: existsSync(TIME) ? '/usr/bin/time -v' : 'process.resourceUsage().maxRSS',
    runs: figures,
    goalMB: 200,
  });
} finally {
  cleanup();
}
