/**
 * Streaming against a barrier between two pipeline stages, with a heavy
 * tail: stage 1's items mostly take `--ms` ms, every `--every`th takes
 * `--straggler` ms; stage 2's take `--after` ms each. Each stage runs on a
 * pool of its own of `--slots` thread slots (the local executor), as stages
 * on pools of their own do: after a barrier stage 2's slots idle until stage
 * 1's last straggler ends; streaming, stage 2 starts on the first results.
 * The items block their thread without using the CPU (bench/tasks/stream-stages.mjs),
 * so the two cores do not bound the overlap. Rounds alternate the two;
 * medians of whole `runPipeline` wall time, outputs checked equal.
 *
 *   node bench/pipeline-stream.mjs [--items 400] [--ms 5] [--every 40] [--straggler 200] [--after 5] [--slots 2] [--rounds 5]
 */
import { parseArgs } from 'node:util';
import { pipeline, runPipeline } from '../dist/src/index.js';
import { Follow, Tail } from './tasks/stream-stages.mjs';
import { fmt, isMain, machine, median, saveResult, table, timed } from './lib.mjs';

const { values: args } = parseArgs({
  options: {
    items: { type: 'string', default: '400' },
    ms: { type: 'string', default: '5' },
    every: { type: 'string', default: '40' },
    straggler: { type: 'string', default: '200' },
    after: { type: 'string', default: '5' },
    slots: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '5' },
  },
});
const n = Number(args.items);
const every = Number(args.every);
const durations = Array.from({ length: n }, (_, i) =>
  i % every === every - 1 ? Number(args.straggler) : Number(args.ms),
);
const input = { durations, after: Number(args.after) };
const opts = { executor: 'local', concurrency: Number(args.slots), logLevel: 'silent' };

const variants = {
  barrier: pipeline(Tail).pipe(Follow),
  streaming: pipeline(Tail).pipe(Follow, { stream: true }),
};

export async function main() {
  console.log(machine());
  const times = { barrier: [], streaming: [] };
  let expected;
  for (let r = 0; r < Number(args.rounds); r++) {
    const order = r % 2 ? ['streaming', 'barrier'] : ['barrier', 'streaming'];
    for (const v of order) {
      const { ms, value } = await timed(() => runPipeline(variants[v], input, opts));
      const out = JSON.stringify(value.output);
      if (expected !== undefined && out !== expected) throw new Error(`${v}: output differs: ${out} vs ${expected}`);
      expected = out;
      times[v].push(ms);
    }
  }
  const barrier = median(times.barrier);
  const streaming = median(times.streaming);
  table(
    `2-stage pipeline, ${n} items (every ${every}th ${args.straggler} ms, else ${args.ms} ms), then ${args.after} ms each; ${args.slots} slots a stage; median of ${args.rounds}`,
    ['variant', 'median ms', 'rounds ms'],
    [
      ['barrier', fmt.int(barrier), times.barrier.map((t) => fmt.int(t)).join(' ')],
      ['streaming', fmt.int(streaming), times.streaming.map((t) => fmt.int(t)).join(' ')],
    ],
  );
  console.log(`streaming finishes ${(barrier / streaming).toFixed(2)}x sooner than the barrier (goal: >= 1.3x)`);
  saveResult('pipeline-stream', { args, barrier, streaming, ratio: barrier / streaming, times });
}

if (isMain(import.meta.url)) await main();
