/**
 * Reading a chaos runLog (test/fixtures/chaos.ts): each attempt at an item
 * appends `index pid`, and an attempt that saw `ctx.signal` abort appends
 * `index pid aborted`. From it a test counts attempts, re-runs and aborts,
 * whatever executor or process ran the items.
 */
import { existsSync, readFileSync } from 'node:fs';

/** The lines of a chaos runLog (see test/fixtures/chaos.ts). */
function runLines(runLog: string): string[] {
  return existsSync(runLog) ? readFileSync(runLog, 'utf8').split('\n').filter(Boolean) : [];
}

/** The attempts a chaos runLog recorded, in order. */
export function attempts(runLog: string): { i: number; pid: number }[] {
  return runLines(runLog)
    .filter((line) => !line.endsWith(' aborted'))
    .map((line) => {
      const [i, pid] = line.split(' ').map(Number);
      return { i, pid };
    });
}

/** Indices whose attempt saw ctx.signal abort (a cancelled job's items in hand). */
export function aborted(runLog: string): number[] {
  return runLines(runLog)
    .filter((line) => line.endsWith(' aborted'))
    .map((line) => Number(line.split(' ')[0]));
}

/** Indices that were run more than once: redelivered, retried or re-published, and still counted once by a passing job. */
export function rerun(runLog: string): number[] {
  const seen = new Map<number, number>();
  for (const { i } of attempts(runLog)) seen.set(i, (seen.get(i) ?? 0) + 1);
  return [...seen].filter(([, c]) => c > 1).map(([i]) => i);
}
