/**
 * `checkLaws` (an eager option): runs a task whose batches merge (`combine`,
 * or a `FoldTask`) once as the eager executor does, then again under several
 * other groupings of its items — all in one group, each item alone, random
 * runs, runs with items taken out to stand alone (as retries are), items
 * scattered over a few groups — and compares the outputs. fj may form any
 * of these (batch sizes adapt, retries merge alone), so a `join` output that
 * depends on the grouping is a task whose `combine` or `fold` is not
 * associative and commutative, or whose `seed` is not their identity. The
 * first two groupings that disagree are named in a {@link LawsError}.
 */
import { isDeepStrictEqual } from 'node:util';
import { encode } from '../core/codec.js';
import { Dispatcher } from '../dispatch/dispatcher.js';
import { LawsError } from '../core/errors.js';
import type { Executor, JobPlan } from '../executors/executor.js';
import type { LawCheck } from '../core/job-options.js';
import { GroupingTransport, type Grouping } from '../dispatch/transports/grouping.js';

/** A grouping with a name for the report. */
interface NamedGrouping {
  name: string;
  grouping: Grouping;
}

/**
 * Runs the job (`runOnce`: on `executor`, or the eager executor itself when undefined) under every grouping of `check`; throws {@link LawsError} when two outputs differ.
 * Resolves to the eager run's result. `merges`: whether the task's batches merge (otherwise it runs once).
 */
export async function checkLaws<R extends { output: unknown }>(
  check: LawCheck,
  merges: boolean,
  runOnce: (executor: Executor | undefined) => Promise<R>,
): Promise<R> {
  const reference = await runOnce(undefined);
  if (!merges) return reference; // one result per item: grouping cannot change the output
  const referenceName = 'eager (runs of 64 items)';
  const bytes = encode(reference.output, { hook: 'join' });
  for (const { name, grouping } of groupings(check)) {
    const executor = new GroupingExecutor(grouping);
    const { output } = await runOnce(executor);
    if (Buffer.compare(encode(output, { hook: 'join' }), bytes) === 0) continue;
    const described = `${name}: ${describe(executor.groups)}`;
    const order = isDeepStrictEqual(output, reference.output)
      ? ' (the same entries in another key order: sort the keys in join for byte-identical output)'
      : '';
    throw new LawsError(
      `laws broken: two groupings of the items into batches gave different outputs${order}; combine or fold is not associative and commutative, or seed is not its identity (seed ${check.seed})\n` +
        `  ${referenceName}: ${show(reference.output)}\n  ${described}: ${show(output)}`,
      [referenceName, described],
      [reference.output, output],
      check.seed,
    );
  }
  return reference;
}

/** The eager executor with a chosen grouping: a dispatcher over the grouping transport. */
class GroupingExecutor implements Executor {
  groups: number[][] = [];
  constructor(private readonly grouping: Grouping) {}
  async map(plan: JobPlan): Promise<void> {
    const transport = new GroupingTransport(plan, this.grouping);
    this.groups = transport.groups;
    await new Dispatcher(plan, transport).run();
  }
}

/** The groupings to try: all in one, each alone, then random ones from the seed. */
function groupings({ batchings, seed }: LawCheck): NamedGrouping[] {
  const random = mulberry32(seed);
  const pick = (n: number) => Math.floor(random() * n);
  const kinds: NamedGrouping[] = [
    { name: 'all in one group', grouping: (n) => [range(0, n)] },
    { name: 'each item alone', grouping: (n) => range(0, n).map((i) => [i]) },
    { name: 'random runs', grouping: (n) => runs(n, pick) },
    { name: 'random runs, some items alone', grouping: (n) => takeOut(runs(n, pick), pick) },
    { name: 'items scattered over groups', grouping: (n) => scatter(n, 2 + pick(3), pick) },
  ];
  const out: NamedGrouping[] = [];
  for (let k = 0; k < batchings; k++) out.push(kinds[k < kinds.length ? k : 2 + pick(kinds.length - 2)]);
  return out;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

/** Contiguous runs of random lengths (1 to 8). */
function runs(n: number, pick: (n: number) => number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < n;) {
    const len = 1 + pick(8);
    out.push(range(i, Math.min(n, i + len)));
    i += len;
  }
  return out;
}

/** About one item in five taken out of its run to stand alone (what a retry does). */
function takeOut(groups: number[][], pick: (n: number) => number): number[][] {
  const out: number[][] = [];
  for (const g of groups) {
    const alone = g.filter(() => pick(5) === 0);
    const rest = g.filter((i) => !alone.includes(i));
    if (rest.length) out.push(rest);
    for (const i of alone) out.push([i]);
  }
  return out;
}

/** Each item in one of `k` groups, at random. */
function scatter(n: number, k: number, pick: (n: number) => number): number[][] {
  const out: number[][] = Array.from({ length: k }, () => []);
  for (let i = 0; i < n; i++) out[pick(k)].push(i);
  return out.filter((g) => g.length > 0);
}

/** Groups as `[0-3 5] [4]`, in order of their first item, cut at 300 characters. */
function describe(groups: number[][]): string {
  const text = [...groups]
    .sort((a, b) => a[0] - b[0])
    .map((g) => `[${spans(g)}]`)
    .join(' ');
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

function spans(indices: number[]): string {
  const parts: string[] = [];
  for (let k = 0; k < indices.length;) {
    let end = k;
    while (end + 1 < indices.length && indices[end + 1] === indices[end] + 1) end++;
    parts.push(end === k ? `${indices[k]}` : `${indices[k]}-${indices[end]}`);
    k = end + 1;
  }
  return parts.join(' ');
}

/** An output for a message, cut at 300 characters. */
function show(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/** A small seeded PRNG (mulberry32): the same seed gives the same groupings. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
