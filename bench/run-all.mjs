/**
 * Runs the core benchmarks in sequence — overhead, speedup, wordcount,
 * memory and amqp: the per-item cost, the thread speed-up, a whole
 * `fj run`, memory at millions of items, and the broker path; the set
 * bench/compare.mjs compares before and after a change —
 * each in its own node process (so one's memory and JIT state do not colour
 * the next), and prints the machine and the load average before each.
 * Figures also land in bench/out/*.json.
 *
 * The other scripts of bench/ are run by hand, each for its own question;
 * bench/README.md lists them all with their commands (scale, sharing,
 * cluster, first-job, startup, constants, detached, dashboard, io, the
 * pipeline benchmarks, the peers harness, the ReDoS and JSON-error
 * comparisons, and the floors without fj that wordcount.mjs and the peers
 * harness run themselves).
 *
 *   npm run bench                          (builds first)
 *   node bench/run-all.mjs [name ...]      (e.g. overhead speedup; default: the five above)
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BENCH_DIR, CLI, ROOT, machine } from './lib.mjs';

const ALL = ['overhead', 'speedup', 'wordcount', 'memory', 'amqp'];
const names = process.argv.length > 2 ? process.argv.slice(2) : ALL;
for (const n of names) if (!ALL.includes(n)) throw new Error(`unknown benchmark '${n}' (known: ${ALL.join(', ')})`);
if (!existsSync(CLI)) throw new Error(`fj is not built (${CLI} is missing): run npm run build`);

const m = machine();
console.log(`fj benchmarks — ${m.date}\nnproc ${m.nproc}, node ${m.node}, CPU ${m.cpu}`);
const t0 = performance.now();
const failed = [];
for (const name of names) {
  const load = loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  console.log(`\n=== ${name} (load average ${load}) — node bench/${name}.mjs`);
  const t = performance.now();
  const r = spawnSync(process.execPath, [join(BENCH_DIR, `${name}.mjs`)], { cwd: ROOT, stdio: 'inherit' });
  console.log(
    `=== ${name}: ${r.status === 0 ? 'ok' : `FAILED (exit ${r.status ?? r.signal})`} in ${((performance.now() - t) / 1000).toFixed(0)} s`,
  );
  if (r.status !== 0) failed.push(name);
}
console.log(
  `\nall done in ${((performance.now() - t0) / 1000).toFixed(0)} s${failed.length ? `; FAILED: ${failed.join(', ')}` : ''}`,
);
process.exitCode = failed.length ? 1 : 0;
