/**
 * Runs the benchmarks of two built checkouts side by side, one benchmark at
 * a time, alternating between them (A, B, A, B, ...), so both see the same
 * machine load: the before/after figures of a change.
 *
 *   node bench/compare.mjs DIR_A DIR_B [name ...]    (names as run-all.mjs: overhead speedup wordcount memory amqp)
 *
 * Each checkout runs its own bench/<name>.mjs against its own dist/.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';

const [a, b, ...rest] = process.argv.slice(2);
if (!a || !b) throw new Error('usage: node bench/compare.mjs DIR_A DIR_B [name ...]');
const dirs = [resolve(a), resolve(b)];
for (const d of dirs)
  if (!existsSync(join(d, 'dist', 'src', 'cli', 'main.js')))
    throw new Error(`${d} is not built (run npm run build there)`);
const names = rest.length ? rest : ['overhead', 'speedup', 'wordcount', 'memory', 'amqp'];
const t0 = performance.now();
for (const name of names) {
  for (const dir of dirs) {
    const load = loadavg()
      .map((x) => x.toFixed(2))
      .join(' ');
    console.log(`\n=== ${name} — ${dir} (load average ${load})`);
    const r = spawnSync(process.execPath, [join(dir, 'bench', `${name}.mjs`)], { cwd: dir, stdio: 'inherit' });
    if (r.status !== 0) console.log(`=== ${name} in ${dir}: FAILED (exit ${r.status ?? r.signal})`);
  }
}
console.log(`\nall done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
