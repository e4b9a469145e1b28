import { runJob } from '../../dist/src/index.js';
const Task = (await import('./straggle-trace.mjs')).default;
const t0 = Date.now();
const { output } = await runJob(Task, { durations: [1, 1, 1, 1] }, { executor: 'amqp', queue: 'fj.trace', store: 'redis://127.0.0.1:6379/12' });
console.log('first start', Math.min(...output.map((r) => r.s)) - t0, 'wall', Date.now() - t0);
