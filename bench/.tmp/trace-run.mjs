import { runJob } from '../../dist/src/index.js';
import { prng } from '../lib.mjs';
const n = 1000; const random = prng(2026); const sigma = 0.5; const mu = Math.log(10) - sigma * sigma / 2;
const gauss = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
const d = Array.from({ length: n }, () => Math.exp(mu + sigma * gauss()));
const picked = new Set(); while (picked.size < 10) picked.add(Math.floor(random() * n)); for (const i of picked) d[i] *= 20;
const ds = d.map((x) => Math.round(x * 1000) / 1000);
const total = ds.reduce((a, b) => a + b, 0); const bound = Math.max(total / 2, Math.max(...ds));
console.log('stragglers at', [...picked].sort((a, b) => a - b).join(','), 'bound', bound.toFixed(0));
const Task = (await import('./straggle-trace.mjs')).default;
const t0 = Date.now();
const { output, stats } = await runJob(Task, { durations: ds }, JSON.parse(process.argv[2] ?? '{"executor":"local","concurrency":2}'));
const t1 = Date.now();
const first = Math.min(...output.map((r) => r.s)); const last = Math.max(...output.map((r) => r.e));
const byT = new Map(); for (const r of output) { const a = byT.get(r.t) ?? { busy: 0, end: 0, n: 0 }; a.busy += r.e - r.s; a.end = Math.max(a.end, r.e); a.n++; byT.set(r.t, a); }
console.log({ wall: t1 - t0, jobWall: stats.wallMs, firstStart: first - t0, lastEnd: last - t0, afterLast: t1 - last, span: last - first, spanOverBound: ((last - first) / bound).toFixed(3) });
for (const [t, a] of byT) console.log('thread', t, 'items', a.n, 'busy', a.busy, 'ends at', a.end - t0, 'overslept', (a.busy - output.filter(r=>r.t===t).reduce((x, r) => x + r.ms, 0)).toFixed(0));
const tail = output.filter((r) => r.e > last - 400).map((r) => `${r.i}:${r.t}:${r.s - t0}-${r.e - t0}`);
console.log('tail', tail.join(' '));
